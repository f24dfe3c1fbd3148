"""The k-means estimator, scikit-learn style, on top of the C++ kernel.

Data handling, once per fit: X is validated (2-D, not empty, numeric, finite) and converted to
C-contiguous float32 rows. A float32 C-contiguous array is used as it is (no copy); integer,
float64 or non-contiguous input is converted once, into a new array. User arrays (X, init,
sample_weight) are never modified.

Layers:

* :func:`as_float32_rows` (from :mod:`mnist_kmeans._validation`) - validation and the one
  conversion;
* :func:`initial_centers` (from :mod:`mnist_kmeans.initialization`) - 'random', greedy
  'k-means++', or a given array;
* :func:`lloyd` - one run of Lloyd's algorithm in the kernel, from given centers, returning a
  :class:`RunResult`;
* :func:`assign_pass` and :func:`lloyd_step` (from :mod:`mnist_kmeans.step`) - one pass and
  one step of that run, for drivers that run the loop themselves (a pass per block of rows,
  e.g. on a cluster);
* :class:`KMeans` - the estimator: fit/predict/transform/score; its restarts run in
  :func:`mnist_kmeans.restarts.run_restarts`, shared with :mod:`mnist_kmeans.study`.
"""

from __future__ import annotations

import functools
import numbers
import os
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    ClusterMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.metrics.pairwise import euclidean_distances
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from . import _kernel
from ._validation import (
    check_numeric_kind,
    as_float32_rows,
    check_enough_weighted_samples,
    check_float32_range,
    check_init_centers,
    check_n_clusters,
    check_sample_weight,
)
from .initialization import INIT_METHODS, initial_centers
from .restarts import RestartSummary, run_restarts, seed_entropy
from .step import (
    RelocationCandidates,
    StepResult,
    lloyd_step,
    merge_candidates,
    relocation_candidates,
    sum_in_order,
)



def _check_isa_request() -> None:
    # MNIST_KMEANS_ISA names the SIMD kernel to use (to test a narrower one on a wider CPU);
    # the kernel takes the widest it can run when the name is unusable rather than failing
    # at import, so say so once here.
    request = os.environ.get("MNIST_KMEANS_ISA", "")
    if request and request.lower() != _kernel.current_isa():
        warnings.warn(
            f"MNIST_KMEANS_ISA={request!r} names no kernel that this build and CPU can run "
            f"({', '.join(_kernel.available_isas())}); using {_kernel.current_isa()!r}",
            RuntimeWarning,
            stacklevel=2,
        )


_check_isa_request()

__all__ = [
    "KMeans",
    "RunResult",
    "RestartSummary",
    "PassResult",
    "RelocationCandidates",
    "StepResult",
    "assign_pass",
    "lloyd_step",
    "merge_candidates",
    "relocation_candidates",
    "sum_in_order",
    "as_float32_rows",
    "check_sample_weight",
    "initial_centers",
    "lloyd",
    "absolute_tolerance",
]


@dataclass(frozen=True)
class RunResult:
    """One Lloyd run from one set of initial centers.

    Attributes
    ----------
    centers : ndarray of shape (n_clusters, n_features), float32
    labels : ndarray of shape (n_samples,), int32
    sq_distances : ndarray of shape (n_samples,), float32
        Squared distance of each row to its center.
    inertia_history : ndarray of shape (n_iter,), float64
        Sum of (weighted) squared distances after each assignment step (empty when the run
        was asked for no history, see :func:`lloyd`).
    j_clust_history : ndarray of shape (n_iter,), float64
        The course notebook's J_clust, the sum of (weighted) distances, after each assignment
        (empty likewise).
    inertia, j_clust : float
        Both objectives for the returned labels and centers.
    n_iter : int
        Assignment passes run (as scikit-learn counts them).
    converged : bool
        False when max_iter was reached first.
    n_relocated : int
        Empty clusters moved to the farthest point during the run.
    init_centers : ndarray of shape (n_clusters, n_features), float32
        The centers the run started from.
    rows_scored : ndarray of shape (n_iter,), int64, or None
        Rows scored against every center in each pass (all of them for 'lloyd'; 'hamerly'
        skips the rows whose label it proves unchanged).
    pass_kinds : str
        One letter per pass: 'L' every row against every center, 'H' Hamerly, 'Y' Yinyang,
        'E' Elkan (see ``algorithm='auto'`` in :func:`lloyd`).
    pass_seconds : ndarray of shape (n_iter,), float64, or None
        Wall-clock time of each pass.
    """

    centers: np.ndarray
    labels: np.ndarray
    sq_distances: np.ndarray
    inertia_history: np.ndarray
    j_clust_history: np.ndarray
    inertia: float
    j_clust: float
    n_iter: int
    converged: bool
    n_relocated: int
    init_centers: np.ndarray
    rows_scored: np.ndarray | None = None
    pass_kinds: str = ""
    pass_seconds: np.ndarray | None = None


