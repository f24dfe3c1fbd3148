"""KMeans behaves like a scikit-learn estimator."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from mnist_kmeans import KMeans

# Checks that cannot apply, with the reason (anything else must pass).
EXPECTED_FAILED_CHECKS = {
    # Initial centers are drawn with weights as probabilities, so weight 2 is not the same
    # random draw as a repeated row (scikit-learn's KMeans is listed for the same reason).
    "check_sample_weight_equivalence_on_dense_data": "random init depends on the draw",
    "check_sample_weight_equivalence_on_sparse_data": "random init depends on the draw",
}


@parametrize_with_checks(
    [KMeans(n_clusters=3, random_state=0)],
    expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_same_random_state_same_result(mnist_sample):
    X = mnist_sample[0][:3000]
    a = KMeans(10, init="random", n_init=3, random_state=42).fit(X)
    b = KMeans(10, init="random", n_init=3, random_state=42).fit(X)
    np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    assert a.restarts_ == b.restarts_


def test_restarts_keep_the_lowest_inertia(mnist_sample):
    X = mnist_sample[0][:3000]
    km = KMeans(10, init="random", n_init=4, random_state=1, record_history=True).fit(X)
    inertias = [r.inertia for r in km.restarts_]
    assert len(inertias) == 4
    assert km.inertia_ == min(inertias) == inertias[km.best_restart_]
    assert km.n_iter_ == km.restarts_[km.best_restart_].n_iter
    assert len(km.history_) == km.n_iter_ == len(km.j_clust_history_)
    # Lloyd never increases the objective (up to float rounding)
    assert np.all(np.diff(km.history_) <= 1e-6 * km.history_[0])
    assert km.history_[-1] == pytest.approx(km.inertia_)
    assert km.j_clust_ == pytest.approx(np.sqrt(km.sq_distances_.astype(np.float64)).sum(), rel=1e-6)


def test_fitted_attributes_and_methods_agree(mnist_sample):
    X = mnist_sample[0][:2000]
    km = KMeans(8, random_state=0).fit(X)
    assert km.cluster_centers_.shape == (8, 784) and km.cluster_centers_.dtype == np.float32
    assert km.labels_.dtype == np.int32 and km.n_features_in_ == 784
    np.testing.assert_array_equal(km.predict(X), km.labels_)
    D = km.transform(X)
    assert D.shape == (2000, 8)
    np.testing.assert_array_equal(D.argmin(1), km.labels_)
    assert km.score(X) == pytest.approx(-km.inertia_, rel=1e-9)
    np.testing.assert_array_equal(KMeans(8, random_state=0).fit_predict(X), km.labels_)
    np.testing.assert_allclose(KMeans(8, random_state=0).fit_transform(X), D, rtol=1e-6)


def test_clone_and_pipeline(mnist_sample):
    X = mnist_sample[0][:1500]
    km = KMeans(5, init="random", random_state=3, n_threads=1)
    copy = clone(km)
    assert copy.get_params() == km.get_params()
    pipe = make_pipeline(StandardScaler(), KMeans(5, random_state=0)).fit(X)
    assert pipe.predict(X).shape == (1500,)


def test_user_arrays_are_not_modified(mnist_sample):
    X = mnist_sample[0][:1000].copy()
    init = X[:6].copy() + 0.5
    w = np.linspace(0.5, 2.0, len(X))
    before = X.copy(), init.copy(), w.copy()
    KMeans(6, init=init, random_state=0).fit(X, sample_weight=w)
    np.testing.assert_array_equal(X, before[0])
    np.testing.assert_array_equal(init, before[1])
    np.testing.assert_array_equal(w, before[2])


def test_small_integer_input_gives_the_float32_result(mnist_sample):
    # 8- and 16-bit integers are exact in float32: the float32 kernel, bit for bit (float64
    # and wider integers are computed in float64: tests/test_float64.py)
    images = mnist_sample[0][:1500].astype(np.uint8)
    ref = KMeans(7, random_state=5).fit(images.astype(np.float32))
    for X in (images, images.astype(np.int16), np.asfortranarray(images.astype(np.float32))):
        km = KMeans(7, random_state=5).fit(X)
        assert km.cluster_centers_.dtype == np.float32
        np.testing.assert_array_equal(km.cluster_centers_, ref.cluster_centers_)
        np.testing.assert_array_equal(km.labels_, ref.labels_)


def test_explicit_init_runs_once_from_those_centers(mnist_sample):
    X = mnist_sample[0][:2000]
    init = X[[3, 30, 300]]
    with pytest.warns(RuntimeWarning, match="only one init"):  # n_init=5 is ignored, said so
        km = KMeans(3, init=init, n_init=5).fit(X)
    assert len(km.restarts_) == 1 and km.restarts_[0].seed is None


def test_kmeans_plusplus_spreads_initial_centers(mnist_sample):
    from mnist_kmeans.kmeans import initial_centers

    X = mnist_sample[0][:3000]
    pp = initial_centers(X, 10, "k-means++", random_state=0)
    rnd = initial_centers(X, 10, "random", random_state=0)
    # every chosen center is a data row, distinct
    for C in (pp, rnd):
        rows = {tuple(r) for r in X}
        assert all(tuple(c) in rows for c in C)
        assert len({tuple(c) for c in C}) == 10

    def pot(C):
        d2 = ((X[:, None, :].astype(np.float64) - C[None].astype(np.float64)) ** 2).sum(-1)
        return d2.min(1).sum()

    pots_pp = [pot(initial_centers(X, 10, "k-means++", random_state=s)) for s in range(3)]
    pots_rnd = [pot(initial_centers(X, 10, "random", random_state=s)) for s in range(3)]
    assert np.median(pots_pp) < np.median(pots_rnd)


def test_fit_makes_no_copy_of_float32_input(mnist_sample):
    import tracemalloc

    X = mnist_sample[0]  # 31 MB of C-contiguous float32
    KMeans(10, init="random", n_init=1, random_state=0).fit(X[:100])  # warm-up imports
    tracemalloc.start()
    KMeans(10, init="random", n_init=1, random_state=0).fit(X)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # labels, distances and small buffers only: far below the size of X
    assert peak < X.nbytes / 4, f"fit allocated {peak / 1e6:.1f} MB for {X.nbytes / 1e6:.1f} MB of X"


def test_one_pass_entry_point_combines_over_chunks(mnist_sample):
    from mnist_kmeans import assign_pass
    from mnist_kmeans.kmeans import lloyd

    X = mnist_sample[0]
    init = X[:10].copy()
    parts = [assign_pass(X[i : i + 3000], init) for i in range(0, len(X), 3000)]
    sums = sum(p.sums for p in parts)
    weights = sum(p.weight_sums for p in parts)
    step = lloyd(X, init, max_iter=1)
    np.testing.assert_array_equal((sums / weights[:, None]).astype(np.float32), step.centers)
    whole = assign_pass(X, init)
    np.testing.assert_array_equal(np.concatenate([p.labels for p in parts]), whole.labels)


@pytest.mark.parametrize("n_init", [1, 3])
def test_history_is_a_choice_that_changes_nothing_else(mnist_sample, n_init):
    """record_history only adds the histories: every other attribute is the same bit for bit,
    and the history's last value is the final inertia (checked against the NumPy objective)."""
    X = mnist_sample[0][:3000]
    lean = KMeans(10, init="random", n_init=n_init, random_state=2).fit(X)
    full = KMeans(10, init="random", n_init=n_init, random_state=2, record_history=True).fit(X)
    for name in ("cluster_centers_", "labels_", "sq_distances_"):
        assert np.array_equal(getattr(lean, name), getattr(full, name)), name
    assert (lean.inertia_, lean.j_clust_, lean.n_iter_, lean.best_restart_) == (
        full.inertia_, full.j_clust_, full.n_iter_, full.best_restart_)
    assert len(full.history_) == len(full.j_clust_history_) == full.n_iter_
    d = X.astype(np.float64) - full.cluster_centers_.astype(np.float64)[full.labels_]
    assert full.history_[-1] == pytest.approx(np.einsum("ij,ij->", d, d), rel=1e-6)
    for name in ("history_", "j_clust_history_"):
        with pytest.raises(AttributeError, match="record_history=True"):
            getattr(lean, name)
        assert not hasattr(lean, name)


