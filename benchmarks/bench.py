"""Benchmark our k-means against scikit-learn, scikit-learn-intelex and faiss on MNIST 60k.

Prints markdown tables (see benchmarks/README.md for what each part measures and how):

  a  seconds per Lloyd iteration, k = 5, 10, 20, 64, 256, with the two floors
  b  time to converge (no label changes) at k = 20 and 256, iterations counted, for each of
     our algorithms too (ours-lloyd, ours-hamerly, ours-elkan, ours-yinyang)
  c  the notebook study: k=20 x 30, k=10 x 20, k=5 x 10 random restarts
  d  peak resident memory of a fit, and its ratio to the size of X
  e  1 thread against 2 threads
  f  growth with n (MNIST repeated with small noise, 10k to 600k rows) and with k

and ends with the targets of issue 4 (met or not), from the figures of the same run.

Every library runs in a process of its own, on the same float32 rows and from the same initial
centers; each figure is a median over repetitions, and ratios are ours / peer from the same run
(below 1: ours is faster). Objectives are recomputed from each library's final centers by one
float64 evaluator, so that no speed comes from doing less work.

    python benchmarks/bench.py --quick
    python benchmarks/bench.py --parts a,b --out results.md
    python benchmarks/bench.py --quick --parts a,b --ks 20,256 \
        --libraries ours,ours-lloyd,ours-hamerly,sklearn-lloyd

It times the installed mnist_kmeans (``pip install ".[bench]"``); ``--dev`` times the development
build under python/ instead (``scripts/dev_build.sh``). The report names the file it timed.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_DATA = Path(
    os.environ.get("MNIST_DATA_DIR", "/work/shared/data/mnist")
) / "train-images-idx3-ubyte.gz"
LIBRARIES = ["ours", "ours-lloyd", "sklearn-lloyd", "sklearn-elkan", "sklearnex", "faiss"]
PEERS = LIBRARIES[2:]
# Our other algorithms, forced (all exact: the same results as 'lloyd'). By default they run in
# parts a, b and d only (parts e and f repeat part a's measurement many times); naming them
# with --libraries runs them in every part that takes the library list.
VARIANTS = ["ours-hamerly", "ours-elkan", "ours-yinyang"]
OURS = ["ours", "ours-lloyd"] + VARIANTS
DEFAULT_LIBRARIES = LIBRARIES + VARIANTS
# Variables that make this machine's OpenBLAS pick a slower kernel for numpy and faiss.
UNSET_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


# --------------------------------------------------------------------------------------------
# data and initial centers (the same in every process)


def load_mnist(path: Path) -> np.ndarray:
    """The IDX images as C-contiguous float32 rows (n, 784)."""
    raw = gzip.open(path).read()
    if int.from_bytes(raw[:4], "big") != 0x00000803:
        raise ValueError(f"{path} is not an IDX file of uint8 images")
    n, h, w = (int.from_bytes(raw[4 * i : 4 * i + 4], "big") for i in (1, 2, 3))
    return np.frombuffer(raw, np.uint8, offset=16).reshape(n, h * w).astype(np.float32)


def grown(X: np.ndarray, n: int, noise: str, seed: int = 0) -> np.ndarray:
    """n rows: X repeated, with uniform noise in [0, 1) added (to the nonzero pixels only, so
    that the rows stay as sparse as MNIST, or to every pixel with noise='dense')."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, X.shape[1]), np.float32)
    for start in range(0, n, len(X)):
        block = out[start : start + len(X)]
        block[:] = X[: len(block)]
        jitter = rng.random(block.shape, dtype=np.float32)
        if noise == "nonzero":
            jitter *= block != 0
        block += jitter
    return out


def initial_centers(X: np.ndarray, k: int, seed: int) -> np.ndarray:
    """k distinct rows chosen uniformly (the notebook's 'random' init), as float32."""
    rows = np.random.RandomState(seed).choice(len(X), k, replace=False)
    return np.ascontiguousarray(X[rows], dtype=np.float32)


def objective(X: np.ndarray, centers: np.ndarray, block: int = 8192) -> float:
    """Sum over rows of the squared distance to the nearest center, in float64."""
    C = centers.astype(np.float64)
    c_sq = (C * C).sum(1)
    total = 0.0
    for start in range(0, len(X), block):
        x = X[start : start + block].astype(np.float64)
        d2 = (x * x).sum(1)[:, None] - 2.0 * (x @ C.T) + c_sq[None, :]
        total += float(np.maximum(d2.min(1), 0.0).sum())
    return total


# --------------------------------------------------------------------------------------------
# the libraries: fit(X, init, max_iter) -> (centers, n_iter)


