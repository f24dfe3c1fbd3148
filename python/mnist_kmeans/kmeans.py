"""The k-means estimator, scikit-learn style, on top of the C++ kernel.

Data handling, once per fit: X is validated (2-D, not empty, numeric, finite) and converted to
C-contiguous rows of the dtype the kernel computes in (:func:`kernel_dtype`): float64 input
(and integers wider than 16 bits) in float64, everything else (float32, 8- and 16-bit integer
pixels) in float32, the fast path. A C-contiguous array of that dtype is used as it is (no
copy; float32 is never widened to float64); other input is converted once, into a new array.
User arrays (X, init, sample_weight) are never modified.

Layers:

* :func:`as_float_rows` (from :mod:`mnist_kmeans._validation`) - validation and the one
  conversion (:func:`as_float32_rows` for float32 always);
* :func:`initial_centers` (from :mod:`mnist_kmeans.initialization`) - 'random', greedy
  'k-means++', a callable, or a given array;
* :func:`lloyd` - one run of Lloyd's algorithm in the kernel, from given centers, returning a
  :class:`RunResult`; :func:`lloyd_by_pass` - the same run as a Python loop of passes and
  steps, with a callback after each pass (what ``KMeans(verbose=1)`` prints from);
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
from collections.abc import Callable
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
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics.pairwise import euclidean_distances
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from . import _kernel, _sparse
from ._validation import (
    check_numeric_kind,
    as_float32_rows,
    as_float_rows,
    check_enough_weighted_samples,
    check_float_range,
    check_init_centers,
    check_n_clusters,
    check_sample_weight,
    kernel_dtype,
    kernel_dtype_of,
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
    "as_float_rows",
    "check_sample_weight",
    "kernel_dtype",
    "initial_centers",
    "lloyd",
    "lloyd_by_pass",
    "absolute_tolerance",
]


@dataclass(frozen=True)
class RunResult:
    """One Lloyd run from one set of initial centers.

    Attributes
    ----------
    centers : ndarray of shape (n_clusters, n_features), float32 or float64 (X's dtype)
    labels : ndarray of shape (n_samples,), int32
    sq_distances : ndarray of shape (n_samples,), float32 or float64 (X's dtype)
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
    init_centers : ndarray of shape (n_clusters, n_features), X's dtype
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
    if _sparse.issparse(X):
        return _sparse.csr_absolute_tolerance(X, tol)
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
    sq_distances : ndarray of shape (n_samples,), X's dtype (float32 or float64)
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

    X must come from :func:`as_float_rows` (float32 or float64) and centers have X's dtype and
    shape (n_clusters, n_features); float64 is computed in float64. Summing ``sums`` and ``weight_sums`` over the chunks of a larger
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


def shared_row_facts(
    X: Any, algorithm: str, max_iter: int, n_clusters: int, n_threads: int | None
) -> _kernel.RowFacts | None:
    """What the bounded passes need of X's rows (|x|^2, whether sums of rows are exact), for
    several :func:`lloyd` runs of ``algorithm`` on the same X (``row_facts=``): computed once,
    in one read of X, instead of once per run (30 ms on MNIST 60k with AVX2; a k = 5 run takes
    about 0.5 s). None where the runs would not use them: 'lloyd', float64 or sparse X.
    X must not change while the runs use them."""
    if not (isinstance(X, np.ndarray) and X.dtype == np.float32 and X.ndim == 2):
        return None
    if _resolve_algorithm(algorithm, max_iter, _n_rows(X), n_clusters) == "lloyd":
        return None
    return _kernel.RowFacts(X, _resolve_threads(n_threads))


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
    control: np.ndarray | None = None,
    row_facts: _kernel.RowFacts | None = None,
    _schedule: str = "",
) -> RunResult:
    """One run of Lloyd's algorithm in the C++ kernel.

    X must come from :func:`as_float_rows` (finiteness is not checked again) and
    init_centers must have X's dtype (float32 or float64) and shape (n_clusters, n_features);
    neither is modified. float64 X is computed in float64 (centers and distances float64).
    ``tol`` is absolute here (see :func:`absolute_tolerance`); 0 runs until no label changes
    or no center moves (scikit-learn's rule).
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

    On float64 X every algorithm runs as 'lloyd' passes (the float64 kernel has no bounds):
    the results are those of the algorithm asked for, since they are the same bit for bit, and
    ``rows_scored`` is n_samples in every pass.

    ``record_history=False`` leaves the per-iteration histories empty. The bounded algorithms
    can then skip the rows their bounds settle without reading them at all (when cluster sums
    are exact in float64, as for integer pixels, and without sample weights): 1.5x faster on
    MNIST at k = 20. Everything else is the same, bit for bit.

    X may also be canonical float32 CSR from :func:`mnist_kmeans._sparse.as_float32_csr`:
    then every ``algorithm`` runs Lloyd passes over the sparse rows (same labels, centers and
    n_iter as on the dense rows; see :mod:`mnist_kmeans._sparse`); ``control`` is not read
    there (a sparse fit runs its restarts one at a time).

    ``control``: None, or an int32 array ``[stop, threads]`` that another thread may write while
    the run goes on, read between passes: ``stop`` nonzero ends the run before its next pass
    with KeyboardInterrupt (Ctrl-C reaches only the main thread), ``threads > 0`` is the thread
    count of the next passes (results do not depend on it).
    :func:`mnist_kmeans.restarts.run_jobs` drives the runs of its worker threads so.

    ``row_facts``: None, or :func:`shared_row_facts` of this very X, for several runs on it (the
    bounded algorithms' |x|^2 per row, one read of X, then computed once instead of per run).
    Results do not depend on it.
    """
    if not isinstance(max_iter, numbers.Integral) or max_iter < 1:
        raise ValueError(f"max_iter must be an integer >= 1, got {max_iter!r}")
    if not (isinstance(tol, numbers.Real) and tol >= 0):
        raise ValueError(f"tol must be a number >= 0, got {tol!r}")
    if _sparse.issparse(X):
        if algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {algorithm!r}")
        out = _sparse.lloyd_csr(X, init_centers, sample_weight, int(max_iter), float(tol),
                                _resolve_threads(n_threads), bool(record_history))
        return RunResult(**out._asdict(), init_centers=init_centers)
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
        control,
        # _schedule (tests): 'f' (full) or 'b' (bounded) per pass, the last repeated
        (algorithm == "auto" or bool(_schedule)) and resolved != "lloyd",
        _schedule,
        row_facts,
    )
    return RunResult(**out._asdict(), init_centers=init_centers)  # the same names