def test_a_refit_without_history_drops_the_old_one(mnist_sample):
    X = mnist_sample[0][:2000]
    km = KMeans(5, init="random", n_init=1, random_state=0, record_history=True).fit(X)
    assert len(km.history_) == km.n_iter_
    km.set_params(record_history=False).fit(X[:1000])
    with pytest.raises(AttributeError, match="record_history"):
        km.history_


def test_unfitted_history_is_the_usual_missing_attribute():
    with pytest.raises(AttributeError, match="has no attribute 'history_'"):
        KMeans(3).history_


def test_feature_names_out_and_set_output_pandas() -> None:
    """transform() columns are named kmeans0..k-1 and set_output(pandas) gives a DataFrame."""
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4)).astype(np.float32)
    km = KMeans(n_clusters=3, random_state=0).fit(X)
    names = km.get_feature_names_out()
    assert list(names) == ["kmeans0", "kmeans1", "kmeans2"]
    pipe = make_pipeline(StandardScaler(), KMeans(n_clusters=3, random_state=0))
    out = pipe.set_output(transform="pandas").fit(X).transform(X)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == list(names)
    assert out.shape == (60, 3)


@pytest.mark.parametrize("copy_x", [True, False])
def test_copy_x_accepted_and_x_never_modified(copy_x: bool) -> None:
    """copy_x is a no-op: X is left unchanged and the result equals the default's."""
    rng = np.random.default_rng(1)
    X = rng.normal(loc=5.0, size=(80, 3))  # off-centre float64, as scikit-learn would centre it
    X_before = X.copy()
    km = KMeans(n_clusters=4, random_state=0, copy_x=copy_x).fit(X)
    np.testing.assert_array_equal(X, X_before)
    ref = KMeans(n_clusters=4, random_state=0).fit(X)
    np.testing.assert_array_equal(km.labels_, ref.labels_)
    assert km.get_params()["copy_x"] is copy_x