def make_fit(library: str, history: bool = False
             ) -> Callable[[np.ndarray, np.ndarray, int], tuple[np.ndarray, int]]:
    if library in OURS:
        from mnist_kmeans.kmeans import lloyd

        # ours: the default algorithm ('auto'); ours-NAME: algorithm NAME forced ('lloyd':
        # every row scored in every pass). An algorithm the kernel lacks raises ValueError.
        # history=False: no per-iteration objectives, as the peers (record_history=False).
        algorithm = "auto" if library == "ours" else library.split("-", 1)[1]

        def fit(X, init, max_iter):
            run = lloyd(X, init, max_iter=max_iter, tol=0.0, algorithm=algorithm,
                        record_history=history)
            return run.centers, run.n_iter

    elif library.startswith("sklearn-"):
        from sklearn.cluster import KMeans

        algorithm = library.split("-", 1)[1]

        def fit(X, init, max_iter):
            km = KMeans(len(init), init=init, n_init=1, max_iter=max_iter, tol=0.0,
                        algorithm=algorithm).fit(X)
            return km.cluster_centers_, int(km.n_iter_)

    elif library == "sklearnex":
        from sklearnex.cluster import KMeans

        def fit(X, init, max_iter):
            km = KMeans(len(init), init=init, n_init=1, max_iter=max_iter, tol=0.0,
                        algorithm="lloyd").fit(X)
            return km.cluster_centers_, int(km.n_iter_)

    elif library == "faiss":
        import faiss

        def fit(X, init, max_iter):
            # no subsampling (max_points_per_centroid), no stopping rule: niter passes
            km = faiss.Kmeans(X.shape[1], len(init), niter=max_iter, verbose=False, seed=1,
                              max_points_per_centroid=len(X) + 1, min_points_per_centroid=1)
            km.train(X, init_centroids=init)
            return np.asarray(km.centroids), max_iter

    else:
        raise ValueError(f"unknown library {library!r}")
    return fit


def library_info(library: str) -> dict[str, Any]:
    """Version, thread count and BLAS kernels loaded in this process."""
    info: dict[str, Any] = {"library": library}
    try:
        from threadpoolctl import threadpool_info

        info["pools"] = [
            {k: p.get(k) for k in ("internal_api", "architecture", "num_threads", "prefix")}
            for p in threadpool_info()
        ]
    except ImportError:
        info["pools"] = "threadpoolctl missing"
    if library.startswith("ours"):
        import mnist_kmeans
        from mnist_kmeans import _kernel

        info["version"] = mnist_kmeans.__version__
        info["file"] = mnist_kmeans.__file__
        info["isa"] = _kernel.current_isa()
        info["threads"] = _kernel.max_threads()
    elif library == "faiss":
        import faiss

        info["version"] = faiss.__version__
        info["threads"] = faiss.omp_get_max_threads()
    elif library.startswith("sklearn"):
        import sklearn

        info["version"] = sklearn.__version__
    return info


# --------------------------------------------------------------------------------------------
# measurements, run inside a worker process


def study_as_run_study(library: str, X: np.ndarray, k: int, restarts: int,
                       threads: int) -> dict[str, Any]:
    """Part c for ours, as run_study runs it: the restarts without history, several at once
    on the thread budget (mnist_kmeans.restarts.run_jobs: on 2 threads, two runs of one
    thread each), then the best and the worst again with their histories (the notebook plots
    them), at once too; both phases are in the time. The same starts as the peers' loop."""
    from mnist_kmeans.kmeans import lloyd
    from mnist_kmeans.restarts import run_jobs
    try:
        from mnist_kmeans.kmeans import shared_row_facts
    except ImportError:
        shared_row_facts = None

    algorithm = "auto" if library == "ours" else library.split("-", 1)[1]

    facts: Any = None  # as run_study: the rows' facts once for every restart (timed below)

    def job(init: np.ndarray, history: bool) -> Callable[[int, Any], Any]:
        return lambda n_threads, control: lloyd(X, init, max_iter=300, tol=0.0,
                                                algorithm=algorithm, record_history=history,
                                                n_threads=n_threads, control=control,
                                                row_facts=facts)

    def collect(into: list[Any]) -> Callable[[int, Any], None]:
        def done(i: int, run: Any) -> None:
            into[i] = (run.centers, run.n_iter)  # the centers only: the labels are not kept
        return done

    lloyd(X, initial_centers(X, k, 0), max_iter=2, algorithm=algorithm, record_history=False)
    inits = [initial_centers(X, k, seed) for seed in range(restarts)]
    runs: list[Any] = [None] * restarts
    total = 0.0
    if shared_row_facts is not None:  # older builds have no shared facts
        total, facts = timed(lambda: shared_row_facts(X, algorithm, 300, k, threads))
    total += timed(lambda: run_jobs([job(c, False) for c in inits], threads, collect(runs)))[0]
    objs = [objective(X, centers) for centers, _ in runs]
    kept = sorted({int(np.argmin(objs)), int(np.argmax(objs))})
    again: list[Any] = [None] * len(kept)
    total += timed(lambda: run_jobs([job(inits[i], True) for i in kept], threads,
                                    collect(again)))[0]
    return {"seconds": total, "n_iter": [n for _, n in runs], "objectives": objs}


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def per_iteration(fit, X, init, n1: int, n2: int, repeat: int) -> dict[str, Any]:
    """Marginal seconds per iteration: (median time of max_iter=n2 - median of max_iter=n1)
    / (iterations run difference); fixed costs (validation, copies, setup) cancel out."""
    fit(X, init, n1)  # warm-up: imports, page faults, thread pools
    t1, t2 = [], []
    it1 = it2 = 0
    centers = init
    for _ in range(repeat):
        dt, (_, it1) = timed(lambda: fit(X, init, n1))
        t1.append(dt)
        dt, (centers, it2) = timed(lambda: fit(X, init, n2))
        t2.append(dt)
    m1, m2 = float(np.median(t1)), float(np.median(t2))
    if it2 > it1 and m2 > m1:
        seconds = (m2 - m1) / (it2 - it1)
        method = "slope"
    else:  # converged before n1 iterations, or noise: whole time over iterations
        seconds = m2 / max(it2, 1)
        method = "whole"
    return {"seconds": seconds, "method": method, "n_iter": it2, "n_iter_1": it1, "t_n1": m1,
            "t_n2": m2, "objective": objective(X, centers)}