def absolute_tolerance(X: np.ndarray, tol: float) -> float:
    """scikit-learn's tolerance: tol times the mean per-feature variance of X (0 if tol is 0)."""
    if tol == 0:
        return 0.0
    # in blocks, to avoid a float64 copy of X
    n = len(X)
    total = np.zeros(X.shape[1])
    total_sq = np.zeros(X.shape[1])
    for start in range(0, n, 8192):
        block = X[start : start + 8192].astype(np.float64)
        total += block.sum(0)
        total_sq += (block * block).sum(0)
    mean = total / n
    variance = np.maximum(total_sq / n - mean * mean, 0.0)
    return float(variance.mean() * tol)


def _resolve_threads(n_threads: int | None) -> int:
    if n_threads is None:
        return 0  # the kernel uses omp_get_max_threads(): OMP_NUM_THREADS, threadpoolctl
    if not isinstance(n_threads, numbers.Integral) or n_threads < 1:
        raise ValueError(f"n_threads must be a positive integer or None, got {n_threads!r}")
    return int(n_threads)


@dataclass(frozen=True)
class PassResult:
    """One assignment pass: what a distributed driver combines across chunks of rows.

    Attributes
    ----------
    labels : ndarray of shape (n_samples,), int32
    sq_distances : ndarray of shape (n_samples,), float32
    sums : ndarray of shape (n_clusters, n_features), float64
        Weighted sum of the rows of each cluster.
    weight_sums : ndarray of shape (n_clusters,), float64
    inertia, j_clust : float
        Sum of (weighted) squared distances, and of distances.
    chunk_inertia, chunk_j_clust : ndarray of shape (ceil(n_samples / chunk_rows),), float64
        The share of each chunk of ``_kernel.chunk_rows`` (512) rows, in row order.
        ``inertia`` is their sum added in that order starting from 0.0 (see
        :func:`sum_in_order`), so a driver that passes over row blocks whose boundaries are
        multiples of 512 rows and adds all their chunks in global order gets the inertia of
        one pass over all rows, bit for bit (the sums only when they are exact).
    n_changed : int
        Rows whose label differs from ``previous_labels``; every row when none were given
        (as at the first pass of a run).
    """

    labels: np.ndarray
    sq_distances: np.ndarray
    sums: np.ndarray
    weight_sums: np.ndarray
    inertia: float
    j_clust: float
    chunk_inertia: np.ndarray | None = None
    chunk_j_clust: np.ndarray | None = None
    n_changed: int = 0


def assign_pass(
    X: np.ndarray,
    centers: np.ndarray,
    *,
    sample_weight: np.ndarray | None = None,
    n_threads: int | None = None,
    previous_labels: np.ndarray | None = None,
) -> PassResult:
    """One pass of the kernel over X: nearest centers and per-cluster sums.

    X must come from :func:`as_float32_rows` and centers be float32 of shape
    (n_clusters, n_features). Summing ``sums`` and ``weight_sums`` over the chunks of a larger
    array and dividing gives the next centers of a Lloyd iteration over the whole array (or
    pass them to :func:`lloyd_step`). ``previous_labels`` (int32, one per row): count in
    ``n_changed`` the rows whose label differs from them.
    """
    out = _kernel.assign(
        X, centers, sample_weight, True, _resolve_threads(n_threads), previous_labels
    )
    return PassResult(**out._asdict())  # the same names, one per quantity


