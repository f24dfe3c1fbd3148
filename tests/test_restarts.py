"""Tests for mnist_kmeans.restarts: the one restart driver behind KMeans(n_init) and run_study."""

from __future__ import annotations

import ctypes
import dataclasses
import functools
import os
import signal
import sys
import threading
import time

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from mnist_kmeans import KMeans, _kernel
from mnist_kmeans.initialization import initial_centers
from mnist_kmeans.kmeans import RunResult, lloyd
from mnist_kmeans.restarts import (
    Restarts,
    restart_seeds,
    run_jobs,
    run_restarts,
    seed_entropy,
)
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
        self.threads: list[int] = []

    def __call__(self, init_centers: np.ndarray, *, record_history: bool, n_threads: int,
                 control: np.ndarray | None) -> RunResult:
        self.calls.append((init_centers, record_history))
        self.threads.append(n_threads)
        return lloyd(self.X, init_centers, record_history=record_history, n_threads=n_threads,
                     control=control)


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


# ----------------------------------------------------------------------------------------------
# Several runs at once (run_jobs): same results whatever the thread budget, never more threads
# than asked, stopped together.


def assert_same_restarts(a: Restarts, b: Restarts) -> None:
    assert a.summaries == b.summaries
    assert (a.best_index, a.worst_index) == (b.best_index, b.worst_index)
    assert_same_run(a.best, b.best)
    if a.worst is None:
        assert b.worst is None
    else:
        assert_same_run(a.worst, b.worst)


@pytest.mark.parametrize("record_history", [True, False])
def test_results_do_not_depend_on_the_thread_budget(X: np.ndarray, record_history: bool) -> None:
    # 1: one run at a time; 2: two at once on one thread each (five restarts: two rounds of
    # two, then the last on two threads); 3: three at once, then two at once.
    results = {
        n: restarts(X, 5, 5, entropy=21, keep_worst=True, objective="j_clust",
                    record_history=record_history, n_threads=n)
        for n in (1, 2, 3)
    }
    assert results[1].best_index != results[1].worst_index
    for n in (2, 3):
        assert_same_restarts(results[1], results[n])
    if record_history:
        assert len(results[2].best.j_clust_history) == results[2].best.n_iter > 0


class Concurrency:
    """A ``run`` that counts the kernel threads in use at once, and each call's threads."""

    def __init__(self, X: np.ndarray, delay: float = 0.0) -> None:
        self.X, self.delay = X, delay
        self.lock = threading.Lock()
        self.in_use = self.most = 0
        self.threads: list[int] = []
        self.histories: list[bool] = []
        self.handed: list[tuple[int, int]] = []  # (threads at start, threads handed later)

    def __call__(self, init_centers: np.ndarray, *, record_history: bool, n_threads: int,
                 control: np.ndarray | None) -> RunResult:
        with self.lock:
            self.threads.append(n_threads)
            self.histories.append(record_history)
            self.in_use += n_threads
            self.most = max(self.most, self.in_use)
        try:
            time.sleep(self.delay)  # let the runs overlap even when they are short
            return lloyd(self.X, init_centers, record_history=record_history,
                         n_threads=n_threads, control=control)
        finally:
            with self.lock:
                self.in_use -= n_threads
                if control is not None:  # threads it was handed while it ran
                    self.handed.append((n_threads, int(control[1]) - n_threads))


@pytest.mark.parametrize(
    ("n_threads", "n_restarts", "threads"),
    [
        (1, 3, [1, 1, 1]),
        (2, 4, [1, 1, 1, 1]),
        (2, 3, [1, 1, 1]),
        (3, 2, [1, 2]),  # an even share of the threads
        (4, 6, [1, 1, 1, 1, 1, 1]),
    ],
)
def test_never_more_threads_than_asked(X: np.ndarray, n_threads: int, n_restarts: int,
                                       threads: list[int]) -> None:
    run = Concurrency(X[:300], delay=0.05)
    run_restarts(run, X[:300], 3, n_restarts, init="random", entropy=0, record_history=False,
                 n_threads=n_threads)
    assert sorted(run.threads) == threads
    # the threads runs start with, at most the budget at any time; with those handed to a run
    # while it goes on, at most the budget too
    assert 1 <= run.most <= n_threads
    # (pairs recorded per run: runs end in any order)
    assert all(t + h <= n_threads for t, h in run.handed)


