"""Sparse (CSR) input: our kernel's sparse pass against its dense pass, scikit-learn and
scikit-learn-intelex, on the same CSR matrix and from the same initial centers.

Data:
  mnist   MNIST 60k as CSR (19% nonzero), float32, k = 20; also timed dense (ours, sklearn).
  tfidf   a synthetic TF-IDF-like matrix: 100 000 x 50 000, 0.1% nonzero (50 terms a row, term
          frequencies Zipf-like, values log(1 + tf) * idf, rows L2-normalised as
          TfidfVectorizer does), float32; k = 20 and 100.

Every fit is Lloyd's algorithm, n_init=1, tol=0, max_iter=--iters (the same number of passes
for everybody unless one converges first: iterations are reported), all threads. Each figure is
the median of --repeat fits, libraries interleaved. Inertia is each library's own (float32 data;
for ours and scikit-learn on the same data they agree to ~1e-6).

scikit-learn-intelex runs in another interpreter (--sklearnex-python: a venv of its own with
scikit-learn-intelex installed), fed the same matrix and centers through an .npz file; without
it, that column is left out and the report says so.

    python benchmarks/sparse_bench.py --dev --out benchmarks/results_sparse_<date>.md
    python benchmarks/sparse_bench.py --dev --quick          # a smaller TF-IDF matrix, 1 repeat
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_MNIST = Path(os.environ.get("MNIST_DATA_DIR", "/work/shared/data/mnist"))

# What the sklearnex worker runs (in its own interpreter).
SKLEARNEX_WORKER = r"""
import io, json, logging, sys, time
import numpy as np, scipy.sparse as sp
import sklearnex
from sklearnex.cluster import KMeans
log = io.StringIO()  # sklearnex says here whether a fit ran its own code or scikit-learn's
logging.basicConfig(stream=log, level=logging.INFO)
f = np.load(sys.argv[1])
X = sp.csr_matrix((f["data"], f["indices"], f["indptr"]), shape=tuple(f["shape"]))
init = f["init"]
iters = int(sys.argv[2]); repeat = int(sys.argv[3])
times, cpu, out = [], [], None
for _ in range(repeat):
    t, c = time.perf_counter(), time.process_time()
    km = KMeans(len(init), init=init, n_init=1, max_iter=iters, tol=0.0, algorithm="lloyd").fit(X)
    times.append(time.perf_counter() - t)
    cpu.append(time.process_time() - c)
    out = km
print(json.dumps({"times": times, "cpu": cpu, "n_iter": int(out.n_iter_), "inertia": float(out.inertia_),
                  "version": sklearnex.__version__, "labels": out.labels_.tolist(),
                  "accelerated": "running accelerated version" in log.getvalue()}))