ALGORITHMS = ("auto", "lloyd", "hamerly", "yinyang", "elkan")

# Elkan keeps n * k float32 bounds and Yinyang n * ceil(k / 16): refuse beyond this.
MAX_BOUND_BYTES = 2 * 1024**3

# 'auto' (when its bounded passes run) uses Yinyang's unit bounds from this many clusters on
# (Hamerly's single bound below),
# as long as they take at most AUTO_BOUND_BYTES (a fit should not need much more than X).
# 48 lies between the k of benchmarks/results_2026-11-27b.md part a (MNIST 60k, 2 AVX2 cores)
# where Hamerly's pass is faster (k = 20: 13.6 ms against 16.7 ms) and those where Yinyang's
# is as fast or faster (k = 64: 23.0 against 23.4 ms; k = 256: 49.4 against 75.8 ms).
AUTO_YINYANG_MIN_CLUSTERS = 48
AUTO_BOUND_BYTES = 64 * 1024**2


def _n_rows(a: Any) -> int:
    # for the size check of _resolve_algorithm; the kernel refuses what is not an array
    return int(a.shape[0]) if isinstance(a, np.ndarray) and a.ndim >= 1 else 0


def _bound_bytes(algorithm: str, n_samples: int, n_clusters: int) -> int:
    # the kernel's own count: 4 bytes a row and center (elkan) or unit of 16 centers (yinyang)
    return int(_kernel.bound_bytes(algorithm, n_samples, n_clusters))


def _resolve_algorithm(algorithm: str, max_iter: int, n_samples: int, n_clusters: int) -> str:
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {algorithm!r}")
    if algorithm == "auto":
        # the bounds pay off from the second pass on; results are the same either way
        if max_iter == 1:
            return "lloyd"
        if (n_clusters >= AUTO_YINYANG_MIN_CLUSTERS
                and _bound_bytes("yinyang", n_samples, n_clusters) <= AUTO_BOUND_BYTES):
            return "yinyang"
        return "hamerly"
    if algorithm in ("elkan", "yinyang"):
        need = _bound_bytes(algorithm, n_samples, n_clusters)
        if need > MAX_BOUND_BYTES:
            shape = "n_clusters" if algorithm == "elkan" else "ceil(n_clusters / 16)"
            raise ValueError(
                f"algorithm={algorithm!r} needs n_samples * {shape} * 4 = {need / 2**30:.1f} GiB "
                f"of bounds (limit {MAX_BOUND_BYTES / 2**30:.0f} GiB); use 'hamerly' (8 bytes a "
                "row), which gives the same results"
            )
    return algorithm


