"""Restart studies: many Lloyd runs from random starts, all summarised, best and worst kept whole.

The course notebook ran k-means several times from random initial centers and compared the runs
by their final J_clust (the sum of the non-squared distances of the points to their centers). A
:class:`StudyResult` holds, for every restart, its seed and a few numbers, and keeps only the best
and the worst run whole (centers, labels, distances, per-iteration history), so that memory does
not grow with the number of restarts.

Seeds are derived from ``random_state`` with :class:`numpy.random.SeedSequence`: restart ``i``
always gets the same seed, whatever the number of restarts, and each run can be redone alone
with ``initial_centers(X, k, init, random_state=seeds[i])`` followed by :func:`lloyd`.
"""

from __future__ import annotations

import numbers
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from .kmeans import RunResult, as_float32_rows, initial_centers, lloyd

__all__ = [
    "NOTEBOOK_EXPERIMENTS",
    "ProgressCallback",
    "StudyResult",
    "restart_seeds",
    "run_notebook",
    "run_study",
    "run_summary",
]

#: The course notebook's experiments, as (k, restarts) pairs.
NOTEBOOK_EXPERIMENTS: tuple[tuple[int, int], ...] = ((20, 30), (10, 20), (5, 10))

#: ``progress(done, total)``, called after each finished restart.
ProgressCallback = Callable[[int, int], None]

_INITS = ("random", "k-means++")


