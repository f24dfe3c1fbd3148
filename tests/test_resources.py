"""Resources: no memory, thread or file-descriptor leaks, and 64-bit indexing of big inputs.

* 1,000 consecutive small fits (with predict and direct kernel calls) in one process grow the
  resident set by less than 10 MB, and leave the thread and open-file counts where they were;
* on demand (``MNIST_KMEANS_BIG_TEST=1``, marker ``big``): a fit on a sparse memory-mapped
  float32 file of 2,800,000 x 800 = 2.24e9 values (more than 2**31), whose only non-zero rows
  lie past element 2**31 or straddle it, finds exactly those rows. With 32-bit offsets anywhere
  (row * d, label * d) it would read the wrong rows or crash. It needs about 9 GB of disk
  (sparse: a few MB are really written), reads 9 GB of zero pages through the page cache
  (reclaimable), and takes a minute or two.
"""

from __future__ import annotations

import gc
import os

import numpy as np
import pytest

from mnist_kmeans import _kernel
from mnist_kmeans.kmeans import KMeans, lloyd

PAGE = os.sysconf("SC_PAGE_SIZE")
MB = 1 << 20
BIG_ENV = "MNIST_KMEANS_BIG_TEST"


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def n_threads() -> int:
    return len(os.listdir("/proc/self/task"))


def n_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def small_fit(X: np.ndarray, w: np.ndarray, i: int) -> None:
    # One thread mostly, the OpenMP default team every 100th time: on a machine whose cores
    # are busy with other work, multi-threaded passes can be 50x slower (libgomp's spinning
    # waits at each per-chunk hand-off; see test_interrupt.py).
    threads = None if i % 100 == 0 else 1
    km = KMeans(
        4, init="k-means++" if i % 2 else "random", n_init=1, max_iter=5, random_state=i,
        n_threads=threads,
    )
    km.fit(X, sample_weight=w if i % 3 == 0 else None)
    km.predict(X[:10])
    if i % 5 == 0:  # the lower layers too
        lloyd(X, X[:3].copy(), max_iter=3, n_threads=threads)
        _kernel.assign(X, km.cluster_centers_, None, bool(i % 2), threads or 0)


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc")
def test_thousand_small_fits_do_not_leak():
    rng = np.random.default_rng(0)
    # big enough that leaking any per-call output (labels, distances: 16 KB each) or a copy of
    # X (256 KB) on every fit would cross the 10 MB line
    X = rng.random((4000, 16), dtype=np.float32)
    w = rng.random(4000)
    for i in range(100):  # warm-up: imports, caches, OpenMP thread pools, allocator arenas
        small_fit(X, w, i)
    gc.collect()
    rss0, threads0, fds0 = rss_bytes(), n_threads(), n_fds()
    for i in range(1000):
        small_fit(X, w, i)
    gc.collect()
    grown = rss_bytes() - rss0
    assert grown < 10 * MB, f"resident memory grew by {grown / MB:.1f} MB over 1000 fits"
    assert n_threads() == threads0, "threads were left running"
    assert n_fds() == fds0, "file descriptors were left open"


@pytest.mark.big
@pytest.mark.skipif(os.environ.get(BIG_ENV) != "1", reason=f"on demand: set {BIG_ENV}=1")
def test_fit_on_memmap_beyond_2_pow_31_values(tmp_path):
    n, d = 2_800_000, 800
    assert n * d > 2**31
    boundary_row = 2**31 // d  # its elements straddle offset 2**31
    assert boundary_row * d < 2**31 < (boundary_row + 1) * d
    tail = np.arange(n - 1000, n)
    marked = np.concatenate([[boundary_row], tail])
    path = tmp_path / "big.f32"
    X = np.memmap(path, dtype=np.float32, mode="w+", shape=(n, d))  # sparse: all zeros
    X[marked] = 2.0
    X.flush()
    del X
    assert os.stat(path).st_blocks * 512 < 100 * MB, "the file is not sparse"

    try:
        check_big_fit(np.memmap(path, dtype=np.float32, mode="r", shape=(n, d)), marked)
    finally:
        path.unlink()  # pytest keeps recent tmp folders: do not leave 9 GB (apparent) behind


def check_big_fit(X: np.ndarray, marked: np.ndarray) -> None:
    n, d = X.shape
    init = np.stack([np.zeros(d, np.float32), np.ones(d, np.float32)])
    km = KMeans(2, init=init, max_iter=5, record_history=True).fit(X)

    expected = np.zeros(n, np.int32)
    expected[marked] = 1
    assert np.array_equal(km.labels_, expected)
    assert np.array_equal(km.cluster_centers_, np.stack([np.zeros(d), np.full(d, 2.0)]))
    assert km.inertia_ == 0.0
    assert not np.asarray(km.sq_distances_).any()
    # the first pass saw each marked row at squared distance d from the ones center
    assert km.history_[0] == pytest.approx(len(marked) * d)
    # a single pass straight through the kernel, with sums
    labels, sq, sums, wsum, objective, _ = _kernel.assign(X, km.cluster_centers_, None, True, 0)[:6]
    assert np.array_equal(labels, expected) and objective == 0.0
    assert wsum.tolist() == [n - len(marked), len(marked)]
    assert np.array_equal(sums[1], np.full(d, 2.0 * len(marked)))
