#!/usr/bin/env bash
# Build the kernel's C++ test driver (cpp/tests/driver.cpp) with AddressSanitizer and
# UndefinedBehaviorSanitizer and run it. Exits non-zero on any sanitizer report or failed check.
#
#   scripts/run_sanitizers.sh                 # build/sanitize, RelWithDebInfo
#   BUILD_TYPE=Debug scripts/run_sanitizers.sh
#
# No Python is involved (MNIST_KMEANS_PYTHON=OFF): the kernel is tested on its own, which is
# also why the extension module is not run under ASan (it would need the ASan runtime preloaded
# into the interpreter, whose own allocations then drown the reports).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build/sanitize}
type=${BUILD_TYPE:-RelWithDebInfo}
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)

cmake -S . -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE="$type" \
  -DMNIST_KMEANS_PYTHON=OFF -DMNIST_KMEANS_DRIVER=ON -DMNIST_KMEANS_SANITIZE=ON >/dev/null
cmake --build "$build" --target kmeans_driver -j "${JOBS:-2}"

# LeakSanitizer suppressions: none are needed with GCC 12's libgomp (its thread pool stays
# reachable at exit, so LSan does not report it); the file is where one would go, with a reason.
supp=$PWD/scripts/sanitizers/lsan.supp
# halt_on_error + abort_on_error: the first report ends the run with a non-zero status.
# detect_leaks: LeakSanitizer, on where the platform supports it (x86-64 Linux does).
export ASAN_OPTIONS="halt_on_error=1:abort_on_error=1:detect_leaks=1:check_initialization_order=1:strict_init_order=1:detect_stack_use_after_return=1:print_stacktrace=1:exitcode=23"
export UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1:report_error_type=1"
export LSAN_OPTIONS="suppressions=$supp:print_suppressions=1"
# Three threads at most: enough to run the multi-threaded paths, bounded on a small machine.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-3}
# Waiting threads sleep instead of spinning: with more threads than free cores, spinning at each
# per-chunk hand-off made this run 4x slower (100 s instead of 25 s on 2 busy cores).
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
"$build/kmeans_driver" 2> >(tee "$log" >&2) || status=$?
wait  # for tee
# Belt and braces: a report that somehow did not change the exit status still fails the run.
if grep -qE "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: UndefinedBehaviorSanitizer" "$log"; then
  echo "run_sanitizers: a sanitizer reported a problem (see above)" >&2
  [ "$status" -ne 0 ] || status=1
fi
if [ "$status" -ne 0 ]; then
  echo "run_sanitizers: FAILED (exit status $status)" >&2
  exit "$status"
fi
echo "run_sanitizers: OK (ASan + UBSan + LSan, $type)"