@dataclass(frozen=True, eq=False)
class StudyResult:
    """Every restart of one k-means study, summarised; the best and worst run kept whole.

    Attributes
    ----------
    k : int
        Number of clusters.
    init : {'random', 'k-means++'}
        How the initial centers of each restart were chosen.
    random_state : int
        The entropy the seeds were derived from (the given ``random_state``, or the fresh
        entropy drawn when it was None): passing it again reproduces the study.
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
        Wall time of each restart (initialisation included).
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

    k: int
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
        # Read-only arrays keep the frozen instance from changing through them.
        for value in vars(self).values():
            if isinstance(value, np.ndarray):
                value.setflags(write=False)

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
            "k": self.k,
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
    k = run.centers.shape[0]
    return {
        "j_clust": run.j_clust,
        "inertia": run.inertia,
        "n_iter": run.n_iter,
        "converged": run.converged,
        "n_relocated": run.n_relocated,
        "cluster_sizes": [int(v) for v in np.bincount(run.labels, minlength=k)],
        "j_clust_history": [float(v) for v in run.j_clust_history],
        "inertia_history": [float(v) for v in run.inertia_history],
    }


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return int(value)


def _entropy(random_state: int | None) -> int:
    if random_state is None:
        # Fresh entropy, recorded in the result so that the study can be redone.
        return int(np.random.SeedSequence().entropy)
    if isinstance(random_state, (bool, np.bool_)) or not isinstance(random_state, numbers.Integral):
        raise TypeError(
            f"random_state must be a non-negative integer or None, got {random_state!r}"
        )
    if random_state < 0:
        raise ValueError(f"random_state must be non-negative, got {random_state}")
    return int(random_state)


def restart_seeds(random_state: int, restarts: int) -> np.ndarray:
    """The seeds of the first ``restarts`` restarts, ndarray of shape (restarts,), int64.

    Restart ``i`` gets the same seed whatever ``restarts`` is (a prefix property of
    :meth:`numpy.random.SeedSequence.generate_state`).
    """
    return np.random.SeedSequence(random_state).generate_state(restarts).astype(np.int64)


def run_study(
    X: Any,
    k: int,
    restarts: int,
    *,
    init: Literal["random", "k-means++"] = "random",
    random_state: int | None = 0,
    max_iter: int = 300,
    n_threads: int | None = None,
    progress: ProgressCallback | None = None,
) -> StudyResult:
    """Run Lloyd's algorithm ``restarts`` times from different initial centers.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        The data, validated and converted to float32 once (no copy if it already is
        C-contiguous float32).
    k : int
        Number of clusters, ``1 <= k <= n_samples``.
    restarts : int
        Number of runs, at least 1.
    init : {'random', 'k-means++'}, default='random'
        'random' takes k distinct rows as initial centers, as the course notebook did;
        'k-means++' uses greedy k-means++.
    random_state : int or None, default=0
        Entropy for the restart seeds; the same value gives the same study. None draws fresh
        entropy (recorded in :attr:`StudyResult.random_state`).
    max_iter : int, default=300
        Iteration limit of each run; runs go on until no label changes or the limit.
    n_threads : int or None, default=None
        Kernel threads; None follows OpenMP. Results do not depend on it.
    progress : callable, optional
        ``progress(done, total)`` is called after each finished restart.

    Returns
    -------
    StudyResult
        Every restart's seed and numbers; the runs with the lowest and highest final J_clust
        kept whole (ties go to the lower restart index).

    Raises
    ------
    TypeError, ValueError
        For invalid data or parameters (e.g. ``k > n_samples``), before any run starts.
    KeyboardInterrupt
        Ctrl-C stops the current run between passes; nothing is returned.
    """
    X = as_float32_rows(X)
    k = _positive_int(k, "k")
    restarts = _positive_int(restarts, "restarts")
    max_iter = _positive_int(max_iter, "max_iter")
    if init not in _INITS:
        raise ValueError(f"init must be 'random' or 'k-means++', got {init!r}")
    if k > X.shape[0]:
        raise ValueError(f"k={k} is larger than the number of samples ({X.shape[0]})")
    if n_threads is not None:
        n_threads = _positive_int(n_threads, "n_threads")
    entropy = _entropy(random_state)
    seeds = restart_seeds(entropy, restarts)

    inertia = np.empty(restarts)
    j_clust = np.empty(restarts)
    n_iter = np.empty(restarts, dtype=np.int64)
    converged = np.empty(restarts, dtype=bool)
    n_relocated = np.empty(restarts, dtype=np.int64)
    seconds = np.empty(restarts)
    best: RunResult | None = None
    worst: RunResult | None = None
    best_index = worst_index = 0
    start = time.perf_counter()
    for i, seed in enumerate(seeds):
        run_start = time.perf_counter()
        centers = initial_centers(X, k, init, random_state=int(seed))
        # no history: faster (see lloyd); the best and worst runs are run again with it below
        run = lloyd(X, centers, max_iter=max_iter, n_threads=n_threads, record_history=False)
        seconds[i] = time.perf_counter() - run_start
        inertia[i], j_clust[i] = run.inertia, run.j_clust
        n_iter[i], converged[i], n_relocated[i] = run.n_iter, run.converged, run.n_relocated
        # Strict comparisons: on a tie the earlier restart stays.
        if best is None or run.j_clust < best.j_clust:
            best, best_index = run, i
        if worst is None or run.j_clust > worst.j_clust:
            worst, worst_index = run, i
        del run  # only best and worst stay alive
        if progress is not None:
            progress(i + 1, restarts)
    assert best is not None and worst is not None
    # The same runs again with their histories: same seeds and init, so the same results bit
    # for bit (the kernel's results do not depend on the thread count or the algorithm).
    best = lloyd(X, best.init_centers, max_iter=max_iter, n_threads=n_threads)
    worst = best if worst_index == best_index else lloyd(
        X, worst.init_centers, max_iter=max_iter, n_threads=n_threads
    )
    return StudyResult(
        k=k,
        init=init,
        random_state=entropy,
        seeds=seeds,
        inertia=inertia,
        j_clust=j_clust,
        n_iter=n_iter,
        converged=converged,
        n_relocated=n_relocated,
        run_seconds=seconds,
        best=best,
        worst=worst,
        best_index=best_index,
        worst_index=worst_index,
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
    random_state: int | None = 0,
    max_iter: int = 300,
    n_threads: int | None = None,
    progress: ProgressCallback | None = None,
) -> list[StudyResult]:
    """The course notebook's experiments: one :func:`run_study` per (k, restarts).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Validated and converted once for all experiments.
    experiments : sequence of (int, int), default=NOTEBOOK_EXPERIMENTS
        (k, restarts) pairs, run in order: k = 20, 10, 5 with 30, 20, 10 restarts.
    init, max_iter, n_threads
        As for :func:`run_study`.
    random_state : int or None, default=0
        Every experiment derives its seeds from this same entropy (None: fresh entropy, drawn
        once and shared).
    progress : callable, optional
        ``progress(done, total)`` counts restarts over all experiments together.

    Returns
    -------
    list of StudyResult
        One per experiment, in order.
    """
    X = as_float32_rows(X)
    pairs = [
        (_positive_int(k, "k"), _positive_int(r, "restarts")) for k, r in experiments
    ]
    if not pairs:
        raise ValueError("experiments must hold at least one (k, restarts) pair")
    # Checked up front so that a bad pair fails before hours of earlier experiments.
    for k, _ in pairs:
        if k > X.shape[0]:
            raise ValueError(f"k={k} is larger than the number of samples ({X.shape[0]})")
    entropy = _entropy(random_state)
    total = sum(r for _, r in pairs)
    results: list[StudyResult] = []
    done_before = 0
    for k, restarts in pairs:
        step: ProgressCallback | None = None
        if progress is not None:
            offset = done_before

            def step(done: int, _total: int, offset: int = offset) -> None:
                progress(offset + done, total)

        results.append(
            run_study(
                X,
                k,
                restarts,
                init=init,
                random_state=entropy,
                max_iter=max_iter,
                n_threads=n_threads,
                progress=step,
            )
        )
        done_before += restarts
    return results