#: ``on_pass(iteration, pass_result, step)``: called by :func:`lloyd_by_pass` after each
#: counted pass (iteration 1, 2, ...) with that pass and the step that followed it.
PassCallback = Callable[[int, PassResult, StepResult], None]


def lloyd_by_pass(
    X: np.ndarray,
    init_centers: np.ndarray,
    *,
    sample_weight: np.ndarray | None = None,
    max_iter: int = 300,
    tol: float = 0.0,
    n_threads: int | None = None,
    on_pass: PassCallback | None = None,
) -> RunResult:
    """The run of :func:`lloyd` as a Python loop of :func:`assign_pass` and
    :func:`lloyd_step`, calling ``on_pass`` after every pass.

    The same results as ``lloyd(..., algorithm='lloyd')`` (and so as every algorithm), bit for
    bit: labels, centers, distances, both objectives and their histories (always recorded),
    n_iter, convergence and relocations (the loop of :mod:`mnist_kmeans.step`, checked in
    tests/test_step.py). Every pass scores every row, so it is slower than the bounded
    algorithms; it is for callers that watch a run as it goes (``KMeans(verbose=1)``).
    Inputs as for :func:`lloyd`.

    ``on_pass(iteration, p, step)`` gets the 1-based iteration, the :class:`PassResult` (its
    ``inertia`` is the history entry) and the :class:`StepResult` after it (``step.converged``
    without ``step.final_pass``: a fixed point; with it: the shift was within tol; only
    ``final_pass``: max_iter reached).
    """
    if not isinstance(max_iter, numbers.Integral) or max_iter < 1:
        raise ValueError(f"max_iter must be an integer >= 1, got {max_iter!r}")
    if not (isinstance(tol, numbers.Real) and tol >= 0):
        raise ValueError(f"tol must be a number >= 0, got {tol!r}")
    centers = init_centers
    previous: np.ndarray | None = None
    relocated_last = False
    history: list[float] = []
    j_history: list[float] = []
    n_relocated = 0
    for iteration in range(1, int(max_iter) + 1):
        p = assign_pass(X, centers, sample_weight=sample_weight, n_threads=n_threads,
                        previous_labels=previous)
        history.append(p.inertia)
        j_history.append(p.j_clust)

        def candidates(wanted: int | None, p: PassResult = p) -> RelocationCandidates:
            return relocation_candidates(X, p.labels, p.sq_distances, sample_weight, limit=wanted)

        step = lloyd_step(centers, p.sums, p.weight_sums, n_changed=p.n_changed,
                          iteration=iteration, max_iter=max_iter, tol=tol,
                          relocated_last=relocated_last, candidates=candidates)
        if on_pass is not None:
            on_pass(iteration, p, step)
        if step.converged and not step.final_pass:
            final, converged = p, True  # a fixed point: this pass's outputs are final
            break
        labels = p.labels.copy()
        labels[step.moved_rows] = step.moved_to
        n_relocated += step.n_relocated
        previous, relocated_last, centers = labels, step.n_relocated > 0, step.centers
        if step.final_pass:  # one more assignment (not counted) describes the new centers
            final = assign_pass(X, centers, sample_weight=sample_weight, n_threads=n_threads)
            converged = step.converged
            break
    n_iter = len(history)
    return RunResult(
        centers=centers,
        labels=final.labels,
        sq_distances=final.sq_distances,
        inertia_history=np.array(history, dtype=np.float64),
        j_clust_history=np.array(j_history, dtype=np.float64),
        inertia=final.inertia,
        j_clust=final.j_clust,
        n_iter=n_iter,
        converged=converged,
        n_relocated=n_relocated,
        init_centers=init_centers,
        rows_scored=np.full(n_iter, len(X), dtype=np.int64),
    )


