"""Print the numbers the core issue asks for, on the 60k MNIST training set.

Usage: PYTHONPATH=python python scripts/crosscheck_60k.py ../shared/data/mnist [k]

Per-pass label differences against the NumPy oracle (and the largest float32 rounding gap
among them), whole-run iterations and objective error against the oracle and scikit-learn,
1-vs-2-thread identity, and one quick timing of a fit next to scikit-learn from the same init.
"""

from __future__ import annotations

import sys
import time

import numpy as np
from sklearn.cluster import KMeans as SklearnKMeans

from mnist_kmeans import _kernel, reference
from mnist_kmeans.datasets import load_mnist
from mnist_kmeans.kmeans import initial_centers, lloyd


def main() -> None:
    folder = sys.argv[1]
    k = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    images, _ = load_mnist("train", path=folder)
    X = images.reshape(len(images), -1).astype(np.float32)
    init = initial_centers(X, k, "random", random_state=1000 + k)
    print(f"60k x 784, k={k}, kernel {_kernel.current_isa()}, threads {_kernel.max_threads()}")

    print("\n| pass after iteration | differing labels | max gap / rounding bound |")
    print("|---|---|---|")
    for t in (0, 1, 10, 30):
        centers = init if t == 0 else lloyd(X, init, max_iter=t).centers
        labels = _kernel.assign(X, centers)[0]
        d2 = reference.squared_distances(X, centers)
        ref = d2.argmin(1)
        differ = np.flatnonzero(labels != ref)
        ratio = 0.0
        if differ.size:
            gap = d2[differ, labels[differ]] - d2[differ, ref[differ]]
            x = np.abs(X[differ].astype(np.float64))
            ca, cb = centers[labels[differ]].astype(np.float64), centers[ref[differ]].astype(np.float64)
            bound = 2 * 786 * np.finfo(np.float32).eps * ((x * ca).sum(1) + (x * cb).sum(1))
            ratio = float((gap / bound).max())
        print(f"| {t} | {differ.size} | {ratio:.3g} |")

    t0 = time.perf_counter()
    ours = lloyd(X, init)
    t_ours = time.perf_counter() - t0
    ref = reference.kmeans(X, init)
    t0 = time.perf_counter()
    sk = SklearnKMeans(k, init=init, n_init=1, tol=0.0, algorithm="lloyd").fit(X)
    t_sk = time.perf_counter() - t0
    sk64 = SklearnKMeans(k, init=init.astype(np.float64), n_init=1, tol=0.0,
                         algorithm="lloyd").fit(X.astype(np.float64))
    one = lloyd(X, init, n_threads=1)
    same = all(
        np.array_equal(getattr(one, f), getattr(ours, f))
        for f in ("centers", "labels", "sq_distances", "inertia_history")
    )
    print(f"\niterations ours/oracle/sklearn float64/sklearn float32: "
          f"{ours.n_iter}/{ref.n_iter}/{sk64.n_iter_}/{sk.n_iter_}")
    print(f"objective rel. error vs oracle: {abs(ours.inertia - ref.objective) / ref.objective:.2e}")
    print(f"objective rel. error vs sklearn float64: {abs(ours.inertia - sk64.inertia_) / sk64.inertia_:.2e}")
    print(f"objective rel. error vs sklearn float32: {abs(ours.inertia - sk.inertia_) / sk.inertia_:.2e}")
    print(f"final labels differing from oracle: {int((ours.labels != ref.labels).sum())}")
    print(f"1 vs 2 threads bitwise identical: {same}")
    print(f"fit time from the same init: ours {t_ours:.2f} s, scikit-learn lloyd {t_sk:.2f} s "
          f"({t_sk / t_ours:.2f}x)")


if __name__ == "__main__":
    main()
