"""float64 kept (issue 12, item 2): float64 input is computed in float64.

* the float64 kernel against the NumPy oracle (``reference.kmeans``, float64 centers) on real
  MNIST and on adversarial data (exact ties, duplicate rows and centers, empty clusters,
  K=1, K=N, weights): MNIST pixels and small integers make every sum exact, so labels,
  iteration counts, relocations and centers must be equal, bit for bit, except where a label
  is a near-tie within float64 rounding (proved for each differing row);
* the dtype of every output, for each input dtype, and for fit and predict dtypes that differ;
* results independent of the thread count and of the SIMD copy of the kernel; every
  ``algorithm`` gives the same results;
* no float64 copy of float32 X, and no float32 copy of float64 X.
(The float32 path is covered, unchanged, by the other test modules.)
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from sklearn.cluster import KMeans as SklearnKMeans

from mnist_kmeans import KMeans, _kernel, reference
from mnist_kmeans._validation import as_float_rows, kernel_dtype
from mnist_kmeans.initialization import initial_centers
from mnist_kmeans.kmeans import assign_pass, lloyd
from mnist_kmeans.step import lloyd_step, relocation_candidates

EPS64 = float(np.finfo(np.float64).eps)
ALGORITHMS = ("lloyd", "hamerly", "yinyang", "elkan")


def rounding_bound64(X, centers, rows, a, b) -> np.ndarray:
    """How far float64 rounding can move a score difference |c_a|^2 - |c_b|^2 - 2 x.(c_a - c_b)
    (the classic dot-product bound, as tests/test_oracle.py's for float32)."""
    d = X.shape[1]
    x = np.abs(X[rows])
    ca, cb = np.abs(centers[a]), np.abs(centers[b])
    dots = (x * ca).sum(1) + (x * cb).sum(1)
    norms = (ca * ca).sum(1) + (cb * cb).sum(1)
    return 2 * (d + 2) * EPS64 * (dots + norms)


def assert_labels_match(X, centers, labels, ref_labels) -> None:
    """Equal labels, except near-ties within float64 rounding (the oracle's is the nearer)."""
    differ = np.flatnonzero(labels != ref_labels)
    if differ.size:
        d2 = reference.squared_distances(X[differ], centers)
        rows = np.arange(differ.size)
        gap = d2[rows, labels[differ]] - d2[rows, ref_labels[differ]]
        bound = rounding_bound64(X, centers, differ, labels[differ], ref_labels[differ])
        assert np.all(np.abs(gap) <= bound), "a differing label is not a float64 near-tie"
    assert differ.size <= max(2, len(X) // 5000)


def assert_same_as_oracle(X, init, *, sample_weight=None, max_iter=300, tol=0.0) -> None:
    """A float64 kernel run equals the float64 oracle's (exact sums: bit for bit)."""
    run = lloyd(X, init, sample_weight=sample_weight, max_iter=max_iter, tol=tol, n_threads=1)
    ref = reference.kmeans(X, init, sample_weight=sample_weight, max_iter=max_iter, tol=tol)
    assert run.centers.dtype == np.float64 and run.sq_distances.dtype == np.float64
    assert (run.n_iter, run.converged, run.n_relocated) == (ref.n_iter, ref.converged, ref.n_relocated)
    np.testing.assert_array_equal(run.labels, ref.labels)
    np.testing.assert_array_equal(run.centers, ref.centers)  # exact sums, the same quotient
    np.testing.assert_allclose(run.sq_distances, ref.sq_distances, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(run.inertia_history, ref.objective_history, rtol=1e-12)
    assert run.inertia == pytest.approx(ref.objective, rel=1e-12, abs=1e-9)
    assert run.j_clust == pytest.approx(ref.j_clust, rel=1e-12, abs=1e-9)


# --- the kernel against the oracle -----------------------------------------------------------


@pytest.mark.parametrize("k", [1, 5, 10, 20])
def test_passes_match_the_oracle_on_mnist(mnist_sample, k):
    X = mnist_sample[0][:3000].astype(np.float64)
    init = initial_centers(X, k, "random", random_state=k)
    assert init.dtype == np.float64
    for centers in (init, lloyd(X, init, max_iter=3).centers, lloyd(X, init, max_iter=15).centers):
        out = _kernel.assign(X, centers, None, True, 2)
        ref_labels, _ = reference.assign(X, centers)
        assert_labels_match(X, centers, out.labels, ref_labels)
        chosen = reference.squared_distances(X, centers)[np.arange(len(X)), out.labels]
        assert out.sq_distances.dtype == np.float64
        # computed directly as sum (x - c)^2: float64 accuracy (the oracle's expanded form is
        # the less accurate of the two)
        np.testing.assert_allclose(out.sq_distances, chosen, rtol=1e-9, atol=1e-6)
        one_hot = np.zeros((k, len(X)))
        one_hot[out.labels, np.arange(len(X))] = 1.0
        np.testing.assert_array_equal(out.sums, one_hot @ X)  # integer pixels: exact
        np.testing.assert_array_equal(out.weight_sums, np.bincount(out.labels, minlength=k))


@pytest.mark.parametrize("k", [1, 5, 10, 20])
def test_whole_runs_match_the_oracle_on_mnist(mnist_sample, k):
    X = mnist_sample[0][:2000].astype(np.float64)
    init = initial_centers(X, k, "random", random_state=k)
    assert_same_as_oracle(X, init)


def test_whole_run_matches_the_oracle_and_sklearn_on_mnist_60k(mnist_train):
    X = mnist_train[0].astype(np.float64)
    init = X[np.random.default_rng(10).choice(len(X), 10, replace=False)]
    # the start of the trajectory (the oracle's passes over 60k rows take seconds each)
    assert_same_as_oracle(X, init, max_iter=3)
    ours = KMeans(10, init=init, max_iter=3, tol=0.0, algorithm="lloyd").fit(X)
    sk = SklearnKMeans(10, init=init, n_init=1, max_iter=3, tol=0.0, algorithm="lloyd").fit(X)
    assert ours.cluster_centers_.dtype == sk.cluster_centers_.dtype == np.float64
    np.testing.assert_array_equal(ours.labels_, sk.labels_)
    np.testing.assert_allclose(ours.cluster_centers_, sk.cluster_centers_, rtol=1e-12, atol=1e-9)
    assert ours.inertia_ == pytest.approx(sk.inertia_, rel=1e-10)


def test_matches_sklearn_float64_to_convergence(mnist_sample):
    X = mnist_sample[0][:3000].astype(np.float64)
    init = X[:8].copy()
    ours = KMeans(8, init=init, algorithm="lloyd").fit(X)
    sk = SklearnKMeans(8, init=init, n_init=1, tol=0.0, algorithm="lloyd", max_iter=300).fit(X)
    np.testing.assert_array_equal(ours.labels_, sk.labels_)
    np.testing.assert_allclose(ours.cluster_centers_, sk.cluster_centers_, rtol=1e-12, atol=1e-9)
    assert ours.inertia_ == pytest.approx(sk.inertia_, rel=1e-10)
    # scikit-learn stops one pass earlier at tol=0 (issue 12, item 3); the labels agree
    assert abs(ours.n_iter_ - sk.n_iter_) <= 1


def grid(n: int, d: int, levels: int, seed: int = 0) -> np.ndarray:
    """Small integers: every distance, sum and tie is exact in float64."""
    return np.random.default_rng(seed).integers(0, levels, size=(n, d)).astype(np.float64)


def test_exact_ties_go_to_the_lowest_index():
    # each row is equidistant from centers 0 and 1 (and from 2 and 3): lowest index wins
    X = np.array([[0.0, 0.0], [0.0, 2.0], [0.0, -2.0], [5.0, 0.0]])
    C = np.array([[-1.0, 0.0], [1.0, 0.0], [4.0, 1.0], [4.0, -1.0]])
    out = _kernel.assign(X, C, None, True, 1)
    np.testing.assert_array_equal(out.labels, [0, 0, 0, 2])
    assert out.sq_distances.dtype == np.float64
    np.testing.assert_array_equal(out.sq_distances, [1.0, 5.0, 5.0, 2.0])


@pytest.mark.parametrize("seed", range(4))
def test_adversarial_runs_match_the_oracle(seed):
    X = grid(300, 6, 3, seed)  # 3 levels in 6 columns: many duplicate rows and exact ties
    k = 12
    # duplicate centers (the higher index starts empty), and a far one that never wins
    init = np.vstack([X[:5], X[:5], np.full((2, 6), 40.0)])
    assert len(init) == k
    assert_same_as_oracle(X, init)
    w = np.random.default_rng(seed).integers(0, 4, len(X)).astype(np.float64)
    w[0] = 1.0
    assert_same_as_oracle(X, init, sample_weight=w)
    assert_same_as_oracle(X, init, tol=1e-3)
    assert_same_as_oracle(X, init, max_iter=2)


def test_relocation_of_empty_clusters_matches_the_oracle():
    X = grid(200, 4, 5, 7)
    init = np.vstack([X[:3], np.full((3, 4), 100.0)])  # three far centers: empty at once
    ref = reference.kmeans(X, init)
    assert ref.n_relocated >= 3
    assert_same_as_oracle(X, init)


def test_one_cluster_is_the_mean_and_n_clusters_equal_to_n_is_exact():
    X = grid(50, 5, 7, 3)
    one = lloyd(X, X[:1].copy())
    np.testing.assert_array_equal(one.centers[0], X.sum(0) / len(X))  # exact sum, one quotient
    assert_same_as_oracle(X, X[:1].copy())
    distinct = np.unique(X, axis=0)
    every = lloyd(distinct, distinct.copy())
    assert every.inertia == 0.0
    assert_same_as_oracle(distinct, distinct.copy())  # n_iter: the stopping rule's, as the oracle's
    np.testing.assert_array_equal(every.labels, np.arange(len(distinct)))
    np.testing.assert_array_equal(every.centers, distinct)


def test_values_beyond_float32_are_computed_in_float64():
    X = grid(100, 3, 4) * 1e38  # beyond float32's range: fine in float64
    ref = reference.kmeans(X, X[:3])
    run = lloyd(X, X[:3].copy())
    assert run.n_iter == ref.n_iter
    np.testing.assert_array_equal(run.labels, ref.labels)
    np.testing.assert_allclose(run.centers, ref.centers, rtol=1e-15)


def test_float64_beyond_float32_range_is_computed():
    X = grid(60, 3, 4) * 1e39
    km = KMeans(3, n_init=1, random_state=0).fit(X)
    assert km.cluster_centers_.dtype == np.float64 and np.isfinite(km.cluster_centers_).all()


# --- the step and the driver loop ------------------------------------------------------------


def test_a_loop_of_passes_and_steps_gives_lloyds_results(mnist_sample):
    """step.py's loop on float64 (the distributed driver's code) equals lloyd(), bit for bit."""
    X = mnist_sample[0][:2000].astype(np.float64)
    centers = np.vstack([X[:6], X[:2]])  # two duplicates: relocations on the way
    run = lloyd(X, centers, algorithm="lloyd")
    previous, relocated_last = None, False
    for iteration in range(1, 301):
        p = assign_pass(X, centers, previous_labels=previous)
        step = lloyd_step(
            centers, p.sums, p.weight_sums, n_changed=p.n_changed, iteration=iteration,
            relocated_last=relocated_last,
            candidates=lambda wanted: relocation_candidates(X, p.labels, p.sq_distances, limit=wanted),
        )
        assert step.centers.dtype == np.float64
        if step.converged and not step.final_pass:
            break
        labels = p.labels.copy()
        labels[step.moved_rows] = step.moved_to
        previous, relocated_last, centers = labels, step.n_relocated > 0, step.centers
        if step.final_pass:
            p = assign_pass(X, centers)
            break
    assert iteration == run.n_iter and run.n_relocated > 0
    np.testing.assert_array_equal(centers, run.centers)
    np.testing.assert_array_equal(p.labels, run.labels)
    np.testing.assert_array_equal(p.sq_distances, run.sq_distances)
    assert p.inertia == run.inertia


# --- dtypes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "dtype, kernel",
    [
        (np.float64, np.float64), (np.int64, np.float64), (np.int32, np.float64),
        (np.uint32, np.float64), (np.float32, np.float32), (np.float16, np.float32),
        (np.uint8, np.float32), (np.int16, np.float32), (np.bool_, np.float32),
    ],
)
def test_every_output_has_the_dtype_the_input_gets(dtype, kernel):
    X = (grid(120, 4, 6, 1) > 2 if dtype is np.bool_ else grid(120, 4, 6, 1)).astype(dtype)
    assert kernel_dtype(X.dtype) == kernel
    km = KMeans(3, n_init=2, random_state=0)
    labels = km.fit_predict(X)
    assert km.cluster_centers_.dtype == kernel and km.sq_distances_.dtype == kernel
    assert labels.dtype == km.labels_.dtype == km.predict(X).dtype == np.int32
    assert km.transform(X).dtype == kernel
    assert KMeans(3, n_init=1, random_state=0).fit_transform(X).dtype == kernel
    assert isinstance(km.score(X), float) and isinstance(km.inertia_, float)
    assert as_float_rows(X).dtype == kernel
    assert initial_centers(X, 3, "k-means++", random_state=0).dtype == kernel
    init = X[:3]  # an array init takes X's kernel dtype, whatever its own
    assert KMeans(3, init=init).fit(X).cluster_centers_.dtype == kernel
    assert KMeans(3, init=init.astype(np.float64)).fit(X).cluster_centers_.dtype == kernel


def test_lists_and_frames_of_floats_are_float64():
    rows = [[0.0, 1.0], [1.0, 1.0], [5.0, 5.0], [6.0, 5.0]]
    assert KMeans(2, random_state=0).fit(rows).cluster_centers_.dtype == np.float64
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(rows, columns=["a", "b"])
    assert KMeans(2, random_state=0).fit(frame).cluster_centers_.dtype == np.float64
    frame32 = frame.astype(np.float32)
    assert KMeans(2, random_state=0).fit(frame32).cluster_centers_.dtype == np.float32


def test_float64_input_gives_the_float32_results_within_rounding(mnist_sample):
    X = mnist_sample[0][:2000]
    a = KMeans(10, random_state=3).fit(X)
    b = KMeans(10, random_state=3).fit(X.astype(np.float64))
    assert a.cluster_centers_.dtype == np.float32 and b.cluster_centers_.dtype == np.float64
    assert (a.labels_ != b.labels_).mean() < 0.01
    assert b.inertia_ == pytest.approx(a.inertia_, rel=1e-4)


def test_predict_with_another_dtype_computes_in_the_new_datas_dtype(mnist_sample):
    X32 = mnist_sample[0][:1500]
    X64 = X32.astype(np.float64)
    m32 = KMeans(6, random_state=1).fit(X32)
    m64 = KMeans(6, random_state=1).fit(X64)
    # float32 model, float64 data: the centers widen exactly, computed in float64
    c = m32.cluster_centers_.astype(np.float64)
    ref = _kernel.assign(X64, c, None, False, 1)
    np.testing.assert_array_equal(m32.predict(X64), ref.labels)
    assert m32.score(X64) == -ref.inertia
    assert m32.transform(X64).dtype == np.float64
    # float64 model, float32 data: the centers are rounded to float32, computed in float32
    c = m64.cluster_centers_.astype(np.float32)
    ref = _kernel.assign(X32, c, None, False, 1)
    np.testing.assert_array_equal(m64.predict(X32), ref.labels)
    assert m64.score(X32) == -ref.inertia
    assert m64.transform(X32).dtype == np.float64  # as scikit-learn's euclidean_distances
    # the fitted centers are not changed by either
    assert m32.cluster_centers_.dtype == np.float32 and m64.cluster_centers_.dtype == np.float64


def test_kernel_refuses_mixed_dtypes():
    X = grid(20, 3, 4)
    with pytest.raises(TypeError, match="centers must have dtype float64, got float32"):
        _kernel.assign(X, X[:2].astype(np.float32))
    with pytest.raises(TypeError, match="centers must have dtype float32, got float64"):
        _kernel.lloyd(X.astype(np.float32), X[:2].copy())


# --- threads, SIMD copies, algorithms --------------------------------------------------------


def bits(km: KMeans) -> tuple:
    return (
        km.cluster_centers_.tobytes(), km.labels_.tobytes(), km.sq_distances_.tobytes(),
        np.float64(km.inertia_).tobytes(), km.n_iter_,
    )


def test_results_do_not_depend_on_threads_simd_copy_or_algorithm(mnist_sample):
    X = mnist_sample[0][:2000].astype(np.float64)
    w = np.random.default_rng(0).integers(0, 3, len(X)).astype(np.float64)
    base = bits(KMeans(12, random_state=4, n_threads=1, algorithm="lloyd").fit(X, sample_weight=w))
    for threads in (2, 3):
        assert bits(KMeans(12, random_state=4, n_threads=threads, algorithm="lloyd").fit(
            X, sample_weight=w)) == base
    for algorithm in ALGORITHMS[1:] + ("auto",):
        assert bits(KMeans(12, random_state=4, n_threads=2, algorithm=algorithm).fit(
            X, sample_weight=w)) == base
    previous = _kernel.current_isa()
    try:
        for isa in _kernel.available_isas():  # 'generic' runs the baseline copy of the kernel
            _kernel.set_isa(isa)
            assert bits(KMeans(12, random_state=4, n_threads=2, algorithm="lloyd").fit(
                X, sample_weight=w)) == base
    finally:
        _kernel.set_isa(previous)


def test_every_algorithm_runs_lloyd_passes_on_float64(mnist_sample):
    X = mnist_sample[0][:1000].astype(np.float64)
    for algorithm in ALGORITHMS:
        run = lloyd(X, X[:5].copy(), algorithm=algorithm)
        assert (run.rows_scored == len(X)).all()


def test_chunks_add_up_to_the_pass_in_order(mnist_sample):
    X = mnist_sample[0][:1500].astype(np.float64)  # three chunks of 512 rows
    out = _kernel.assign(X, X[:4].copy(), None, True, 3)
    total = 0.0
    for v in out.chunk_inertia:
        total += float(v)
    assert total == out.inertia and len(out.chunk_inertia) == 3


# --- memory ----------------------------------------------------------------------------------


def peak_during(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_no_copy_of_X_in_another_dtype(dtype):
    # 20000 x 200: 16 MB in float32, 32 MB in float64. A float64 copy of float32 X would
    # trace 32 MB, a float32 copy of float64 X 16 MB; the fit itself needs a few MB.
    X = np.random.default_rng(0).random((20000, 200)).astype(dtype)
    peak = peak_during(lambda: KMeans(8, random_state=0, max_iter=5, n_threads=1).fit(X).predict(X))
    assert peak < X.nbytes // 4, f"a fit traced {peak / 2**20:.1f} MB for {X.nbytes / 2**20:.0f} MB of X"


@pytest.mark.parametrize("k", [5, 10])
def test_the_oracle_in_float32_models_the_float32_kernel(mnist_sample, k):
    """reference.kmeans(dtype=np.float32) rounds its centers as the float32 kernel does: on
    these MNIST rows (no label within float32 rounding of a tie) the runs agree bit for bit."""
    X = mnist_sample[0][:2000]
    init = X[np.random.default_rng(k).choice(len(X), k, replace=False)]
    run = lloyd(X, init, algorithm="lloyd", n_threads=1)
    ref = reference.kmeans(X, init, dtype=np.float32)
    assert ref.centers.dtype == np.float32 and run.n_iter == ref.n_iter
    np.testing.assert_array_equal(run.labels, ref.labels)
    np.testing.assert_array_equal(run.centers, ref.centers)