"""


def tfidf_like(n: int, d: int, nnz_per_row: int, seed: int = 0) -> sp.csr_matrix:
    """Rows of nnz_per_row distinct terms drawn with Zipf-like frequencies (exponent 1.1),
    term counts 1 + geometric, values log(1 + tf) * idf, each row L2-normalised."""
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, d + 1) ** 1.1
    p /= p.sum()
    perm = rng.permutation(d)  # popular terms spread over the columns
    draws = rng.choice(d, size=(n, 2 * nnz_per_row), p=p)
    cols = np.empty((n, nnz_per_row), dtype=np.int64)
    for i in range(n):  # distinct terms per row (the first nnz_per_row distinct draws)
        u = np.unique(draws[i])
        if len(u) < nnz_per_row:
            u = np.union1d(u, rng.choice(d, nnz_per_row, replace=False))
        cols[i] = rng.permutation(u)[:nnz_per_row]
    cols = perm[cols]
    tf = 1 + rng.geometric(0.5, size=(n, nnz_per_row)) - 1
    X = sp.csr_matrix((np.log1p(tf).ravel().astype(np.float64), cols.ravel(),
                       np.arange(0, n * nnz_per_row + 1, nnz_per_row)), shape=(n, d))
    X.sum_duplicates()
    df = np.bincount(X.indices, minlength=d)
    idf = np.log((1 + n) / (1 + df)) + 1.0
    X = X @ sp.diags(idf)
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    X = sp.diags(1.0 / np.maximum(norms, 1e-12)) @ X
    X = sp.csr_matrix(X, dtype=np.float32)
    X.sort_indices()
    return X


def load_mnist_train(folder: Path) -> np.ndarray:
    sys.path.insert(0, str(REPO / "python"))
    from mnist_kmeans.datasets import load_mnist

    images, _ = load_mnist("train", path=folder)
    return images.reshape(len(images), -1).astype(np.float32)


def median(times: list[float]) -> float:
    return statistics.median(times)


def fit_ours(X: Any, init: np.ndarray, iters: int) -> tuple[float, float, Any]:
    from mnist_kmeans import KMeans

    t, c = time.perf_counter(), time.process_time()
    km = KMeans(len(init), init=init, n_init=1, max_iter=iters, tol=0.0, algorithm="lloyd").fit(X)
    return time.perf_counter() - t, time.process_time() - c, km


def fit_sklearn(X: Any, init: np.ndarray, iters: int) -> tuple[float, float, Any]:
    from sklearn.cluster import KMeans

    t, c = time.perf_counter(), time.process_time()
    km = KMeans(len(init), init=init, n_init=1, max_iter=iters, tol=0.0, algorithm="lloyd").fit(X)
    return time.perf_counter() - t, time.process_time() - c, km


def run_sklearnex(python: str, X: sp.csr_matrix, init: np.ndarray, iters: int,
                  repeat: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.npz"
        np.savez(path, data=X.data, indices=X.indices, indptr=X.indptr,
                 shape=np.array(X.shape), init=init)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        proc = subprocess.run([python, "-c", SKLEARNEX_WORKER, str(path), str(iters), str(repeat)],
                              capture_output=True, text=True, env=env, timeout=3600)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench_case(name: str, inputs: dict[str, Any], k: int, iters: int, repeat: int,
               sklearnex: str | None, seed: int = 0) -> list[list[str]]:
    """One data set and k: rows of the table."""
    first = next(iter(inputs.values()))
    n = first.shape[0]
    rng = np.random.default_rng(seed)
    rows_init = rng.choice(n, k, replace=False)
    csr = inputs.get("csr")
    init = (csr[rows_init].toarray() if csr is not None else first[rows_init]).astype(np.float32)
    results: dict[str, dict[str, Any]] = {}
    plan = [(f"ours {kind}", fit_ours, X) for kind, X in inputs.items()]
    plan += [(f"scikit-learn {kind}", fit_sklearn, X) for kind, X in inputs.items()]
    for _ in range(repeat):  # interleaved
        for label, fit, X in plan:
            seconds, cpu, km = fit(X, init, iters)
            r = results.setdefault(label, {"times": [], "cpu": []})
            r["times"].append(seconds)
            r["cpu"].append(cpu)
            r.update(n_iter=km.n_iter_, inertia=float(km.inertia_), labels=km.labels_)
    if sklearnex and csr is not None:
        r = run_sklearnex(sklearnex, csr, init, iters, repeat)
        if "error" in r:
            print(f"  sklearnex failed: {r['error']}", file=sys.stderr)
        else:
            r["labels"] = np.asarray(r["labels"])
            how = "oneDAL" if r.get("accelerated") else "fell back to scikit-learn"
            results[f"scikit-learn-intelex csr ({how})"] = r
    ref = results[next(iter(results))]
    ours_csr = results.get("ours csr")
    rows = []
    for label, r in results.items():
        t, c = median(r["times"]), median(r["cpu"])
        ratio = f"{median(ours_csr['times']) / t:.2f}" if ours_csr else "-"
        ratio_cpu = f"{median(ours_csr['cpu']) / c:.2f}" if ours_csr else "-"
        agree = float(np.mean(r["labels"] == ref["labels"]))
        rows.append([name, str(k), label, f"{t:.2f}", f"{c:.2f}", str(r["n_iter"]),
                     f"{t / r['n_iter'] * 1e3:.0f}", f"{r['inertia']:.6g}", f"{agree:.4f}", ratio,
                     ratio_cpu])
        print(" | ".join(rows[-1]), file=sys.stderr)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default="mnist,tfidf")
    parser.add_argument("--iters", type=int, default=20, help="max_iter of every fit")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="TF-IDF 20k x 50k, 1 repeat")
    parser.add_argument("--mnist-dir", type=Path, default=DEFAULT_MNIST)
    parser.add_argument("--sklearnex-python", default=None,
                        help="an interpreter with scikit-learn-intelex installed")
    parser.add_argument("--dev", action="store_true", help="time the build under python/")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.dev:
        sys.path.insert(0, str(REPO / "python"))
    import sklearn

    import mnist_kmeans

    repeat = 1 if args.quick else args.repeat
    header = ["data", "k", "library / input", "fit s (wall)", "fit s (CPU)", "n_iter",
              "wall ms / iter", "inertia", "labels = first row's", "ours csr / this (wall)",
              "(CPU)"]
    rows: list[list[str]] = []
    parts = set(args.parts.split(","))
    if "mnist" in parts:
        X = load_mnist_train(args.mnist_dir)
        rows += bench_case("MNIST 60k x 784", {"csr": sp.csr_matrix(X), "dense": X}, 20,
                           args.iters, repeat, args.sklearnex_python)
    if "tfidf" in parts:
        n = 20_000 if args.quick else 100_000
        t = time.perf_counter()
        T = tfidf_like(n, 50_000, 50)
        print(f"tfidf {T.shape} nnz={T.nnz} made in {time.perf_counter() - t:.0f} s", file=sys.stderr)
        for k in (20, 100):
            rows += bench_case(f"TF-IDF {n // 1000}k x 50k, 0.1%", {"csr": T}, k, args.iters,
                               repeat, args.sklearnex_python)
    lines = [
        "# Sparse input: ours vs scikit-learn and scikit-learn-intelex",
        "",
        f"Command: `python benchmarks/sparse_bench.py {' '.join(sys.argv[1:])}`",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs "
        f"({_cpu_model()}); mnist_kmeans {mnist_kmeans.__version__} "
        f"({Path(mnist_kmeans.__file__).parent}), scikit-learn {sklearn.__version__}, "
        f"kernel ISA {mnist_kmeans._kernel.current_isa()}.",
        "",
        f"Lloyd, n_init=1, tol=0, max_iter={args.iters}, same initial centers (k random rows), "
        f"median of {repeat} interleaved fits. 'ours csr / this' below 1: ours (CSR) is faster. "
        "CPU: process time, all threads (less sensitive to other jobs on a shared machine; "
        f"load average (1 min) when the report was written: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs).",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    if not args.sklearnex_python:
        lines += ["", "scikit-learn-intelex: not run (no --sklearnex-python)."]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


if __name__ == "__main__":
    main()
