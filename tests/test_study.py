"""Tests for mnist_kmeans.study: restarts, seeds, best/worst selection, the notebook preset."""

from __future__ import annotations

import gc
import json
import weakref

import numpy as np
import pytest

from mnist_kmeans import _kernel
from mnist_kmeans import study as study_module
from mnist_kmeans.kmeans import initial_centers, lloyd
from mnist_kmeans.study import (
    NOTEBOOK_EXPERIMENTS,
    StudyResult,
    restart_seeds,
    run_notebook,
    run_study,
)

# Small enough to keep every test quick on a busy machine.
N_ROWS = 1000


@pytest.fixture(scope="module")
def X(mnist_sample: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    return np.ascontiguousarray(mnist_sample[0][:N_ROWS])


@pytest.fixture(scope="module")
def study(X: np.ndarray) -> StudyResult:
    return run_study(X, 4, 4, random_state=3)


def test_notebook_preset() -> None:
    assert NOTEBOOK_EXPERIMENTS == ((20, 30), (10, 20), (5, 10))


def test_shapes_and_fields(study: StudyResult, X: np.ndarray) -> None:
    assert study.n_clusters == 4 and study.init == "random" and study.random_state == 3
    assert study.n_restarts == 4
    assert (study.n_samples, study.n_features) == X.shape
    names = ("seeds", "inertia", "j_clust", "n_iter", "converged", "n_relocated", "run_seconds")
    for name in names:
        assert getattr(study, name).shape == (4,), name
    assert study.seeds.dtype == np.int64 and study.converged.dtype == bool
    assert study.best.labels.shape == (N_ROWS,) and study.best.centers.shape == (4, 784)
    # restarts run at once on the default threads: their times overlap
    assert study.elapsed >= float(study.run_seconds.max()) * 0.99
    assert float(study.run_seconds.sum()) <= study.elapsed * max(2, _kernel.max_threads()) * 1.01


def test_best_and_worst_are_extremes(study: StudyResult) -> None:
    assert study.best.j_clust == study.j_clust.min() == study.j_clust[study.best_index]
    assert study.worst.j_clust == study.j_clust.max() == study.j_clust[study.worst_index]
    assert np.all(study.best.j_clust <= study.j_clust)
    assert np.all(study.j_clust <= study.worst.j_clust)
    assert study.j_clust_spread == pytest.approx(study.j_clust.max() - study.j_clust.min())
    # the kept runs are whole, and their numbers agree with the per-run arrays
    for run, i in ((study.best, study.best_index), (study.worst, study.worst_index)):
        assert run.inertia == study.inertia[i] and run.n_iter == study.n_iter[i]
        assert run.j_clust_history[-1] == pytest.approx(run.j_clust)
        assert float(np.sqrt(run.sq_distances.astype(np.float64)).sum()) == pytest.approx(
            run.j_clust, rel=1e-5
        )


def test_each_restart_can_be_redone_from_its_seed(study: StudyResult, X: np.ndarray) -> None:
    for i, seed in enumerate(study.seeds):
        run = lloyd(X, initial_centers(X, study.n_clusters, "random", random_state=int(seed)))
        assert run.j_clust == study.j_clust[i]
        assert run.inertia == study.inertia[i]
        assert run.n_iter == study.n_iter[i]


def test_same_seed_same_study(study: StudyResult, X: np.ndarray) -> None:
    again = run_study(X, 4, 4, random_state=3)
    np.testing.assert_array_equal(again.seeds, study.seeds)
    np.testing.assert_array_equal(again.j_clust, study.j_clust)
    np.testing.assert_array_equal(again.best.labels, study.best.labels)
    other = run_study(X, 4, 2, random_state=4)
    assert not np.array_equal(other.seeds, study.seeds[:2])


def test_seeds_are_a_prefix_whatever_the_number_of_restarts() -> None:
    np.testing.assert_array_equal(restart_seeds(7, 3), restart_seeds(7, 10)[:3])


@pytest.mark.parametrize("n_threads", [1, 2, 3])
def test_thread_count_does_not_change_results(study: StudyResult, X: np.ndarray,
                                              n_threads: int) -> None:
    # 1: one run after another; 2: two at once, one thread each; 3: three at once, then one on
    # three threads. Every number, the kept runs and their histories, bit for bit.
    other = run_study(X, 4, 4, random_state=3, n_threads=n_threads)
    for name in ("seeds", "inertia", "j_clust", "n_iter", "converged", "n_relocated"):
        np.testing.assert_array_equal(getattr(other, name), getattr(study, name), err_msg=name)
    assert (other.best_index, other.worst_index) == (study.best_index, study.worst_index)
    for a, b in ((other.best, study.best), (other.worst, study.worst)):
        for name in ("centers", "labels", "sq_distances", "inertia_history", "j_clust_history",
                     "init_centers"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
        assert (a.inertia, a.j_clust, a.n_iter) == (b.inertia, b.j_clust, b.n_iter)
    assert other.n_threads == n_threads


def test_ties_go_to_the_lower_restart_index(X: np.ndarray) -> None:
    # With one cluster every run ends at the mean: all J_clust are equal.
    result = run_study(X[:200], 1, 3, random_state=0)
    assert np.all(result.j_clust == result.j_clust[0])
    assert result.best_index == 0 and result.worst_index == 0
    assert result.best is result.worst


def test_progress_is_called_after_each_restart(X: np.ndarray) -> None:
    calls: list[tuple[int, int]] = []
    run_study(X[:300], 3, 3, random_state=0, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(1, 3), (2, 3), (3, 3)]


def test_only_best_and_worst_stay_in_memory(X: np.ndarray, monkeypatch) -> None:
    refs: list[weakref.ref] = []

    def tracking_lloyd(*args, **kwargs):
        run = lloyd(*args, **kwargs)
        refs.append(weakref.ref(run))
        return run

    monkeypatch.setattr(study_module, "lloyd", tracking_lloyd)
    result = run_study(X[:400], 5, 6, random_state=1)
    gc.collect()
    alive = [ref() for ref in refs if ref() is not None]
    # six restarts without history, then the best and the worst again with theirs
    assert len(refs) == 6 + (1 if result.best is result.worst else 2)
    assert all(run is result.best or run is result.worst for run in alive)
    for run, index in ((result.best, result.best_index), (result.worst, result.worst_index)):
        assert len(run.j_clust_history) == len(run.inertia_history) == run.n_iter
        assert run.j_clust == result.j_clust[index] and run.n_iter == result.n_iter[index]


def test_to_dict_is_json_and_agrees(study: StudyResult) -> None:
    summary = study.to_dict()
    text = json.dumps(summary, allow_nan=False)
    assert len(text) < 20_000  # no per-point arrays
    assert summary["runs"]["j_clust"] == study.j_clust.tolist()
    assert summary["runs"]["seed"] == study.seeds.tolist()
    assert summary["best"]["index"] == study.best_index
    assert summary["best"]["j_clust"] == study.best.j_clust == summary["j_clust_min"]
    assert summary["worst"]["j_clust"] == summary["j_clust_max"]
    assert summary["best"]["j_clust_history"] == study.best.j_clust_history.tolist()
    assert sum(summary["best"]["cluster_sizes"]) == study.n_samples


def test_arrays_are_read_only(study: StudyResult) -> None:
    with pytest.raises(ValueError):
        study.j_clust[0] = 0.0


def test_none_random_state_is_recorded_and_reproducible(X: np.ndarray) -> None:
    first = run_study(X[:300], 3, 2, random_state=None)
    again = run_study(X[:300], 3, 2, random_state=first.random_state)
    np.testing.assert_array_equal(first.j_clust, again.j_clust)


def test_kmeans_plusplus_init(X: np.ndarray) -> None:
    result = run_study(X[:300], 3, 2, init="k-means++", random_state=0)
    assert result.init == "k-means++"


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"n_clusters": 0}, ValueError),
        ({"n_clusters": 2.5}, TypeError),
        ({"n_clusters": 301}, ValueError),
        ({"restarts": 0}, ValueError),
        ({"init": "kmeans"}, ValueError),
        ({"random_state": -1}, ValueError),
        ({"random_state": 1.5}, TypeError),
        ({"max_iter": 0}, ValueError),
        ({"n_threads": 0}, ValueError),
    ],
)
def test_invalid_parameters(X: np.ndarray, kwargs: dict, error: type) -> None:
    args = {"n_clusters": 3, "restarts": 1} | kwargs
    with pytest.raises(error):
        run_study(X[:300], args.pop("n_clusters"), args.pop("restarts"), **args)


def test_invalid_data() -> None:
    with pytest.raises(ValueError):
        run_study(np.full((10, 4), np.nan), 2, 1)


def test_run_notebook_matches_single_studies(X: np.ndarray) -> None:
    calls: list[tuple[int, int]] = []
    experiments = ((3, 2), (2, 1))
    results = run_notebook(
        X[:300], experiments=experiments, random_state=5, progress=lambda d, t: calls.append((d, t))
    )
    assert [(r.n_clusters, r.n_restarts) for r in results] == list(experiments)
    assert calls == [(1, 3), (2, 3), (3, 3)]
    single = run_study(X[:300], 3, 2, random_state=5)
    np.testing.assert_array_equal(results[0].j_clust, single.j_clust)


def test_run_notebook_checks_every_k_first(X: np.ndarray, monkeypatch) -> None:
    monkeypatch.setattr(study_module, "lloyd", None)  # would fail if a run started
    with pytest.raises(ValueError, match="n_clusters=400"):
        run_notebook(X[:300], experiments=((3, 1), (400, 1)))
    with pytest.raises(ValueError):
        run_notebook(X[:300], experiments=())
