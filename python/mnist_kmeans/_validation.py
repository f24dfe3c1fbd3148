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
    "check_enough_weighted_samples",
    "check_init_centers",
    "check_n_clusters",
    "check_numeric_kind",
    "check_positive_int",
    "check_sample_weight",
    "check_vector",
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


def as_float32_rows(X: Any, *, name: str = "X") -> np.ndarray:
    """Validate a data matrix and return it as C-contiguous float32 rows.

    No copy is made when X is already a C-contiguous float32 ndarray. Raises TypeError for
    non-numeric data (strings, complex, objects that are not numbers) and ValueError for a
    wrong number of dimensions, empty data or NaN/infinite values (also values that overflow
    float32).
    """
    if isinstance(X, np.ndarray) and X.dtype == np.float32 and X.flags.c_contiguous:
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
        out = np.ascontiguousarray(arr, dtype=np.float32)
    check_float32_range(out, name=name)
    return out


def check_float32_range(X: np.ndarray, *, name: str = "X") -> None:
    """Refuse NaN, infinity, and values whose squared distances would overflow float32.

    ``X`` must be a 2-D float32 array (the kernel sums squared differences in float32).
    """
    # min and max propagate NaN and expose inf without a temporary of X's size
    low, high = X.min(), X.max()
    if not (np.isfinite(low) and np.isfinite(high)):
        raise ValueError(f"{name} contains NaN or infinity (or values too large for float32)")
    limit = np.sqrt(np.finfo(np.float32).max / (4.0 * X.shape[1]))
    largest = max(abs(float(low)), abs(float(high)))
    if largest > limit:
        raise ValueError(
            f"{name} has values up to {largest:.3g}, too large: squared distances would overflow "
            f"float32 (limit {limit:.3g} for {X.shape[1]} features); rescale the data"
        )


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


def check_init_centers(init: Any, n_clusters: int, n_features: int) -> np.ndarray:
    """A user's initial centers as float32 of shape (n_clusters, n_features), never the user's
    own array (a copy when no conversion was needed)."""
    centers = as_float32_rows(init, name="init")
    if centers.shape != (n_clusters, n_features):
        raise ValueError(
            f"init has shape {centers.shape}, expected (n_clusters, n_features) = "
            f"({n_clusters}, {n_features})"
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
