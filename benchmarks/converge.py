"""Time to converge of our algorithms on MNIST 60k, from the same random init.

A quick companion of bench.py for kernel work: each algorithm runs to convergence from the
same k data points (numpy.random.RandomState(seed).choice), and the script prints its median
time, iterations, time per iteration, the fraction of rows scored per pass (for yinyang and
elkan: scores computed / k), and whether labels, centers and n_iter equal the first
algorithm's (they must: every algorithm is an exact replica of Lloyd).

    python benchmarks/converge.py --algorithms lloyd,hamerly,yinyang --ks 20,256

It times the installed mnist_kmeans; ``--dev`` times the development build under python/
(``scripts/dev_build.sh``) instead.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--algorithms", default="lloyd,hamerly,yinyang,elkan")
    parser.add_argument("--ks", default="20,256")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--data", type=Path, default=os.environ.get("MNIST_DATA_DIR"),
                        help="folder of the MNIST files (default: $MNIST_DATA_DIR)")
    parser.add_argument("--dev", action="store_true",
                        help="time the development build under python/ instead of the installed one")
    args = parser.parse_args()
    if args.dev:
        sys.path.insert(0, str(REPO / "python"))
    import mnist_kmeans
    from mnist_kmeans.datasets import load_mnist
    from mnist_kmeans.kmeans import lloyd

    print(f"mnist_kmeans {mnist_kmeans.__version__} from {mnist_kmeans.__file__}")
    images, _ = load_mnist("train", args.data)
    X = np.ascontiguousarray(images.reshape(len(images), -1), dtype=np.float32)
    print(f"| k | algorithm | seconds (median of {args.repeat}) | iterations | ms / iteration "
          "| scored / pass | same as first |")
    print("|---|---|---|---|---|---|---|")
    for k in (int(v) for v in args.ks.split(",")):
        init = X[np.random.RandomState(args.seed).choice(len(X), k, replace=False)]
        first = None
        for algorithm in args.algorithms.split(","):
            times = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                run = lloyd(X, init, algorithm=algorithm, n_threads=args.threads)
                times.append(time.perf_counter() - start)
            same = "-"
            if first is None:
                first = run
            else:
                same = str(bool(np.array_equal(run.labels, first.labels)
                                and np.array_equal(run.centers, first.centers)
                                and run.n_iter == first.n_iter))
            seconds = float(np.median(times))
            scored = float(np.mean(run.rows_scored)) / len(X)
            print(f"| {k} | {algorithm} | {seconds:.3f} | {run.n_iter} | "
                  f"{1e3 * seconds / run.n_iter:.1f} | {scored:.2f} | {same} |", flush=True)


if __name__ == "__main__":
    main()
