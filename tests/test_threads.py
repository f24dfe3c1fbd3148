"""Threads: the kernel releases the GIL, results never depend on threads, OpenMP limits hold.

* the build has OpenMP (the suite fails here if it was lost);
* a Python thread keeps running while a kernel call runs in another one (the GIL is released
  around every pass), for a single pass, a whole run and a KMeans fit;
* fits started from several Python threads at once, and fits nested in a thread pool whose
  workers each ask for several OpenMP threads, equal the same fits run one by one, bit for bit;
* n_threads = 1, 2, 3 and None give bitwise identical centers, labels, distances and histories;
* OMP_NUM_THREADS and threadpoolctl's limit set the default thread count, seen both through
  ``_kernel.max_threads()`` and through the threads the process really starts.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import mnist_kmeans
from mnist_kmeans import _kernel
from mnist_kmeans.kmeans import KMeans, lloyd

# Child processes import the same package as this one: the source tree in development, the
# installed copy in CI (where the source tree has no compiled module).
PACKAGE_PARENT = Path(mnist_kmeans.__file__).resolve().parents[1]
CHUNK = _kernel.chunk_rows


def bits(a) -> bytes:
    """The bytes of an array or float: equality of these is bitwise identity."""
    return np.ascontiguousarray(a).tobytes()


def fitted_state(km: KMeans) -> tuple:
    return (
        bits(km.cluster_centers_),
        bits(km.labels_),
        bits(km.sq_distances_),
        bits(km.history_),
        bits(km.j_clust_history_),
        bits(np.float64(km.inertia_)),
        bits(np.float64(km.j_clust_)),
        km.n_iter_,
        km.best_restart_,
    )


def run_state(run) -> tuple:
    return (
        bits(run.centers),
        bits(run.labels),
        bits(run.sq_distances),
        bits(run.inertia_history),
        bits(run.j_clust_history),
        bits(np.float64(run.inertia)),
        run.n_iter,
        run.converged,
        run.n_relocated,
    )


@pytest.fixture(scope="module")
def mnist_rows(mnist_sample) -> np.ndarray:
    """Real (sparse, MNIST) rows: 3 chunks and a partial one, so every thread gets work."""
    X, _ = mnist_sample
    return np.ascontiguousarray(X[: 3 * CHUNK + 77])


def subprocess_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    for key in ("OMP_NUM_THREADS", "OMP_THREAD_LIMIT", "OMP_DYNAMIC", "MNIST_KMEANS_ISA"):
        env.pop(key, None)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in [str(PACKAGE_PARENT), env.get("PYTHONPATH", "")] if p
    )
    env.update(extra)
    return env


def run_python(code: str, timeout: float = 60, **env: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=subprocess_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_isa_request_from_the_environment():
    # any case; an unusable name falls back to the widest kernel, with a RuntimeWarning
    code = "import mnist_kmeans.kmeans; from mnist_kmeans import _kernel; print(_kernel.current_isa())"
    assert run_python(code, MNIST_KMEANS_ISA="GENERIC").strip() == "generic"
    widest = _kernel.available_isas()[0]
    proc = subprocess.run([sys.executable, "-W", "error::RuntimeWarning", "-c", code],
                          env=subprocess_env(MNIST_KMEANS_ISA="avx-2"), capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode != 0 and "MNIST_KMEANS_ISA='avx-2' names no kernel" in proc.stderr
    assert run_python("import warnings; warnings.simplefilter('ignore'); " + code,
                      MNIST_KMEANS_ISA="avx-2").strip() == widest


def test_build_has_openmp():
    assert _kernel.has_openmp() is True, "the extension was built without OpenMP"
    assert _kernel.max_threads() >= 1


# --- the GIL ----------------------------------------------------------------------------------


def ticks_during(call) -> tuple[float, float, list[float]]:
    """Run call() while another Python thread records a timestamp every half millisecond."""
    ticks: list[float] = []
    stop = threading.Event()

    def ticker() -> None:
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.0005)

    thread = threading.Thread(target=ticker)
    thread.start()
    try:
        time.sleep(0.01)
        t0 = time.perf_counter()
        call()
        t1 = time.perf_counter()
    finally:
        stop.set()
        thread.join()
    return t0, t1, [t for t in ticks if t0 < t < t1]


def long_problem(k: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.random((12_000, 128), dtype=np.float32)
    return X, X[:k].copy()


@pytest.mark.parametrize("entry", ["assign", "lloyd", "fit"])
def test_kernel_releases_the_gil(entry):
    """With the GIL held through a pass, the ticker would stall for the whole pass.

    A single pass (assign) has no callback at all, so ticks inside it prove the release; lloyd
    and fit make two passes (max_iter=1 plus the final assignment), each about half the call.
    """
    X, C = long_problem(k=2048)
    calls = {
        "assign": lambda: _kernel.assign(X, C, None, False, 1),
        "lloyd": lambda: lloyd(X, C, max_iter=1, n_threads=1),
        "fit": lambda: KMeans(len(C), init=C, max_iter=1, n_threads=1).fit(X),
    }
    t0, t1, ticks = ticks_during(calls[entry])
    duration = t1 - t0
    assert duration > 0.05, f"the call took {duration:.3f} s: too short to tell"
    assert len(ticks) >= 10, f"only {len(ticks)} ticks in {duration:.3f} s: the GIL was held"
    largest_gap = float(np.max(np.diff([t0, *ticks, t1])))
    assert largest_gap < 0.25 * duration, (
        f"the other thread stalled for {largest_gap:.3f} s of a {duration:.3f} s call"
    )


# --- determinism --------------------------------------------------------------------------------


@pytest.mark.parametrize("weighted", [False, True])
def test_thread_count_does_not_change_results(mnist_rows, weighted):
    w = np.random.default_rng(1).random(len(mnist_rows)) if weighted else None
    states = {}
    for n_threads in (1, 2, 3, None):
        km = KMeans(11, init="random", n_init=2, max_iter=20, random_state=3, n_threads=n_threads,
                    record_history=True)
        states[n_threads] = fitted_state(km.fit(mnist_rows, sample_weight=w))
    assert states[1] == states[2] == states[3] == states[None]


@pytest.mark.parametrize("n_threads", [2, 3])
def test_thread_count_single_pass(mnist_rows, isa, n_threads):
    """One pass with sums, with every SIMD kernel: the same bits for any thread count."""
    C = mnist_rows[::97][:13].copy()
    w = np.linspace(0.0, 2.0, len(mnist_rows))
    one = _kernel.assign(mnist_rows, C, w, True, 1)
    many = _kernel.assign(mnist_rows, C, w, True, n_threads)
    assert [bits(np.asarray(a)) for a in one] == [bits(np.asarray(a)) for a in many]


def test_concurrent_fits_equal_serial_fits(mnist_rows):
    """Fits from several Python threads at once (each with its own OpenMP team)."""
    jobs = [(seed, n_threads) for seed in range(3) for n_threads in (1, 2)]

    def fit(job):
        seed, n_threads = job
        km = KMeans(9, n_init=1, max_iter=20, random_state=seed, n_threads=n_threads,
                    record_history=True)
        return fitted_state(km.fit(mnist_rows))

    serial = [fit(job) for job in jobs]
    with ThreadPoolExecutor(max_workers=3) as pool:
        concurrent = list(pool.map(fit, jobs))
    assert concurrent == serial


def test_nested_fits_in_thread_pool_stay_deterministic(mnist_rows):
    """Three workers each asking for three OpenMP threads (nine on this small machine)."""
    C = mnist_rows[:: len(mnist_rows) // 8][:8].copy()
    reference = run_state(lloyd(mnist_rows, C, max_iter=20, n_threads=1))

    def worker(i):
        out = []
        for _ in range(2):
            out.append(run_state(lloyd(mnist_rows, C, max_iter=20, n_threads=3)))
        return out

    with ThreadPoolExecutor(max_workers=3) as pool:
        results = [state for states in pool.map(worker, range(3)) for state in states]
    assert all(state == reference for state in results)


# --- OpenMP limits ------------------------------------------------------------------------------

# Prints max_threads() and how many threads one pass added to the process (libgomp keeps its
# workers alive after a parallel region, so the count after the pass shows the team size - 1).
COUNT_THREADS = f"""
    import os
    import numpy as np
    from mnist_kmeans import _kernel

    def n_threads():
        return len(os.listdir("/proc/self/task"))

    X = np.random.default_rng(0).random((4 * {CHUNK}, 8), dtype=np.float32)
    C = X[:5].copy()

    def pass_threads():
        before = n_threads()
        _kernel.assign(X, C, None, True, 0)
        return n_threads() - before
