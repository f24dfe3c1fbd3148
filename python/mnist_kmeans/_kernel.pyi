"""Type stub of the compiled kernel (cpp/bindings.cpp). Private: use mnist_kmeans.kmeans.

Inputs must be C-contiguous float32 (X, centers), or float64 for both (then computed in float64:
distances and centers come back float64), and float64 (sample_weight, sums); the kernel checks
dtypes and shapes only, never modifies its inputs, and returns NamedTuples.
"""

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

chunk_rows: int  # rows per chunk: the unit of parallel work and of the fixed-order sums (512)
unit_centers: int  # centers per unit of Yinyang's bounds (16)

class PassOutput(NamedTuple):
    labels: np.ndarray  # (n,) int32
    sq_distances: np.ndarray  # (n,) X's dtype (float32 or float64)
    sums: np.ndarray | None  # (k, d) float64, None unless accumulate
    weight_sums: np.ndarray | None  # (k,) float64, None unless accumulate
    inertia: float
    j_clust: float
    chunk_inertia: np.ndarray  # (ceil(n / chunk_rows),) float64
    chunk_j_clust: np.ndarray  # (ceil(n / chunk_rows),) float64
    n_changed: int  # rows whose label differs from previous_labels (n without them)

class RunOutput(NamedTuple):
    centers: np.ndarray  # (k, d) X's dtype (float32 or float64)
    labels: np.ndarray  # (n,) int32
    sq_distances: np.ndarray  # (n,) X's dtype
    inertia_history: np.ndarray  # (n_iter,) float64, empty without record_history
    j_clust_history: np.ndarray  # (n_iter,) float64, empty without record_history
    inertia: float
    j_clust: float
    n_iter: int
    converged: bool
    n_relocated: int
    rows_scored: np.ndarray  # (n_iter,) int64
    pass_kinds: str  # one letter per pass: 'L' full, 'H', 'Y', 'E' bounded
    pass_seconds: np.ndarray  # (n_iter,) float64, wall-clock

class StepOutput(NamedTuple):
    centers: np.ndarray  # (k, d) the given centers' dtype (float32 or float64)
    sums: np.ndarray  # (k, d) float64, after the relocations
    weight_sums: np.ndarray  # (k,) float64, after the relocations
    shift: float
    moved_rows: np.ndarray  # (n_relocated,) int64
    moved_from: np.ndarray  # (n_relocated,) int32
    moved_to: np.ndarray  # (n_relocated,) int32
    n_relocated: int
    converged: bool
    final_pass: bool
    candidates_exhausted: bool

# (rows int64, labels int32, weights float64 or None, X (m, d) of the centers' dtype, complete)
_CandidateTuple = tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray, bool]

def assign(
    X: np.ndarray,
    centers: np.ndarray,
    sample_weight: np.ndarray | None = None,
    accumulate: bool = True,
    n_threads: int = 0,
    previous_labels: np.ndarray | None = None,
) -> PassOutput: ...
def lloyd(
    X: np.ndarray,
    init: np.ndarray,
    sample_weight: np.ndarray | None = None,
    max_iter: int = 300,
    tol: float = 0.0,
    n_threads: int = 0,
    algorithm: str = "lloyd",
    record_history: bool = True,
    control: np.ndarray | None = None,
    adaptive: bool = False,
    schedule: str = "",
    row_facts: RowFacts | None = None,
) -> RunOutput: ...

class RowFacts:
    """|x|^2 per row and the exact-sums test of one float32 X, shared by several runs on it."""

    def __init__(self, X: np.ndarray, n_threads: int = 0) -> None: ...
    @property
    def exact_sums(self) -> bool: ...
    @property
    def x_sqnorm(self) -> np.ndarray: ...  # (n,) float64, rounded down

def assign_sparse(
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    n_features: int,
    centers: np.ndarray,
    sample_weight: np.ndarray | None = None,
    accumulate: bool = True,
    n_threads: int = 0,
) -> PassOutput: ...
def lloyd_sparse(
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    n_features: int,
    init: np.ndarray,
    sample_weight: np.ndarray | None = None,
    max_iter: int = 300,
    tol: float = 0.0,
    n_threads: int = 0,
    record_history: bool = True,
) -> RunOutput: ...
def lloyd_step(
    centers: np.ndarray,
    sums: np.ndarray,
    weight_sums: np.ndarray,
    n_changed: int,
    relocated_last: bool,
    iteration: int,
    max_iter: int,
    tol: float,
    candidates: _CandidateTuple | Callable[[int], _CandidateTuple] | None = None,
) -> StepOutput: ...
def relocation_candidates(
    sq_distances: np.ndarray,
    sample_weight: np.ndarray | None = None,
    limit: int | None = None,
) -> np.ndarray: ...  # (m,) int64
def exact_sums(X: np.ndarray) -> bool: ...
def bound_bytes(algorithm: str, n: int, k: int) -> int: ...
def has_openmp() -> bool: ...
def max_threads() -> int: ...
def available_isas() -> list[str]: ...
def current_isa() -> str: ...
def set_isa(name: str) -> None: ...
