"""Packaging facts that users and wheels depend on."""

from __future__ import annotations

import subprocess
import sys
import time

from mnist_kmeans import _kernel


def test_kernel_was_built_with_openmp():
    # On this project's machines OpenMP is always available: losing it is a build bug.
    assert _kernel.has_openmp()
    assert _kernel.max_threads() >= 1


def test_portable_kernel_is_always_available():
    isas = _kernel.available_isas()
    assert "generic" in isas
    assert _kernel.current_isa() in isas


def test_import_is_quiet_and_fast():
    # `python -c "import mnist_kmeans"`, interpreter start included: best of three, since the
    # machine is shared.
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", "import mnist_kmeans"], capture_output=True,
                             text=True, check=True)
        best = min(best, time.perf_counter() - start)
        assert out.stdout == "" and out.stderr == ""
    assert best < 1.0


def test_import_does_not_load_heavy_dependencies():
    code = (
        "import sys, mnist_kmeans; "
        "print(sorted(m for m in ('sklearn', 'matplotlib', 'pooch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_unknown_simd_kernel_is_refused():
    import pytest

    with pytest.raises(ValueError, match="unknown kernel"):
        _kernel.set_isa("sse9")


def test_version_is_written_once():
    """pyproject.toml reads the version from __init__.py; an installed copy reports the same."""
    import re
    from importlib import metadata
    from pathlib import Path

    import mnist_kmeans

    text = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'(?m)^dynamic = \["version"\]', text)
    assert not re.search(r"(?m)^version\s*=", text)  # no second copy
    assert 'input = "python/mnist_kmeans/__init__.py"' in text
    assert re.fullmatch(r"\d+\.\d+\.\d+", mnist_kmeans.__version__)
    try:
        installed = metadata.version("mnist-kmeans")
    except metadata.PackageNotFoundError:  # the development build: nothing installed
        return
    if Path(mnist_kmeans.__file__).resolve().is_relative_to(Path(__file__).resolve().parents[1]):
        return  # the source tree is imported, whatever else is installed
    assert installed == mnist_kmeans.__version__
