"""Sparse input (SciPy CSR, CSC, COO, ...): validation, the one conversion, and the kernel calls.

A sparse X is converted once to canonical CSR with float32 values (see :func:`as_float32_csr`)
and never densified: the kernel's sparse pass (cpp/kmeans/sparse.hpp) reads the row offsets,
column indices and values. On the same data it gives the labels, ``n_iter_`` and centers of
the dense path bit for bit, and distances and objectives within float32 rounding (the
distance to a center is |x|^2 - 2 x.c + |c|^2 in float64 rather than a float32 sum over every
column; see cpp/kmeans/sparse_chunk.hpp).

Differences from scikit-learn, which also accepts CSR:

* Unsorted column indices and duplicate entries are not an error: they are sorted and summed
  (in the input's dtype, as ``X.toarray()`` would) on a copy; the user's matrix is never
  modified. The kernel needs sorted indices (the order of the float32 sums defines the
  scores).
* Every ``algorithm`` runs Lloyd passes on sparse input: the bounded algorithms would give the
  same results by design, and their kernels read dense rows.
* Values are float32 whatever the input dtype (as for dense input today; float64 CSR is
  computed in float32).

Where the two paths may differ: an empty cluster takes the row farthest from its center by
the pass's distances, which round differently; if two candidates are within float32 rounding
of each other, the sparse and dense runs may relocate different rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from . import _kernel
from ._validation import check_value_range

__all__ = [
    "MAX_FEATURES",
    "as_float32_csr",
    "assign_csr",
    "csr_absolute_tolerance",
    "dot_with_rows",
    "issparse",
    "lloyd_csr",
    "row_sq_norms",
    "take_rows",
]

#: The most columns a sparse X may have: the kernel's column indices are int32.
MAX_FEATURES = np.iinfo(np.int32).max


def issparse(X: Any) -> bool:
    """True for a SciPy sparse matrix or array."""
    return sp.issparse(X)


def as_float32_csr(X: Any, *, name: str = "X") -> sp.csr_matrix:
    """A sparse X as canonical CSR (sorted indices, no duplicates) with float32 values.

    CSC, COO and the other formats are converted once. A matrix already canonical CSR float32
    is used as it is; otherwise a new one is made (the input is never modified): duplicates
    are summed and indices sorted in the input's dtype, then the values become float32.
    Only the layout is checked here (not finiteness or the float32 range: the caller goes on
    with scikit-learn's ``validate_data`` and :func:`check_csr_values`).

    Raises TypeError for non-numeric values, ValueError for a shape that is not 2-D, complex
    values, or more columns than the kernel's int32 indices can address.
    """
    kind = X.dtype.kind
    if kind == "c":
        raise ValueError(f"Complex data not supported: {name} has dtype {X.dtype}")
    if kind not in "biuf":
        raise TypeError(f"{name} must be numeric, got a sparse matrix of dtype {X.dtype}")
    if len(X.shape) != 2:
        raise ValueError(
            f"{name} must be 2-dimensional (n_samples, n_features), got a sparse array of "
            f"shape {X.shape}"
        )
    if X.shape[1] > MAX_FEATURES:
        raise ValueError(
            f"{name} has {X.shape[1]} columns: sparse input is limited to {MAX_FEATURES} "
            "(the kernel's column indices are int32)"
        )
    csr = X.tocsr()  # no copy when already CSR
    if not csr.has_canonical_format:
        csr = csr.copy() if csr is X else csr
        csr.sum_duplicates()  # sorts the indices too
    if csr.dtype != np.float32:
        with np.errstate(over="ignore"):  # beyond float32's range becomes inf: refused later
            csr = csr.astype(np.float32)
    return csr


def check_csr_values(X: sp.csr_matrix, *, name: str = "X") -> None:
    """NaN, infinity and values whose squared distances overflow float32 (as for dense X: the
    same check on the stored values; sparse input is computed in float32)."""
    if X.data.size:  # no stored value: nothing to check
        check_value_range(X.data, X.shape[1], np.float32, name=name)


def _kernel_arrays(X: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """indptr int64, indices int32, data float32, n_features: what the kernel reads."""
    indptr = np.ascontiguousarray(X.indptr, dtype=np.int64)
    indices = np.ascontiguousarray(X.indices, dtype=np.int32)  # < n_features <= MAX_FEATURES
    data = np.ascontiguousarray(X.data, dtype=np.float32)
    return indptr, indices, data, int(X.shape[1])


def lloyd_csr(
    X: sp.csr_matrix,
    init_centers: np.ndarray,
    sample_weight: np.ndarray | None,
    max_iter: int,
    tol: float,
    n_threads: int,
    record_history: bool,
) -> Any:
    """One Lloyd run over canonical float32 CSR rows (from :func:`as_float32_csr`): the
    kernel's RunOutput."""
    return _kernel.lloyd_sparse(
        *_kernel_arrays(X), init_centers, sample_weight, max_iter, tol, n_threads, record_history
    )


def assign_csr(
    X: sp.csr_matrix,
    centers: np.ndarray,
    sample_weight: np.ndarray | None,
    accumulate: bool,
    n_threads: int,
) -> Any:
    """One assignment pass over canonical float32 CSR rows: the kernel's PassOutput."""
    return _kernel.assign_sparse(*_kernel_arrays(X), centers, sample_weight, accumulate, n_threads)


def csr_absolute_tolerance(X: sp.csr_matrix, tol: float) -> float:
    """scikit-learn's tolerance for sparse X: tol times the mean per-feature variance."""
    if tol == 0:
        return 0.0
    n = X.shape[0]
    mean = np.asarray(X.sum(axis=0, dtype=np.float64)).ravel() / n
    squares = X.copy()
    squares.data = X.data.astype(np.float64) ** 2
    mean_sq = np.asarray(squares.sum(axis=0)).ravel() / n
    variance = np.maximum(mean_sq - mean * mean, 0.0)
    return float(variance.mean() * tol)


# Helpers of k-means++ (initialization.py) for dense or sparse rows.


def row_sq_norms(X: Any) -> np.ndarray:
    """Squared norm of every row, float64."""
    if issparse(X):
        squares = X.copy()
        squares.data = X.data.astype(np.float64) ** 2
        return np.asarray(squares.sum(axis=1)).ravel()
    return np.einsum("ij,ij->i", X, X, dtype=np.float64)


def dot_with_rows(X: Any, rows: np.ndarray) -> np.ndarray:
    """X[rows] @ X.T as a dense (len(rows), n_samples) float32 array."""
    if issparse(X):
        return np.asarray(X @ X[rows].toarray().T).T
    return X[rows] @ X.T


def take_rows(X: Any, rows: np.ndarray) -> np.ndarray:
    """X[rows] as a new dense C-contiguous float32 array."""
    if issparse(X):
        return np.ascontiguousarray(X[rows].toarray(), dtype=np.float32)
    return X[rows].copy()