def task_floors(X: np.ndarray, ks: list[int], repeat: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    ones = np.ones(X.shape[1], np.float32)
    copy = np.empty_like(X)
    for name, fn in {
        "X.sum()": lambda: X.sum(),
        "copy": lambda: np.copyto(copy, X),
        "X @ ones (BLAS, all threads)": lambda: X @ ones,
    }.items():
        fn()
        out[name] = float(np.median([timed(fn)[0] for _ in range(repeat)]))
    out["stream"] = min(out[n] for n in ("X.sum()", "copy", "X @ ones (BLAS, all threads)"))
    out["gemm"] = {}
    for k in ks:
        C = initial_centers(X, k, 0)
        (X @ C.T)
        out["gemm"][str(k)] = float(np.median([timed(lambda: X @ C.T)[0] for _ in range(repeat)]))
    return out


def run_task(task: dict[str, Any]) -> dict[str, Any]:
    library = task["library"]
    if task["kind"] == "probe":  # one small fit: is the library there, and does it run?
        rng = np.random.default_rng(0)
        Xs = np.ascontiguousarray(rng.integers(0, 256, (400, 784)).astype(np.float32))
        make_fit(library)(Xs, initial_centers(Xs, 3, 0), 3)
        return {"probe": "ok"}
    X = np.load(task["data"])
    if task.get("grow"):
        X = grown(X, task["grow"], task.get("noise", "nonzero"))
    result: dict[str, Any] = {"info": None}
    kind = task["kind"]
    if kind == "floors":
        result["floors"] = task_floors(X, task["ks"], task["repeat"])
        result["info"] = library_info("numpy")
        return result
    # ours without per-iteration objectives (record_history=False): the peers compute none
    fit = make_fit(library, history=False)
    if kind == "per_iter":
        result["rows"] = {}
        for k in task["ks"]:
            init = initial_centers(X, k, task["seed"])
            result["rows"][str(k)] = per_iteration(fit, X, init, task["n1"], task["n2"],
                                                   task["repeat"])
    elif kind == "converge":
        result["rows"] = {}
        for k in task["ks"]:
            init = initial_centers(X, k, task["seed"])
            max_iter = task["faiss_iters"][str(k)] if library == "faiss" else 1000
            fit(X, init, 2)
            times, n_iter, centers = [], 0, init
            for _ in range(task["repeat"]):
                dt, (centers, n_iter) = timed(lambda: fit(X, init, max_iter))
                times.append(dt)
            result["rows"][str(k)] = {"seconds": float(np.median(times)), "n_iter": n_iter,
                                      "objective": objective(X, centers)}
    elif kind == "study" and library in OURS:
        result["rows"] = {k: study_as_run_study(library, X, k, restarts, task["threads"])
                          for k, restarts in task["plan"]}
    elif kind == "study":
        with_history = make_fit(library, history=True)
        result["rows"] = {}
        for k, restarts in task["plan"]:
            fit(X, initial_centers(X, k, 0), 2)
            total, iters, objs = 0.0, [], []
            for seed in range(restarts):
                init = initial_centers(X, k, seed)
                dt, (centers, n_iter) = timed(lambda: fit(X, init, 300))
                total += dt
                iters.append(n_iter)
                objs.append(objective(X, centers))
            if library in OURS:
                for seed in sorted({int(np.argmin(objs)), int(np.argmax(objs))}):
                    init = initial_centers(X, k, seed)
                    total += timed(lambda: with_history(X, init, 300))[0]
            result["rows"][str(k)] = {"seconds": total, "n_iter": iters, "objectives": objs}
    elif kind == "memory":
        import resource

        import psutil

        k = task["k"]
        init = initial_centers(X, k, task["seed"])
        before = psutil.Process().memory_info().rss
        peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        fit(X, init, task["n2"])
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        result["memory"] = {"x_bytes": X.nbytes, "rss_before": before, "peak_before": peak_before,
                            "peak": peak}
    else:
        raise ValueError(kind)
    result["info"] = library_info(library)
    return result


# --------------------------------------------------------------------------------------------
# the parent: one process per library and part


def spawn(task: dict[str, Any], threads: int, timeout: float, dev: bool = False) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k not in UNSET_ENV}
    if dev:  # the development build under python/, ahead of any installed copy
        env["PYTHONPATH"] = str(REPO / "python") + os.pathsep + env.get("PYTHONPATH", "")
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    task = dict(task, threads=threads)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(task)]
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"error": " / ".join(tail)[:300]}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    return {"error": "no result printed"}