def lloyd(
    X: np.ndarray,
    init_centers: np.ndarray,
    *,
    sample_weight: np.ndarray | None = None,
    max_iter: int = 300,
    tol: float = 0.0,
    n_threads: int | None = None,
    algorithm: str = "auto",
    record_history: bool = True,
    _schedule: str = "",
) -> RunResult:
    """One run of Lloyd's algorithm in the C++ kernel.

    X must come from :func:`as_float32_rows` (finiteness is not checked again) and
    init_centers must be float32 of shape (n_clusters, n_features); neither is modified.
    ``tol`` is absolute here (see :func:`absolute_tolerance`); 0 runs until no label changes.
    Ctrl-C interrupts the run between passes with KeyboardInterrupt.

    ``algorithm``: 'lloyd' scores every row against every center in every pass. The others
    skip scores that their triangle-inequality bounds prove cannot change a row's label, with
    margins for float32 rounding, so that they give the same labels, centers, objectives and
    n_iter as 'lloyd', bit for bit:

    * 'hamerly': one lower bound per row (8 bytes a row); skips whole rows. Best for small k.
    * 'yinyang': also one bound per row and unit of 16 nearby centers (k / 4 bytes a row);
      scores a row only against the units it cannot rule out. Best for large k.
    * 'elkan': one bound per row and center (4 k bytes a row). Slower than 'yinyang' here:
      its bounds are k times the memory traffic per row.
    * 'auto': chooses per pass between a full pass (as 'lloyd') and a pass of the bounds
      ('yinyang' from 48 clusters while its bounds fit in 64 MiB, else 'hamerly'), from what
      the run measures: full passes while many labels change (there the bounds settle few
      rows and cost more than they save), the bounds once the share of rows they would settle
      makes them cheaper (predicted from each row's margin in the last full pass and the
      drift of the centers), and back to full passes if a bounded pass is measured slower.
      Each full pass also starts the bounds of every row from its second nearest center.
      The choices depend on timings, the results never do. ``RunResult.pass_kinds`` says
      what each pass was.

    'yinyang' and 'elkan' are refused (ValueError) when their bounds would exceed 2 GiB.

    ``record_history=False`` leaves the per-iteration histories empty. The bounded algorithms
    can then skip the rows their bounds settle without reading them at all (when cluster sums
    are exact in float64, as for integer pixels, and without sample weights): 1.5x faster on
    MNIST at k = 20. Everything else is the same, bit for bit.
    """
    if not isinstance(max_iter, numbers.Integral) or max_iter < 1:
        raise ValueError(f"max_iter must be an integer >= 1, got {max_iter!r}")
    if not (isinstance(tol, numbers.Real) and tol >= 0):
        raise ValueError(f"tol must be a number >= 0, got {tol!r}")
    resolved = _resolve_algorithm(algorithm, max_iter, _n_rows(X), _n_rows(init_centers))
    out = _kernel.lloyd(
        X,
        init_centers,
        sample_weight,
        int(max_iter),
        float(tol),
        _resolve_threads(n_threads),
        resolved,
        bool(record_history),
        # _schedule (tests): 'f' (full) or 'b' (bounded) per pass, the last repeated
        (algorithm == "auto" or bool(_schedule)) and resolved != "lloyd",
        _schedule,
    )
    return RunResult(**out._asdict(), init_centers=init_centers)  # the same names


_HISTORY_ATTRIBUTES = ("history_", "j_clust_history_")


