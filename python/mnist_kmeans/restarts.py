"""The restart driver: several Lloyd runs from different initial centers, the best (and the worst)
kept whole. Used by :class:`~mnist_kmeans.KMeans` (``n_init``) and by
:func:`~mnist_kmeans.study.run_study`.

Seeds. ``random_state`` (an int >= 0, None, a ``RandomState`` or a ``Generator``) is turned into
one integer of entropy, once, by :func:`seed_entropy`: an int is used as it is, None draws fresh
entropy from the operating system, and a ``RandomState`` or ``Generator`` gives one draw (so that
it advances, as scikit-learn's estimators use it). Restart ``i`` then gets the ``i``-th word of
``numpy.random.SeedSequence(entropy).generate_state(n)`` (:func:`restart_seeds`): the same seed
whatever the number of restarts, so that a run can be redone alone with
``initial_centers(X, n_clusters, init, random_state=seed)`` and the same Lloyd parameters.

Selection. The best run is the one with the lowest final ``objective``: 'inertia' (the sum of
squared distances, what scikit-learn's KMeans keeps) or 'j_clust' (the sum of distances, what the
course notebook compared). The worst has the highest. Ties go to the lower restart index.

Histories. With one restart, the run records its per-iteration history directly. With several,
every restart runs without it (faster, see :func:`~mnist_kmeans.kmeans.lloyd`), and only the
kept runs are run again with it, from the same initial centers: the kernel's results do not
depend on whether a history is recorded, so the rerun is the same run, bit for bit.

Several runs at once. With ``n_threads`` kernel threads and several runs to do, up to
``n_threads`` runs go at once, one thread each (an even share when there are fewer runs), in a
thread pool (the kernel releases the GIL); once no run is left to start, the threads of each
run that ends go to one still running, from its next pass on (see :func:`run_jobs`). On 2
cores a two-thread run pays, every pass, the thread hand-offs (libgomp's waits were a fifth of
a k = 20 study's samples) and runs its serial part (the center update, the bookkeeping) while
the other core waits; two one-thread runs at once do neither. The results do not depend on it:
each run is the same run, bit for bit, whatever its thread count, and the best and worst are
chosen from every restart's final objective by value, then index, whatever order the runs end
in. Never more than ``n_threads`` kernel threads run at once. Ctrl-C in the calling thread
stops the running runs before their next pass (through a control cell the kernel reads) and
raises KeyboardInterrupt.

The driver trusts its caller: the data, parameters and seeds must be validated already.
"""

from __future__ import annotations

import numbers
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import numpy as np
from threadpoolctl import threadpool_limits

from . import _kernel
from .initialization import choose_centers

if TYPE_CHECKING:
    from .kmeans import RunResult

__all__ = [
    "OBJECTIVES",
    "ProgressCallback",
    "RestartSummary",
    "Restarts",
    "restart_seeds",
    "run_jobs",
    "run_restarts",
    "seed_entropy",
]

#: ``progress(done, total)``, called after each finished restart.
ProgressCallback = Callable[[int, int], None]

#: ``run(init_centers, record_history=..., n_threads=..., control=...)``: one Lloyd run from the
#: given centers, on ``n_threads`` kernel threads, driven by ``control`` (see :func:`run_jobs`;
#: as :func:`~mnist_kmeans.kmeans.lloyd`'s arguments of those names).
RunFunction = Callable[..., "RunResult"]

R = TypeVar("R")

#: ``job(n_threads, control)``: one unit of work for :func:`run_jobs`.
Job = Callable[[int, "np.ndarray | None"], R]

Objective = Literal["inertia", "j_clust"]

#: The objectives a best run can be chosen by.
OBJECTIVES: tuple[str, ...] = ("inertia", "j_clust")


@dataclass(frozen=True)
class RestartSummary:
    """The numbers of one restart, kept for every run.

    Attributes
    ----------
    seed : int or None
        Seed of the initial centers (None when they were given).
    inertia, j_clust : float
        Final sum of (weighted) squared distances, and of distances.
    n_iter : int
        Assignment passes.
    converged : bool
        False when max_iter was reached first.
    n_relocated : int
        Empty clusters moved to the farthest point during the run.
    seconds : float
        Wall time of the restart, initialisation included. Not part of equality: two runs with
        the same results compare equal whatever they took.
    """

    seed: int | None
    inertia: float
    j_clust: float
    n_iter: int
    converged: bool
    n_relocated: int
    seconds: float = field(default=0.0, compare=False)