def combine_rounds(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Per k, the marginal seconds per iteration from the medians over rounds (processes)."""
    out: dict[str, Any] = {}
    for k in {k for r in rounds for k in r}:
        rs = [r[k] for r in rounds if k in r]
        m1 = float(np.median([r["t_n1"] for r in rs]))
        m2 = float(np.median([r["t_n2"] for r in rs]))
        it1, it2 = rs[0]["n_iter_1"], rs[0]["n_iter"]
        if it2 > it1 and m2 > m1:
            seconds, method = (m2 - m1) / (it2 - it1), "slope"
        else:
            seconds, method = m2 / max(it2, 1), "whole"
        out[k] = dict(rs[0], seconds=seconds, method=method, t_n1=m1, t_n2=m2, rounds=len(rs))
    return out


def fmt_s(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x * 1000:.1f} ms" if x < 1 else f"{x:.2f} s"


def ratio(ours: float | None, peer: float | None) -> str:
    if not ours or not peer:
        return ""
    return f" ({ours / peer:.2f}x)"


def rel(obj: float | None, ref: float | None) -> str:
    if obj is None or ref is None:
        return "-"
    return f"{(obj - ref) / ref:+.1e}"


class Report:
    def __init__(self, out: Path | None):
        self.lines: list[str] = []
        self.out = out

    def __call__(self, text: str = "") -> None:
        print(text, flush=True)
        self.lines.append(text)
        if self.out:
            self.out.write_text("\n".join(self.lines) + "\n")


def table(report: Report, header: list[str], rows: list[list[str]]) -> None:
    report("| " + " | ".join(header) + " |")
    report("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        report("| " + " | ".join(row) + " |")
    report()


def describe_info(report: Report, infos: dict[str, Any]) -> None:
    for lib, info in infos.items():
        if not info:
            continue
        pools = info.get("pools")
        if isinstance(pools, list):
            pools = ", ".join(
                f"{p['internal_api']}{'/' + p['architecture'] if p.get('architecture') else ''}"
                f" ({p['prefix']}, {p['num_threads']} threads)" for p in pools
            )
        extra = {k: v for k, v in info.items() if k not in ("library", "pools")}
        report(f"- {lib}: {extra} pools: {pools}")
    report()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default="a,b,c,d,e,f", help="comma-separated: a,b,c,d,e,f")
    parser.add_argument("--quick", action="store_true",
                        help="fewer repetitions, restarts and sizes (a few minutes)")
    parser.add_argument("--libraries", default=None,
                        help="comma-separated, any of " + ", ".join(DEFAULT_LIBRARIES)
                        + " (default: all; " + ", ".join(VARIANTS)
                        + " then run in parts a, b and d only)")
    parser.add_argument("--ks", default="5,10,20,64,256",
                        help="k values of part a (and of part f's growth with k)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", type=Path, help="also write the report to this file")
    parser.add_argument("--dev", action="store_true",
                        help="time the development build under python/ (scripts/dev_build.sh)"
                        " instead of the installed mnist_kmeans")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        task = json.loads(args.worker)
        if task.get("threads") and hasattr(os, "sched_setaffinity"):
            cpus = sorted(os.sched_getaffinity(0))
            os.sched_setaffinity(0, set(cpus[: task["threads"]]))  # also binds TBB (sklearnex)
        print("RESULT " + json.dumps(run_task(task)), flush=True)
        return

    parts = set(args.parts.split(","))
    explicit = args.libraries is not None
    libraries = [lib for lib in (args.libraries or ",".join(DEFAULT_LIBRARIES)).split(",") if lib]
    quick = args.quick
    report = Report(args.out)
    X = load_mnist(args.data)
    tmp = Path(tempfile.mkdtemp(prefix="mnist_kmeans_bench_"))
    data = str(tmp / "X.npy")
    np.save(data, X)
    repeat = 3 if quick else 5
    ks = [int(k) for k in args.ks.split(",") if k]
    n1, n2 = (2, 7) if quick else (2, 12)
    seed = 0
    timeout = 3600.0

    report(f"# k-means benchmark: MNIST {X.shape[0]} x {X.shape[1]} float32"
           f" ({X.nbytes / 2**20:.0f} MiB)")
    report()
    report(f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()},"
           f" {args.threads} threads unless said; {time.strftime('%Y-%m-%d %H:%M')};"
           f" load average {os.getloadavg()[0]:.2f} at the start;"
           f" {'quick' if quick else 'full'} run. Ratios: ours / peer (below 1: ours faster).")
    report()
    infos: dict[str, Any] = {}

    def run(lib: str, task: dict[str, Any], threads: int | None = None) -> dict[str, Any]:
        res = spawn(dict(task, library=lib, data=data), threads or args.threads, timeout,
                    args.dev)
        if res.get("info"):
            infos.setdefault(lib, res["info"])
        if "error" in res:
            report(f"> {lib}, part {task['kind']}: {res['error']}")
        return res

    # One small fit per library first: one that is not installed, or fails (an algorithm our
    # kernel does not have yet raises ValueError), is reported once here and left out.
    left_out = []
    for lib in libraries:
        res = spawn({"kind": "probe", "library": lib, "data": data}, args.threads, 600.0, args.dev)
        if "error" in res:
            why = res["error"].split(" / ")[-1]
            if lib in OURS and "mnist_kmeans" in why:
                why += (" (install the package: pip install \".[bench]\"; or time the development"
                        " build with --dev)")
            report(f"> {lib}: left out, its check fit failed: {why}")
            left_out.append(lib)
    if left_out:
        report()
        libraries = [lib for lib in libraries if lib not in left_out]
    # the libraries of parts e and f: without --libraries, our variants are left out of them
    core = [lib for lib in libraries if explicit or lib not in VARIANTS]

    floor_rounds: list[dict[str, Any]] = []

    def per_iter_rounds(libs: list[str], task: dict[str, Any], threads: int | None = None,
                        floors: bool = False, rounds: int | None = None):
        """Part a's measurement, in `repeat` rounds that visit every library in turn (one fresh
        process each): load changes on a shared machine then hit every library alike. With
        floors, each round also measures the floors (numpy, in a process of its own)."""
        raw: dict[str, list[dict[str, Any]]] = {lib: [] for lib in libs}
        for _ in range(rounds or repeat):
            if floors:
                f = run("numpy", {"kind": "floors", "ks": ks, "repeat": 5}).get("floors")
                infos.pop("numpy", None)
                if f:
                    floor_rounds.append(f)
            for lib in libs:
                rows = run(lib, dict(task, kind="per_iter", repeat=1), threads).get("rows")
                if rows:
                    raw[lib].append(rows)
        return {lib: combine_rounds(r) if r else {} for lib, r in raw.items()}

    def s_of(results: dict[str, dict[str, Any]], lib: str, k: int | str) -> float | None:
        return results.get(lib, {}).get(str(k), {}).get("seconds")

    per_iter: dict[str, dict[str, Any]] = {}
    floors: dict[str, Any] = {}
    if "a" in parts or "f" in parts:
        per_iter = per_iter_rounds(libraries, {"ks": ks, "n1": n1, "n2": n2, "seed": seed},
                                   floors=True)
        if floor_rounds:
            for name in floor_rounds[0]:
                if name != "gemm":
                    floors[name] = float(np.median([f[name] for f in floor_rounds]))
            floors["gemm"] = {k: float(np.median([f["gemm"][k] for f in floor_rounds]))
                              for k in floor_rounds[0]["gemm"]}
    # our variants with figures in part a (one that failed is left out of the tables)
    variants_a = [v for v in VARIANTS if per_iter.get(v)]
    if "a" in parts:
        report("## a. Seconds per Lloyd iteration (median marginal time, see README)")
        report()
        report(f"Floors measured in this run: one streaming read of X = {fmt_s(floors.get('stream'))}"
               f" (fastest of X.sum() {fmt_s(floors.get('X.sum()'))}, copy"
               f" {fmt_s(floors.get('copy'))}, X @ ones {fmt_s(floors.get('X @ ones (BLAS, all threads)'))});"
               " GEMM = numpy X @ C.T (float32, OpenBLAS).")
        report()
        header = ["k", "stream floor", "GEMM floor", "ours (auto)", "ours-lloyd",
                  "ours-lloyd / floor"] + variants_a + [p for p in PEERS if p in libraries]
        rows = []
        for k in ks:
            ours = s_of(per_iter, "ours", k)
            plain = s_of(per_iter, "ours-lloyd", k)
            gemm = floors.get("gemm", {}).get(str(k))
            floor = gemm if k >= 64 else floors.get("stream")
            row = [str(k), fmt_s(floors.get("stream")), fmt_s(gemm), fmt_s(ours), fmt_s(plain),
                   f"{plain / floor:.2f}" if plain and floor else "-"]
            row += [fmt_s(s_of(per_iter, v, k)) for v in variants_a]
            for p in PEERS:
                if p in libraries:
                    s = s_of(per_iter, p, k)
                    row.append(fmt_s(s) + ratio(ours, s))
            rows.append(row)
        table(report, header, rows)
        report("Ratios in parentheses: ours (auto) / peer. 'ours-lloyd / floor' divides by the"
               " streaming floor for k < 64 and by the GEMM floor for k >= 64."
               + (f" {', '.join(variants_a)}: our algorithms forced, without ratios."
                  if variants_a else ""))
        report()
        report(f"Objective (float64, from each library's centers) after {n2} iterations from the"
               " same init, relative to ours:")
        report()
        others = [p for p in ["ours-lloyd"] + variants_a + PEERS if p in libraries]
        rows = []
        for k in ks:
            ref = per_iter.get("ours", {}).get(str(k), {}).get("objective")
            row = [str(k), f"{ref:.6e}" if ref else "-"]
            for p in others:
                r = per_iter.get(p, {}).get(str(k), {})
                row.append(f"{rel(r.get('objective'), ref)} ({r.get('n_iter', '-')} it)")
            rows.append(row)
        table(report, ["k", "ours"] + others, rows)

    conv: dict[str, dict[str, Any]] = {}
    if "b" in parts:
        report("## b. Time to converge from the same init (no label change)")
        report()
        conv["ours"] = run("ours", {"kind": "converge", "ks": [20, 256], "repeat": 1 if quick else 3,
                                    "seed": seed}).get("rows", {})
        faiss_iters = {k: conv["ours"].get(k, {}).get("n_iter", 50) for k in ("20", "256")}
        for p in ["ours-lloyd"] + VARIANTS + PEERS:
            if p in libraries:
                conv[p] = run(p, {"kind": "converge", "ks": [20, 256], "repeat": 1 if quick else 3,
                                  "seed": seed, "faiss_iters": faiss_iters}).get("rows", {})
        rows = []
        for k in ("20", "256"):
            ours = conv["ours"].get(k, {})
            for lib in conv:
                r = conv[lib].get(k, {})
                if not r and lib != "ours":
                    continue  # failed: reported above
                rows.append([k, lib, fmt_s(r.get("seconds")) + (ratio(ours.get("seconds"), r.get("seconds")) if lib != "ours" else ""),
                             str(r.get("n_iter", "-")) + (" (fixed: no stopping rule)" if lib == "faiss" else ""),
                             f"{r['objective']:.6e}" if r.get("objective") else "-",
                             rel(r.get("objective"), ours.get("objective"))])
        table(report, ["k", "library", "time (ours/peer)", "iterations", "objective", "vs ours"], rows)
        report("Ratios in parentheses: ours (auto) / that row, for our forced algorithms too"
               " (above 1: that algorithm beat 'auto'). Our algorithms are exact, so their"
               " iterations and objectives should match ours (+0.0e+00).")
        report()

    plan = [(20, 3), (10, 2), (5, 1)] if quick else [(20, 30), (10, 20), (5, 10)]
    study: dict[str, dict[str, Any]] = {}
    if "c" in parts:
        report("## c. The notebook study: random restarts, same seeds for everyone")
        report()
        for lib in ["ours", "sklearn-lloyd", "sklearn-elkan"]:
            if lib in libraries:
                study[lib] = run(lib, {"kind": "study", "plan": plan}).get("rows", {})
        rows = []
        for k, restarts in plan:
            o = study.get("ours", {}).get(str(k), {})
            peers = {p: study.get(p, {}).get(str(k), {}) for p in ("sklearn-lloyd", "sklearn-elkan")}
            timed_peers = {p: r for p, r in peers.items() if r.get("seconds")}
            best = min(timed_peers, key=lambda p: timed_peers[p]["seconds"]) if timed_peers else None
            for lib, r in [("ours", o)] + list(peers.items()):
                if not r:
                    continue
                objs = np.array(r["objectives"])
                ref = np.array(o.get("objectives", objs))
                rows.append([f"{k} x {restarts}", lib + (" (sklearn's best)" if lib == best else ""),
                             fmt_s(r["seconds"]) + (ratio(o.get("seconds"), r["seconds"]) if lib != "ours" else ""),
                             f"{np.mean(r['n_iter']):.1f}", f"{objs.min():.6e}",
                             f"{np.max(np.abs(objs - ref) / ref):.1e}" if lib != "ours" else "-"])
        table(report, ["k x restarts", "library", "total time (ours/peer)", "mean iterations",
                       "best objective", "max rel. diff per restart"], rows)

    memory: dict[tuple[int, str], dict[str, Any]] = {}
    if "d" in parts:
        report("## d. Peak resident memory of a fit (fresh process)")
        report()
        rows = []
        for k in (20, 256):
            for lib in libraries:
                m = run(lib, {"kind": "memory", "k": k, "n2": n2, "seed": seed}).get("memory")
                if not m:
                    continue
                memory[k, lib] = m
                x = m["x_bytes"]
                rows.append([str(k), lib, f"{m['peak'] / 2**20:.0f} MiB", f"{m['peak'] / x:.2f}",
                             f"{max(m['peak'] - m['rss_before'], 0) / 2**20:.0f} MiB",
                             f"{max(m['peak'] - m['rss_before'], 0) / x:.2f}"])
        table(report, ["k", "library", "peak RSS", "peak / X", "fit's increase", "increase / X"], rows)

    if "e" in parts:
        report("## e. 1 thread against 2 threads (seconds per iteration)")
        report()
        rows = []
        task = {"ks": [20, 256], "n1": n1, "n2": n2, "seed": seed}
        one = per_iter_rounds(core, task, threads=1)
        two = per_iter_rounds(core, task, threads=2)
        for k in ("20", "256"):
            o1 = s_of(one, "ours", k)
            o2 = s_of(two, "ours", k)
            for lib in core:
                s1 = s_of(one, lib, k)
                s2 = s_of(two, lib, k)
                rows.append([k, lib, fmt_s(s1) + (ratio(o1, s1) if lib != "ours" else ""),
                             fmt_s(s2) + (ratio(o2, s2) if lib != "ours" else ""),
                             f"{s1 / s2:.2f}" if s1 and s2 else "-"])
        table(report, ["k", "library", "1 thread (ours/peer)", "2 threads (ours/peer)", "speed-up"], rows)

    if "f" in parts:
        report("## f. Growth with n (k = 20) and with k (n = 60000)")
        report()
        sizes = [10_000, 60_000, 120_000] if quick else [10_000, 30_000, 60_000, 120_000, 300_000, 600_000]
        cases = [(n, "nonzero") for n in sizes] + [(60_000, "dense")]
        grow_libs = [lib for lib in ("ours", "ours-lloyd", "sklearn-lloyd", "sklearnex", "faiss")
                     if lib in core]
        rows = []
        res: dict[tuple[int, str], dict[str, Any]] = {}
        for n, noise in cases:
            r = per_iter_rounds(grow_libs, {"ks": [20], "n1": n1, "n2": n2, "seed": seed,
                                            "grow": n, "noise": noise}, rounds=max(2, repeat - 2))
            for lib in grow_libs:
                res[(n, noise), lib] = r[lib].get("20", {})
            ours = res[(n, noise), "ours"].get("seconds") if "ours" in grow_libs else None
            row = [f"{n}" + (" (noise on every pixel)" if noise == "dense" else ""), fmt_s(ours),
                   f"{ours / n * 1e9:.0f} ns" if ours else "-"]
            for lib in grow_libs[1:]:
                s = res[(n, noise), lib].get("seconds")
                row.append(fmt_s(s) + ratio(ours, s))
            rows.append(row)
        table(report, ["n", "ours", "ours per row"] + grow_libs[1:], rows)
        rows = []
        k_libs = [lib for lib in libraries if per_iter.get(lib)]
        base = {lib: s_of(per_iter, lib, 5) for lib in k_libs}
        for k in ks:
            row = [str(k)]
            for lib in k_libs:
                s = s_of(per_iter, lib, k)
                row.append(f"{fmt_s(s)} ({s / base[lib]:.1f}x k=5)" if s and base[lib] else "-")
            rows.append(row)
        report("Growth with k (from part a's runs):")
        report()
        table(report, ["k"] + k_libs, rows)

    targets(report, parts, quick, per_iter, floors, conv, plan, study, memory)

    report("## Libraries and BLAS kernels in the worker processes")
    report()
    describe_info(report, infos)
    report(f"Worker environment: {', '.join(UNSET_ENV)} unset; OMP/OPENBLAS/MKL_NUM_THREADS and"
           " the CPU affinity set to the thread count.")
    report(f"Load average at the end: {os.getloadavg()[0]:.2f}")


# --------------------------------------------------------------------------------------------
# the targets of issue 4, from the figures measured above


def fastest(results: dict[str, dict[str, Any]], libs: list[str], k: str) -> tuple[str, float] | None:
    """(library, seconds) of the fastest of libs with a time at k, or None."""
    timed_libs = [(lib, results[lib][k]["seconds"]) for lib in libs
                  if results.get(lib, {}).get(k, {}).get("seconds")]
    return min(timed_libs, key=lambda t: t[1]) if timed_libs else None


def targets(report: Report, parts: set[str], quick: bool, per_iter: dict[str, Any],
            floors: dict[str, Any], conv: dict[str, Any], plan: list[tuple[int, int]],
            study: dict[str, Any], memory: dict[tuple[int, str], dict[str, Any]]) -> None:
    """One table: each target of issue 4, its measured value and ratio, and whether it is met.
    A row whose part did not run says 'not run'; one whose figures are missing (a library
    left out or failed) says what is missing."""
    rows: list[list[str]] = []
    ran = [p for p in PEERS if per_iter.get(p) or conv.get(p) or study.get(p)]

    def row(target: str, limit: float, limit_text: str, measured: str | None,
            r: float | None, strict: bool = False, missing: str = "not measured") -> None:
        name = f"{target} (ratio {'<' if strict else '<='} {limit_text})"
        if measured is None or r is None:
            rows.append([name, missing, "-", "-"])
            return
        met = r < limit if strict else r <= limit
        rows.append([name, measured, f"{r:.3f}", "yes" if met else "no"])

    def pair(a_name: str, a: float | None, b_name: str, b: float | None) -> tuple[str | None, float | None]:
        if not a or not b:
            return None, None
        return f"{a_name} {fmt_s(a)} vs {b_name} {fmt_s(b)}", a / b

    def per_iter_rows(k: str, floor_name: str, floor_limit: float, floor_text: str,
                      peer_limit: float, peer_text: str, strict: bool) -> None:
        ran = "a" in parts or "f" in parts
        missing = "not run (part a)" if not ran else "not measured"
        floor = floors.get("stream") if floor_name == "stream" else floors.get("gemm", {}).get(k)
        label = "streaming" if floor_name == "stream" else "GEMM"
        m, r = pair("ours-lloyd", per_iter.get("ours-lloyd", {}).get(k, {}).get("seconds"),
                    f"{label} floor", floor)
        row(f"k={k} per iteration: ours-lloyd (fused kernel) / {label} floor", floor_limit,
            floor_text, m, r, missing=missing)
        best = fastest(per_iter, PEERS, k)
        for lib in ("ours", "ours-lloyd"):
            m, r = pair(lib, per_iter.get(lib, {}).get(k, {}).get("seconds"),
                        best[0] if best else "?", best[1] if best else None)
            row(f"k={k} per iteration: {lib} / fastest peer", peer_limit, peer_text, m, r,
                strict=strict, missing=missing)

    per_iter_rows("20", "stream", 1.3, "1.3", 0.5, "0.5", strict=False)
    per_iter_rows("256", "gemm", 1.25, "1.25", 1.0, "1", strict=True)

    for k in ("20", "256"):
        missing = "not run (part b)" if "b" not in parts else "not measured"
        best = fastest(conv, PEERS, k)
        peer = best[0] if best else "?"
        m, r = pair("ours", conv.get("ours", {}).get(k, {}).get("seconds"), peer,
                    best[1] if best else None)
        row(f"k={k} time to converge: ours / fastest peer", 1 / 3, "1/3", m, r, missing=missing)
        mine = fastest(conv, ["ours-lloyd"] + VARIANTS, k)
        if mine:
            m, r = pair(mine[0], mine[1], peer, best[1] if best else None)
            row(f"k={k} time to converge: best of our forced algorithms / fastest peer", 1 / 3,
                "1/3", m, r, missing=missing)

    missing = "not run (part c)" if "c" not in parts else "not measured"
    totals: list[float] = [0.0, 0.0]
    complete = True
    for k, restarts in plan:
        o = study.get("ours", {}).get(str(k), {}).get("seconds")
        best = fastest(study, ["sklearn-lloyd", "sklearn-elkan"], str(k))
        m, r = pair("ours", o, best[0] if best else "?", best[1] if best else None)
        row(f"notebook study {k} x {restarts}: ours / sklearn's best", 1 / 6, "1/6", m, r,
            missing=missing)
        if o and best:
            totals[0] += o
            totals[1] += best[1]
        else:
            complete = False
    m, r = pair("ours", totals[0], "sklearn's best per row", totals[1]) if complete else (None, None)
    row("notebook study, total: ours / sklearn's best", 1 / 6, "1/6", m, r, missing=missing)

    for k in (20, 256):
        mm = memory.get((k, "ours"))
        missing = "not run (part d)" if "d" not in parts else "not measured"
        inc = max(mm["peak"] - mm["rss_before"], 0) if mm else None
        row(f"k={k} memory: ours' fit's peak increase / 64 MiB", 1.0, "1",
            f"{inc / 2**20:.1f} MiB" if inc is not None else None,
            inc / (64 * 2**20) if inc is not None else None, missing=missing)

    report("## Targets (issue 4)")
    report()
    report("From the figures above (same run"
           + (", --quick: fewer repetitions and restarts" if quick else "")
           + "). Peers: the fastest of those measured in that part ("
           + (", ".join(ran) if ran else "none") + "), named in each row.")
    report()
    table(report, ["target", "measured", "ratio", "met?"], rows)


if __name__ == "__main__":
    main()