# ClassNamePrefixFeaturesOutMixin gives get_feature_names_out (kmeans0, kmeans1, ...), which
# TransformerMixin's set_output needs, so Pipeline(...).set_output(transform='pandas') works.
class KMeans(ClassNamePrefixFeaturesOutMixin, ClusterMixin, TransformerMixin, BaseEstimator):
    """K-means clustering with an exact, OpenMP-parallel C++ kernel.

    Parameters
    ----------
    n_clusters : int, default=8
        Number of clusters (k).
    init : {'k-means++', 'random'} or array-like of shape (n_clusters, n_features), \
default='k-means++'
        'random' picks n_clusters distinct rows uniformly (the course notebook's choice);
        'k-means++' is greedy k-means++; an array gives the initial centers (then n_init=1).
    n_init : 'auto' or int, default='auto'
        Restarts; the run with the lowest inertia is kept. 'auto': 10 for 'random', 1 otherwise.
    max_iter : int, default=300
        Maximum assignment passes per run.
    tol : float, default=0.0
        0 runs until no label changes (exact convergence). A positive value stops when the
        squared movement of the centers is below tol times the mean feature variance of X,
        as in scikit-learn.
    random_state : int, RandomState or Generator instance, or None, default=None
        Seeds the initialisation; the same int gives the same result. The restart seeds are
        derived from it once, as for :func:`mnist_kmeans.study.run_study` (see :meth:`fit`).
    n_threads : int or None, default=None
        Kernel threads; None follows OpenMP (OMP_NUM_THREADS, threadpoolctl). Results do not
        depend on it.
    algorithm : {'auto', 'lloyd', 'hamerly', 'yinyang', 'elkan'}, default='auto'
        'lloyd' scores every row against every center in every pass; 'hamerly', 'yinyang' and
        'elkan' skip the scores their bounds prove useless (with margins for float32 rounding)
        and give the same results bit for bit; 'auto' chooses per pass between full passes
        (while many labels change) and the bounds ('hamerly' below 48 clusters, 'yinyang'
        from 48), from what the run measures (see :func:`lloyd`).
    record_history : bool, default=False
        Keep the objectives after every iteration of the kept run (``history_`` and
        ``j_clust_history_``). Off by default, as scikit-learn has no history and it costs:
        every pass of a run with a history must read every row, where the bounded algorithms
        otherwise settle most rows without reading them; on MNIST 60k (k = 10 and 20) a fit
        with a history takes about twice as long. With ``n_init > 1`` the kept run is run
        again to record it. When off, reading ``history_`` raises ``AttributeError`` naming
        this parameter. (:func:`mnist_kmeans.study.run_study` records the histories it plots.)
    copy_x : bool, default=True
        Accepted for compatibility with scikit-learn and has no effect: X is never modified
        (scikit-learn may centre X in place when copy_x=False; we always work on a float32
        copy or a read-only view).

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_clusters, n_features), float32
    labels_ : ndarray of shape (n_samples,), int32
    inertia_ : float
        Sum of (weighted) squared distances of the rows to their centers.
    j_clust_ : float
        Sum of (weighted) distances (the course notebook's J_clust).
    n_iter_ : int
    n_features_in_ : int
    history_ : ndarray of shape (n_iter_,)
        Inertia after each assignment pass of the kept run (only with ``record_history=True``).
    j_clust_history_ : ndarray of shape (n_iter_,)
        J_clust likewise (only with ``record_history=True``).
    sq_distances_ : ndarray of shape (n_samples,), float32
        Squared distance of each training row to its center.
    restarts_ : list of RestartSummary
        Every restart: seed, final inertia and J_clust, iterations, convergence, relocations,
        wall time.
    best_restart_ : int
        Index into restarts_ of the kept run.

    Notes
    -----
    Data are converted once to float32 (distances in float32, sums and objectives in
    float64). Empty clusters are moved to the row farthest from its center.
    """

    _parameter_constraints: dict = {
        "n_clusters": [Interval(numbers.Integral, 1, None, closed="left")],
        "init": [StrOptions(set(INIT_METHODS)), "array-like"],
        "n_init": [StrOptions({"auto"}), Interval(numbers.Integral, 1, None, closed="left")],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "tol": [Interval(numbers.Real, 0, None, closed="left")],
        "random_state": ["random_state", np.random.Generator],
        "n_threads": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "algorithm": [StrOptions(set(ALGORITHMS))],
        "record_history": ["boolean"],
        "copy_x": ["boolean"],
    }

    @property
    def _n_features_out(self) -> int:
        """Number of transform() columns, one per center (used by get_feature_names_out)."""
        return self.cluster_centers_.shape[0]

    def __init__(
        self,
        n_clusters: int = 8,
        *,
        init: str | np.ndarray = "k-means++",
        n_init: str | int = "auto",
        max_iter: int = 300,
        tol: float = 0.0,
        random_state: Any = None,
        n_threads: int | None = None,
        algorithm: str = "auto",
        record_history: bool = False,
        copy_x: bool = True,
    ) -> None:
        self.n_clusters = n_clusters
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.n_threads = n_threads
        self.algorithm = algorithm
        self.copy_x = copy_x
        self.record_history = record_history

    def __getattr__(self, name: str) -> Any:
        # Only reached for attributes that are not set: say why a history is missing.
        if name in _HISTORY_ATTRIBUTES and "cluster_centers_" in self.__dict__:
            raise AttributeError(
                f"{name} is recorded only with record_history=True; this KMeans was fitted "
                "with record_history=False"
            )
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def _validate_X(self, X: Any, reset: bool) -> np.ndarray:
        # Strings and complex are refused up front with our messages (check_array would try
        # to convert numeric strings).
        if not hasattr(X, "__sklearn_tags__"):
            check_numeric_kind(X, "X")
        with np.errstate(over="ignore"):  # float64 beyond float32 becomes inf, refused there
            X = validate_data(self, X, dtype=np.float32, order="C", reset=reset)
        # validate_data refused NaN and inf; the float32 limit of the squared distances is ours
        check_float32_range(X)
        return X

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> "KMeans":
        """Compute the clustering.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; the sum must be positive.

        Notes
        -----
        Restart ``i`` starts from the centers of seed ``i`` of
        :func:`mnist_kmeans.restarts.restart_seeds`, derived once from ``random_state``
        (:func:`mnist_kmeans.restarts.seed_entropy`): the same seeds as
        :func:`mnist_kmeans.study.run_study` with the same ``random_state``. (Before version
        0.2 the seeds were drawn with ``RandomState.randint``: results of ``n_init > 1`` for a
        given ``random_state`` differ from those of earlier versions.)
        """
        # Everything is validated here, once; run_restarts and lloyd's callers below trust it.
        X = self._validate_X(X, reset=True)
        n_samples, n_features = X.shape
        n_clusters = check_n_clusters(self.n_clusters, n_samples)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64)
        weights = check_sample_weight(sample_weight, n_samples)
        init = self.init
        if isinstance(init, str):
            n_init = (10 if init == "random" else 1) if self.n_init == "auto" else self.n_init
            check_enough_weighted_samples(weights, n_clusters)
        else:
            init = check_init_centers(init, n_clusters, n_features)
            if self.n_init != "auto" and self.n_init != 1:
                # as scikit-learn: one given start cannot be restarted, say so rather than ignore
                warnings.warn(
                    "Explicit initial center position passed: performing only one init in "
                    f"KMeans instead of n_init={self.n_init}.",
                    RuntimeWarning,
                    stacklevel=3,
                )
            n_init = 1
        run = functools.partial(
            lloyd,
            X,
            sample_weight=weights,
            max_iter=self.max_iter,
            tol=absolute_tolerance(X, self.tol),
            n_threads=self.n_threads,
            algorithm=self.algorithm,
        )
        restarts = run_restarts(
            run,
            X,
            n_clusters,
            n_init,
            init=init,
            entropy=seed_entropy(self.random_state),
            sample_weight=weights,
            objective="inertia",
            record_history=self.record_history,
        )
        best = restarts.best
        self.cluster_centers_ = best.centers
        self.labels_ = best.labels
        self.sq_distances_ = best.sq_distances
        self.inertia_ = best.inertia
        self.j_clust_ = best.j_clust
        self.n_iter_ = best.n_iter
        for name in _HISTORY_ATTRIBUTES:  # never a history left from an earlier fit
            self.__dict__.pop(name, None)
        if self.record_history:
            self.history_ = best.inertia_history
            self.j_clust_history_ = best.j_clust_history
        self.restarts_ = list(restarts.summaries)
        self.best_restart_ = restarts.best_index
        return self

    def _assign(self, X: Any, sample_weight: Any = None) -> tuple[np.ndarray, np.ndarray, float]:
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        weights = check_sample_weight(sample_weight, X.shape[0])
        threads = _resolve_threads(self.n_threads)
        out = _kernel.assign(X, self.cluster_centers_, weights, False, threads)
        return out.labels, out.sq_distances, out.inertia

    def predict(self, X: Any) -> np.ndarray:
        """Index of the nearest center of each row, ndarray of shape (n_samples,), int32."""
        return self._assign(X)[0]

    def transform(self, X: Any) -> np.ndarray:
        """Distances to every center, ndarray of shape (n_samples, n_clusters)."""
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        return euclidean_distances(X, self.cluster_centers_)

    def score(self, X: Any, y: Any = None, sample_weight: Any = None) -> float:
        """Opposite of the (weighted) inertia of X on the fitted centers."""
        return -float(self._assign(X, sample_weight)[2])

    def __sklearn_tags__(self):  # noqa: D105 - scikit-learn protocol
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags
