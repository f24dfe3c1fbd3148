"""A readable pure-NumPy k-means in float64: the oracle the C++ kernel is tested against.

Same semantics as the kernel (see ``cpp/kmeans/step.hpp``), written for clarity rather than
speed. Distances, sums and means are computed in float64 for both of the kernel's dtypes;
``dtype`` (of :func:`update` and :func:`kmeans`) is the dtype the new centers are stored in:
float64 follows the float64 kernel (the mean itself), float32 the float32 kernel (the mean
rounded to float32 after every update).

* assignment: each row goes to its nearest center; ties go to the lowest center index;
* update: each center becomes the weighted mean of its rows;
* empty clusters: each cluster without weight (in index order) takes the row farthest from its
  center (largest squared distance, lowest index on ties) among rows whose own cluster keeps
  other weight; a cluster that still has no weight keeps its center;
* stopping: after a pass whose labels equal the previous pass's (and no relocation happened in
  between), or when the squared center shift is ``<= tol`` (at ``tol = 0``: no center moved,
  scikit-learn's rule), or after ``max_iter`` passes; in the last two cases one more
  assignment makes the labels match the final centers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ReferenceResult", "assign", "update", "kmeans"]


@dataclass(frozen=True)
class ReferenceResult:
    """Outcome of :func:`kmeans`; histories have one entry per iteration."""

    centers: np.ndarray  # (k, d) of the run's dtype (float64 by default)
    labels: np.ndarray  # (n,) int64
    sq_distances: np.ndarray  # (n,) float64
    objective_history: np.ndarray  # sum of w * squared distance after each assignment
    j_clust_history: np.ndarray  # sum of w * distance after each assignment
    n_iter: int
    converged: bool
    n_relocated: int
    objective: float  # of the returned labels and centers
    j_clust: float


def squared_distances(X: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """All squared distances, ndarray of shape (n_samples, n_clusters), in float64."""
    X = np.asarray(X, dtype=np.float64)
    centers = np.asarray(centers, dtype=np.float64)
    d2 = (X * X).sum(1)[:, None] - 2.0 * (X @ centers.T) + (centers * centers).sum(1)[None, :]
    return np.maximum(d2, 0.0)


def assign(X: np.ndarray, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest center of each row (lowest index on ties) and the squared distance to it."""
    d2 = squared_distances(X, centers)
    labels = d2.argmin(axis=1)
    return labels, d2[np.arange(len(labels)), labels]


def update(
    X: np.ndarray,
    labels: np.ndarray,
    centers: np.ndarray,
    sq_distances: np.ndarray,
    sample_weight: np.ndarray | None = None,
    dtype: type = np.float64,
) -> tuple[np.ndarray, np.ndarray, int]:
    """New centers after one assignment, relocating empty clusters.

    Returns (new centers, labels after relocation, number of relocated clusters). The new
    centers are the float64 means rounded to ``dtype`` (float64: not rounded); a cluster that
    stays empty keeps its center (converted to ``dtype``).
    """
    X = np.asarray(X, dtype=np.float64)
    n, k = len(X), len(centers)
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    labels = labels.copy()
    one_hot = np.zeros((k, n))
    one_hot[labels, np.arange(n)] = w
    sums = one_hot @ X
    weight = one_hot.sum(axis=1)

    n_relocated = 0
    empty = [c for c in range(k) if not weight[c] > 0]
    if empty:
        candidates = [i for i in range(n) if sq_distances[i] > 0 and w[i] > 0]
        candidates.sort(key=lambda i: (-sq_distances[i], i))
        position = 0
        for e in empty:
            while position < len(candidates):
                i = candidates[position]
                position += 1
                old = labels[i]
                if not weight[old] - w[i] > 0:
                    continue  # moving it would empty its own cluster
                sums[old] -= w[i] * X[i]
                weight[old] -= w[i]
                sums[e] = w[i] * X[i]
                weight[e] = w[i]
                labels[i] = e
                n_relocated += 1
                break

    new_centers = np.array(centers, dtype=np.float64, copy=True)
    filled = weight > 0
    new_centers[filled] = sums[filled] / weight[filled, None]
    return new_centers.astype(dtype), labels, n_relocated


def kmeans(
    X: np.ndarray,
    init: np.ndarray,
    *,
    sample_weight: np.ndarray | None = None,
    max_iter: int = 300,
    tol: float = 0.0,
    dtype: type = np.float64,
) -> ReferenceResult:
    """Lloyd's algorithm from the given initial centers, computed in float64.

    ``dtype``: the centers' dtype, as in :func:`update` (np.float32 models the float32 kernel,
    whose centers are rounded to float32 after every update, np.float64 the float64 kernel);
    the initial centers are converted to it and the shift is computed in float64.
    """
    X = np.asarray(X, dtype=np.float64)
    w = np.ones(len(X)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    centers = np.array(init, dtype=dtype, copy=True)
    previous = None
    relocated_last = False
    objectives, j_clust = [], []
    converged = strict = False
    n_iter = n_relocated = 0
    for iteration in range(max_iter):
        labels, d2 = assign(X, centers)
        objectives.append(float((w * d2).sum()))
        j_clust.append(float((w * np.sqrt(d2)).sum()))
        n_iter = iteration + 1
        if not relocated_last and previous is not None and np.array_equal(labels, previous):
            converged = strict = True
            break
        new_centers, labels, moved = update(X, labels, centers, d2, w, dtype=dtype)
        n_relocated += moved
        relocated_last = moved > 0
        shift = float(((new_centers.astype(np.float64) - centers.astype(np.float64)) ** 2).sum())
        centers = new_centers
        previous = labels
        if shift <= tol:  # at tol = 0: no center moved
            converged = True
            break
    if not strict:
        labels, d2 = assign(X, centers)
    return ReferenceResult(
        centers=centers,
        labels=labels,
        sq_distances=d2,
        objective_history=np.array(objectives),
        j_clust_history=np.array(j_clust),
        n_iter=n_iter,
        converged=converged,
        n_relocated=n_relocated,
        objective=float((w * d2).sum()),
        j_clust=float((w * np.sqrt(d2)).sum()),
    )
