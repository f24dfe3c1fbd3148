"""Type stub of the compiled kernel (cpp/bindings.cpp). Private: use mnist_kmeans.kmeans."""

import numpy as np

chunk_rows: int

def assign(
    X: np.ndarray,
    centers: np.ndarray,
    sample_weight: np.ndarray | None = None,
    accumulate: bool = True,
    n_threads: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None, float, float]: ...
def lloyd(
    X: np.ndarray,
    init: np.ndarray,
    sample_weight: np.ndarray | None = None,
    max_iter: int = 300,
    tol: float = 0.0,
    n_threads: int = 0,
    algorithm: str = "lloyd",
) -> dict[str, object]: ...
def has_openmp() -> bool: ...
def max_threads() -> int: ...
def available_isas() -> list[str]: ...
def current_isa() -> str: ...
def set_isa(name: str) -> None: ...
def exact_sums(X: np.ndarray) -> bool: ...
