"""The accelerated algorithms give our Lloyd's results bit for bit, from the same init.

'hamerly' skips rows whose label its bounds prove unchanged, 'yinyang' and 'elkan' also skip
units of 16 centers within a row (with margins for float32 rounding, see cpp/kmeans/bound_math.hpp
and grouped.hpp); every output must still equal 'lloyd''s exactly: labels, centers, squared
distances, objective histories, iteration count, relocations.
"""

from __future__ import annotations

import numpy as np
import pytest

from mnist_kmeans import KMeans, _kernel
from mnist_kmeans.kmeans import as_float32_rows, initial_centers, lloyd

FIELDS = ("centers", "labels", "sq_distances", "inertia_history", "j_clust_history")
BOUNDED = ("hamerly", "yinyang", "elkan")


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


@pytest.mark.parametrize("algorithm", BOUNDED)
@pytest.mark.parametrize("k", [1, 2, 5, 10, 20, 64, 100])
def test_mnist_sample_same_as_lloyd(mnist_sample, isa, k, algorithm):
    X = mnist_sample[0]
    ref, run = assert_identical(X, initial_centers(X, k, "random", random_state=k), algorithm)
    assert ref.converged
    if k > 1 and run.n_iter > 3:
        # the bounds do skip rows once the centers settle
        assert run.rows_scored[-1] < len(X) // 2
    if k >= 64 and algorithm != "hamerly":
        # and the unit bounds skip most of the scores of the rows that are left
        assert run.rows_scored[-1] < len(X) // 5


@pytest.mark.parametrize("algorithm", BOUNDED)
@pytest.mark.parametrize("seed", range(3))
def test_mnist_sample_kmeanspp_threads_and_tol(mnist_sample, seed, algorithm):
    X = mnist_sample[0][:4000]
    init = initial_centers(X, 16 + 11 * seed, "k-means++", random_state=seed)
    for threads in (1, 2):
        assert_identical(X, init, algorithm, n_threads=threads)
    assert_identical(X, init, algorithm, tol=1e-3 * float(X.var(0).mean()))
    assert_identical(X, init, algorithm, max_iter=3)


@pytest.mark.parametrize("algorithm", BOUNDED)
def test_weighted_same_as_lloyd(mnist_sample, algorithm):
    X = mnist_sample[0][:3000]
    w = np.random.default_rng(0).integers(0, 4, len(X)).astype(np.float64)
    w[:10] = 0.0
    assert_identical(X, initial_centers(X, 12, "random", random_state=3), algorithm, sample_weight=w)
    w = np.random.default_rng(1).random(len(X)) * 3
    assert_identical(X, initial_centers(X, 40, "random", random_state=4), algorithm, sample_weight=w)


@pytest.mark.parametrize("algorithm", BOUNDED)
def test_duplicates_and_ties(isa, algorithm):
    # integer grid in 3 dimensions: many duplicate rows and exact ties between centers
    rng = np.random.default_rng(0)
    X = rng.integers(0, 3, size=(600, 3)).astype(np.float32)
    for seed in range(20):
        init = X[np.random.RandomState(seed).choice(len(X), 6 + 3 * seed, replace=False)]
        assert_identical(X, init, algorithm)
    # duplicated centers in different units (ties must go to the lowest index)
    init = X[np.random.RandomState(99).choice(len(X), 20, replace=False)]
    assert_identical(X, np.vstack([init, init[::-1], init]), algorithm)
    # centers exactly symmetric around every row: 0 and 2 around 1
    X = np.ones((50, 5), np.float32)
    X[::2] = 0.0
    assert_identical(X, np.array([np.zeros(5), 2 * np.ones(5)], np.float32), algorithm)


@pytest.mark.parametrize("algorithm", BOUNDED)
def test_empty_clusters_are_relocated_the_same_way(isa, algorithm):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 17)).astype(np.float32)
    init = np.vstack([X[:3], X[:3], np.full((2, 17), 50.0, np.float32)])  # duplicates and far away
    ref, run = assert_identical(X, init, algorithm)
    assert ref.n_relocated > 0
    init = np.vstack([X[:20], X[:20], np.full((10, 17), 50.0, np.float32)])
    ref, run = assert_identical(X, init, algorithm)
    assert ref.n_relocated > 0


