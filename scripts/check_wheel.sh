#!/usr/bin/env bash
# Install a built wheel the way a user does, on a machine without a C++ compiler, and try it:
# the quick start, then a small part of the test suite against the installed copy.
#
# Usage:   scripts/check_wheel.sh WHEEL [PYTHON]     (PYTHON: the interpreter for the venv,
#                                                      default python3)
# Steps:   1. a fresh virtual environment in a temporary folder;
#          2. from here on the environment is emptied (env -i) and PATH holds only the venv's
#             bin/ and a folder of links to a few core tools: no g++, c++, gcc, cc or clang
#             (checked), so nothing can be compiled;
#          3. pip install --only-binary=:all: "WHEEL[test]" (dependencies from PyPI, as wheels);
#          4. the package must import from the venv, with the OpenMP runtime bundled in the
#             wheel (mnist_kmeans.libs/), not the system's;
#          5. the README's quick start, `mnist-kmeans study`, on the bundled sample with small
#             settings, from an empty folder;
#          6. tests/test_package.py, test_idx.py, test_cli.py and the kernel-against-oracle passes
#             of test_oracle.py, copied with pyproject.toml (pytest's settings: warnings are
#             errors) into a folder where no source tree can shadow the installed package.
# Exit:    0 when all of it passed.
set -euo pipefail
[[ $# -ge 1 && $# -le 2 && -f $1 ]] || { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
wheel=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
python=${2:-python3}
repo=$(cd "$(dirname "$0")/.." && pwd)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$python" -m venv "$work/venv"

# Core tools only; pytest's child processes and the CLI need nothing else.
mkdir "$work/tools"
for tool in sh bash env cat cp ls mkdir rm mv sed grep head tail tr wc sort uname dirname \
            basename readlink mktemp sleep true false; do
    found=$(command -v "$tool" || true)
    [[ -n $found ]] && ln -s "$found" "$work/tools/$tool"
done
run() {  # a command in the emptied environment
    env -i HOME="$HOME" LANG=C.UTF-8 TMPDIR="${TMPDIR:-/tmp}" \
        PATH="$work/venv/bin:$work/tools" "$@"
}

echo "== no compiler reachable"
for compiler in g++ c++ gcc cc clang clang++; do
    if run sh -c "command -v $compiler" >/dev/null; then
        echo "check_wheel: $compiler is reachable; PATH was not stripped" >&2
        exit 1
    fi
done

echo "== pip install $(basename "$wheel")[test], binaries only"
run python -m pip install --quiet --disable-pip-version-check --only-binary=:all: "$wheel[test]"

echo "== the installed package, with its own OpenMP runtime"
mkdir "$work/run"
(cd "$work/run" && run python - "$work/venv" <<'PY'
import sys
from pathlib import Path
import mnist_kmeans
from mnist_kmeans import _kernel

venv = Path(sys.argv[1]).resolve()
here = Path(mnist_kmeans.__file__).resolve()
assert here.is_relative_to(venv), f"imported from {here}, not from the venv {venv}"
assert _kernel.has_openmp(), "the kernel was built without OpenMP"
maps = Path("/proc/self/maps").read_text().splitlines()
gomp = sorted({line.split()[-1] for line in maps if "libgomp" in line})
assert gomp and all("mnist_kmeans.libs" in path for path in gomp), gomp
print(f"mnist_kmeans {mnist_kmeans.__version__} from {here.parent}")
print(f"kernel {_kernel.current_isa()} (available: {', '.join(_kernel.available_isas())}); "
      f"OpenMP from {gomp[0]}")
PY
)

echo "== quick start: mnist-kmeans study (small settings)"
(cd "$work/run" && run mnist-kmeans study --k 5 --restarts 2 --quiet > study.txt)
cat "$work/run/study.txt"
grep -q "^J_clust: best " "$work/run/study.txt"
for file in report.html summary.json; do
    [[ -s $work/run/mnist-kmeans-report/$file ]] || { echo "check_wheel: no $file" >&2; exit 1; }
done

echo "== tests against the installed package"
mkdir "$work/suite"
cp -r "$repo/tests" "$repo/pyproject.toml" "$work/suite/"
(cd "$work/suite" && run python -m pytest -q -p no:cacheprovider \
    tests/test_package.py tests/test_idx.py tests/test_cli.py \
    "tests/test_oracle.py::test_passes_match_oracle_on_sample")
echo "check_wheel: $(basename "$wheel") passed"
