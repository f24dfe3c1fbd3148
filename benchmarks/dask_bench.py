"""mnist_kmeans.dask.KMeans against dask-ml's KMeans and the single-machine fit (issue 10).

Two steps:

    # an infiMNIST-like set: the 60k training images, each copy shifted by up to 2 pixels and
    # rotated by up to 8 degrees (seeded), uint8, to a zarr array
    python benchmarks/dask_bench.py make --rows 1000000 --out /tmp/infimnist.zarr

    # one measurement, printed as a JSON line (run each in a fresh process)
    python benchmarks/dask_bench.py run --data /tmp/infimnist.zarr --impl ours --workers 2
    python benchmarks/dask_bench.py run ... --impl dask-ml      # needs dask-ml installed
    python benchmarks/dask_bench.py run ... --impl local        # mnist_kmeans.KMeans

Every implementation starts from the same explicit centers (rows drawn with a fixed seed) and
runs the same fixed number of iterations (tol=0: nobody stops early), so seconds per iteration
compare like with like; ``--init kmeans||`` times the k-means|| initialisation instead (then
one iteration). Measured: wall time of fit, seconds per iteration (ours: median time between
iterations; dask-ml: fit time / iterations, which includes its extra passes), passes over X
(ours: counted; dask-ml: not known from outside), peak RSS of the workers, bytes read and
written by the TCP comms of the benchmark process (the client and the scheduler both live in
it, so client-scheduler traffic counts twice), final inertia.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from typing import Any

import numpy as np

CHUNK_ROWS = 62_500  # zarr chunk and dask block: 16 blocks for 1M rows, edges not on 512 rows


def make(args: argparse.Namespace) -> None:
    import zarr
    from scipy import ndimage

    from mnist_kmeans.datasets import load_mnist

    images, _ = load_mnist("train", path=args.mnist)
    rng = np.random.default_rng(args.seed)
    out = zarr.create_array(store=args.out, shape=(args.rows, 784), chunks=(args.chunk, 784),
                            dtype="uint8", overwrite=True)
    angles = np.array([-8.0, -4.0, 0.0, 4.0, 8.0])
    start = time.perf_counter()
    for a in range(0, args.rows, args.chunk):
        b = min(a + args.chunk, args.rows)
        source = images[np.arange(a, b) % len(images)].astype(np.float32)
        angle = rng.integers(0, len(angles), b - a)
        shift = rng.integers(-2, 3, size=(b - a, 2))
        block = np.empty_like(source)
        for i, degrees in enumerate(angles):  # one call per angle: the stack as a 3-D image
            mine = np.flatnonzero(angle == i)
            if degrees == 0:
                block[mine] = source[mine]
                continue
            block[mine] = ndimage.rotate(source[mine], degrees, axes=(1, 2), reshape=False,
                                         order=1, mode="constant")
        padded = np.pad(block, ((0, 0), (2, 2), (2, 2)))
        rows = np.arange(28)[None, :, None] + 2 - shift[:, 0, None, None]
        cols = np.arange(28)[None, None, :] + 2 - shift[:, 1, None, None]
        moved = padded[np.arange(b - a)[:, None, None], rows, cols]
        out[a:b] = np.clip(np.rint(moved), 0, 255).astype(np.uint8).reshape(b - a, 784)
    print(json.dumps({"made": args.out, "rows": args.rows,
                      "seconds": round(time.perf_counter() - start, 1)}))


class _ByteCounter:
    """Bytes through distributed's TCP comms in this process (reads and writes)."""

    def __init__(self) -> None:
        from distributed.comm import tcp

        self.read = self.written = 0
        read_bytes_rw, write = tcp.read_bytes_rw, tcp.TCP.write
        counter = self

        async def counted_read(stream, n):
            counter.read += n
            return await read_bytes_rw(stream, n)

        async def counted_write(comm, msg, serializers=None, on_error="message"):
            n = await write(comm, msg, serializers=serializers, on_error=on_error)
            counter.written += n or 0
            return n

        tcp.read_bytes_rw = counted_read
        tcp.TCP.write = counted_write


def _block_inertia(x: np.ndarray, centers: np.ndarray) -> np.ndarray:
    from mnist_kmeans import _kernel

    return np.array([_kernel.assign(np.ascontiguousarray(x), centers, None, False, 1).inertia])