@pytest.mark.parametrize("algorithm", BOUNDED)
def test_k_equals_n_and_k_one(isa, algorithm):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(40, 9)).astype(np.float32)
    assert_identical(X, X.copy(), algorithm)          # k = n: every row its own center
    assert_identical(X, X[:1].copy(), algorithm)      # k = 1
    X = np.zeros((30, 4), np.float32)                 # all rows equal, all at the origin
    assert_identical(X, np.zeros((3, 4), np.float32), algorithm)


@pytest.mark.parametrize("algorithm", BOUNDED)
@pytest.mark.parametrize("d", [1, 7, 8, 33, 300])
def test_shapes_signs_and_scales(d, algorithm):
    rng = np.random.default_rng(d)
    for scale in (1e-15, 1e-3, 1.0, 1e4, 1e15):
        X = (rng.standard_t(3, size=(257, d)) * scale).astype(np.float32)
        X[rng.random(X.shape) < 0.5] = 0.0  # sparse, as MNIST: exercises the skipped columns
        X[:5] = -0.0
        init = X[rng.choice(len(X), min(9 + d, len(X)), replace=False)]
        assert_identical(X, init, algorithm)


@pytest.mark.parametrize("algorithm", BOUNDED)
def test_many_random_problems(algorithm):
    rng = np.random.default_rng(123)
    for _ in range(40):
        n, d = int(rng.integers(2, 200)), int(rng.integers(1, 20))
        k = int(rng.integers(1, min(n, 50) + 1))
        X = rng.integers(-3, 4, size=(n, d)).astype(np.float32) * np.float32(rng.choice([0.5, 1, 3]))
        init = X[rng.choice(n, k, replace=False)]
        assert_identical(X, init, algorithm)


@pytest.mark.parametrize("algorithm", BOUNDED)
def test_inexact_sums_same_as_lloyd(algorithm):
    # values over a wide range of magnitudes: cluster sums round, so the incremental update of
    # the sums (used for integer-like data) must not be taken; a wrong exactness test would
    # show here as centers one rounding away from Lloyd's
    rng = np.random.default_rng(7)
    X = (rng.standard_normal((3000, 12)) * 2.0 ** rng.integers(-30, 30, (3000, 12))).astype(np.float32)
    X += rng.standard_normal((3000, 12)).astype(np.float32) * 1e3
    assert_identical(X, X[rng.choice(3000, 24, replace=False)].copy(), algorithm)
    # pixels / 255: inexact decimals, but every sum of them is exact in double
    Y = (rng.integers(0, 256, (3000, 30)) / np.float32(255)).astype(np.float32)
    assert_identical(Y, Y[:24].copy(), algorithm)


def test_estimator_algorithms_agree(mnist_sample):
    X = mnist_sample[0][:2000]
    fits = {alg: KMeans(50, init="random", n_init=2, random_state=0, algorithm=alg).fit(X)
            for alg in ("lloyd", "auto") + BOUNDED}
    for alg in ("auto",) + BOUNDED:
        np.testing.assert_array_equal(fits[alg].cluster_centers_, fits["lloyd"].cluster_centers_)
        np.testing.assert_array_equal(fits[alg].labels_, fits["lloyd"].labels_)
        assert fits[alg].n_iter_ == fits["lloyd"].n_iter_
        assert fits[alg].inertia_ == fits["lloyd"].inertia_


def test_unknown_algorithm_is_refused(mnist_sample):
    X = mnist_sample[0][:100]
    with pytest.raises(ValueError, match="algorithm"):
        lloyd(X, X[:3].copy(), algorithm="full")
    with pytest.raises(ValueError, match="algorithm"):
        _kernel.lloyd(X, X[:3].copy(), None, 10, 0.0, 1, "hartigan")
    with pytest.raises(ValueError, match="algorithm"):
        KMeans(3, algorithm="Elkan").fit(X)