@dataclass(frozen=True, eq=False)
class Restarts:
    """What :func:`run_restarts` returns.

    Attributes
    ----------
    summaries : tuple of RestartSummary
        Every restart, in order.
    objective : {'inertia', 'j_clust'}
        What best and worst were chosen by.
    best : RunResult
        The run with the lowest final objective, with its per-iteration history.
    best_index : int
    worst : RunResult or None
        The run with the highest final objective, with its history (``best`` itself when they
        are the same restart); None unless asked for.
    worst_index : int or None
    """

    summaries: tuple[RestartSummary, ...]
    objective: str
    best: RunResult
    best_index: int
    worst: RunResult | None = None
    worst_index: int | None = None

    def column(self, name: str, dtype: Any = None) -> np.ndarray:
        """One number of every restart, ndarray of shape (n_restarts,), read-only.

        ``name`` is a :class:`RestartSummary` attribute, e.g. ``'j_clust'`` or ``'seconds'``.
        """
        values = np.array([getattr(s, name) for s in self.summaries], dtype=dtype)
        values.setflags(write=False)
        return values


def seed_entropy(random_state: Any) -> int:
    """The integer the restart seeds are derived from (see the module docstring).

    Parameters
    ----------
    random_state : int >= 0, None, numpy.random.RandomState or numpy.random.Generator
        An int is returned as it is; None draws fresh entropy; a RandomState or Generator gives
        one draw in ``[0, 2**63)`` (and advances).

    Raises
    ------
    TypeError
        For anything else (bool included).
    ValueError
        For a negative int.
    """
    if random_state is None:
        return int(np.random.SeedSequence().entropy)
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(0, np.iinfo(np.int64).max, dtype=np.int64))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(0, np.iinfo(np.int64).max))
    if isinstance(random_state, (bool, np.bool_)) or not isinstance(random_state, numbers.Integral):
        raise TypeError(
            "random_state must be a non-negative integer, None, a RandomState or a Generator, "
            f"got {random_state!r}"
        )
    if random_state < 0:
        raise ValueError(f"random_state must be non-negative, got {random_state}")
    return int(random_state)


def restart_seeds(entropy: int, n_restarts: int) -> np.ndarray:
    """The seeds of the first ``n_restarts`` restarts, ndarray of shape (n_restarts,), int64.

    Each seed is below 2**32 (a valid ``RandomState`` seed). Restart ``i`` gets the same seed
    whatever ``n_restarts`` is (a prefix property of
    :meth:`numpy.random.SeedSequence.generate_state`).
    """
    return np.random.SeedSequence(entropy).generate_state(n_restarts).astype(np.int64)


