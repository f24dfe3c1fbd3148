"""Time one assignment pass (with sums) of one or more builds of the kernel, side by side.

For tuning the chunk kernel on a shared machine: each build is loaded from its own .so, runs
are interleaved (A, B, A, B, ...), and both wall time and process CPU time are reported as
medians. With --threads 1 the CPU time is the kernel's own work and is the least disturbed by
other processes; compare builds only within one run of this script.

    python benchmarks/pass_timing.py \
        --so base=/tmp/kbase/_kernel.cpython-311-x86_64-linux-gnu.so --threads 1 --k 20 256

"current" is the installed mnist_kmeans's kernel; ``--dev`` takes the development build under
python/ (``scripts/dev_build.sh``) instead.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.machinery
import importlib.util
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
MNIST = Path(os.environ.get("MNIST_DATA_DIR", "/work/shared/data/mnist")) / "train-images-idx3-ubyte.gz"


def load_kernel(path: str, name: str):
    # a distinct package name per build: extension modules are cached by name
    full = f"build_{name}._kernel"
    loader = importlib.machinery.ExtensionFileLoader(full, path)
    spec = importlib.util.spec_from_file_location(full, path, loader=loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--so", action="append", default=[], help="NAME=PATH of a kernel build")
    parser.add_argument("--k", type=int, nargs="+", default=[20, 256])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--no-sums", action="store_true", help="time passes without the sums")
    parser.add_argument("--data", type=Path, default=MNIST)
    parser.add_argument("--dev", action="store_true",
                        help="'current' is the development build under python/, not the installed one")
    args = parser.parse_args()
    if args.dev:
        sys.path.insert(0, str(REPO / "python"))

    builds = {}
    for item in args.so:
        name, _, path = item.partition("=")
        builds[name] = load_kernel(path, name)
    from mnist_kmeans import _kernel

    print(f"current: {_kernel.__file__}")
    builds["current"] = _kernel
    raw = gzip.open(args.data).read()
    X = np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 784).astype(np.float32)
    rng = np.random.default_rng(0)
    for k in args.k:
        C = X[rng.choice(len(X), k, replace=False)].copy()
        times = {name: ([], []) for name in builds}
        labels = {}
        for name, kern in builds.items():  # warm up
            labels[name] = kern.assign(X, C, None, not args.no_sums, args.threads)[0]
        for _ in range(args.repeat):
            for name, kern in builds.items():
                w0, c0 = time.perf_counter(), time.process_time()
                kern.assign(X, C, None, not args.no_sums, args.threads)
                times[name][0].append(time.perf_counter() - w0)
                times[name][1].append(time.process_time() - c0)
        ref = labels["current"]
        for name in builds:
            wall, cpu = np.median(times[name][0]), np.median(times[name][1])
            print(
                f"k={k:4d} threads={args.threads} {name:>10s}: wall {wall:.4f} s (min {min(times[name][0]):.4f})"
                f"  cpu {cpu:.4f} s  label diffs vs current {int((labels[name] != ref).sum())}"
            )


if __name__ == "__main__":
    main()