def test_bounds_that_would_not_fit_are_refused(monkeypatch):
    from mnist_kmeans import kmeans

    X = np.zeros((1000, 2), np.float32)
    X[:, 0] = np.arange(1000)
    monkeypatch.setattr(kmeans, "MAX_BOUND_BYTES", 4 * 1000 * 50 - 1)
    with pytest.raises(ValueError, match="'elkan'.*GiB.*'hamerly'"):
        lloyd(X, X[:50].copy(), algorithm="elkan")
    lloyd(X, X[:49].copy(), algorithm="elkan")  # just within the limit
    monkeypatch.setattr(kmeans, "MAX_BOUND_BYTES", 4 * 1000 * 2 - 1)  # 2 units of 16 centers
    with pytest.raises(ValueError, match="'yinyang'.*GiB.*'hamerly'"):
        lloyd(X, X[:17].copy(), algorithm="yinyang")
    lloyd(X, X[:16].copy(), algorithm="yinyang")


def test_auto_picks_by_the_number_of_clusters_and_memory():
    from mnist_kmeans.kmeans import AUTO_BOUND_BYTES, AUTO_YINYANG_MIN_CLUSTERS, _resolve_algorithm

    assert _resolve_algorithm("auto", 1, 1000, 100) == "lloyd"
    assert _resolve_algorithm("auto", 300, 1000, AUTO_YINYANG_MIN_CLUSTERS - 1) == "hamerly"
    assert _resolve_algorithm("auto", 300, 1000, AUTO_YINYANG_MIN_CLUSTERS) == "yinyang"
    # k = n = 60000: Yinyang's bounds would take 60000 * 3750 * 4 bytes; Hamerly's 8 a row
    assert 60000 * 3750 * 4 > AUTO_BOUND_BYTES
    assert _resolve_algorithm("auto", 300, 60000, 60000) == "hamerly"
    assert _resolve_algorithm("auto", 300, 60000, 256) == "yinyang"


def test_exact_sums_test(mnist_sample):
    # the bounded algorithms update cluster sums by the rows that move only when every sum of
    # rows is exact in float64: all values multiples of 2^L, n * max|x| below 2^52 * 2^L
    X = mnist_sample[0]
    assert _kernel.exact_sums(as_float32_rows(X))                        # pixels 0..255
    assert _kernel.exact_sums(as_float32_rows(X / np.float32(255)))      # pixels / 255
    assert _kernel.exact_sums(np.zeros((5, 3), np.float32))
    f = np.float32
    assert _kernel.exact_sums(np.array([[2.0**49], [1.0]], f))          # 50 bits
    assert not _kernel.exact_sums(np.array([[2.0**49], [0.5]], f))      # 51 bits, and n = 2
    assert not _kernel.exact_sums(np.array([[2.0**60], [1.0]], f))
    assert not _kernel.exact_sums(np.array([[-(2.0**60)], [1.0]], f))   # the sign does not matter
    assert not _kernel.exact_sums(np.array([[1.0], [2.0**-60]], f))
    assert not _kernel.exact_sums(np.array([[1.0], [1e-45]], f))        # a subnormal
    rng = np.random.default_rng(0)
    Y = rng.standard_normal((100, 4)).astype(f) * f(1e6)  # 24-bit values of similar size: exact
    assert _kernel.exact_sums(Y)
    Y[0, 0] = 1e-6                                        # one small value: not any more
    assert not _kernel.exact_sums(Y)


def reference_exact_sums(X):
    """NumPy's view of RowFacts::exact_sums: every value a multiple of one 2^L, and
    n * max|x| < 2^52 * 2^L (from the float32 exponents, as the kernel bounds them)."""
    nonzero = X[X != 0].astype(np.float64)
    if nonzero.size == 0:
        return True
    mantissa, exponent = np.frexp(nonzero)  # value = mantissa * 2^exponent, 0.5 <= |m| < 1
    # the lowest set bit of each value: 2^(exponent - 24 + trailing zeros of the 24-bit significand)
    significand = np.abs(mantissa * 2.0**24).astype(np.int64)
    trailing = np.log2(significand & -significand).astype(np.int64)
    lowest = int((exponent - 24 + trailing).min())
    highest = int(np.frexp(np.abs(nonzero).max())[1])  # |x| < 2^highest
    n_bits = int(len(X)).bit_length()
    return highest + n_bits - lowest <= 52


