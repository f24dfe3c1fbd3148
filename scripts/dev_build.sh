#!/usr/bin/env bash
# Development build: compile the extension with CMake and drop it next to the Python sources,
# so that `PYTHONPATH=python python -m pytest` tests the working tree without reinstalling.
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-.venv/bin/python}
cmake -S . -B build/dev -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DPython_EXECUTABLE="$py" -Dpybind11_DIR="$("$py" -m pybind11 --cmakedir)" "$@" >/dev/null
cmake --build build/dev
# copy under a temporary name, then rename: a running Python keeps its mapped old file
for so in build/dev/_kernel*.so; do
  cp "$so" "python/mnist_kmeans/.$(basename "$so").tmp"
  mv -f "python/mnist_kmeans/.$(basename "$so").tmp" "python/mnist_kmeans/$(basename "$so")"
done