"""


@pytest.mark.parametrize("omp_num_threads", ["1", "3"])
def test_omp_num_threads_is_respected(omp_num_threads):
    out = run_python(
        COUNT_THREADS + "    print(_kernel.max_threads(), pass_threads())\n",
        OMP_NUM_THREADS=omp_num_threads,
    )
    max_threads, started = map(int, out.split())
    assert max_threads == int(omp_num_threads)
    assert started == int(omp_num_threads) - 1


def test_threadpoolctl_limit_is_respected():
    pytest.importorskip("threadpoolctl")
    out = run_python(
        COUNT_THREADS
        + """
    from threadpoolctl import threadpool_limits
    from mnist_kmeans.kmeans import KMeans
    with threadpool_limits(1, user_api="openmp"):
        inside = _kernel.max_threads()
        started_inside = pass_threads()
        before = n_threads()
        KMeans(3, n_init=1, random_state=0).fit(X)  # n_threads=None: the OpenMP default
        # restarts would run several at once in a thread pool, but the budget is one thread
        KMeans(3, init="random", n_init=4, random_state=0).fit(X)
        fit_inside = n_threads() - before
    print(inside, started_inside, fit_inside, _kernel.max_threads(), pass_threads())
    """,
        OMP_NUM_THREADS="3",
    )
    inside, started_inside, fit_inside, after, started_after = map(int, out.split())
    assert (inside, started_inside, fit_inside) == (1, 0, 0)
    assert (after, started_after) == (3, 2)


def test_threadpoolctl_limit_in_process():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    default = _kernel.max_threads()
    with threadpoolctl.threadpool_limits(1, user_api="openmp"):
        assert _kernel.max_threads() == 1
    assert _kernel.max_threads() == default