def sum_in_order(values: Any) -> float:
    total = 0.0
    for v in values:
        total += float(v)
    return total


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run(args: argparse.Namespace) -> None:
    import dask.array as da

    Xd = da.from_zarr(args.data)[: args.rows]
    n = Xd.shape[0]
    init_rows = np.sort(np.random.default_rng(args.seed).choice(n, args.k, replace=False))
    init = Xd[init_rows].compute().astype(np.float32)
    record: dict = {"impl": args.impl, "rows": n, "k": args.k, "iterations": args.iters,
                    "workers": args.workers, "init": args.init, "cpu": _cpu()}

    if args.impl == "local":
        from mnist_kmeans import KMeans
        from mnist_kmeans.kmeans import as_float32_rows

        t = time.perf_counter()
        X = as_float32_rows(Xd.compute(scheduler="threads"))
        record["load_seconds"] = round(time.perf_counter() - t, 2)
        for algorithm in ("lloyd", "auto"):
            t = time.perf_counter()
            km = KMeans(args.k, init=init, max_iter=args.iters, algorithm=algorithm).fit(X)
            seconds = time.perf_counter() - t
            record[f"{algorithm}_seconds_per_iteration"] = round(seconds / (km.n_iter_ + 1), 3)
            record["inertia"] = km.inertia_
        record["peak_rss"] = _peak_rss()
        print(json.dumps(record))
        return

    from distributed import Client, LocalCluster

    counter = _ByteCounter()
    with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                      dashboard_address="127.0.0.1:0") as cluster, Client(cluster) as client:
        # Both get the same float32 blocks, persisted (dask-ml does not persist by itself), and
        # workers that have imported the implementation (not timed).
        import importlib

        client.run(importlib.import_module,
                   "mnist_kmeans.dask" if args.impl == "ours" else "dask_ml.cluster")
        t = time.perf_counter()
        Xb = client.persist(Xd.rechunk((args.block, 784)).astype(np.float32))
        from distributed import wait

        wait(Xb)
        record["load_seconds"] = round(time.perf_counter() - t, 2)
        counter.read = counter.written = 0
        if args.impl == "ours":
            from mnist_kmeans.dask import KMeans

            KMeans(args.k, init=init, max_iter=1).fit(Xb[:5000])  # warm-up, as for dask-ml
            counter.read = counter.written = 0
            stamps: list[float] = []
            km = KMeans(args.k, init=init if args.init == "array" else "k-means||",
                        max_iter=args.iters if args.init == "array" else 1, random_state=0)
            t = time.perf_counter()
            km.fit(Xb, _on_iteration=lambda i: stamps.append(time.perf_counter()))
            record["fit_seconds"] = round(time.perf_counter() - t, 2)
            record["seconds_to_first_iteration"] = round(stamps[0] - t, 2)
            record["init_seconds"] = round(km.init_seconds_, 2)
            if len(stamps) > 1:
                record["seconds_per_iteration"] = round(float(np.median(np.diff(stamps))), 3)
            record["passes"] = km.n_passes_
            record["inertia"] = km.inertia_
            record["exact"] = km.exact_
        else:
            from dask_ml.cluster import KMeans

            def fit(max_iter: int, X: Any = Xb) -> tuple[float, Any]:
                km = KMeans(n_clusters=args.k,
                            init=init if args.init == "array" else "k-means||",
                            max_iter=max_iter, tol=0.0, random_state=0, oversampling_factor=2)
                t = time.perf_counter()
                km.fit(X)  # float32 blocks: dask-ml keeps the dtype it is given
                return time.perf_counter() - t, km

            fit(1, Xb[:5000])  # warm-up: numba compiles its kernels in the workers
            counter.read = counter.written = 0
            t1, _ = fit(1)
            tn, km = fit(args.iters)
            record["fit_seconds"] = round(tn, 2)
            record["fit_seconds_1_iteration"] = round(t1, 2)
            # per iteration: the difference of a T-iteration and a 1-iteration fit
            record["seconds_per_iteration"] = round((tn - t1) / (args.iters - 1), 3)
            record["n_iter"] = int(km.n_iter_)
            record["dask_ml_inertia_attribute"] = float(km.inertia_)
            centers = km.cluster_centers_.astype(np.float32)
            record["inertia"] = sum_in_order(
                Xb.map_blocks(_block_inertia, centers, drop_axis=1, chunks=((1,) * Xb.numblocks[0],),
                              dtype=np.float64).compute())
        record["worker_peak_rss"] = sorted(client.run(_peak_rss).values())
        record["comm_bytes_read"] = counter.read
        record["comm_bytes_written"] = counter.written
    print(json.dumps(record))


def _cpu() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return f"{line.split(':', 1)[1].strip()} x{os.cpu_count()}"
    except OSError:
        pass
    return f"unknown x{os.cpu_count()}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("make")
    m.add_argument("--rows", type=int, default=1_000_000)
    m.add_argument("--out", required=True)
    m.add_argument("--chunk", type=int, default=CHUNK_ROWS)
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--mnist", default=os.environ.get("MNIST_DATA_DIR"),
                   help="folder of the MNIST .gz files (default $MNIST_DATA_DIR)")
    r = sub.add_parser("run")
    r.add_argument("--data", required=True)
    r.add_argument("--impl", choices=("ours", "dask-ml", "local"), required=True)
    r.add_argument("--rows", type=int, default=None)
    r.add_argument("--k", type=int, default=10)
    r.add_argument("--iters", type=int, default=5)
    r.add_argument("--workers", type=int, default=2)
    r.add_argument("--block", type=int, default=CHUNK_ROWS)
    r.add_argument("--init", choices=("array", "kmeans||"), default="array")
    r.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.command == "make":
        make(args)
    else:
        run(args)


if __name__ == "__main__":
    sys.exit(main())
