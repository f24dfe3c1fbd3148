"""Initial centers: 'random' rows (the course notebook's choice), greedy 'k-means++', or given.

:func:`initial_centers` is the public entry (it validates); :func:`choose_centers` is what the
restart driver calls once its caller has validated everything. A new init method goes here: one
more branch in :func:`choose_centers` and its name in :data:`INIT_METHODS`.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from sklearn.utils import check_random_state

from ._validation import (
    as_float_rows,
    check_enough_weighted_samples,
    check_init_centers,
    check_n_clusters,
    check_sample_weight,
)

__all__ = ["INIT_METHODS", "InitName", "check_init_method", "choose_centers", "initial_centers"]

InitName = Literal["random", "k-means++"]

#: The names :func:`initial_centers` accepts besides an array.
INIT_METHODS: tuple[str, ...] = ("random", "k-means++")


def check_init_method(init: Any) -> str:
    """``init`` if it names an init method, else ValueError."""
    if not isinstance(init, str) or init not in INIT_METHODS:
        raise ValueError(f"init must be 'random' or 'k-means++', got {init!r}")
    return init


def initial_centers(
    X: Any,
    n_clusters: int,
    init: InitName | np.ndarray = "k-means++",
    random_state: int | np.random.RandomState | None = None,
    sample_weight: Any = None,
) -> np.ndarray:
    """Initial centers, ndarray of shape (n_clusters, n_features), float32 or float64.

    float64 for float64 X (the dtype the kernel computes X in, see
    :func:`~mnist_kmeans._validation.kernel_dtype`), float32 otherwise.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        The data (validated and converted as by :func:`~mnist_kmeans.kmeans.as_float_rows`;
        no copy when already C-contiguous float32 or float64).
    n_clusters : int
        Number of centers, ``1 <= n_clusters <= n_samples``.
    init : {'random', 'k-means++'} or array-like of shape (n_clusters, n_features)
        'random': n_clusters distinct rows chosen uniformly (weighted by sample_weight), as the
        course notebook did. 'k-means++': greedy k-means++ (2 + log k candidates per step,
        the one that lowers the objective most is kept). An array is validated and copied.
    random_state : int, RandomState instance or None, default=None
        Seeds the choice (scikit-learn's ``check_random_state``).
    sample_weight : array-like of shape (n_samples,), optional
        Non-negative weights: rows are drawn with probability proportional to them.
    """
    X = as_float_rows(X)
    n_samples, n_features = X.shape
    n_clusters = check_n_clusters(n_clusters, n_samples)
    if not isinstance(init, str):
        return check_init_centers(init, n_clusters, n_features, dtype=X.dtype)
    init = check_init_method(init)
    weights = check_sample_weight(sample_weight, n_samples)
    check_enough_weighted_samples(weights, n_clusters)
    return choose_centers(X, n_clusters, init, check_random_state(random_state), weights)


def choose_centers(
    X: np.ndarray,
    n_clusters: int,
    init: str,
    rng: np.random.RandomState,
    sample_weight: np.ndarray | None = None,
) -> np.ndarray:
    """:func:`initial_centers` for validated input (not checked here).

    X must be C-contiguous float32 or float64 rows (the centers get its dtype), ``init`` one
    of :data:`INIT_METHODS`, ``n_clusters``
    at most the number of rows of positive weight, and ``sample_weight`` None or non-negative
    float64 with a positive sum.
    """
    n_samples = len(X)
    p = None if sample_weight is None else sample_weight / sample_weight.sum()
    if init == "random":
        chosen = rng.choice(n_samples, size=n_clusters, replace=False, p=p)
        return X[chosen].copy()
    return _greedy_kmeans_plusplus(X, n_clusters, rng, sample_weight)


def _greedy_kmeans_plusplus(
    X: np.ndarray, n_clusters: int, rng: np.random.RandomState, sample_weight: np.ndarray | None
) -> np.ndarray:
    """Greedy k-means++ (Arthur & Vassilvitskii 2007, with local trials as in scikit-learn)."""
    n_samples = len(X)
    w = np.ones(n_samples) if sample_weight is None else sample_weight
    n_trials = 2 + int(np.log(n_clusters))
    x_sq = np.einsum("ij,ij->i", X, X, dtype=np.float64)

    def sq_dist_to(rows: np.ndarray) -> np.ndarray:  # (len(rows), n_samples), float64
        c = X[rows]
        d2 = x_sq[rows][:, None] - 2.0 * (c @ X.T).astype(np.float64) + x_sq[None, :]
        return np.maximum(d2, 0.0)

    chosen = [int(rng.choice(n_samples, p=w / w.sum()))]
    closest = sq_dist_to(np.array(chosen))[0]
    potential = float(w @ closest)
    for _ in range(1, n_clusters):
        if potential > 0:
            draws = rng.uniform(size=n_trials) * potential
            candidates = np.searchsorted(np.cumsum(w * closest), draws)
            candidates = np.minimum(candidates, n_samples - 1)
        else:  # every point sits on a chosen center: any row will do
            candidates = rng.choice(n_samples, size=n_trials, p=w / w.sum())
        d2 = np.minimum(closest[None, :], sq_dist_to(candidates))
        potentials = d2 @ w
        best = int(np.argmin(potentials))
        chosen.append(int(candidates[best]))
        closest = d2[best]
        potential = float(potentials[best])
    return X[np.array(chosen)].copy()
