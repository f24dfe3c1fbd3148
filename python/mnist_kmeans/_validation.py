"""Checks of user input, shared by the public entry points.

Each public entry point (``KMeans.fit``/``predict``/``score``,
:func:`~mnist_kmeans.initial_centers`, :func:`~mnist_kmeans.study.run_study`,
:func:`~mnist_kmeans.study.run_notebook`, :func:`~mnist_kmeans.analysis.analyze_studies`, the
evaluation, neighbour and plotting functions) validates its input once, with the helpers here;
the internal functions it calls trust what they are given and say so in their docstrings, as
scikit-learn's internals do. (One convention of the result containers lives here too:
:func:`read_only_arrays`.)

This module imports NumPy only, so that the modules that must stay light (neighbors, evaluation,
plotting) can use it.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

__all__ = [
    "NotAnIntegerError",
    "as_float32_rows",
    "as_float_rows",
    "check_enough_weighted_samples",
    "check_float_range",
    "check_init_centers",
    "check_n_clusters",
    "check_numeric_kind",
    "check_positive_int",
    "check_sample_weight",
    "check_value_range",
    "check_vector",
    "kernel_dtype",
    "kernel_dtype_of",
    "read_only_arrays",
]


class NotAnIntegerError(TypeError, ValueError):
    """An integer parameter given something that is not an integer.

    Both a TypeError and a ValueError, as scikit-learn's ``InvalidParameterError`` is: the
    study always raised TypeError here and the evaluation functions ValueError, and callers
    catching either keep working.
    """


def check_positive_int(value: Any, name: str) -> int:
    """``value`` as an int >= 1.

    Raises :class:`NotAnIntegerError` for anything that is not an integer (bool included;
    NumPy integers are accepted) and ValueError below 1; the message names ``name``.
    """
    if isinstance(value, (bool, np.bool_)):
        raise NotAnIntegerError(f"{name} must be an integer, got {value!r}")
    try:
        value = operator.index(value)
    except TypeError:
        raise NotAnIntegerError(f"{name} must be an integer, got {value!r}") from None
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return value


def check_n_clusters(n_clusters: Any, n_samples: int) -> int:
    """``n_clusters`` as an int in ``1 .. n_samples`` (messages as scikit-learn's KMeans)."""
    n_clusters = check_positive_int(n_clusters, "n_clusters")
    if n_samples < n_clusters:
        raise ValueError(f"n_samples={n_samples} should be >= n_clusters={n_clusters}.")
    return n_clusters


def check_numeric_kind(arr: Any, name: str) -> None:
    """Refuse strings, bytes and complex numbers with our own messages (before any conversion:
    NumPy and scikit-learn would convert numeric strings, and drop imaginary parts)."""
    kind = getattr(getattr(arr, "dtype", None), "kind", None)
    if kind in ("U", "S", "V"):
        raise TypeError(f"{name} must be numbers, got string or bytes data (dtype {arr.dtype})")
    if kind == "c":  # ValueError, as scikit-learn raises for complex data
        raise ValueError(f"Complex data not supported: {name} has dtype {arr.dtype}")


def kernel_dtype(dtype: Any) -> np.dtype:
    """The dtype the kernel computes in for input of this dtype: float64 or float32.

    float64 (and wider floats) and integers wider than 16 bits (int32, int64, uint32, uint64),
    and object arrays, give float64, as scikit-learn computes them: their values need not be
    exact in float32 (integers beyond 2**24). Everything that float32 holds exactly gives
    float32, the fast path: float32, float16, bool and 8- and 16-bit integers (MNIST's uint8
    pixels).
    """
    dtype = np.dtype(dtype)
    if dtype.kind == "O" or (dtype.kind == "f" and dtype.itemsize >= 8):
        return np.dtype(np.float64)
    if dtype.kind in "iu" and dtype.itemsize > 2:
        return np.dtype(np.float64)
    return np.dtype(np.float32)


def kernel_dtype_of(X: Any) -> np.dtype:
    """:func:`kernel_dtype` of an array-like, without converting it when it has a dtype (an
    ndarray, a pandas DataFrame or Series); other input (lists) is looked at as NumPy would
    convert it."""
    dtype = getattr(X, "dtype", None)
    if dtype is None and hasattr(X, "dtypes"):  # a pandas DataFrame: its columns' common type
        try:
            dtype = np.result_type(*X.dtypes)
        except TypeError:  # pandas extension dtypes: as NumPy converts them
            dtype = None
    if not isinstance(dtype, np.dtype):
        dtype = np.asarray(X).dtype
    return kernel_dtype(dtype)


def as_float32_rows(X: Any, *, name: str = "X") -> np.ndarray:
    """Validate a data matrix and return it as C-contiguous float32 rows.

    No copy is made when X is already a C-contiguous float32 ndarray. Raises TypeError for
    non-numeric data (strings, complex, objects that are not numbers) and ValueError for a
    wrong number of dimensions, empty data or NaN/infinite values (also values that overflow
    float32).
    """
    return as_float_rows(X, name=name, dtype=np.float32)


def as_float_rows(X: Any, *, name: str = "X", dtype: Any = None) -> np.ndarray:
    """Validate a data matrix and return it as C-contiguous rows of the kernel's dtype.

    ``dtype``: float32 or float64; None: :func:`kernel_dtype` of X's dtype (float64 input stays
    float64, integer pixels become float32). No copy is made when X is already a C-contiguous
    array of that dtype; no float64 copy is ever made of float32 data. Errors as
    :func:`as_float32_rows` (values that overflow the dtype included).
    """
    if dtype is None:
        check_numeric_kind(X, name)
        dtype = kernel_dtype_of(X)
    dtype = np.dtype(dtype)
    if isinstance(X, np.ndarray) and X.dtype == dtype and X.flags.c_contiguous:
        arr = X
    else:
        arr = np.asarray(X)
        check_numeric_kind(arr, name)
        if arr.dtype.kind == "O":
            try:
                arr = arr.astype(np.float64)
            except (TypeError, ValueError) as exc:
                raise TypeError(f"{name} has dtype object with non-numeric entries: {exc}") from None
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be 2-dimensional (n_samples, n_features), got {arr.ndim} dimension(s)"
            + (" - reshape images to rows first, e.g. X.reshape(len(X), -1)" if arr.ndim == 3 else "")
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} is empty: shape {arr.shape}")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be numeric, got dtype {arr.dtype}")
    with np.errstate(over="ignore"):  # float64 beyond float32's range becomes inf: caught below
        out = np.ascontiguousarray(arr, dtype=dtype)
    check_float_range(out, name=name)
    return out


