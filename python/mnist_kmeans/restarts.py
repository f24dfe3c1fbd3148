"""The restart driver: several Lloyd runs from different initial centers, the best (and the worst)
kept whole. Used by :class:`~mnist_kmeans.KMeans` (``n_init``) and by
:func:`~mnist_kmeans.study.run_study`.

Seeds. ``random_state`` (an int >= 0, None, a ``RandomState`` or a ``Generator``) is turned into
one integer of entropy, once, by :func:`seed_entropy`: an int is used as it is, None draws fresh
entropy from the operating system, and a ``RandomState`` or ``Generator`` gives one draw (so that
it advances, as scikit-learn's estimators use it). Restart ``i`` then gets the ``i``-th word of
``numpy.random.SeedSequence(entropy).generate_state(n)`` (:func:`restart_seeds`): the same seed
whatever the number of restarts, so that a run can be redone alone with
``initial_centers(X, n_clusters, init, random_state=seed)`` and the same Lloyd parameters.

Selection. The best run is the one with the lowest final ``objective``: 'inertia' (the sum of
squared distances, what scikit-learn's KMeans keeps) or 'j_clust' (the sum of distances, what the
course notebook compared). The worst has the highest. Ties go to the lower restart index.

Histories. With one restart, the run records its per-iteration history directly. With several,
every restart runs without it (faster, see :func:`~mnist_kmeans.kmeans.lloyd`), and only the
kept runs are run again with it, from the same initial centers: the kernel's results do not
depend on whether a history is recorded, so the rerun is the same run, bit for bit.

The driver trusts its caller: the data, parameters and seeds must be validated already.
"""

from __future__ import annotations

import numbers
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from .initialization import choose_centers

if TYPE_CHECKING:
    from .kmeans import RunResult

__all__ = [
    "OBJECTIVES",
    "ProgressCallback",
    "RestartSummary",
    "Restarts",
    "restart_seeds",
    "run_restarts",
    "seed_entropy",
]

#: ``progress(done, total)``, called after each finished restart.
ProgressCallback = Callable[[int, int], None]

#: ``run(init_centers, record_history=...)``: one Lloyd run from the given centers.
RunFunction = Callable[..., "RunResult"]

Objective = Literal["inertia", "j_clust"]

#: The objectives a best run can be chosen by.
OBJECTIVES: tuple[str, ...] = ("inertia", "j_clust")


@dataclass(frozen=True)
class RestartSummary:
    """The numbers of one restart, kept for every run.

    Attributes
    ----------
    seed : int or None
        Seed of the initial centers (None when they were given).
    inertia, j_clust : float
        Final sum of (weighted) squared distances, and of distances.
    n_iter : int
        Assignment passes.
    converged : bool
        False when max_iter was reached first.
    n_relocated : int
        Empty clusters moved to the farthest point during the run.
    seconds : float
        Wall time of the restart, initialisation included. Not part of equality: two runs with
        the same results compare equal whatever they took.
    """

    seed: int | None
    inertia: float
    j_clust: float
    n_iter: int
    converged: bool
    n_relocated: int
    seconds: float = field(default=0.0, compare=False)


@dataclass(frozen=True, eq=False)
class Restarts:
    """What :func:`run_restarts` returns.

    Attributes
    ----------
    summaries : tuple of RestartSummary
        Every restart, in order.
    objective : {'inertia', 'j_clust'}
        What best and worst were chosen by.
    best : RunResult
        The run with the lowest final objective, with its per-iteration history.
    best_index : int
    worst : RunResult or None
        The run with the highest final objective, with its history (``best`` itself when they
        are the same restart); None unless asked for.
    worst_index : int or None
    """

    summaries: tuple[RestartSummary, ...]
    objective: str
    best: RunResult
    best_index: int
    worst: RunResult | None = None
    worst_index: int | None = None

    def column(self, name: str, dtype: Any = None) -> np.ndarray:
        """One number of every restart, ndarray of shape (n_restarts,), read-only.

        ``name`` is a :class:`RestartSummary` attribute, e.g. ``'j_clust'`` or ``'seconds'``.
        """
        values = np.array([getattr(s, name) for s in self.summaries], dtype=dtype)
        values.setflags(write=False)
        return values


def seed_entropy(random_state: Any) -> int:
    """The integer the restart seeds are derived from (see the module docstring).

    Parameters
    ----------
    random_state : int >= 0, None, numpy.random.RandomState or numpy.random.Generator
        An int is returned as it is; None draws fresh entropy; a RandomState or Generator gives
        one draw in ``[0, 2**63)`` (and advances).

    Raises
    ------
    TypeError
        For anything else (bool included).
    ValueError
        For a negative int.
    """
    if random_state is None:
        return int(np.random.SeedSequence().entropy)
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(0, np.iinfo(np.int64).max, dtype=np.int64))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(0, np.iinfo(np.int64).max))
    if isinstance(random_state, (bool, np.bool_)) or not isinstance(random_state, numbers.Integral):
        raise TypeError(
            "random_state must be a non-negative integer, None, a RandomState or a Generator, "
            f"got {random_state!r}"
        )
    if random_state < 0:
        raise ValueError(f"random_state must be non-negative, got {random_state}")
    return int(random_state)


