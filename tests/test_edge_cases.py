"""Adversarial data against the oracle: ties, duplicates, empty clusters, k=1, k=n, weights."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from mnist_kmeans import KMeans, _kernel, reference
from mnist_kmeans.kmeans import as_float32_rows, lloyd


def assert_same_as_oracle(X, init, sample_weight=None, exact=True):
    X = as_float32_rows(X)
    init = np.asarray(init, dtype=np.float32)
    ours = lloyd(X, init, sample_weight=sample_weight)
    ref = reference.kmeans(X, init, sample_weight=sample_weight)
    np.testing.assert_array_equal(ours.labels, ref.labels)
    assert ours.n_iter == ref.n_iter
    assert ours.n_relocated == ref.n_relocated
    assert ours.converged == ref.converged
    rtol = 0 if exact else 1e-6
    np.testing.assert_allclose(ours.centers, ref.centers.astype(np.float32), rtol=rtol, atol=0)
    np.testing.assert_allclose(ours.inertia, ref.objective, rtol=1e-6, atol=1e-9)
    assert np.isfinite(ours.centers).all()
    return ours


def test_exact_tie_goes_to_lowest_index(isa):
    # x = 1 is exactly halfway between centers 0 and 2: score |c|^2 - 2xc is 0 for both.
    X = np.array([[1.0], [0.0], [2.0]], dtype=np.float32)
    centers = np.array([[2.0], [0.0]], dtype=np.float32)
    labels = _kernel.assign(X, centers)[0]
    assert labels.tolist() == [0, 1, 0]
    centers = np.array([[0.0], [2.0]], dtype=np.float32)
    assert _kernel.assign(X, centers)[0].tolist() == [0, 0, 1]


def test_tie_on_many_features(isa):
    # Symmetric around the row in 37 features (not a multiple of any SIMD width).
    d = 37
    x = np.zeros((1, d), dtype=np.float32)
    c = np.zeros((3, d), dtype=np.float32)
    c[0, 5], c[1, 20], c[2, 36] = 3.0, 3.0, 3.0
    assert _kernel.assign(x, c)[0].tolist() == [0]
    assert _kernel.assign(x, c[::-1].copy())[0].tolist() == [0]


def test_duplicate_initial_centers_relocate_the_empty_cluster(isa):
    rng = np.random.default_rng(0)
    X = np.round(rng.normal(size=(200, 5)) * 4)  # integers: float32-exact sums
    init = np.stack([X[0], X[0], X[1]])  # clusters 0 and 1 tie on every row: 1 is empty
    ours = assert_same_as_oracle(X, init)
    assert ours.n_relocated >= 1
    assert len(np.unique(ours.labels)) == 3


def test_k_equals_number_of_distinct_points_with_duplicates():
    base = np.array([[0, 0], [10, 0], [0, 10], [10, 10]], dtype=np.float32)
    X = np.repeat(base, [5, 1, 3, 2], axis=0)
    init = X[[0, 1, 2, 3]]  # rows 0..3 are all copies of base[0]: three empty clusters at first
    ours = assert_same_as_oracle(X, init)
    assert ours.inertia == 0.0
    assert sorted(map(tuple, ours.centers.tolist())) == sorted(map(tuple, base.tolist()))


def test_more_clusters_than_distinct_points_keeps_centers_finite():
    X = np.ones((6, 3), dtype=np.float32)
    X[3:] = 2.0
    init = X[[0, 1, 2, 3]]  # 4 clusters, 2 distinct points: two clusters stay empty
    ours = assert_same_as_oracle(X, init)
    assert ours.inertia == 0.0
    assert ours.converged


def test_k_equals_one_gives_the_mean(mnist_sample):
    X = mnist_sample[0][:2000]
    ours = lloyd(X, X[:1].copy())
    np.testing.assert_allclose(ours.centers[0], X.astype(np.float64).mean(0), rtol=1e-6)
    assert ours.n_iter == 2 and ours.converged  # one move, then the same labels
    assert (ours.labels == 0).all()
    total = ((X.astype(np.float64) - X.astype(np.float64).mean(0)) ** 2).sum()
    assert ours.inertia == pytest.approx(total, rel=1e-5)


def test_k_equals_n_puts_a_center_on_every_point():
    rng = np.random.default_rng(1)
    X = rng.integers(0, 50, size=(40, 6)).astype(np.float32)
    X = np.unique(X, axis=0)
    ours = assert_same_as_oracle(X, X[::-1].copy())
    assert ours.inertia == 0.0
    assert len(np.unique(ours.labels)) == len(X)


def test_single_row_and_single_feature():
    X = np.array([[3.5]], dtype=np.float32)
    ours = lloyd(X, X.copy())
    # the center does not move in the first step: stop there (scikit-learn's rule at tol 0)
    assert ours.labels.tolist() == [0] and ours.inertia == 0.0 and ours.n_iter == 1
    assert ours.converged


def test_all_equal_points():
    X = np.full((50, 4), 7.0, dtype=np.float32)
    ours = assert_same_as_oracle(X, X[:3].copy())
    assert ours.inertia == 0.0 and ours.n_relocated == 0


def test_integer_weights_equal_repeated_rows():
    rng = np.random.default_rng(2)
    X = np.round(rng.normal(size=(300, 8)) * 3).astype(np.float32)
    w = rng.integers(1, 4, size=len(X)).astype(np.float64)
    init = X[[0, 50, 100, 150]].copy()
    weighted = lloyd(X, init, sample_weight=w)
    repeated = lloyd(np.repeat(X, w.astype(int), axis=0), init)
    np.testing.assert_array_equal(weighted.centers, repeated.centers)
    assert weighted.inertia == pytest.approx(repeated.inertia, rel=1e-12)
    assert weighted.n_iter == repeated.n_iter


def test_weighted_run_matches_oracle_with_zero_weights():
    rng = np.random.default_rng(3)
    X = np.round(rng.normal(size=(120, 3)) * 5)
    w = rng.uniform(0.0, 2.0, size=len(X))
    w[::7] = 0.0
    assert_same_as_oracle(X, X[[1, 2, 3, 4, 5]], sample_weight=w, exact=False)


def test_max_iter_and_tol_stop_with_consistent_labels(mnist_sample):
    X = mnist_sample[0][:3000]
    init = X[:10].copy()
    short = lloyd(X, init, max_iter=2)
    assert short.n_iter == 2 and not short.converged
    # labels and distances describe the returned centers, not the ones before the last update
    labels, sq = _kernel.assign(X, short.centers)[:2]
    np.testing.assert_array_equal(short.labels, labels)
    np.testing.assert_array_equal(short.sq_distances, sq)
    loose = lloyd(X, init, tol=1e6)
    ref = reference.kmeans(X, init, tol=1e6)
    assert loose.converged and loose.n_iter == ref.n_iter


def test_results_identical_for_any_thread_count(mnist_sample):
    X = mnist_sample[0]
    init = X[:20].copy()
    runs = [lloyd(X, init, n_threads=t) for t in (1, 2, 3)]
    for other in runs[1:]:
        for field in ("centers", "labels", "sq_distances", "inertia_history", "j_clust_history"):
            np.testing.assert_array_equal(getattr(runs[0], field), getattr(other, field))


def test_estimator_handles_duplicates_and_k_equals_n():
    X = np.repeat(np.arange(5, dtype=np.float32)[:, None] * 10, 4, axis=0)
    km = KMeans(5, init="random", n_init=3, random_state=0).fit(X)
    assert km.inertia_ == 0.0
    assert np.isfinite(km.cluster_centers_).all()
    # k = n with duplicates: only 5 distinct points for 20 clusters, so 15 stay empty, which
    # scikit-learn's ConvergenceWarning reports
    with pytest.warns(ConvergenceWarning, match=r"distinct clusters \(5\) found smaller than "
                      r"n_clusters \(20\)"):
        km = KMeans(len(X), init="k-means++", random_state=0).fit(X)
    assert km.inertia_ == 0.0 and np.isfinite(km.cluster_centers_).all()
    assert len(np.unique(km.labels_)) == 5
