"""Shared fixtures: the MNIST sample that ships with the package and the 60k training set."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from mnist_kmeans import _kernel
from mnist_kmeans.datasets import load_mnist

# .ci/run sets this to ../shared/data/mnist; tests that need the 60k set skip without it.
DATA_ENV = "MNIST_DATA_DIR"


@pytest.fixture(scope="session")
def mnist_sample() -> tuple[np.ndarray, np.ndarray]:
    """The bundled t10k images as float32 rows (10000, 784) and their labels."""
    images, labels = load_mnist("test")
    return images.reshape(len(images), -1).astype(np.float32), labels


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The folder in $MNIST_DATA_DIR holding the four MNIST .gz files."""
    folder = os.environ.get(DATA_ENV)
    if not folder:
        pytest.skip(f"{DATA_ENV} is not set (a folder holding the four MNIST .gz files)")
    return Path(folder)


@pytest.fixture(scope="session")
def mnist_train() -> tuple[np.ndarray, np.ndarray]:
    """The 60k training images as float32 rows, from the folder in $MNIST_DATA_DIR."""
    folder = os.environ.get(DATA_ENV)
    if not folder:
        pytest.skip(f"{DATA_ENV} is not set: the 60k MNIST training set is not available")
    images, labels = load_mnist("train", path=folder)
    return images.reshape(len(images), -1).astype(np.float32), labels


@pytest.fixture(params=_kernel.available_isas())
def isa(request: pytest.FixtureRequest):
    """Run a test once with every SIMD kernel this CPU supports, then restore the default."""
    previous = _kernel.current_isa()
    _kernel.set_isa(request.param)
    yield request.param
    _kernel.set_isa(previous)