def test_an_ended_jobs_threads_go_to_a_running_one() -> None:
    """Two jobs on two threads: when the first ends, nothing is left to start, and the second
    gets its thread through control[1]; the kernel reads it and runs its next passes on two."""
    second_started = threading.Event()
    seen: list[int] = []

    def first(threads: int, control: np.ndarray) -> int:
        assert second_started.wait(timeout=30)
        return threads

    def second(threads: int, control: np.ndarray) -> int:
        second_started.set()
        deadline = time.monotonic() + 30
        while control[1] != 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        seen.append(int(control[1]))
        return threads

    results: dict[int, int] = {}
    run_jobs([first, second], 2, results.__setitem__)
    assert results == {0: 1, 1: 1} and seen == [2]


def threads_named(name: str) -> int:
    """Threads of this process whose OS name is name (new threads inherit their creator's)."""
    count = 0
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/comm") as f:
                count += f.read().strip() == name
        except FileNotFoundError:  # ended meanwhile
            pass
    return count


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux /proc and prctl")
def test_the_kernel_takes_its_thread_count_from_control() -> None:
    """control[1] is the thread count of the next passes: a run started on one thread but told
    three starts an OpenMP team of three (libgomp's two extra threads, named after the thread
    that starts them, stay alive with it), told nothing it starts none; same results."""
    X = np.random.default_rng(3).random((20 * _kernel.chunk_rows, 8), dtype=np.float32)
    init = X[:6].copy()
    out: dict[str, tuple[int, RunResult]] = {}

    def target(name: str, cells: list[int]) -> None:
        ctypes.CDLL(None).prctl(15, name.encode())  # PR_SET_NAME: this thread's OS name
        run = lloyd(X, init, max_iter=5, n_threads=1, algorithm="lloyd",
                    control=np.array(cells, dtype=np.int32))
        out[name] = (threads_named(name), run)  # this thread and the team it started

    for name, cells in (("told-nothing", [0, 0]), ("told-three", [0, 3])):
        thread = threading.Thread(target=target, args=(name, cells))
        thread.start()
        thread.join()
    assert out["told-nothing"][0] == 1 and out["told-three"][0] == 3
    assert_same_run(out["told-three"][1], out["told-nothing"][1])


def test_the_two_history_reruns_go_at_once(X: np.ndarray) -> None:
    run = Concurrency(X, delay=0.05)
    result = run_restarts(run, X, 5, 6, init="random", entropy=1, objective="j_clust",
                          keep_worst=True, n_threads=2)
    assert result.best_index != result.worst_index
    assert run.histories == [False] * 6 + [True, True]
    assert run.threads == [1] * 8 and run.most == 2


def test_the_openmp_limit_of_the_calling_thread_is_the_budget(X: np.ndarray) -> None:
    # n_threads=None: what OMP_NUM_THREADS or threadpoolctl set for the calling thread (the
    # worker threads would see the process default instead, so it is read before they start)
    run = Concurrency(X[:300], delay=0.05)
    with threadpool_limits(1, user_api="openmp"):
        run_restarts(run, X[:300], 3, 4, init="random", entropy=0, keep_worst=True)
    assert run.threads == [1] * len(run.threads) and run.most == 1
    run = Concurrency(X[:300], delay=0.05)
    with threadpool_limits(2, user_api="openmp"):
        run_restarts(run, X[:300], 3, 4, init="random", entropy=0, keep_worst=True)
    assert run.most == 2 and run.threads[:4] == [1, 1, 1, 1]


def test_best_and_worst_do_not_depend_on_the_order_runs_end_in(X: np.ndarray) -> None:
    """Ties and a reversed finishing order: with six runs at once, each waits until the next
    restart has ended, so they end last first; the lowest index still wins a tie, as when the
    runs go one after the other."""
    values = [3.0, 1.0, 2.0, 1.0, 3.0, 1.0]
    n = len(values)
    seeds = restart_seeds(0, n).tolist()
    index_of = {initial_centers(X, 2, "random", random_state=s).tobytes(): i
                for i, s in enumerate(seeds)}

    def results(n_threads: int) -> tuple[Restarts, list[int]]:
        ended_events = [threading.Event() for _ in range(n + 1)]
        ended_events[n].set()
        ended: list[int] = []

        def run(init_centers, *, record_history, n_threads, control):
            i = index_of[init_centers.tobytes()]
            if all_at_once:
                assert ended_events[i + 1].wait(timeout=30)
            real = lloyd(X, init_centers, max_iter=1, n_threads=n_threads, control=control,
                         record_history=record_history)
            ended.append(i)
            ended_events[i].set()
            return dataclasses.replace(real, inertia=values[i], j_clust=values[i])

        all_at_once = n_threads >= n
        result = run_restarts(run, X, 2, n, init="random", entropy=0, keep_worst=True,
                              record_history=False, n_threads=n_threads)
        return result, ended

    for n_threads in (1, 2, 6):
        result, ended = results(n_threads)
        if n_threads == 6:
            assert ended == list(range(n))[::-1]
        assert (result.best_index, result.worst_index) == (1, 0), n_threads
        assert result.best.inertia == 1.0 and result.worst.inertia == 3.0
        assert [s.inertia for s in result.summaries] == values


