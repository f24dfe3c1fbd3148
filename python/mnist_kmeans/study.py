"""Restart studies: many Lloyd runs from random starts, all summarised, best and worst kept whole.

The course notebook ran k-means several times from random initial centers and compared the runs
by their final J_clust (the sum of the non-squared distances of the points to their centers). A
:class:`StudyResult` holds, for every restart, its seed and a few numbers, and keeps only the best
and the worst run whole (centers, labels, distances, per-iteration history), so that memory does
not grow with the number of restarts.

The restarts run in :func:`mnist_kmeans.restarts.run_restarts`, the driver that
:class:`~mnist_kmeans.KMeans` uses too, with the best and worst run chosen by J_clust. Seeds are
derived from ``random_state`` with :class:`numpy.random.SeedSequence`: restart ``i`` always gets
the same seed, whatever the number of restarts (and the same as restart ``i`` of
``KMeans(random_state=...)``), and each run can be redone alone with
``initial_centers(X, n_clusters, init, random_state=seeds[i])`` followed by :func:`lloyd`.

:func:`run_study` and :func:`run_notebook` validate their input once; :func:`_study`, which both
call, trusts it.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from ._validation import as_float32_rows, check_n_clusters, check_positive_int, read_only_arrays
from .initialization import check_init_method
from .kmeans import RunResult, lloyd, shared_row_facts
from .restarts import ProgressCallback, restart_seeds, run_restarts, seed_entropy

#: ``runner(X, max_iter=..., n_threads=...)`` -> the ``run`` of each restart (see run_study)
Runner = Callable[..., Callable[..., RunResult]]

__all__ = [
    "NOTEBOOK_EXPERIMENTS",
    "ProgressCallback",
    "StudyResult",
    "restart_seeds",
    "run_notebook",
    "run_study",
    "run_summary",
]

#: The course notebook's experiments, as (n_clusters, restarts) pairs (the notebook's k).
NOTEBOOK_EXPERIMENTS: tuple[tuple[int, int], ...] = ((20, 30), (10, 20), (5, 10))


@dataclass(frozen=True, eq=False)
class StudyResult:
    """Every restart of one k-means study, summarised; the best and worst run kept whole.

    Attributes
    ----------
    n_clusters : int
        Number of clusters (the notebook's k).
    init : {'random', 'k-means++'}
        How the initial centers of each restart were chosen.
    random_state : int
        The entropy the seeds were derived from (the given ``random_state``, or the entropy
        drawn when it was None or a generator): passing it again reproduces the study.
    seeds : ndarray of shape (n_restarts,), int64
        The seed of each restart's initial centers.
    inertia : ndarray of shape (n_restarts,), float64
        Final sum of squared distances of each restart.
    j_clust : ndarray of shape (n_restarts,), float64
        Final J_clust (sum of non-squared distances) of each restart.
    n_iter : ndarray of shape (n_restarts,), int64
        Assignment passes of each restart.
    converged : ndarray of shape (n_restarts,), bool
        Whether each restart converged before ``max_iter``.
    n_relocated : ndarray of shape (n_restarts,), int64
        Empty clusters relocated during each restart.
    run_seconds : ndarray of shape (n_restarts,), float64
        Wall time of each restart (initialisation included). Restarts that ran at once (see
        ``n_threads``) overlap: the sum can exceed ``elapsed``.
    best, worst : RunResult
        The runs with the lowest and the highest final J_clust, whole (the same object when
        there is one restart).
    best_index, worst_index : int
        Their restart indices; ties go to the lower index.
    elapsed : float
        Wall time of the whole study in seconds.
    n_samples, n_features : int
        Shape of the data.
    max_iter : int
        Iteration limit of each run.
    n_threads : int or None
        Kernel threads asked for (None: the OpenMP default).

    Notes
    -----
    Arrays are read-only; equality is identity (``eq=False``), since element-wise array
    comparison has no single truth value.
    """

    n_clusters: int
    init: str
    random_state: int
    seeds: np.ndarray
    inertia: np.ndarray
    j_clust: np.ndarray
    n_iter: np.ndarray
    converged: np.ndarray
    n_relocated: np.ndarray
    run_seconds: np.ndarray
    best: RunResult
    worst: RunResult
    best_index: int
    worst_index: int
    elapsed: float
    n_samples: int
    n_features: int
    max_iter: int
    n_threads: int | None = None

    def __post_init__(self) -> None:
        read_only_arrays(self)

    @property
    def n_restarts(self) -> int:
        """Number of restarts."""
        return int(self.j_clust.size)

    @property
    def j_clust_spread(self) -> float:
        """Worst minus best final J_clust."""
        return float(self.worst.j_clust - self.best.j_clust)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable summary, without the per-point arrays.

        Returns
        -------
        dict
            The parameters, every restart's numbers (``runs``: lists indexed by restart), and
            for the best and worst run their index, seed, final objectives, iterations,
            convergence, relocations and per-iteration histories (see :func:`run_summary`).
            Centers, labels and distances are left out.
        """
        return {
            "n_clusters": self.n_clusters,
            "init": self.init,
            "random_state": self.random_state,
            "n_restarts": self.n_restarts,
            "n_samples": self.n_samples,
            "n_features": self.n_features,
            "max_iter": self.max_iter,
            "n_threads": self.n_threads,
            "elapsed_seconds": self.elapsed,
            "j_clust_min": float(self.j_clust.min()),
            "j_clust_max": float(self.j_clust.max()),
            "j_clust_mean": float(self.j_clust.mean()),
            "j_clust_std": float(self.j_clust.std()),
            "j_clust_spread": self.j_clust_spread,
            "inertia_min": float(self.inertia.min()),
            "inertia_max": float(self.inertia.max()),
            "runs": {
                "seed": [int(v) for v in self.seeds],
                "j_clust": [float(v) for v in self.j_clust],
                "inertia": [float(v) for v in self.inertia],
                "n_iter": [int(v) for v in self.n_iter],
                "converged": [bool(v) for v in self.converged],
                "n_relocated": [int(v) for v in self.n_relocated],
                "seconds": [float(v) for v in self.run_seconds],
            },
            "best": {
                "index": self.best_index,
                "seed": int(self.seeds[self.best_index]),
                **run_summary(self.best),
            },
            "worst": {
                "index": self.worst_index,
                "seed": int(self.seeds[self.worst_index]),
                **run_summary(self.worst),
            },
        }


def run_summary(run: RunResult) -> dict[str, Any]:
    """The small numbers of one run, JSON-serialisable.

    Parameters
    ----------
    run : RunResult

    Returns
    -------
    dict
        ``j_clust``, ``inertia``, ``n_iter``, ``converged``, ``n_relocated``, ``cluster_sizes``
        and the per-iteration ``j_clust_history`` and ``inertia_history``.
    """
    n_clusters = run.centers.shape[0]
    return {
        "j_clust": run.j_clust,
        "inertia": run.inertia,
        "n_iter": run.n_iter,
        "converged": run.converged,
        "n_relocated": run.n_relocated,
        "cluster_sizes": [int(v) for v in np.bincount(run.labels, minlength=n_clusters)],
        "j_clust_history": [float(v) for v in run.j_clust_history],
        "inertia_history": [float(v) for v in run.inertia_history],
    }


def run_study(
    X: Any,
    n_clusters: int,
    restarts: int,
    *,
    init: Literal["random", "k-means++"] = "random",
    random_state: Any = 0,
    max_iter: int = 300,
    n_threads: int | None = None,
    progress: ProgressCallback | None = None,
    runner: Runner | None = None,
) -> StudyResult:
    """Run Lloyd's algorithm ``restarts`` times from different initial centers.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        The data, validated and converted to float32 once (no copy if it already is
        C-contiguous float32).
    n_clusters : int
        Number of clusters (the notebook's k), ``1 <= n_clusters <= n_samples``.
    restarts : int
        Number of runs, at least 1.
    init : {'random', 'k-means++'}, default='random'
        'random' takes n_clusters distinct rows as initial centers, as the course notebook did;
        'k-means++' uses greedy k-means++.
    random_state : int, None, RandomState or Generator, default=0
        Entropy for the restart seeds; the same int gives the same study. None draws fresh
        entropy, a generator one number (either way recorded in
        :attr:`StudyResult.random_state`).
    max_iter : int, default=300
        Iteration limit of each run; runs go on until no label changes, no center moves, or
        the limit.
    n_threads : int or None, default=None
        Kernel threads; None follows OpenMP (``OMP_NUM_THREADS``, threadpoolctl). With more
        than one, several restarts run at once on one thread each (see
        :mod:`mnist_kmeans.restarts`). Results do not depend on it.
    progress : callable, optional
        ``progress(done, total)`` is called after each finished restart (in the calling
        thread; restarts that run at once may finish in any order).
    runner : callable, optional
        ``runner(X, max_iter=..., n_threads=...)`` returns the ``run`` of each restart (see
        :func:`mnist_kmeans.restarts.run_restarts`); None runs :func:`lloyd` here.
        :class:`mnist_kmeans.dask.DaskRunner` runs them on a Dask cluster, with the same
        results (one restart at a time; each is spread over the cluster).

    Returns
    -------
    StudyResult
        Every restart's seed and numbers; the runs with the lowest and highest final J_clust
        kept whole (ties go to the lower restart index).

    Raises
    ------
    TypeError, ValueError
        For invalid data or parameters (e.g. ``n_clusters > n_samples``), before any run
        starts.
    KeyboardInterrupt
        Ctrl-C stops the current run between passes; nothing is returned.
    """
    X = as_float32_rows(X)
    n_clusters = check_n_clusters(n_clusters, X.shape[0])
    restarts = check_positive_int(restarts, "restarts")
    init, max_iter, n_threads = _check_run_parameters(init, max_iter, n_threads)
    return _study(
        X, n_clusters, restarts, init, seed_entropy(random_state), max_iter, n_threads, progress,
        runner,
    )


def _check_run_parameters(init: Any, max_iter: Any, n_threads: Any) -> tuple[str, int, int | None]:
    """The parameters that every study of :func:`run_study` and :func:`run_notebook` shares."""
    init = check_init_method(init)
    max_iter = check_positive_int(max_iter, "max_iter")
    if n_threads is not None:
        n_threads = check_positive_int(n_threads, "n_threads")
    return init, max_iter, n_threads


def _study(
    X: np.ndarray,
    n_clusters: int,
    restarts: int,
    init: str,
    entropy: int,
    max_iter: int,
    n_threads: int | None,
    progress: ProgressCallback | None,
    runner: Runner | None = None,
) -> StudyResult:
    """:func:`run_study` for validated input (X as from ``as_float32_rows``; not checked)."""
    start = time.perf_counter()
    run = (
        functools.partial(lloyd, X, max_iter=max_iter, n_threads=n_threads,
                          # one read of X for every restart's bounds
                          row_facts=shared_row_facts(X, "auto", max_iter, n_clusters, n_threads))
        if runner is None
        else runner(X, max_iter=max_iter, n_threads=n_threads)
    )
    result = run_restarts(
        run,
        X,
        n_clusters,
        restarts,
        init=init,
        entropy=entropy,
        objective="j_clust",
        keep_worst=True,
        progress=progress,
        n_threads=n_threads,
        # on a cluster, one restart at a time: each pass already uses every worker
        max_parallel=None if runner is None else 1,
    )
    assert result.worst is not None and result.worst_index is not None  # keep_worst
    return StudyResult(
        n_clusters=n_clusters,
        init=init,
        random_state=entropy,
        seeds=result.column("seed", np.int64),
        inertia=result.column("inertia", np.float64),
        j_clust=result.column("j_clust", np.float64),
        n_iter=result.column("n_iter", np.int64),
        converged=result.column("converged", bool),
        n_relocated=result.column("n_relocated", np.int64),
        run_seconds=result.column("seconds", np.float64),
        best=result.best,
        worst=result.worst,
        best_index=result.best_index,
        worst_index=result.worst_index,
        elapsed=time.perf_counter() - start,
        n_samples=int(X.shape[0]),
        n_features=int(X.shape[1]),
        max_iter=max_iter,
        n_threads=n_threads,
    )


def run_notebook(
    X: Any,
    *,
    experiments: Sequence[tuple[int, int]] = NOTEBOOK_EXPERIMENTS,
    init: Literal["random", "k-means++"] = "random",
    random_state: Any = 0,
    max_iter: int = 300,
    n_threads: int | None = None,
    progress: ProgressCallback | None = None,
    runner: Runner | None = None,
) -> list[StudyResult]:
    """The course notebook's experiments: one :func:`run_study` per (n_clusters, restarts).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Validated and converted once for all experiments.
    experiments : sequence of (int, int), default=NOTEBOOK_EXPERIMENTS
        (n_clusters, restarts) pairs, run in order: n_clusters = 20, 10, 5 with 30, 20, 10
        restarts.
    init, max_iter, n_threads
        As for :func:`run_study`.
    random_state : int, None, RandomState or Generator, default=0
        Every experiment derives its seeds from this same entropy (drawn once and shared when
        None or a generator).
    progress : callable, optional
        ``progress(done, total)`` counts restarts over all experiments together.
    runner : callable, optional
        As for :func:`run_study`.

    Returns
    -------
    list of StudyResult
        One per experiment, in order.
    """
    X = as_float32_rows(X)
    # Checked up front so that a bad pair fails before hours of earlier experiments.
    pairs = [
        (check_n_clusters(k, X.shape[0]), check_positive_int(r, "restarts"))
        for k, r in experiments
    ]
    if not pairs:
        raise ValueError("experiments must hold at least one (n_clusters, restarts) pair")
    init, max_iter, n_threads = _check_run_parameters(init, max_iter, n_threads)
    entropy = seed_entropy(random_state)
    total = sum(r for _, r in pairs)
    results: list[StudyResult] = []
    done_before = 0
    for n_clusters, restarts in pairs:
        step: ProgressCallback | None = None
        if progress is not None:
            offset = done_before

            def step(done: int, _total: int, offset: int = offset) -> None:
                progress(offset + done, total)

        results.append(
            _study(X, n_clusters, restarts, init, entropy, max_iter, n_threads, step, runner)
        )
        done_before += restarts
    return results
