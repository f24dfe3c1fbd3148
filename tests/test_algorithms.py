"""The accelerated algorithms give our Lloyd's results bit for bit, from the same init.

'hamerly' skips rows whose label its bounds prove unchanged (with margins for float32
rounding, see cpp/kmeans/hamerly.hpp); every output must still equal 'lloyd''s exactly:
labels, centers, squared distances, objective histories, iteration count, relocations.
"""

from __future__ import annotations

import numpy as np
import pytest

from mnist_kmeans import KMeans, _kernel
from mnist_kmeans.kmeans import as_float32_rows, initial_centers, lloyd

FIELDS = ("centers", "labels", "sq_distances", "inertia_history", "j_clust_history")


def assert_identical(X, init, algorithm="hamerly", **kwargs):
    X = as_float32_rows(X)
    init = np.ascontiguousarray(init, dtype=np.float32)
    ref = lloyd(X, init, algorithm="lloyd", **kwargs)
    run = lloyd(X, init, algorithm=algorithm, **kwargs)
    for field in FIELDS:
        np.testing.assert_array_equal(getattr(run, field), getattr(ref, field), err_msg=field)
    assert run.n_iter == ref.n_iter
    assert run.converged == ref.converged
    assert run.n_relocated == ref.n_relocated
    assert run.inertia == ref.inertia and run.j_clust == ref.j_clust
    assert ref.rows_scored.tolist() == [len(X)] * ref.n_iter
    assert len(run.rows_scored) == run.n_iter and run.rows_scored[0] == len(X)
    return ref, run


@pytest.mark.parametrize("k", [1, 2, 5, 10, 20, 64])
def test_mnist_sample_same_as_lloyd(mnist_sample, isa, k):
    X = mnist_sample[0]
    ref, run = assert_identical(X, initial_centers(X, k, "random", random_state=k))
    assert ref.converged
    if k > 1 and run.n_iter > 3:
        # the bounds do skip rows once the centers settle
        assert run.rows_scored[-1] < len(X) // 2


@pytest.mark.parametrize("seed", range(3))
def test_mnist_sample_kmeanspp_threads_and_tol(mnist_sample, seed):
    X = mnist_sample[0][:4000]
    init = initial_centers(X, 16, "k-means++", random_state=seed)
    for threads in (1, 2):
        assert_identical(X, init, n_threads=threads)
    assert_identical(X, init, tol=1e-3 * float(X.var(0).mean()))
    assert_identical(X, init, max_iter=3)


def test_weighted_same_as_lloyd(mnist_sample):
    X = mnist_sample[0][:3000]
    w = np.random.default_rng(0).integers(0, 4, len(X)).astype(np.float64)
    w[:10] = 0.0
    assert_identical(X, initial_centers(X, 12, "random", random_state=3), sample_weight=w)
    w = np.random.default_rng(1).random(len(X)) * 3
    assert_identical(X, initial_centers(X, 12, "random", random_state=4), sample_weight=w)


def test_duplicates_and_ties(isa):
    # integer grid in 3 dimensions: many duplicate rows and exact ties between centers
    rng = np.random.default_rng(0)
    X = rng.integers(0, 3, size=(600, 3)).astype(np.float32)
    for seed in range(20):
        init = X[np.random.RandomState(seed).choice(len(X), 6, replace=False)]
        assert_identical(X, init)
    # centers exactly symmetric around every row: 0 and 2 around 1
    X = np.ones((50, 5), np.float32)
    X[::2] = 0.0
    assert_identical(X, np.array([np.zeros(5), 2 * np.ones(5)], np.float32))


def test_empty_clusters_are_relocated_the_same_way(isa):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 17)).astype(np.float32)
    init = np.vstack([X[:3], X[:3], np.full((2, 17), 50.0, np.float32)])  # duplicates and far away
    ref, run = assert_identical(X, init)
    assert ref.n_relocated > 0


def test_k_equals_n_and_k_one(isa):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(40, 9)).astype(np.float32)
    assert_identical(X, X.copy())          # k = n: every row its own center
    assert_identical(X, X[:1].copy())      # k = 1
    X = np.zeros((30, 4), np.float32)      # all rows equal, all at the origin
    assert_identical(X, np.zeros((3, 4), np.float32))


@pytest.mark.parametrize("d", [1, 7, 8, 33, 300])
def test_shapes_signs_and_scales(d):
    rng = np.random.default_rng(d)
    for scale in (1e-3, 1.0, 1e4):
        X = (rng.standard_t(3, size=(257, d)) * scale).astype(np.float32)
        X[rng.random(X.shape) < 0.5] = 0.0  # sparse, as MNIST: exercises the skipped columns
        X[:5] = -0.0
        init = X[rng.choice(len(X), min(9, len(X)), replace=False)]
        assert_identical(X, init)


def test_many_random_problems():
    rng = np.random.default_rng(123)
    for _ in range(40):
        n, d, k = int(rng.integers(2, 120)), int(rng.integers(1, 20)), 0
        k = int(rng.integers(1, min(n, 12) + 1))
        X = rng.integers(-3, 4, size=(n, d)).astype(np.float32) * np.float32(rng.choice([0.5, 1, 3]))
        init = X[rng.choice(n, k, replace=False)]
        assert_identical(X, init)


def test_estimator_algorithms_agree(mnist_sample):
    X = mnist_sample[0][:2000]
    fits = {alg: KMeans(8, init="random", n_init=2, random_state=0, algorithm=alg).fit(X)
            for alg in ("lloyd", "hamerly", "auto")}
    for alg in ("hamerly", "auto"):
        np.testing.assert_array_equal(fits[alg].cluster_centers_, fits["lloyd"].cluster_centers_)
        np.testing.assert_array_equal(fits[alg].labels_, fits["lloyd"].labels_)
        assert fits[alg].n_iter_ == fits["lloyd"].n_iter_
        assert fits[alg].inertia_ == fits["lloyd"].inertia_


def test_unknown_algorithm_is_refused(mnist_sample):
    X = mnist_sample[0][:100]
    with pytest.raises(ValueError, match="algorithm"):
        lloyd(X, X[:3].copy(), algorithm="elkan")
    with pytest.raises(ValueError, match="algorithm"):
        _kernel.lloyd(X, X[:3].copy(), None, 10, 0.0, 1, "yinyang")
