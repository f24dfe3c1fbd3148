"""float64 against float32, and against scikit-learn on float64 (issue 12, item 2).

MNIST 60k x 784 (pixels 0..255), k clusters, the same initial centers for everyone (k distinct
rows, seed 0), n_init=1, tol=0, a fixed number of Lloyd iterations (``--max-iter``, so that
every fit does the same work whatever its stopping rule), then one fit to convergence each.
Rounds are interleaved (each round runs every configuration once, in a rotated order) and the
medians are reported, with the ratio to ours on float64: the machine may be shared.

    MNIST_DATA_DIR=/path/to/mnist PYTHONPATH=python python benchmarks/float64.py
    ... --rounds 7 --max-iter 20 --k 10 --threads 2

Configurations: ours on float64 (computed in float64; every algorithm runs Lloyd passes),
ours on float32 with algorithm='lloyd' (the same passes in float32) and 'auto' (the default:
Hamerly's bounds), scikit-learn KMeans(algorithm='lloyd') on float64 and on float32.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np
from sklearn.cluster import KMeans as SklearnKMeans
from threadpoolctl import threadpool_limits

from mnist_kmeans import KMeans, _kernel
from mnist_kmeans.datasets import load_mnist


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--max-iter", type=int, default=20)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--data", default=os.environ.get("MNIST_DATA_DIR"))
    args = parser.parse_args()

    images, _ = load_mnist("train", path=args.data)
    X32 = images.reshape(len(images), -1).astype(np.float32)
    X64 = X32.astype(np.float64)
    init = X32[np.random.default_rng(0).choice(len(X32), args.k, replace=False)]

    def ours(X, algorithm, max_iter):
        return KMeans(args.k, init=init.astype(X.dtype), n_init=1, max_iter=max_iter, tol=0.0,
                      algorithm=algorithm, n_threads=args.threads).fit(X)

    def sklearn(X, max_iter):
        return SklearnKMeans(args.k, init=init.astype(X.dtype), n_init=1, max_iter=max_iter,
                             tol=0.0, algorithm="lloyd").fit(X)

    configs = {
        "ours float64": lambda m: ours(X64, "auto", m),
        "ours float32 lloyd": lambda m: ours(X32, "lloyd", m),
        "ours float32 auto": lambda m: ours(X32, "auto", m),
        "sklearn float64 lloyd": lambda m: sklearn(X64, m),
        "sklearn float32 lloyd": lambda m: sklearn(X32, m),
    }
    print(f"# float64 vs float32, MNIST 60k x 784, k={args.k}, {args.threads} threads, "
          f"{args.rounds} interleaved rounds, medians")
    print(f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} logical; "
          f"kernel ISA {_kernel.current_isa()}; load average {os.getloadavg()[0]:.1f} at start")
    with threadpool_limits(args.threads):
        for max_iter, label in ((args.max_iter, f"{args.max_iter} iterations"), (300, "to convergence")):
            rounds = 1 if max_iter == 300 else args.rounds
            times: dict[str, list[float]] = {name: [] for name in configs}
            iters: dict[str, int] = {}
            inertia: dict[str, float] = {}
            dtype: dict[str, str] = {}
            names = list(configs)
            for r in range(rounds):
                for name in names[r % len(names):] + names[: r % len(names)]:
                    start = time.perf_counter()
                    km = configs[name](max_iter)
                    times[name].append(time.perf_counter() - start)
                    iters[name], inertia[name] = int(km.n_iter_), float(km.inertia_)
                    dtype[name] = km.cluster_centers_.dtype.name
            base = statistics.median(times["ours float64"])
            print(f"\n## fit, {label} ({rounds} round{'s' if rounds > 1 else ''})\n")
            print("| configuration | centers | fit (s) | per iteration (ms) | vs ours float64 | n_iter | inertia |")
            print("|---|---|---|---|---|---|---|")
            for name in configs:
                t = statistics.median(times[name])
                print(f"| {name} | {dtype[name]} | {t:.2f} | {1e3 * t / iters[name]:.0f} | "
                      f"{t / base:.2f}x | {iters[name]} | {inertia[name]:.6e} |")


if __name__ == "__main__":
    main()
