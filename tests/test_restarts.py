"""Tests for mnist_kmeans.restarts: the one restart driver behind KMeans(n_init) and run_study."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from mnist_kmeans import KMeans
from mnist_kmeans.initialization import initial_centers
from mnist_kmeans.kmeans import RunResult, lloyd
from mnist_kmeans.restarts import Restarts, restart_seeds, run_restarts, seed_entropy
from mnist_kmeans.study import run_study

N_ROWS = 1000


@pytest.fixture(scope="module")
def X(mnist_sample: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    return np.ascontiguousarray(mnist_sample[0][:N_ROWS])


class Recorder:
    """A ``run`` for the driver: lloyd on X, remembering how each call was made."""

    def __init__(self, X: np.ndarray) -> None:
        self.X = X
        self.calls: list[tuple[np.ndarray, bool]] = []

    def __call__(self, init_centers: np.ndarray, *, record_history: bool) -> RunResult:
        self.calls.append((init_centers, record_history))
        return lloyd(self.X, init_centers, record_history=record_history)


def restarts(X: np.ndarray, n_clusters: int, n: int, entropy: int, **kwargs) -> Restarts:
    return run_restarts(
        functools.partial(lloyd, X), X, n_clusters, n, init="random", entropy=entropy, **kwargs
    )


def assert_same_run(a: RunResult, b: RunResult) -> None:
    for name in ("centers", "labels", "sq_distances", "inertia_history", "j_clust_history"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert (a.inertia, a.j_clust, a.n_iter, a.converged, a.n_relocated) == (
        b.inertia, b.j_clust, b.n_iter, b.converged, b.n_relocated
    )


def test_same_entropy_same_restarts(X: np.ndarray) -> None:
    a, b = restarts(X, 4, 3, entropy=11), restarts(X, 4, 3, entropy=11)
    assert a.summaries == b.summaries  # seeds and numbers; the wall times are not compared
    assert_same_run(a.best, b.best)
    assert restarts(X, 4, 3, entropy=12).summaries != a.summaries


def test_restart_i_does_not_depend_on_the_number_of_restarts(X: np.ndarray) -> None:
    few, many = restarts(X, 4, 2, entropy=5), restarts(X, 4, 5, entropy=5)
    assert many.summaries[:2] == few.summaries
    assert [s.seed for s in many.summaries] == restart_seeds(5, 5).tolist()


def test_each_restart_is_its_seeds_run(X: np.ndarray) -> None:
    result = restarts(X, 3, 3, entropy=2)
    for summary in result.summaries:
        run = lloyd(X, initial_centers(X, 3, "random", random_state=summary.seed))
        assert (run.inertia, run.j_clust, run.n_iter) == (
            summary.inertia, summary.j_clust, summary.n_iter
        )


def test_best_by_inertia_and_best_by_j_clust_pick_different_runs(X: np.ndarray) -> None:
    # Data and seeds where the two objectives rank the runs differently (found by a search over
    # a few small cases): the test tells which objective the driver used.
    X5 = X[:1000]
    by_inertia = restarts(X5, 5, 8, entropy=0, objective="inertia", keep_worst=True)
    by_j_clust = restarts(X5, 5, 8, entropy=0, objective="j_clust", keep_worst=True)
    assert by_inertia.summaries == by_j_clust.summaries
    inertia, j_clust = by_inertia.column("inertia"), by_inertia.column("j_clust")
    assert np.argmin(inertia) != np.argmin(j_clust)
    assert by_inertia.best_index == np.argmin(inertia)
    assert by_inertia.worst_index == np.argmax(inertia)
    assert by_j_clust.best_index == np.argmin(j_clust)
    assert by_j_clust.worst_index == np.argmax(j_clust)
    assert by_inertia.best.inertia == inertia.min() and by_j_clust.best.j_clust == j_clust.min()
    assert by_j_clust.worst.j_clust == j_clust.max()


def test_histories_only_for_the_kept_runs_and_bit_for_bit(X: np.ndarray) -> None:
    run = Recorder(X)
    result = run_restarts(run, X, 5, 6, init="random", entropy=1, objective="j_clust",
                          keep_worst=True)
    lean, rerun = run.calls[:6], run.calls[6:]
    assert [flag for _, flag in lean] == [False] * 6
    assert [flag for _, flag in rerun] == [True] * (1 if result.worst is result.best else 2)
    assert result.best_index != result.worst_index  # both reruns happen for these seeds
    for kept, index in ((result.best, result.best_index), (result.worst, result.worst_index)):
        seed = result.summaries[index].seed
        alone = lloyd(X, initial_centers(X, 5, "random", random_state=seed), record_history=True)
        assert_same_run(kept, alone)
        assert len(kept.inertia_history) == kept.n_iter > 0
        # the kept run is the restart it stands for, not another one
        assert kept.j_clust == result.summaries[index].j_clust


def test_one_restart_records_its_history_at_once(X: np.ndarray) -> None:
    run = Recorder(X)
    result = run_restarts(run, X, 3, 1, init="k-means++", entropy=4, keep_worst=True)
    assert [flag for _, flag in run.calls] == [True]
    assert result.best is result.worst and len(result.best.j_clust_history) == result.best.n_iter


def test_without_keep_worst_only_the_best_runs_again(X: np.ndarray) -> None:
    run = Recorder(X)
    result = run_restarts(run, X, 4, 4, init="random", entropy=3)
    assert [flag for _, flag in run.calls] == [False] * 4 + [True]
    assert result.worst is None and result.worst_index is None


def test_given_centers_run_once_without_a_seed(X: np.ndarray) -> None:
    init = X[[1, 10, 100]].copy()
    result = run_restarts(functools.partial(lloyd, X), X, 3, 1, init=init, entropy=0)
    assert [s.seed for s in result.summaries] == [None]
    np.testing.assert_array_equal(result.best.init_centers, init)


def test_progress_is_called_after_each_restart(X: np.ndarray) -> None:
    calls: list[tuple[int, int]] = []
    restarts(X[:300], 3, 3, entropy=0, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 3), (2, 3), (3, 3)]


def test_kmeans_and_run_study_share_the_seeds(X: np.ndarray) -> None:
    km = KMeans(4, init="random", n_init=3, random_state=9).fit(X)
    study = run_study(X, 4, 3, random_state=9)
    assert [s.seed for s in km.restarts_] == study.seeds.tolist()
    assert [s.inertia for s in km.restarts_] == study.inertia.tolist()
    assert [s.j_clust for s in km.restarts_] == study.j_clust.tolist()


def test_seed_entropy() -> None:
    assert seed_entropy(7) == 7 and seed_entropy(np.int64(7)) == 7
    assert seed_entropy(None) != seed_entropy(None)  # fresh entropy, 128 bits
    # a generator gives one draw and advances, reproducibly
    for make in (np.random.RandomState, np.random.default_rng):
        a, b = make(3), make(3)
        first = seed_entropy(a)
        assert first == seed_entropy(b) and first >= 0
        assert seed_entropy(a) != first
    for bad, error in ((-1, ValueError), (1.5, TypeError), (True, TypeError), ("0", TypeError)):
        with pytest.raises(error, match="random_state"):
            seed_entropy(bad)


def test_kmeans_accepts_a_generator(X: np.ndarray) -> None:
    a = KMeans(3, init="random", n_init=2, random_state=np.random.default_rng(1)).fit(X[:300])
    b = KMeans(3, init="random", n_init=2, random_state=np.random.default_rng(1)).fit(X[:300])
    assert a.restarts_ == b.restarts_
    np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)


def test_without_histories_the_kept_runs_are_the_same_runs(X: np.ndarray) -> None:
    """record_history=False keeps the lean best and worst runs instead of running them again:
    the same restarts, runs and choices, with empty histories."""
    full = run_restarts(functools.partial(lloyd, X), X, 6, 4, init="random", entropy=9,
                        keep_worst=True)
    counting = Recorder(X)
    lean = run_restarts(counting, X, 6, 4, init="random", entropy=9, keep_worst=True,
                        record_history=False)
    assert [flag for _, flag in counting.calls] == [False] * 4  # no run twice
    assert [s.inertia for s in lean.summaries] == [s.inertia for s in full.summaries]
    assert (lean.best_index, lean.worst_index) == (full.best_index, full.worst_index)
    assert lean.best is not lean.worst
    for a, b in ((lean.best, full.best), (lean.worst, full.worst)):
        for name in ("centers", "labels", "sq_distances"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
        assert (a.inertia, a.j_clust, a.n_iter) == (b.inertia, b.j_clust, b.n_iter)
        assert a.inertia_history.size == 0 and b.inertia_history.size == b.n_iter