def test_row_facts_against_numpy(mnist_sample, isa):
    # the RowFacts the restarts share (_kernel.RowFacts): |x|^2 rounded down, within the
    # kernel's slack, and the exact-sums test, on rows wide enough for the eight-column copy
    # (AVX2) and its tail; each odd value in its own column
    f = np.float32
    rng = np.random.default_rng(1)
    cases = {
        "pixels": mnist_sample[0][:300],
        "pixels / 255": mnist_sample[0][:300] / f(255),
        "zeros": np.zeros((4, 19), f),
        "gaussian": rng.standard_normal((50, 21)).astype(f) * f(1e6),
    }
    for column in (0, 7, 8, 16, 18):
        for value in (0.5, 2.0**-60, 1e-45, 2.0**60, -(2.0**60), 3.0):
            X = rng.integers(0, 256, (40, 19)).astype(f)
            X[5, column] = value
            cases[f"{value} at column {column}"] = X
    for name, X in cases.items():
        X = np.ascontiguousarray(X, dtype=f)
        facts = _kernel.RowFacts(X, 2)
        assert facts.exact_sums == reference_exact_sums(X) == _kernel.exact_sums(X), name
        exact = (X.astype(np.float64) ** 2).sum(axis=1)
        assert np.all(facts.x_sqnorm <= exact), name
        np.testing.assert_allclose(facts.x_sqnorm, exact, rtol=1e-11, atol=0, err_msg=name)


@pytest.mark.parametrize("algorithm", ("auto",) + BOUNDED)
def test_shared_row_facts_same_results(mnist_sample, algorithm):
    # restarts share one RowFacts of X: the runs give the results of runs that compute their own
    X = as_float32_rows(mnist_sample[0])
    facts = _kernel.RowFacts(X)
    for k, seed, history in ((5, 0, False), (20, 1, True)):
        init = initial_centers(X, k, "random", random_state=seed)
        own = lloyd(X, init, algorithm=algorithm, record_history=history)
        shared = lloyd(X, init, algorithm=algorithm, record_history=history, row_facts=facts)
        for field in FIELDS:
            np.testing.assert_array_equal(getattr(shared, field), getattr(own, field), err_msg=field)
        assert (shared.n_iter, shared.inertia) == (own.n_iter, own.inertia)


def test_row_facts_of_another_x_refused(mnist_sample):
    X = as_float32_rows(mnist_sample[0])
    facts = _kernel.RowFacts(X)
    init = X[:5].copy()
    for other in (X.copy(), X[:-1], X[1:]):
        with pytest.raises(ValueError, match="row_facts were computed for another X"):
            lloyd(np.ascontiguousarray(other), init, algorithm="hamerly", row_facts=facts)
    with pytest.raises(ValueError, match="float32 X only"):
        lloyd(X.astype(np.float64), init.astype(np.float64), row_facts=facts)
    with pytest.raises(TypeError):
        _kernel.RowFacts(X.astype(np.float64))


def assert_lean_identical(X, init, algorithm, **kwargs):
    # record_history=False: the bounded algorithms may skip rows without reading them; every
    # result but the histories must still be Lloyd's, bit for bit
    X = as_float32_rows(X)
    init = np.ascontiguousarray(init, dtype=np.float32)
    ref = lloyd(X, init, algorithm="lloyd", **kwargs)
    run = lloyd(X, init, algorithm=algorithm, record_history=False, **kwargs)
    for field in ("centers", "labels", "sq_distances"):
        np.testing.assert_array_equal(getattr(run, field), getattr(ref, field), err_msg=field)
    assert (run.n_iter, run.converged, run.n_relocated) == (ref.n_iter, ref.converged, ref.n_relocated)
    assert run.inertia == ref.inertia and run.j_clust == ref.j_clust
    assert run.inertia_history.shape == (0,) and run.j_clust_history.shape == (0,)
    return ref, run


@pytest.mark.parametrize("algorithm", ("lloyd",) + BOUNDED)
def test_without_history_same_as_lloyd(mnist_sample, isa, algorithm):
    X = mnist_sample[0]
    for k, seed in ((5, 0), (20, 1), (64, 2)):
        ref, run = assert_lean_identical(X, initial_centers(X, k, "random", random_state=seed), algorithm)
        assert ref.converged
    # stopped by max_iter and by tol: the final pass describes the returned centers
    init = initial_centers(X, 20, "k-means++", random_state=3)
    assert_lean_identical(X, init, algorithm, max_iter=7)
    assert_lean_identical(X, init, algorithm, tol=1e-2 * float(X.var(0).mean()))
    # weights and inexact sums: no lean passes, the same results all the same
    w = np.random.default_rng(0).integers(0, 4, len(X)).astype(np.float64)
    assert_lean_identical(X[:3000], init, algorithm, sample_weight=w[:3000])
    assert_lean_identical(X[:3000] * np.float32(1.1), init * np.float32(1.1), algorithm)