def test_progress_counts_restarts_as_they_end(X: np.ndarray) -> None:
    calls: list[tuple[int, int]] = []
    thread_ids: set[int] = set()

    def progress(done: int, total: int) -> None:
        calls.append((done, total))
        thread_ids.add(threading.get_ident())

    restarts(X[:300], 3, 5, entropy=0, progress=progress, n_threads=2)
    assert calls == [(i, 5) for i in range(1, 6)]
    assert thread_ids == {threading.get_ident()}  # the calling thread only


def test_control_stops_a_run_in_another_thread() -> None:
    X = np.random.default_rng(0).random((50_000, 16), dtype=np.float32)
    init = X[:100].copy()
    control = np.zeros(2, dtype=np.int32)
    outcome: list[BaseException | RunResult] = []

    def target() -> None:
        try:
            outcome.append(lloyd(X, init, max_iter=1_000_000, n_threads=1, control=control,
                                 algorithm="lloyd"))
        except BaseException as exc:  # noqa: BLE001 - the KeyboardInterrupt is the point
            outcome.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    time.sleep(0.3)
    assert thread.is_alive()
    control[0] = 1
    thread.join(timeout=5.0)
    assert not thread.is_alive(), "the run did not stop within 5 s of control[0]"
    assert len(outcome) == 1 and isinstance(outcome[0], KeyboardInterrupt)


@pytest.mark.parametrize("bad", [np.zeros(2, dtype=np.int64), np.zeros(1, dtype=np.int32),
                                 np.zeros((1, 2), dtype=np.int32), [0, 0]])
def test_a_bad_control_is_refused(X: np.ndarray, bad) -> None:
    with pytest.raises((TypeError, ValueError), match="control"):
        lloyd(X[:50], X[:3].copy(), control=bad)


def test_a_failing_run_stops_the_others_and_raises(X: np.ndarray) -> None:
    """One job fails while another would run for minutes: run_jobs raises the failure after
    stopping the long run, and the jobs not started never start."""
    big = np.random.default_rng(1).random((50_000, 16), dtype=np.float32)
    started: list[int] = []

    def long_job(threads: int, control: np.ndarray) -> RunResult:
        started.append(0)
        return lloyd(big, big[:100].copy(), max_iter=1_000_000, algorithm="lloyd",
                     n_threads=threads, control=control)

    def failing_job(threads: int, control: np.ndarray) -> None:
        started.append(1)
        time.sleep(0.3)  # the long run is in its passes
        raise RuntimeError("this job fails")

    def later_job(threads: int, control: np.ndarray) -> None:
        started.append(2)

    begin = time.perf_counter()
    with pytest.raises(RuntimeError, match="this job fails"):
        run_jobs([long_job, failing_job, later_job, later_job], 2, lambda i, r: None)
    assert time.perf_counter() - begin < 5.0
    assert sorted(started) == [0, 1]


@pytest.mark.skipif(not hasattr(signal, "pthread_kill"), reason="POSIX signals")
def test_ctrl_c_stops_the_runs_of_the_worker_threads() -> None:
    """SIGINT reaches only the main thread: it stops the runs that go at once in worker
    threads (through their control cells) within about a second, and no worker is left."""
    X = np.random.default_rng(2).random((50_000, 16), dtype=np.float32)
    run = functools.partial(lloyd, X, max_iter=1_000_000, algorithm="lloyd")
    before = set(threading.enumerate())
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # even if ignored
    timer = threading.Timer(0.5, signal.pthread_kill, (threading.main_thread().ident,
                                                       signal.SIGINT))
    try:
        timer.start()
        begin = time.perf_counter()
        with pytest.raises(KeyboardInterrupt):
            run_restarts(run, X, 100, 4, init="random", entropy=0, record_history=False,
                         n_threads=2)
        took = time.perf_counter() - begin
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
    assert took < 0.5 + 2.0, f"stopped {took - 0.5:.2f} s after SIGINT"
    left = [t for t in set(threading.enumerate()) - before if t.is_alive() and t is not timer]
    assert left == [], left
