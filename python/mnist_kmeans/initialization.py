"""Initial centers: 'random' rows (the course notebook's choice), greedy 'k-means++', a user's
callable, or given.

:func:`initial_centers` is the public entry (it validates); :func:`choose_centers` is what the
restart driver calls once its caller has validated everything. A new init method goes here: one
more branch in :func:`choose_centers` and its name in :data:`INIT_METHODS`.

A callable ``init`` is scikit-learn's: ``init(X, n_clusters, random_state=rng)`` returns the
centers, array-like of shape (n_clusters, n_features). It is called once per restart with that
restart's ``RandomState`` (the one 'random' and 'k-means++' draw from), and what it returns is
validated as an ``init`` array is. Unlike scikit-learn, which passes its mean-centred copy of X,
it gets X as the fit converted it (float32 rows, read-only, not centred): the centers it returns
are in the data's own coordinates.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np
from sklearn.utils import check_random_state

from ._sparse import (
    as_float32_csr,
    check_csr_values,
    dot_with_rows,
    issparse,
    row_sq_norms,
    take_rows,
)
from ._validation import (
    as_float_rows,
    check_enough_weighted_samples,
    check_init_centers,
    check_n_clusters,
    check_sample_weight,
)

__all__ = [
    "INIT_METHODS",
    "InitCallable",
    "InitName",
    "check_init_method",
    "choose_centers",
    "initial_centers",
]

InitName = Literal["random", "k-means++"]

#: scikit-learn's callable init: ``init(X, n_clusters, random_state=rng) -> centers``.
InitCallable = Callable[..., Any]

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
    init: InitName | np.ndarray | InitCallable = "k-means++",
    random_state: int | np.random.RandomState | None = None,
    sample_weight: Any = None,
) -> np.ndarray:
    """Initial centers, ndarray of shape (n_clusters, n_features), float32 or float64.

    float64 for float64 X (the dtype the kernel computes X in, see
    :func:`~mnist_kmeans._validation.kernel_dtype`), float32 otherwise.

    Parameters
    ----------
    X : array-like or SciPy sparse matrix of shape (n_samples, n_features)
        The data (validated and converted as by :func:`~mnist_kmeans.kmeans.as_float_rows`;
        no copy when already C-contiguous float32 or float64; sparse X as by ``KMeans.fit``,
        float32 CSR, never made dense).
    n_clusters : int
        Number of centers, ``1 <= n_clusters <= n_samples``.
    init : {'random', 'k-means++'}, callable or array-like of shape (n_clusters, n_features)
        'random': n_clusters distinct rows chosen uniformly (weighted by sample_weight), as the
        course notebook did. 'k-means++': greedy k-means++ (2 + log k candidates per step,
        the one that lowers the objective most is kept). A callable is called as
        ``init(X, n_clusters, random_state=rng)`` (see the module docstring; sample_weight is
        not passed to it, as in scikit-learn) and its result validated. An array is validated
        and copied.
    random_state : int, RandomState instance or None, default=None
        Seeds the choice (scikit-learn's ``check_random_state``).
    sample_weight : array-like of shape (n_samples,), optional
        Non-negative weights: rows are drawn with probability proportional to them.
    """
    if issparse(X):  # canonical float32 CSR, never densified
        X = as_float32_csr(X)
        if X.shape[0] == 0 or X.shape[1] == 0:
            raise ValueError(f"X is empty: shape {X.shape}")
        check_csr_values(X)
    else:
        X = as_float_rows(X)
    n_samples, n_features = X.shape
    n_clusters = check_n_clusters(n_clusters, n_samples)
    if callable(init):
        return choose_centers(X, n_clusters, init, check_random_state(random_state))
    if not isinstance(init, str):
        return check_init_centers(init, n_clusters, n_features, dtype=X.dtype)
    init = check_init_method(init)
    weights = check_sample_weight(sample_weight, n_samples)
    check_enough_weighted_samples(weights, n_clusters)
    return choose_centers(X, n_clusters, init, check_random_state(random_state), weights)


def choose_centers(
    X: np.ndarray,
    n_clusters: int,
    init: str | InitCallable,
    rng: np.random.RandomState,
    sample_weight: np.ndarray | None = None,
) -> np.ndarray:
    """:func:`initial_centers` for validated input (not checked here).

    X must be C-contiguous float32 or float64 rows (the centers get its dtype) or float32 CSR,
    ``init`` one of :data:`INIT_METHODS` or a callable, ``n_clusters`` at most the number of
    rows of positive weight (for a name), and ``sample_weight`` None or non-negative float64
    with a positive sum. What a callable returns is the one thing checked here (the user's
    code): shape, numbers, finiteness.
    """
    if callable(init):
        # the callable may not change the data the fit runs on: it gets read-only views
        if issparse(X):
            view = X.copy()  # shares nothing with X; its arrays are made read-only below
            for part in (view.data, view.indices, view.indptr):
                part.flags.writeable = False
        else:
            view = X.view()
            view.flags.writeable = False
        centers = init(view, n_clusters, random_state=rng)
        return check_init_centers(
            centers, n_clusters, X.shape[1], name="the array returned by the init callable",
            dtype=X.dtype,
        )
    n_samples = X.shape[0] if issparse(X) else len(X)  # len: row views (dask blocks) too
    p = None if sample_weight is None else sample_weight / sample_weight.sum()
    if init == "random":
        chosen = rng.choice(n_samples, size=n_clusters, replace=False, p=p)
        return take_rows(X, chosen)
    return _greedy_kmeans_plusplus(X, n_clusters, rng, sample_weight)


def _greedy_kmeans_plusplus(
    X: np.ndarray, n_clusters: int, rng: np.random.RandomState, sample_weight: np.ndarray | None
) -> np.ndarray:
    """Greedy k-means++ (Arthur & Vassilvitskii 2007, with local trials as in scikit-learn)."""
    n_samples = X.shape[0]
    w = np.ones(n_samples) if sample_weight is None else sample_weight
    n_trials = 2 + int(np.log(n_clusters))
    x_sq = row_sq_norms(X)

    def sq_dist_to(rows: np.ndarray) -> np.ndarray:  # (len(rows), n_samples), float64
        d2 = x_sq[rows][:, None] - 2.0 * dot_with_rows(X, rows).astype(np.float64) + x_sq[None, :]
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
    return take_rows(X, np.array(chosen))
