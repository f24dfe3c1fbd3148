"""The versions and machine facts recorded with every report."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from typing import Any

import numpy as np

__all__ = ["environment"]


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def environment() -> dict[str, Any]:
    """Versions and machine facts recorded with every report.

    Returns
    -------
    dict
        Package, NumPy, scikit-learn, matplotlib and Python versions, the kernel's SIMD
        instruction set (in use and available), OpenMP support and default thread count,
        platform, machine and CPU count.
    """
    from . import __version__, _kernel

    return {
        "mnist_kmeans": __version__,
        "numpy": np.__version__,
        "scikit_learn": _version("scikit-learn"),
        "matplotlib": _version("matplotlib"),  # without importing it here
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "kernel_isa": _kernel.current_isa(),
        "kernel_isas_available": list(_kernel.available_isas()),
        "openmp": bool(_kernel.has_openmp()),
        "openmp_max_threads": int(_kernel.max_threads()),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
    }
