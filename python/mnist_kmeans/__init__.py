"""mnist-kmeans: a fast, exact, OpenMP-parallel k-means for MNIST-like image sets.

The public names are loaded lazily, so that ``import mnist_kmeans`` stays fast and does not
pull in scikit-learn or matplotlib until they are used.
"""

from __future__ import annotations

import importlib
from typing import Any

# The one place the version is written: pyproject.toml reads it from here when building.
__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "KMeans": "kmeans",
    "RunResult": "kmeans",
    "lloyd": "kmeans",
    "assign_pass": "kmeans",
    "initial_centers": "initialization",
    "as_float32_rows": "_validation",
    "as_float_rows": "_validation",
    "read_idx": "idx",
    "write_idx": "idx",
    "IDXError": "idx",
    "load_mnist": "datasets",
    "fetch_mnist": "datasets",
    "run_study": "study",
    "nearest_members": "neighbors",
    "evaluate_clusters": "evaluation",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mnist_kmeans' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # cache: later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return __all__