def test_array_init_with_n_init_warns_and_runs_once() -> None:
    """An array init with n_init > 1 warns (RuntimeWarning) and makes a single run."""
    rng = np.random.default_rng(2)
    X = rng.normal(size=(50, 2)).astype(np.float32)
    centers = X[:3].copy()
    with pytest.warns(RuntimeWarning, match="n_init=5"):
        km = KMeans(n_clusters=3, init=centers, n_init=5).fit(X)
    assert len(km.restarts_) == 1
    KMeans(n_clusters=3, init=centers, n_init=1).fit(X)  # no warning (errors are on)


# --- scikit-learn's surface: callable init, verbose, the distinct-clusters warning, tol=0 ---


def _blobs(n: int = 300, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]])
    return (centers[rng.integers(0, 3, n)] + rng.normal(size=(n, 2))).astype(np.float32)


def test_callable_init_called_once_per_restart_with_its_restart_state() -> None:
    """init(X, n_clusters, random_state) is called once per restart with that restart's
    RandomState (seeded as a string init's draws are), on the fit's X in its kernel dtype
    (float64 X stays float64; read-only)."""
    from mnist_kmeans.initialization import initial_centers
    from mnist_kmeans.restarts import restart_seeds, seed_entropy

    X = _blobs()
    calls = []

    def init(data, n_clusters, random_state):
        calls.append((data, n_clusters, random_state))
        return data[random_state.choice(len(data), n_clusters, replace=False)]

    X64 = X.astype(np.float64)
    km = KMeans(3, init=init, n_init=4, random_state=7).fit(X64)
    assert len(calls) == 4 and len(km.restarts_) == 4
    seeds = restart_seeds(seed_entropy(7), 4)
    for (data, k, rng), seed in zip(calls, seeds):
        assert k == 3 and isinstance(rng, np.random.RandomState)
        assert data.dtype == np.float64 and not data.flags.writeable
        np.testing.assert_array_equal(data, X)
    assert [s.seed for s in km.restarts_] == seeds.tolist()
    # the kept restart, redone alone from its seed, gives the same centers
    best_seed = int(seeds[km.best_restart_])
    start = initial_centers(X64, 3, init, random_state=best_seed)
    alone = KMeans(3, init=start, n_init=1).fit(X64)
    np.testing.assert_array_equal(alone.cluster_centers_, km.cluster_centers_)
    # the same draws as 'random' (which picks rows the same way from the same state)
    calls.clear()
    same = KMeans(3, init="random", n_init=4, random_state=7).fit(X64)
    assert [s.inertia for s in km.restarts_] == [s.inertia for s in same.restarts_]


def test_callable_init_n_init_auto_is_ten_as_scikit_learn() -> None:
    X = _blobs()
    km = KMeans(3, init=lambda X, k, random_state: X[:k], random_state=0).fit(X)
    assert len(km.restarts_) == 10


@pytest.mark.parametrize(
    "bad, error, match",
    [
        (lambda X, k, random_state: X[: k - 1], ValueError,
         r"initial centers \(2, 2\) does not match the number of clusters 3: the array "
         r"returned by the init callable must have shape"),
        (lambda X, k, random_state: X[:k, :1], ValueError,
         r"initial centers \(3, 1\) does not match the number of features of the data 2"),
        (lambda X, k, random_state: np.full((k, 2), np.nan), ValueError,
         "the array returned by the init callable contains NaN"),
        (lambda X, k, random_state: "centers", TypeError,
         "the array returned by the init callable must be numbers"),
    ],
)
def test_callable_init_result_is_checked_as_an_array_init(bad, error, match) -> None:
    with pytest.raises(error, match=match):
        KMeans(3, init=bad, n_init=1).fit(_blobs())


def test_callable_init_cannot_modify_the_data() -> None:
    X = _blobs()
    before = X.copy()

    def vandal(data, k, random_state):
        data[0] = 100.0
        return data[:k]

    with pytest.raises(ValueError, match="read-only"):
        KMeans(3, init=vandal, n_init=1).fit(X)
    np.testing.assert_array_equal(X, before)