def _verbose_run(
    X: np.ndarray, init_centers: np.ndarray, *, record_history: bool, tol: float, **kwargs: Any
) -> RunResult:
    """One restart of ``KMeans(verbose > 0)``, printing its progress as scikit-learn does.

    The one place outside cli.py that prints: only when the user asks for it with ``verbose``,
    a scikit-learn parameter whose contract is output on stdout (library code stays silent at
    the default verbose=0). The lines and their numbering (iterations from 0) are
    scikit-learn's. The histories are always recorded (``record_history`` is ignored).
    """
    del record_history
    kwargs.pop("control", None)  # one run at a time (KMeans.fit): nobody writes it
    print("Initialization complete")

    def report(iteration: int, p: PassResult, step: StepResult) -> None:
        i = iteration - 1
        print(f"Iteration {i}, inertia {p.inertia}.")
        if step.converged and not step.final_pass:
            print(f"Converged at iteration {i}: strict convergence.")
        elif step.converged:
            print(f"Converged at iteration {i}: center shift {step.shift} within tolerance {tol}.")

    return lloyd_by_pass(X, init_centers, tol=tol, on_pass=report, **kwargs)


_HISTORY_ATTRIBUTES = ("history_", "j_clust_history_")


def missing_attribute(estimator: Any, name: str) -> AttributeError:
    """The error of an estimator's ``__getattr__`` (only reached for attributes that are not
    set): it says why a history is missing after a fit with ``record_history=False``."""
    if name in _HISTORY_ATTRIBUTES and "cluster_centers_" in estimator.__dict__:
        return AttributeError(
            f"{name} is recorded only with record_history=True; this KMeans was fitted "
            "with record_history=False"
        )
    return AttributeError(f"{type(estimator).__name__!r} object has no attribute {name!r}")