def check_float_range(X: np.ndarray, *, name: str = "X") -> None:
    """Refuse NaN, infinity, and values whose squared distances would overflow X's dtype.

    ``X`` must be a 2-D float32 or float64 array (the kernel sums squared differences in it).
    """
    check_value_range(X, X.shape[1], X.dtype, name=name)


def check_value_range(values: np.ndarray, n_features: int, dtype: Any, *, name: str = "X") -> None:
    """:func:`check_float_range` for the values of rows of ``n_features`` features computed in
    ``dtype`` (a dense X itself, or the stored values of a sparse X)."""
    # min and max propagate NaN and expose inf without a temporary of the values' size
    low, high = values.min(), values.max()
    kind = np.dtype(dtype).name
    if not (np.isfinite(low) and np.isfinite(high)):
        raise ValueError(f"{name} contains NaN or infinity (or values too large for {kind})")
    limit = np.sqrt(np.finfo(dtype).max / (4.0 * n_features))
    largest = max(abs(float(low)), abs(float(high)))
    if largest > limit:
        raise ValueError(
            f"{name} has values up to {largest:.3g}, too large: squared distances would overflow "
            f"{kind} (limit {limit:.3g} for {n_features} features); rescale the data"
        )


#: The former name of :func:`check_float_range` (float32 was then the only dtype).
check_float32_range = check_float_range


def check_sample_weight(sample_weight: Any, n_samples: int) -> np.ndarray | None:
    """Validate sample weights: None, or non-negative finite float64 with a positive sum.

    A scalar is repeated for every sample; an array is always copied.
    """
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight)
    if w.dtype.kind not in "biuf":
        raise TypeError(f"sample_weight must be numeric, got dtype {w.dtype}")
    w = np.array(w, dtype=np.float64, copy=True) if w.ndim else np.full(n_samples, float(w))
    if w.ndim != 1 or len(w) != n_samples:
        raise ValueError(f"sample_weight must have shape ({n_samples},), got {w.shape}")
    if not np.isfinite(w).all():
        raise ValueError("sample_weight contains NaN or infinity")
    if (w < 0).any():
        raise ValueError("sample_weight must be non-negative")
    if not w.sum() > 0:
        raise ValueError("sample_weight sums to zero: no point carries any weight")
    return w


def check_enough_weighted_samples(sample_weight: np.ndarray | None, n_clusters: int) -> None:
    """Random initial centers need n_clusters rows of positive weight to choose from."""
    if sample_weight is None:
        return
    positive = int(np.count_nonzero(sample_weight))
    if positive < n_clusters:
        raise ValueError(
            f"only {positive} samples have positive weight, fewer than n_clusters={n_clusters}"
        )


def check_init_centers(
    init: Any, n_clusters: int, n_features: int, *, name: str = "init", dtype: Any = np.float32
) -> np.ndarray:
    """A user's initial centers as ``dtype`` (X's: float32 or float64) of shape
    (n_clusters, n_features), never the user's own array (a copy when no conversion was
    needed).

    ``name`` says in the messages where the centers came from (an ``init`` array, or the
    array an ``init`` callable returned). The shape message starts as scikit-learn's does.
    """
    centers = as_float_rows(init, name=name, dtype=dtype)
    if centers.shape != (n_clusters, n_features):
        what = (
            f"the number of clusters {n_clusters}"
            if centers.shape[0] != n_clusters
            else f"the number of features of the data {n_features}"
        )
        raise ValueError(
            f"The shape of the initial centers {centers.shape} does not match {what}: {name} "
            f"must have shape (n_clusters, n_features) = ({n_clusters}, {n_features})"
        )
    return centers.copy() if centers is init else centers


def check_vector(values: Any, length: int, name: str) -> np.ndarray:
    """``values`` as an array of shape (length,), as given otherwise (no conversion)."""
    array = np.asarray(values)
    if array.shape != (length,):
        raise ValueError(f"{name} must have shape ({length},), got {array.shape}")
    return array


def read_only_arrays(obj: object) -> None:
    """Make every ndarray attribute of a (frozen) dataclass instance read-only, so that the
    instance cannot change through them; called from ``__post_init__``."""
    for value in vars(obj).values():
        if isinstance(value, np.ndarray):
            value.setflags(write=False)