@pytest.mark.parametrize("tol", [0.0, 1e-2])
@pytest.mark.parametrize("n_init", [1, 3])
def test_verbose_prints_scikit_learn_lines_and_changes_nothing(capsys, tol, n_init) -> None:
    X = _blobs(600)
    kwargs = dict(n_clusters=5, init="random", n_init=n_init, tol=tol, random_state=3,
                  record_history=True)
    quiet = KMeans(**kwargs).fit(X)
    assert capsys.readouterr().out == ""  # verbose=0 prints nothing
    loud = KMeans(**kwargs, verbose=1).fit(X)
    out = capsys.readouterr().out.splitlines()
    for name in ("cluster_centers_", "labels_", "sq_distances_", "history_", "j_clust_history_"):
        np.testing.assert_array_equal(getattr(loud, name), getattr(quiet, name))
    assert (loud.inertia_, loud.n_iter_) == (quiet.inertia_, quiet.n_iter_)
    assert loud.restarts_ == quiet.restarts_
    assert out.count("Initialization complete") == n_init
    iterations = [line for line in out if line.startswith("Iteration ")]
    assert len(iterations) == sum(r.n_iter for r in quiet.restarts_)
    # the kept run's lines: iterations from 0, its inertia history, then how it stopped
    start = out.index("Initialization complete", *([0] if quiet.best_restart_ == 0 else []))
    for _ in range(quiet.best_restart_):
        start = out.index("Initialization complete", start + 1)
    lines = out[start + 1 : start + 1 + quiet.n_iter_]
    assert lines == [f"Iteration {i}, inertia {h}." for i, h in enumerate(quiet.history_)]
    last = quiet.n_iter_ - 1
    stop = out[start + 1 + quiet.n_iter_]
    assert stop.startswith(f"Converged at iteration {last}: ")
    if tol == 0:
        assert stop.endswith("strict convergence.") or "center shift 0.0 within tolerance" in stop
    else:
        assert "within tolerance" in stop


def test_verbose_without_history_keeps_none() -> None:
    import contextlib
    import io

    X = _blobs()
    with contextlib.redirect_stdout(io.StringIO()):
        km = KMeans(3, n_init=2, random_state=0, verbose=2).fit(X)
    with pytest.raises(AttributeError, match="record_history"):
        km.history_


def test_fewer_distinct_points_than_clusters_warns_as_scikit_learn() -> None:
    from sklearn.exceptions import ConvergenceWarning

    X = np.array([[0, 0], [0, 1], [1, 0], [1, 0]], dtype=np.float32)  # 3 distinct points
    with pytest.warns(ConvergenceWarning, match=r"Number of distinct clusters \(3\) found "
                      r"smaller than n_clusters \(4\)\. Possibly due to duplicate points in X\."):
        km = KMeans(4, random_state=0).fit(X)
    assert set(km.labels_) == {0, 1, 2} or len(set(km.labels_)) == 3
    KMeans(3, random_state=0).fit(X)  # enough distinct points: no warning (errors are on)


def test_tol_zero_stops_when_no_center_moves_as_scikit_learn() -> None:
    """From converged centers, one pass: the step finds no center moved (scikit-learn's
    shift <= tol at tol=0), rather than a second pass that finds no label changed."""
    from sklearn.cluster import KMeans as SKKMeans

    X = _blobs(400)
    km = KMeans(3, random_state=0).fit(X)
    for algorithm in ("lloyd", "hamerly", "yinyang", "elkan"):
        again = KMeans(3, init=km.cluster_centers_, n_init=1, algorithm=algorithm).fit(X)
        assert again.n_iter_ == 1 and again.restarts_[0].converged
        np.testing.assert_array_equal(again.labels_, km.labels_)
        np.testing.assert_array_equal(again.cluster_centers_, km.cluster_centers_)
    # scikit-learn's own case (its test_relocating_with_duplicates): 5 clusters on 4 distinct
    # points, started on the points; nothing can move, both stop after one pass
    from sklearn.exceptions import ConvergenceWarning

    X = np.array([[0, 0], [1, 1], [1, 1], [1, 0], [0, 1]], dtype=np.float32)
    for estimator in (KMeans, SKKMeans):
        with pytest.warns(ConvergenceWarning, match=r"distinct clusters \(4\)"):
            assert estimator(5, init=X, n_init=1, tol=0).fit(X).n_iter_ == 1


def test_verbose_refuses_what_the_quiet_fit_refuses(monkeypatch, capsys) -> None:
    from mnist_kmeans import kmeans

    monkeypatch.setattr(kmeans, "MAX_BOUND_BYTES", 16)  # elkan's bounds now "too big"
    for verbose in (0, 1):
        with pytest.raises(ValueError, match="algorithm='elkan' needs"):
            KMeans(3, algorithm="elkan", verbose=verbose).fit(_blobs())
    assert capsys.readouterr().out == ""  # refused before anything ran