# ClassNamePrefixFeaturesOutMixin gives get_feature_names_out (kmeans0, kmeans1, ...), which
# TransformerMixin's set_output needs, so Pipeline(...).set_output(transform='pandas') works.
class KMeans(ClassNamePrefixFeaturesOutMixin, ClusterMixin, TransformerMixin, BaseEstimator):
    """K-means clustering with an exact, OpenMP-parallel C++ kernel.

    Parameters
    ----------
    n_clusters : int, default=8
        Number of clusters (k).
    init : {'k-means++', 'random'}, callable or array-like of shape (n_clusters, n_features), \
default='k-means++'
        'random' picks n_clusters distinct rows uniformly (the course notebook's choice);
        'k-means++' is greedy k-means++; an array gives the initial centers (then n_init=1).
        A callable, as in scikit-learn, is called as ``init(X, n_clusters, random_state=rng)``
        once per restart with that restart's ``RandomState`` and returns the centers (checked
        as an array init is). It gets X as converted for the fit (float32 rows, read-only),
        where scikit-learn passes its mean-centred copy: return centers in X's coordinates.
    n_init : 'auto' or int, default='auto'
        Restarts; the run with the lowest inertia is kept. 'auto': 10 for 'random' and a
        callable (as scikit-learn), 1 otherwise.
    max_iter : int, default=300
        Maximum assignment passes per run.
    tol : float, default=0.0
        0 runs until no label changes or no center moves (exact convergence; n_iter_ as in
        scikit-learn). A positive value stops when the squared movement of the centers is
        at most tol times the mean feature variance of X, as in scikit-learn.
    verbose : int, default=0
        Above 0, print scikit-learn's progress lines to stdout: "Initialization complete"
        for each restart, "Iteration i, inertia x." after each pass, and how the run
        converged. The runs are then driven pass by pass from Python (:func:`lloyd_by_pass`:
        the same results bit for bit, but every pass scores every row, whatever
        ``algorithm``). At 0 (the default) the estimator prints nothing.
    random_state : int, RandomState or Generator instance, or None, default=None
        Seeds the initialisation; the same int gives the same result. The restart seeds are
        derived from it once, as for :func:`mnist_kmeans.study.run_study` (see :meth:`fit`).
    n_threads : int or None, default=None
        Kernel threads; None follows OpenMP (OMP_NUM_THREADS, threadpoolctl). With
        ``n_init > 1``, several restarts run at once on fewer threads each, never more than
        n_threads in all (see :mod:`mnist_kmeans.restarts`). Results do not depend on it.
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
        (scikit-learn may centre X in place when copy_x=False; we always work on a converted
        copy or a read-only view).

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_clusters, n_features), float32 or float64
        float64 when the fit computed in float64 (see Notes), float32 otherwise.
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
    sq_distances_ : ndarray of shape (n_samples,), float32 or float64
        Squared distance of each training row to its center (the dtype of cluster_centers_).
    restarts_ : list of RestartSummary
        Every restart: seed, final inertia and J_clust, iterations, convergence, relocations,
        wall time.
    best_restart_ : int
        Index into restarts_ of the kept run.

    Warns
    -----
    ConvergenceWarning
        When the kept run has fewer distinct labels than n_clusters (more clusters than
        distinct points: some clusters stay empty), with scikit-learn's message.
    RuntimeWarning
        When n_init > 1 is ignored because init is an array.

    Notes
    -----
    What each dtype of X gets (converted once; no copy when X is already C-contiguous in
    that dtype):

    * float64 (and object arrays, Python floats, integers wider than 16 bits: int32, int64,
      uint32, uint64) is computed in float64, as scikit-learn does: ``cluster_centers_``,
      ``sq_distances_`` and ``transform`` are float64. Every ``algorithm`` then runs as Lloyd
      passes (same results: the algorithms agree bit for bit).
    * float32, float16, bool and 8- and 16-bit integers (MNIST's uint8 pixels), which float32
      holds exactly, are computed in float32 (distances in float32, sums and objectives in
      float64), the fast path: ``cluster_centers_`` is float32. scikit-learn computes
      integers of every width in float64; the uint8 pixels this package is made for keep
      the float32 kernel here (their sums are exact either way).

    ``predict``, ``score`` and ``fit_predict`` on data of another dtype than the fit's compute
    in the new data's dtype, with the centers converted to it (float32 centers widen exactly;
    float64 centers are rounded to float32 for float32 data); X is never converted to the
    fit's dtype. ``transform`` returns float64 when X or the centers are float64, as
    scikit-learn's ``euclidean_distances``. (scikit-learn 1.9 raises for predict and score
    with mixed dtypes.)

    Empty clusters are moved to the row farthest from its center.

    Sparse X (SciPy CSR; computed in float32 whatever its dtype, or CSC, COO, ... converted to CSR once) is never made dense; on the
    same data it gives the labels, ``n_iter_`` and centers of dense X, with inertia and
    distances within float32 rounding (float32 centers). Unsorted or duplicate indices are sorted and summed on
    a copy (scikit-learn keeps them). Every ``algorithm`` runs Lloyd passes on sparse X. See
    :mod:`mnist_kmeans._sparse`.
    """

    _parameter_constraints: dict = {
        "n_clusters": [Interval(numbers.Integral, 1, None, closed="left")],
        "init": [StrOptions(set(INIT_METHODS)), callable, "array-like"],
        "n_init": [StrOptions({"auto"}), Interval(numbers.Integral, 1, None, closed="left")],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "tol": [Interval(numbers.Real, 0, None, closed="left")],
        "verbose": ["verbose"],
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
        init: str | np.ndarray | Callable[..., Any] = "k-means++",
        n_init: str | int = "auto",
        max_iter: int = 300,
        tol: float = 0.0,
        verbose: int = 0,
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
        self.verbose = verbose
        self.random_state = random_state
        self.n_threads = n_threads
        self.algorithm = algorithm
        self.copy_x = copy_x
        self.record_history = record_history

    def __getattr__(self, name: str) -> Any:
        raise missing_attribute(self, name)

    def _validate_X(self, X: Any, reset: bool) -> Any:
        # Strings and complex are refused up front with our messages (check_array would try
        # to convert numeric strings).
        if not hasattr(X, "__sklearn_tags__"):
            check_numeric_kind(X, "X")
        if _sparse.issparse(X):
            # canonical float32 CSR (a copy only when needed), never densified
            X = _sparse.as_float32_csr(X)
            X = validate_data(self, X, accept_sparse="csr", dtype=np.float32, reset=reset)
            _sparse.check_csr_values(X)
            return X
        if not hasattr(X, "dtype") and not hasattr(X, "dtypes"):
            X = np.asarray(X)  # a list: converted once, its dtype decides the kernel's
        # float64 in float64, integer pixels in float32 (see the class Notes)
        dtype = kernel_dtype_of(X)
        with np.errstate(over="ignore"):  # beyond float32 becomes inf, refused there
            X = validate_data(self, X, dtype=dtype, order="C", reset=reset)
        # validate_data refused NaN and inf; the limit of the squared distances is ours
        check_float_range(X)
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
        elif callable(init):  # scikit-learn's default for a callable: 10 restarts
            n_init = 10 if self.n_init == "auto" else self.n_init
        else:
            init = check_init_centers(init, n_clusters, n_features, dtype=X.dtype)
            if self.n_init != "auto" and self.n_init != 1:
                # as scikit-learn: one given start cannot be restarted, say so rather than ignore
                warnings.warn(
                    "Explicit initial center position passed: performing only one init in "
                    f"KMeans instead of n_init={self.n_init}.",
                    RuntimeWarning,
                    stacklevel=3,
                )
            n_init = 1
        algorithm = _resolve_algorithm(self.algorithm, self.max_iter, n_samples, n_clusters)
        run_options: dict[str, Any] = dict(
            sample_weight=weights,
            max_iter=self.max_iter,
            tol=absolute_tolerance(X, self.tol),
            n_threads=self.n_threads,
        )
        if self.verbose:
            # pass by pass, printing; every run has its history, so none is run again (which
            # would print it twice); one run at a time, so that the lines do not interleave.
            run = functools.partial(_verbose_run, X, **run_options)
            rerun_for_history = False
            max_parallel: int | None = 1
        else:
            facts = (shared_row_facts(X, self.algorithm, self.max_iter, n_clusters, self.n_threads)
                     if n_init > 1 else None)  # one read of X for every restart
            run = functools.partial(lloyd, X, algorithm=self.algorithm, row_facts=facts,
                                    **run_options)
            rerun_for_history = self.record_history
            # several runs at once only while each one's bounds are small next to X; a sparse
            # run does not read the control cells (see lloyd): one at a time
            small = _bound_bytes(algorithm, n_samples, n_clusters) <= AUTO_BOUND_BYTES
            max_parallel = None if small and not _sparse.issparse(X) else 1
        restarts = run_restarts(
            run,
            X,
            n_clusters,
            n_init,
            init=init,
            entropy=seed_entropy(self.random_state),
            sample_weight=weights,
            objective="inertia",
            record_history=rerun_for_history,
            n_threads=self.n_threads,
            max_parallel=max_parallel,
        )
        best = restarts.best
        distinct = int(np.count_nonzero(np.bincount(best.labels, minlength=n_clusters)))
        if distinct < n_clusters:
            # as scikit-learn: more clusters than distinct points leaves some empty
            warnings.warn(
                f"Number of distinct clusters ({distinct}) found smaller than n_clusters "
                f"({n_clusters}). Possibly due to duplicate points in X.",
                ConvergenceWarning,
                stacklevel=3,
            )
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
        if _sparse.issparse(X):  # float32 CSR: float32 centers (a k x d conversion at most)
            centers = np.ascontiguousarray(self.cluster_centers_, dtype=np.float32)
            out = _sparse.assign_csr(X, centers, weights, False, threads)
        else:
            # computed in X's dtype: centers of another dtype are converted (k x d), X never
            centers = np.ascontiguousarray(self.cluster_centers_, dtype=X.dtype)
            out = _kernel.assign(X, centers, weights, False, threads)
        return out.labels, out.sq_distances, out.inertia

    def predict(self, X: Any) -> np.ndarray:
        """Index of the nearest center of each row, ndarray of shape (n_samples,), int32."""
        return self._assign(X)[0]

    def transform(self, X: Any) -> np.ndarray:
        """Distances to every center, ndarray of shape (n_samples, n_clusters).

        float64 when X (as converted, see the class Notes) or the centers are float64, float32
        otherwise (scikit-learn's ``euclidean_distances``).
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        return euclidean_distances(X, self.cluster_centers_)

    def score(self, X: Any, y: Any = None, sample_weight: Any = None) -> float:
        """Opposite of the (weighted) inertia of X on the fitted centers."""
        return -float(self._assign(X, sample_weight)[2])

    def __sklearn_tags__(self):  # noqa: D105 - scikit-learn protocol
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = True  # CSR, CSC, COO, ... (see _sparse.py)
        return tags