def run_jobs(
    jobs: Sequence[Job[R]],
    n_threads: int,
    done: Callable[[int, R], None],
    *,
    max_parallel: int | None = None,
) -> None:
    """Run every job, several at once on a shared budget of kernel threads.

    Up to ``min(n_threads, max_parallel, len(jobs))`` jobs run at once in a thread pool, started
    in order, each as ``job(threads, control)`` with an even share of the free threads (one
    each when there are at least as many jobs as threads). Once no job is left to start, the
    threads of each job that ends go to the running job with the fewest (lowest index on
    ties), through its ``control``: the last run of a study, or the longer of two, does not
    go on with one thread while the others idle. One job at a time runs in the calling thread,
    with every thread and ``control=None``. ``done(i, result)`` is called in the calling thread
    as each job ends, in any order.

    Parameters
    ----------
    jobs : sequence of callables
        ``job(threads, control)``: start on ``threads`` kernel threads, and pass ``control``
        (an int32 array ``[stop, threads]``, or None) on to :func:`~mnist_kmeans.kmeans.lloyd`,
        which reads it between passes: it stops (KeyboardInterrupt) once ``control[0]`` is set,
        and runs its next passes on ``control[1]`` threads.
    n_threads : int
        Kernel threads all jobs together may use, at least 1; never more run at once.
    done : callable
        ``done(index, result)``.
    max_parallel : int, optional
        At most this many jobs at once (e.g. when each needs much memory).

    Raises
    ------
    Whatever a job or ``done`` raises (KeyboardInterrupt included): the other running jobs are
    stopped before their next pass and waited for, and no further job starts.
    """
    n = len(jobs)
    at_once = max(1, min(n_threads, n, n if max_parallel is None else max_parallel))
    if at_once == 1:
        for i, job in enumerate(jobs):
            done(i, job(n_threads, None))
        return
    controls = np.zeros((n, 2), dtype=np.int32)  # row i: [stop, threads] of job i
    lock = threading.Lock()
    failures: list[BaseException] = []  # the first failure: the cause of any stop

    def call(i: int) -> R:
        try:
            return jobs[i](int(controls[i, 1]), controls[i])
        except BaseException as exc:
            with lock:
                if not failures:
                    failures.append(exc)
                controls[:, 0] = 1  # the others stop before their next pass
            raise

    free, started = n_threads, 0
    running: dict[Future[R], int] = {}
    with ThreadPoolExecutor(at_once, thread_name_prefix="mnist_kmeans-run") as pool:
        try:
            while started < n or running:
                while started < n and len(running) < at_once and not failures:
                    share = max(1, free // (at_once - len(running)))  # free >= slots left
                    controls[started, 1] = share
                    free -= share
                    running[pool.submit(call, started)] = started
                    started += 1
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                # Collected and released one by one: no finished run stays alive but the kept.
                for future in sorted(finished, key=running.__getitem__):
                    i = running.pop(future)
                    free += int(controls[i, 1])  # all it had, whether it used them or not
                    try:
                        result = future.result()
                    except BaseException:
                        if failures:  # the cause, not a job it stopped
                            raise failures[0] from None
                        raise
                    done(i, result)
                    del result
                del finished, future
                while started == n and running and free > 0:
                    # nothing left to start: the free threads go to the running jobs
                    j = min(running.values(), key=lambda j: (int(controls[j, 1]), j))
                    controls[j, 1] += 1
                    free -= 1
        except BaseException:
            controls[:, 0] = 1  # the running jobs stop before their next pass; the pool waits
            raise


def run_restarts(
    run: RunFunction,
    X: np.ndarray,
    n_clusters: int,
    n_restarts: int,
    *,
    init: str | np.ndarray | Callable[..., Any],
    entropy: int,
    sample_weight: np.ndarray | None = None,
    objective: Objective = "inertia",
    keep_worst: bool = False,
    record_history: bool = True,
    progress: ProgressCallback | None = None,
    n_threads: int | None = None,
    max_parallel: int | None = None,
) -> Restarts:
    """Run ``n_restarts`` Lloyd runs and keep the best (and the worst) whole.

    Inputs are not checked (see the module docstring): the caller validates them.

    Parameters
    ----------
    run : callable
        ``run(init_centers, record_history=..., n_threads=..., control=...)`` runs Lloyd's
        algorithm on X from the given centers and returns a
        :class:`~mnist_kmeans.kmeans.RunResult`; the caller binds the data and the other Lloyd
        parameters (e.g. ``functools.partial`` of :func:`~mnist_kmeans.kmeans.lloyd`).
    X : ndarray of shape (n_samples, n_features)
        C-contiguous float32 or float64 rows, for the initial centers.
    n_clusters : int
        At most the number of rows of positive weight.
    n_restarts : int
        At least 1; must be 1 when ``init`` is an array.
    init : {'random', 'k-means++'}, callable or ndarray of shape (n_clusters, n_features)
        How each restart's centers are chosen, from its seed: a name, or a callable called as
        ``init(X, n_clusters, random_state=np.random.RandomState(seed))`` once per restart
        (scikit-learn's signature; its result is validated, see
        :func:`~mnist_kmeans.initialization.choose_centers`). An array (X's dtype, validated) is
        used as it is, and the restart's seed is None.
    entropy : int
        From :func:`seed_entropy`.
    sample_weight : ndarray of shape (n_samples,), float64, optional
        Weights for the choice of initial centers (the ``run`` binds its own for the runs).
    objective : {'inertia', 'j_clust'}, default='inertia'
        The final objective the best (lowest) and worst (highest) runs are chosen by.
    keep_worst : bool, default=False
        Also keep the worst run whole.
    record_history : bool, default=True
        The kept runs carry their per-iteration objectives (for several restarts, by running
        them again with a history). False keeps the lean runs as they are: every pass of a
        run with a history reads every row, which about doubles a run's time (measured on
        MNIST 60k, k = 10 and 20: lean runs take 0.50-0.57 of the time), and the kept runs'
        histories are then empty.
    progress : callable, optional
        ``progress(done, n_restarts)`` after each finished restart, in the calling thread
        (restarts that run at once may finish in any order).
    n_threads : int, optional
        Kernel threads for all runs together; None: the OpenMP default of the calling thread
        (``OMP_NUM_THREADS``, threadpoolctl). Several runs go at once when it is above 1 (see
        the module docstring and :func:`run_jobs`); results do not depend on it.
    max_parallel : int, optional
        At most this many runs at once (each keeps its own bounds and outputs).

    Returns
    -------
    Restarts
    """
    given = not isinstance(init, str) and not callable(init)
    seeds: Sequence[int | None] = [None] if given else restart_seeds(entropy, n_restarts).tolist()
    budget = _kernel.max_threads() if n_threads is None else n_threads  # in the calling thread
    # One run with a history: record it now; several: only the kept runs', run again later.
    record_each = record_history and n_restarts == 1
    keep_results = not record_history  # no reruns: keep the best (and worst) lean results
    summaries: list[RestartSummary | None] = [None] * len(seeds)
    # Only what is needed to run the kept restarts again (their initial centers), or, without
    # histories, the kept runs themselves.
    best_index = worst_index = -1
    best_start = worst_start = None
    best_value = worst_value = 0.0
    only: RunResult | None = None
    best_result: RunResult | None = None
    worst_result: RunResult | None = None
    finished = 0

    def restart(i: int) -> Job[tuple[np.ndarray, RunResult, float]]:
        def job(threads: int, control: np.ndarray | None) -> tuple[np.ndarray, RunResult, float]:
            start = time.perf_counter()
            if given:
                centers = init
            else:
                rng = np.random.RandomState(seeds[i])
                centers = choose_centers(X, n_clusters, init, rng, sample_weight)
            result = run(centers, record_history=record_each, n_threads=threads, control=control)
            return centers, result, time.perf_counter() - start

        return job

    def restart_done(i: int, out: tuple[np.ndarray, RunResult, float]) -> None:
        nonlocal best_index, best_value, best_start, best_result, finished
        nonlocal worst_index, worst_value, worst_start, worst_result, only
        centers, result, seconds = out
        summaries[i] = RestartSummary(
            seeds[i],
            result.inertia,
            result.j_clust,
            result.n_iter,
            result.converged,
            result.n_relocated,
            seconds,
        )
        value = getattr(result, objective)
        # By value, then index (ties go to the lower restart), whatever order runs end in.
        if best_index < 0 or (value, i) < (best_value, best_index):
            best_index, best_value, best_start = i, value, centers
            if keep_results:
                best_result = result
        if worst_index < 0 or value > worst_value or (value == worst_value and i < worst_index):
            worst_index, worst_value, worst_start = i, value, centers
            if keep_results and keep_worst:
                worst_result = result
        if record_each:
            only = result
        finished += 1
        if progress is not None:
            progress(finished, n_restarts)

    # k-means++ calls BLAS: its threads count against the budget when inits run at once.
    blas = (threadpool_limits(max(1, budget // min(budget, n_restarts)), user_api="blas")
            if not given and init == "k-means++" and min(budget, n_restarts) > 1 else None)
    try:
        run_jobs([restart(i) for i in range(len(seeds))], budget, restart_done,
                 max_parallel=max_parallel)
    finally:
        if blas is not None:
            blas.restore_original_limits()

    if only is not None:
        best = worst = only
    elif keep_results:
        assert best_result is not None
        best = best_result
        worst = worst_result if worst_result is not None else best
    else:
        # The kept runs again, with their histories (at once when there are two).
        starts = [best_start] + ([worst_start] if keep_worst and worst_index != best_index else [])
        reruns: list[RunResult | None] = [None] * len(starts)

        def rerun(start: np.ndarray) -> Job[RunResult]:
            return lambda threads, control: run(start, record_history=True, n_threads=threads,
                                                control=control)

        def rerun_done(i: int, result: RunResult) -> None:
            reruns[i] = result

        run_jobs([rerun(c) for c in starts], budget, rerun_done, max_parallel=max_parallel)
        best = reruns[0]
        worst = reruns[-1] if len(reruns) == 2 else best
    assert all(s is not None for s in summaries) and best is not None and worst is not None
    return Restarts(
        summaries=tuple(summaries),
        objective=objective,
        best=best,
        best_index=best_index,
        worst=worst if keep_worst else None,
        worst_index=worst_index if keep_worst else None,
    )