def restart_seeds(entropy: int, n_restarts: int) -> np.ndarray:
    """The seeds of the first ``n_restarts`` restarts, ndarray of shape (n_restarts,), int64.

    Each seed is below 2**32 (a valid ``RandomState`` seed). Restart ``i`` gets the same seed
    whatever ``n_restarts`` is (a prefix property of
    :meth:`numpy.random.SeedSequence.generate_state`).
    """
    return np.random.SeedSequence(entropy).generate_state(n_restarts).astype(np.int64)


def run_restarts(
    run: RunFunction,
    X: np.ndarray,
    n_clusters: int,
    n_restarts: int,
    *,
    init: str | np.ndarray | Callable[..., Any],
    entropy: int,
    sample_weight: np.ndarray | None = None,
    objective: Objective = "inertia",
    keep_worst: bool = False,
    record_history: bool = True,
    progress: ProgressCallback | None = None,
) -> Restarts:
    """Run ``n_restarts`` Lloyd runs and keep the best (and the worst) whole.

    Inputs are not checked (see the module docstring): the caller validates them.

    Parameters
    ----------
    run : callable
        ``run(init_centers, record_history=...)`` runs Lloyd's algorithm on X from the given
        centers and returns a :class:`~mnist_kmeans.kmeans.RunResult`; the caller binds the
        data and the Lloyd parameters (e.g. ``functools.partial`` of
        :func:`~mnist_kmeans.kmeans.lloyd`).
    X : ndarray of shape (n_samples, n_features)
        C-contiguous float32 or float64 rows, for the initial centers.
    n_clusters : int
        At most the number of rows of positive weight.
    n_restarts : int
        At least 1; must be 1 when ``init`` is an array.
    init : {'random', 'k-means++'}, callable or ndarray of shape (n_clusters, n_features)
        How each restart's centers are chosen, from its seed: a name, or a callable called as
        ``init(X, n_clusters, random_state=np.random.RandomState(seed))`` once per restart
        (scikit-learn's signature; its result is validated, see
        :func:`~mnist_kmeans.initialization.choose_centers`). An array (X's dtype, validated) is
        used as it is, and the restart's seed is None.
    entropy : int
        From :func:`seed_entropy`.
    sample_weight : ndarray of shape (n_samples,), float64, optional
        Weights for the choice of initial centers (the ``run`` binds its own for the runs).
    objective : {'inertia', 'j_clust'}, default='inertia'
        The final objective the best (lowest) and worst (highest) runs are chosen by.
    keep_worst : bool, default=False
        Also keep the worst run whole.
    record_history : bool, default=True
        The kept runs carry their per-iteration objectives (for several restarts, by running
        them again with a history). False keeps the lean runs as they are: every pass of a
        run with a history reads every row, which about doubles a run's time (measured on
        MNIST 60k, k = 10 and 20: lean runs take 0.50-0.57 of the time), and the kept runs'
        histories are then empty.
    progress : callable, optional
        ``progress(done, n_restarts)`` after each finished restart.

    Returns
    -------
    Restarts
    """
    given = not isinstance(init, str) and not callable(init)
    seeds: Sequence[int | None] = [None] if given else restart_seeds(entropy, n_restarts).tolist()
    # One run with a history: record it now; several: only the kept runs', run again later.
    record_each = record_history and n_restarts == 1
    keep_results = not record_history  # no reruns: keep the best (and worst) lean results
    summaries: list[RestartSummary] = []
    # Only what is needed to run the kept restarts again (their initial centers), or, without
    # histories, the kept runs themselves.
    best_index = worst_index = 0
    best_start = worst_start = None
    best_value = worst_value = 0.0
    only: RunResult | None = None
    best_result: RunResult | None = None
    worst_result: RunResult | None = None
    for i, seed in enumerate(seeds):
        start = time.perf_counter()
        if given:
            centers = init
        else:
            rng = np.random.RandomState(seed)
            centers = choose_centers(X, n_clusters, init, rng, sample_weight)
        result = run(centers, record_history=record_each)
        summaries.append(
            RestartSummary(
                seed,
                result.inertia,
                result.j_clust,
                result.n_iter,
                result.converged,
                result.n_relocated,
                time.perf_counter() - start,
            )
        )
        value = getattr(result, objective)
        # Strict comparisons: on a tie the earlier restart stays.
        if i == 0 or value < best_value:
            best_index, best_value, best_start = i, value, centers
            if keep_results:
                best_result = result
        if i == 0 or value > worst_value:
            worst_index, worst_value, worst_start = i, value, centers
            if keep_results and keep_worst:
                worst_result = result
        if record_each:
            only = result
        del result  # only the kept runs' initial centers (or lean results) stay alive
        if progress is not None:
            progress(i + 1, n_restarts)

    if only is not None:
        best = worst = only
    elif keep_results:
        assert best_result is not None
        best = best_result
        worst = worst_result if worst_result is not None else best
    else:
        best = run(best_start, record_history=True)
        if keep_worst and worst_index != best_index:
            worst = run(worst_start, record_history=True)
        else:
            worst = best
    return Restarts(
        summaries=tuple(summaries),
        objective=objective,
        best=best,
        best_index=best_index,
        worst=worst if keep_worst else None,
        worst_index=worst_index if keep_worst else None,
    )