@pytest.mark.parametrize("algorithm", BOUNDED)
def test_without_history_relocates_from_fresh_distances(isa, algorithm):
    # empty clusters take the farthest rows: lean passes must refresh the distances first
    rng = np.random.default_rng(5)
    X = rng.integers(0, 50, size=(2000, 6)).astype(np.float32)
    for seed in range(5):
        init = np.vstack([X[rng.choice(len(X), 8, replace=False)]] * 2 + [np.full((4, 6), 500, np.float32)])
        ref, _ = assert_lean_identical(X, init, algorithm)
        assert ref.n_relocated > 0
    assert_lean_identical(X, X[:1].copy(), algorithm)
    assert_lean_identical(X[:300], X[:300].copy(), algorithm)
    # 1-D integer data with many duplicates: clusters empty out in later (lean) passes; these
    # seeds fail when the distances are not refreshed before relocating (found by a search)
    for seed in (25, 32, 44, 102, 111, 113):
        rng = np.random.default_rng(seed)
        n, d = int(rng.integers(20, 300)), int(rng.integers(1, 6))
        k = int(rng.integers(2, min(n, 40)))
        X = rng.integers(0, 20, size=(n, d)).astype(np.float32)
        assert_lean_identical(X, X[rng.choice(n, k, replace=False)], algorithm)


def test_estimator_keeps_the_best_restarts_history(mnist_sample):
    X = mnist_sample[0][:3000]
    km = KMeans(10, init="random", n_init=4, random_state=0, record_history=True).fit(X)
    assert len(km.history_) == len(km.j_clust_history_) == km.n_iter_
    best = km.restarts_[km.best_restart_]
    again = lloyd(as_float32_rows(X), initial_centers(X, 10, "random", best.seed))
    np.testing.assert_array_equal(km.history_, again.inertia_history)
    np.testing.assert_array_equal(km.j_clust_history_, again.j_clust_history)
    np.testing.assert_array_equal(km.cluster_centers_, again.centers)
    assert km.inertia_ == min(r.inertia for r in km.restarts_)


# 'auto' switches between full passes and bounded passes inside a run (per pass, by
# measurement); the private _schedule forces the kind of each pass ('f' full, 'b' bounded,
# the last letter repeated), so that every switch point can be checked against Lloyd's bits.
SCHEDULES = ("f", "fb", "ffb", "fffffb", "bfb", "fbbfffb", "fbfbfbfbfbf", "bbbbf")


def assert_switching_identical(X, init, algorithm, schedule, record_history=True, ref=None, **kwargs):
    X = as_float32_rows(X)
    init = np.ascontiguousarray(init, dtype=np.float32)
    if ref is None:
        ref = lloyd(X, init, algorithm="lloyd", record_history=record_history, **kwargs)
    run = lloyd(X, init, algorithm=algorithm, record_history=record_history, _schedule=schedule,
                **kwargs)
    for field in FIELDS:
        np.testing.assert_array_equal(getattr(run, field), getattr(ref, field), err_msg=field)
    assert (run.n_iter, run.converged, run.n_relocated) == (ref.n_iter, ref.converged, ref.n_relocated)
    assert run.inertia == ref.inertia and run.j_clust == ref.j_clust
    # the schedule was followed: 'L' for full passes, the algorithm's letter for bounded ones
    letter = algorithm[0].upper()
    expected = "".join(schedule[min(i, len(schedule) - 1)] for i in range(run.n_iter))
    assert run.pass_kinds == expected.replace("f", "L").replace("b", letter)
    full = np.array([kind == "L" for kind in run.pass_kinds])
    assert (run.rows_scored[full] == len(X)).all()
    assert len(run.pass_seconds) == run.n_iter and (run.pass_seconds >= 0).all()
    return ref, run


