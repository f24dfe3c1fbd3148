"""One Lloyd step, for drivers that run the loop of passes themselves.

:func:`mnist_kmeans.kmeans.lloyd` runs a whole run in the kernel. A driver that makes its own
passes (over blocks of rows, on several machines) runs the same loop with the same code:

    previous, relocated_last = None, False
    for iteration in range(1, max_iter + 1):
        p = assign_pass(X, centers, previous_labels=previous)  # or per block, summed in order
        step = lloyd_step(centers, p.sums, p.weight_sums, n_changed=p.n_changed,
                          iteration=iteration, max_iter=max_iter, tol=tol,
                          relocated_last=relocated_last,
                          candidates=lambda wanted: relocation_candidates(
                              X, p.labels, p.sq_distances, limit=wanted))
        if step.converged and not step.final_pass:
            break                                   # p's labels and objectives are final
        labels = p.labels.copy()
        labels[step.moved_rows] = step.moved_to
        previous, relocated_last, centers = labels, step.n_relocated > 0, step.centers
        if step.final_pass:
            p = assign_pass(X, centers)             # labels and objectives of these centers
            break

which gives lloyd(..., algorithm='lloyd')'s results bit for bit (tests/test_step.py). Over
blocks of rows whose boundaries are multiples of ``_kernel.chunk_rows`` (512), the objectives
are the blocks' ``chunk_inertia`` added in global order (:func:`sum_in_order`) and the
relocation candidates the blocks' lists merged (:func:`merge_candidates`); the sums added in
block order equal the single pass's whenever they are exact (integer pixels).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _kernel

__all__ = [
    "RelocationCandidates",
    "StepResult",
    "lloyd_step",
    "merge_candidates",
    "relocation_candidates",
    "sum_in_order",
]


def sum_in_order(values: Any) -> float:
    """The float64 sum of values added one by one in order, starting from 0.0.

    This is how the kernel adds the objectives of its chunks: folding the ``chunk_inertia`` of
    several passes in global chunk order reproduces one pass's ``inertia`` bit for bit (a
    pairwise or compensated sum, as ``np.sum`` or ``math.fsum``, would not).
    """
    total = 0.0
    for v in np.asarray(values, dtype=np.float64).ravel():
        total += float(v)
    return total


@dataclass(frozen=True)
class RelocationCandidates:
    """Rows that may take an empty cluster, in priority order, with what the step needs.

    Priority order: largest squared distance first, lowest row index on ties; only rows with a
    squared distance > 0 and a weight > 0. Made by :func:`relocation_candidates` (for a block of
    rows, possibly the first few only) and :func:`merge_candidates` (the blocks of a
    distributed pass), used by :func:`lloyd_step`.

    Attributes
    ----------
    rows : ndarray of shape (m,), int64
        Global row indices (what the moves report).
    labels : ndarray of shape (m,), int32
        Each row's cluster in the pass.
    weights : ndarray of shape (m,), float64, or None
        Each row's weight (None: all 1).
    X : ndarray of shape (m, n_features), float32 or float64 (the pass's X)
        The rows themselves.
    sq_distances : ndarray of shape (m,), float32 or float64 (X's dtype)
        Each row's squared distance to its center (the priority; used when merging).
    complete : bool
        True when every eligible row is listed; False when the list is the first m of them
        only (a step that runs out of it reports ``candidates_exhausted``).
    """

    rows: np.ndarray
    labels: np.ndarray
    weights: np.ndarray | None
    X: np.ndarray
    sq_distances: np.ndarray
    complete: bool


def relocation_candidates(
    X: np.ndarray,
    labels: np.ndarray,
    sq_distances: np.ndarray,
    sample_weight: np.ndarray | None = None,
    *,
    limit: int | None = None,
    first_row: int = 0,
) -> RelocationCandidates:
    """The relocation candidates of a pass over X (or over a block of rows).

    ``limit``: the first ``limit`` candidates only, selected in O(n) (a step needs at most
    the number of empty clusters plus n_clusters of them, unless float weights make it skip
    more: it then reports ``candidates_exhausted``); None: all of them. ``first_row``: the
    global index of X's first row, for a block of a larger array. X must come from
    :func:`as_float_rows` (float32 or float64); labels and sq_distances from the pass (int32,
    X's dtype).
    """
    order = _kernel.relocation_candidates(sq_distances, sample_weight, limit)
    weights = None if sample_weight is None else sample_weight[order]
    return RelocationCandidates(
        rows=order + np.int64(first_row),
        labels=np.ascontiguousarray(labels[order], dtype=np.int32),
        weights=weights,
        X=np.ascontiguousarray(X[order]),
        sq_distances=sq_distances[order],
        complete=limit is None or len(order) < limit,
    )


def merge_candidates(parts: Any) -> RelocationCandidates:
    """The candidates of several blocks (global row indices), merged in priority order.

    When some block's list is not complete, the result keeps only the prefix that is certainly
    in the global order: as many rows as the shortest incomplete list (for lists made with the
    same ``limit``, that many), and is not complete either.
    """
    parts = list(parts)
    if not parts:
        raise ValueError("merge_candidates needs at least one block's candidates")
    sq = np.concatenate([p.sq_distances for p in parts])
    rows = np.concatenate([p.rows for p in parts])
    order = np.lexsort((rows, -sq.astype(np.float64)))  # sq descending, then row ascending
    complete = all(p.complete for p in parts)
    if not complete:
        order = order[: min(len(p.rows) for p in parts if not p.complete)]
    weighted = any(p.weights is not None for p in parts)
    weights = (
        np.concatenate(
            [p.weights if p.weights is not None else np.ones(len(p.rows)) for p in parts]
        )[order]
        if weighted
        else None
    )
    return RelocationCandidates(
        rows=rows[order],
        labels=np.concatenate([p.labels for p in parts])[order],
        weights=weights,
        X=np.ascontiguousarray(np.concatenate([p.X for p in parts])[order]),
        sq_distances=sq[order],
        complete=complete,
    )


@dataclass(frozen=True)
class StepResult:
    """One Lloyd step (see :func:`lloyd_step`).

    Attributes
    ----------
    centers : ndarray of shape (n_clusters, n_features), float32 or float64
        The new centers (the given ones when ``converged`` at a fixed point, or when
        ``candidates_exhausted``).
    sums : ndarray of shape (n_clusters, n_features), float64
    weight_sums : ndarray of shape (n_clusters,), float64
        The pass's, after the relocations.
    shift : float
        Sum over the clusters of the squared distance each center moved.
    moved_rows : ndarray of shape (n_relocated,), int64
    moved_from, moved_to : ndarray of shape (n_relocated,), int32
        The rows moved to empty clusters, in order: apply ``labels[moved_rows] = moved_to``.
    n_relocated : int
    converged : bool
        No label changed and nothing was relocated after the previous pass (a fixed point:
        the pass's labels, distances and objectives are final), or the shift is within tol
        (at tol = 0: no center moved, scikit-learn's rule).
    final_pass : bool
        Stop after one more assignment pass with ``centers`` (not counted as an iteration),
        which makes labels, distances and objectives describe them: set when the shift is
        within tol and when the pass was the max_iter-th.
    candidates_exhausted : bool
        The candidates ran out before every empty cluster was served and the list was not
        complete: nothing was done; call again with more candidates.
    """

    centers: np.ndarray
    sums: np.ndarray
    weight_sums: np.ndarray
    shift: float
    moved_rows: np.ndarray
    moved_from: np.ndarray
    moved_to: np.ndarray
    n_relocated: int
    converged: bool
    final_pass: bool
    candidates_exhausted: bool

    @property
    def done(self) -> bool:
        """Stop iterating (after the final pass, when ``final_pass``)."""
        return self.converged or self.final_pass


def _candidates_tuple(c: RelocationCandidates) -> tuple:
    return (c.rows, c.labels, c.weights, c.X, bool(c.complete))


def lloyd_step(
    centers: np.ndarray,
    sums: np.ndarray,
    weight_sums: np.ndarray,
    *,
    n_changed: int,
    iteration: int,
    max_iter: int = 300,
    tol: float = 0.0,
    relocated_last: bool = False,
    candidates: RelocationCandidates | Callable[[int | None], RelocationCandidates] | None = None,
) -> StepResult:
    """One Lloyd step after an assignment pass: the code :func:`lloyd` runs after every pass.

    Parameters
    ----------
    centers : ndarray of shape (n_clusters, n_features), float32 or float64
        The centers of the pass.
    sums, weight_sums : ndarray, float64
        The pass's per-cluster sums and weights (summed over the blocks of a distributed pass).
    n_changed : int
        Rows whose label differs from the previous pass's labels after its relocations
        (:attr:`mnist_kmeans.kmeans.PassResult.n_changed`); anything > 0 at the first pass.
    iteration : int
        Passes run so far, this one included (1 at the first).
    max_iter, tol :
        As for :func:`lloyd` (tol absolute).
    relocated_last : bool
        The previous step relocated rows (its ``n_relocated > 0``).
    candidates :
        Rows for the empty clusters: :class:`RelocationCandidates`, or a callable taking the
        number wanted (None: all) and returning them (called only when a cluster is empty), or
        None (a step that needs candidates then reports ``candidates_exhausted``).

    The rule (cpp/kmeans/step.hpp): at a fixed point (no label changed, no relocation after
    the previous pass) the run has converged and nothing changes. Otherwise each empty
    cluster, in index order, takes the next candidate whose own cluster keeps weight without
    it; every cluster with weight moves to its weighted mean; and the run stops after a final
    pass when the shift is within tol (converged; at tol = 0 when no center moved, as
    scikit-learn stops, which saves the pass that would find the same labels) or this was the
    max_iter-th pass.
    """
    if callable(candidates):
        get = candidates

        def source(wanted: int) -> tuple:
            return _candidates_tuple(get(None if wanted < 0 else int(wanted)))

        arg: Any = source
    elif candidates is None:
        arg = None
    else:
        arg = _candidates_tuple(candidates)
    out = _kernel.lloyd_step(
        centers, sums, weight_sums, int(n_changed), bool(relocated_last), int(iteration),
        int(max_iter), float(tol), arg,
    )
    return StepResult(**out._asdict())  # the same names