@pytest.mark.parametrize("algorithm", BOUNDED)
@pytest.mark.parametrize("k", [5, 20, 64])
def test_switching_same_as_lloyd(mnist_sample, isa, k, algorithm):
    X = as_float32_rows(mnist_sample[0][:2000])
    init = initial_centers(X, k, "random", random_state=k)
    # every schedule, each with one of the four (threads, history) settings in turn
    settings = [(threads, history) for threads in (1, 2) for history in (True, False)]
    refs = {(t, h): lloyd(X, init, algorithm="lloyd", n_threads=t, record_history=h) for t, h in settings}
    for i, schedule in enumerate(SCHEDULES):
        threads, history = settings[i % len(settings)]
        ref, run = assert_switching_identical(X, init, algorithm, schedule, history,
                                              ref=refs[threads, history], n_threads=threads)
    assert ref.converged and run.n_iter > len(SCHEDULES[-1])
    # Yinyang's passes right after a full pass already skip most scores: the full pass started
    # its unit bounds from every row's scores
    ref, run = assert_switching_identical(X, init, algorithm, "ffffb", ref=refs[2, True], n_threads=2)
    if algorithm == "yinyang" and k >= 64:
        assert run.rows_scored[4] < len(X) // 2


@pytest.mark.parametrize("algorithm", BOUNDED)
def test_switching_with_ties_duplicates_and_relocations(isa, algorithm):
    # exact ties between centers: a full pass that packs the centers in Yinyang's units must
    # still give each tied row the lowest caller's index, as Lloyd
    rng = np.random.default_rng(0)
    X = rng.integers(0, 3, size=(600, 3)).astype(np.float32)
    for seed in range(5):
        init = X[np.random.RandomState(seed).choice(len(X), 6 + 8 * seed, replace=False)]
        for schedule in ("f", "fb", "fbfb", "ffbbf"):
            assert_switching_identical(X, init, algorithm, schedule)
            assert_switching_identical(X, init, algorithm, schedule, record_history=False)
    init = X[np.random.RandomState(99).choice(len(X), 20, replace=False)]
    for schedule in ("f", "fb", "fbbf"):
        assert_switching_identical(X, np.vstack([init, init[::-1], init]), algorithm, schedule)
    # empty clusters relocated between switches
    X = rng.normal(size=(300, 17)).astype(np.float32)
    init = np.vstack([X[:20], X[:20], np.full((10, 17), 50.0, np.float32)])
    for schedule in ("f", "fb", "bf", "fbfb"):
        ref, _ = assert_switching_identical(X, init, algorithm, schedule)
        assert ref.n_relocated > 0
        assert_switching_identical(X, init, algorithm, schedule, record_history=False)
    # weights (no incremental sums) and k = 1
    w = np.random.default_rng(1).random(len(X)) * 3
    assert_switching_identical(X, X[:12].copy(), algorithm, "fbfb", sample_weight=w)
    assert_switching_identical(X, X[:1].copy(), algorithm, "fb")


@pytest.mark.parametrize("k", [5, 20, 64])
def test_auto_switches_per_pass(mnist_sample, isa, k):
    X = as_float32_rows(mnist_sample[0][:2500])
    init = initial_centers(X, k, "random", random_state=k)
    for threads in (1, 2):
        for history in (True, False):
            ref = lloyd(X, init, algorithm="lloyd", n_threads=threads, record_history=history)
            run = lloyd(X, init, algorithm="auto", n_threads=threads, record_history=history)
            for field in FIELDS:
                np.testing.assert_array_equal(getattr(run, field), getattr(ref, field), err_msg=field)
            assert (run.n_iter, run.inertia, run.j_clust) == (ref.n_iter, ref.inertia, ref.j_clust)
            # the first pass is a full one; then full or bounded, as measured
            bounded = "Y" if k >= 48 else "H"
            assert run.pass_kinds[0] == "L" and set(run.pass_kinds) <= {"L", bounded}
            assert ref.pass_kinds == "L" * ref.n_iter
    # forced algorithms run their own passes only
    assert set(lloyd(X, init, algorithm="hamerly").pass_kinds) == {"H"}
    assert set(lloyd(X, init, algorithm="elkan").pass_kinds) == {"E"}


def test_schedule_is_checked(mnist_sample):
    X = mnist_sample[0][:100]
    with pytest.raises(ValueError, match="schedule"):
        _kernel.lloyd(X, X[:3].copy(), None, 10, 0.0, 1, "hamerly", True, adaptive=True,
                      schedule="fbx")
