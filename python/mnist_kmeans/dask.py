"""The same exact k-means on a Dask cluster (the optional extra: ``pip install "mnist-kmeans[dask]"``).

:class:`KMeans` fits a ``dask.array`` (rows chunked any way, columns in one chunk) or a NumPy
array on a ``distributed`` cluster, and gives the single-machine :class:`mnist_kmeans.KMeans`'s
results: the same labels, centers, ``n_iter_``, inertia and history, bit for bit, whenever the
per-cluster sums are exact in float64 (integer pixels, no weights or integer weights; see
``exact_``), for any chunking and any number of workers.

How a fit runs
--------------
* **Once**: X is validated block by block (dtype, NaN/inf, float32 range, columns in one chunk,
  k <= n, weights) and converted to float32 rows, persisted on the workers; every error is
  raised before the first iteration. Each persisted block stays recomputable from X's source
  (zarr, npy, ``from_array``): a worker lost mid-fit costs a recomputation, not the fit.
* **Each iteration**: the centers travel once, as a small task (``client.submit(identity,
  centers, pure=False)``): unlike ``scatter(broadcast=True)`` it is recomputed when a worker
  holding it dies. Every block runs the kernel's pass (:func:`mnist_kmeans.kmeans.assign_pass`)
  against them and returns float64 sums and weights, its change count and its objective terms;
  the client adds them **in block order** and runs the same Lloyd step as the single-machine
  loop (:func:`mnist_kmeans.step.lloyd_step`: update, empty-cluster relocation, shift, stop).
  Each block task depends only on its X block and the two latest centers tasks, so the graph
  does not grow with the iterations.
* **Objectives**: the kernel adds the objectives of each 512-row chunk (``_kernel.chunk_rows``)
  in row order, then the chunks in order. A block whose edges are not multiples of 512 returns
  the per-row terms of its partial chunks, and the client folds them with the neighbouring
  block's in global row order: the inertia and J_clust are those of one pass over all rows,
  whatever the chunking (no rechunking, no data moved).
* **Change counts**: a pass counts the rows whose label changed since the previous pass (the
  stopping rule needs it). Each worker keeps its blocks' last labels in memory; a block whose
  labels are not there (its worker died, or the task moved) recomputes them from the previous
  centers, which the task also receives: the same labels, one more pass for that block.

When sums are not exact (real-valued data or weights), block sums added in block order differ
from the single pass's in the last bits: results are deterministic for a given chunking and
within about 1e-6 relative of the single-machine fit.

Initialisation: 'k-means||' (the default, see :func:`kmeans_parallel_centers`), 'random' (the
single-machine estimator's draw, so the whole fit equals it), or an array.

Threads: each task runs the kernel on ``cores // (worker threads on that host)`` threads (at
least 1), or ``n_threads``. A Nanny sets ``OMP_NUM_THREADS=1`` in its worker processes; the
explicit count given to the kernel overrides it. Results do not depend on the thread count.
"""

from __future__ import annotations

import numbers
import os
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

try:
    import dask
    import dask.array as da
    from dask.core import flatten
    from distributed import Client, default_client, futures_of, get_worker, wait
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "mnist_kmeans.dask needs dask[array] and distributed: pip install 'mnist-kmeans[dask]'"
    ) from exc

from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from . import _kernel
from ._validation import (
    check_enough_weighted_samples,
    check_init_centers,
    check_n_clusters,
    check_numeric_kind,
    check_positive_int,
)
from .initialization import choose_centers
from .kmeans import KMeans as LocalKMeans
from .kmeans import _HISTORY_ATTRIBUTES, RunResult, lloyd, missing_attribute
from .restarts import RestartSummary, restart_seeds, seed_entropy
from .step import RelocationCandidates, lloyd_step, merge_candidates, relocation_candidates, sum_in_order

__all__ = ["DaskRunner", "KMeans", "kmeans_parallel_centers"]

CHUNK = int(_kernel.chunk_rows)

#: init names the distributed estimator accepts besides an array
INIT_METHODS = ("k-means||", "random")


# --- worker side ---------------------------------------------------------------------------
# Functions that run in tasks. They receive validated float32 blocks and trust them.

# (run id, block) -> (pass index, labels, sq_distances): the last pass of each block, kept on
# the worker that ran it; an optimisation only (a miss recomputes).
_LAST_PASS: dict[tuple[str, int], tuple[int, np.ndarray, np.ndarray]] = {}
_LAST_PASS_LOCK = threading.Lock()


def _identity(x: Any) -> Any:
    return x


def _drop_run(run_id: str) -> int:
    """Forget the cached passes of a run (on every worker, through ``client.run``)."""
    with _LAST_PASS_LOCK:
        keys = [key for key in _LAST_PASS if key[0] == run_id]
        for key in keys:
            del _LAST_PASS[key]
    return len(keys)


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _task_threads(threads: int | dict[str, int]) -> int:
    """Kernel threads for this task: a given count, or this worker's share of its host."""
    if isinstance(threads, int):
        return threads
    try:
        return int(threads.get(get_worker().address, 1))
    except ValueError:  # not in a worker (e.g. dask's local scheduler)
        return 1


def _as_rows(x: np.ndarray) -> np.ndarray:
    """A block as C-contiguous float32 rows (the one conversion, as on one machine)."""
    with np.errstate(over="ignore"):  # beyond float32 becomes inf: refused by _inspect
        return np.ascontiguousarray(x, dtype=np.float32)


def _inspect(x: np.ndarray, w: np.ndarray | None, with_moments: bool) -> dict[str, Any]:
    """What the client checks of a float32 block, before any iteration."""
    out: dict[str, Any] = {"rows": len(x), "nan": False, "inf": False}
    if len(x) == 0:
        return out
    low, high = float(x.min()), float(x.max())
    if not (np.isfinite(low) and np.isfinite(high)):
        out["nan"] = bool(np.isnan(x).any())
        out["inf"] = not out["nan"]
        return out
    out["largest"] = max(abs(low), abs(high))
    # the kernel's exactness facts (cpp/kmeans/row_facts.cpp): the lowest power of two every
    # value is a multiple of, and the highest float32 exponent
    out["highest"] = int((np.float32(out["largest"]).view(np.uint32) >> np.uint32(23)) & 0xFF)
    if out["largest"] == 0:
        pass  # all zeros: no lowest bit
    elif np.array_equal(x, np.trunc(x)):  # integers (pixels): fast, and 2^0 is low enough
        out["lowest"] = 0
    else:
        bits = x.view(np.uint32).ravel()
        nonzero = (bits & np.uint32(0x7FFFFFFF)) != 0
        e = ((bits[nonzero] >> np.uint32(23)) & np.uint32(0xFF)).astype(np.int64)
        m = (bits[nonzero] & np.uint32(0x7FFFFF)).astype(np.int64)
        significand = np.where(e != 0, m | 0x800000, m)
        lowest_bit = np.log2((significand & -significand).astype(np.float64)).astype(np.int64)
        out["lowest"] = int((np.maximum(e, 1) - 150 + lowest_bit).min())
    if with_moments:  # absolute_tolerance's sums (exact for integer pixels, in any order)
        x64 = x.astype(np.float64)
        out["sum"] = x64.sum(0)
        out["sum_sq"] = (x64 * x64).sum(0)
    if w is not None:
        out["w_nan"] = bool(not np.isfinite(w).all())
        out["w_negative"] = bool((w < 0).any())
        out["w_sum"] = float(w.sum())
        out["w_positive"] = int(np.count_nonzero(w > 0))
        out["w_integer"] = bool(np.array_equal(w, np.floor(w)))
    return out


def _weights_block(w: np.ndarray) -> np.ndarray:
    w = np.asarray(w)
    if w.dtype.kind not in "biuf":
        raise TypeError(f"sample_weight must be numeric, got dtype {w.dtype}")
    return np.ascontiguousarray(w, dtype=np.float64)


def _fold_terms(terms: Sequence[np.ndarray], start: int, n: int) -> list[tuple]:
    """Each global 512-row chunk that the rows [start, start + len) touch, in order:
    ``(chunk, True, folded values)`` for a chunk wholly inside (each term array added row by
    row from 0.0, as the kernel adds a chunk), or ``(chunk, False, term arrays)`` for a chunk
    shared with a neighbouring block (the client folds it; see :func:`_fold_global`)."""
    rows = len(terms[0])
    end = start + rows
    parts: list[tuple] = []
    if rows == 0:
        return parts
    first_full = -(-start // CHUNK) * CHUNK
    head_end = min(first_full, end)
    if head_end > start:  # the block starts inside a chunk: shared
        parts.append((start // CHUNK, False, [t[: head_end - start].copy() for t in terms]))
    body_end = first_full + (end - first_full) // CHUNK * CHUNK if end > first_full else first_full
    if body_end > first_full:
        a, b = first_full - start, body_end - start
        # np.cumsum adds in order, one by one: the last column is the chunk's row-order fold
        folded = [np.cumsum(t[a:b].reshape(-1, CHUNK), axis=1)[:, -1] for t in terms]
        for i in range((b - a) // CHUNK):
            parts.append((first_full // CHUNK + i, True, [f[i] for f in folded]))
    if end > max(body_end, head_end):  # a last piece of a chunk
        a = max(body_end, head_end) - start
        if end == n:  # the last chunk of X, wholly here
            parts.append((end // CHUNK if end % CHUNK else end // CHUNK - 1, True,
                          [np.cumsum(t[a:])[-1] for t in terms]))
        else:
            parts.append((body_end // CHUNK, False, [t[a:].copy() for t in terms]))
    return parts


def _objective_terms(sq: np.ndarray, w: np.ndarray | None) -> list[np.ndarray]:
    # the kernel's terms: w * double(d2) and w * sqrt(double(d2)), w = 1.0 without weights
    d2 = sq.astype(np.float64)
    root = np.sqrt(d2)
    if w is None:
        return [d2, root]
    return [w * d2, w * root]


def _pass_block(
    x: np.ndarray,
    w: np.ndarray | None,
    centers: np.ndarray,
    previous_centers: np.ndarray | None,
    moves: tuple[np.ndarray, np.ndarray] | None,
    run_id: str,
    block: int,
    pass_index: int,
    start: int,
    n: int,
    threads: int | dict[str, int],
) -> dict[str, Any]:
    """One block's share of a pass: what the client reduces (small), nothing per row."""
    n_threads = _task_threads(threads)
    previous = None
    if previous_centers is not None:  # the labels of the previous pass, after its relocations
        with _LAST_PASS_LOCK:
            cached = _LAST_PASS.get((run_id, block))
        if cached is not None and cached[0] == pass_index - 1 and len(cached[1]) == len(x):
            previous = cached[1].copy()
        else:  # not here (a lost worker, a moved task): the same labels, recomputed
            previous = _kernel.assign(x, previous_centers, w, False, n_threads).labels
        if moves is not None:
            previous[moves[0]] = moves[1]
    p = _kernel.assign(x, centers, w, True, n_threads, previous)
    with _LAST_PASS_LOCK:
        _LAST_PASS[(run_id, block)] = (pass_index, p.labels, p.sq_distances)
    return {
        "sums": p.sums,
        "weight_sums": p.weight_sums,
        "n_changed": int(p.n_changed),
        "folds": _fold_terms(_objective_terms(p.sq_distances, w), start, n),
    }


def _last_pass(x, w, centers, run_id, block, pass_index, threads) -> tuple[np.ndarray, np.ndarray]:
    with _LAST_PASS_LOCK:
        cached = _LAST_PASS.get((run_id, block))
    if cached is not None and cached[0] == pass_index and len(cached[1]) == len(x):
        return cached[1], cached[2]
    out = _kernel.assign(x, centers, w, False, _task_threads(threads))
    return out.labels, out.sq_distances


def _candidates_block(x, w, centers, run_id, block, pass_index, start, limit, threads):
    labels, sq = _last_pass(x, w, centers, run_id, block, pass_index, threads)
    return relocation_candidates(x, labels, sq, w, limit=limit, first_row=start)


def _labels_block(x, centers, run_id, pass_index, threads, what, kept, block_id=None):
    # map_blocks over the persisted X: block_id[0] counts the empty blocks too, the passes'
    # block numbers (kept) do not
    if len(x) == 0:
        return np.empty(0, np.int32 if what == 0 else np.float32)
    return _last_pass(x, None, centers, run_id, kept[block_id[0]], pass_index, threads)[what]


def _take(x: np.ndarray, rows: np.ndarray) -> np.ndarray:
    return x[rows]


def _uniform(seed: int, step: int, rows: np.ndarray) -> np.ndarray:
    """Uniform numbers in [0, 1) keyed on (seed, step, global row): splitmix64 of the three,
    so that a row's number does not depend on the block it is in."""
    m = np.uint64(0xFFFFFFFFFFFFFFFF)

    def mix(z: np.ndarray) -> np.ndarray:
        z = (z + np.uint64(0x9E3779B97F4A7C15)) & m
        z = ((z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & m
        z = ((z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & m
        return z ^ (z >> np.uint64(31))

    key = mix(mix(np.array([seed], np.uint64)) ^ np.array([step], np.uint64))
    h = mix(np.asarray(rows, dtype=np.uint64) ^ key)
    return (h >> np.uint64(11)).astype(np.float64) * 2.0**-53


def _first_row_block(rows: int, w: np.ndarray | None, seed: int, start: int):
    """The block's best key for the first center: a uniform draw among the rows of positive
    weight, weighted (Efraimidis-Spirakis keys log(u) / w, largest wins)."""
    if rows == 0:
        return (-np.inf, -1)
    index = np.arange(start, start + rows)
    u = _uniform(seed, 0, index)
    with np.errstate(divide="ignore"):
        key = np.log(u) if w is None else np.where(w > 0, np.log(u) / np.where(w > 0, w, 1), -np.inf)
    best = int(np.argmax(key))  # the lowest row on ties
    return (float(key[best]), int(start + best))


def _cost_block(x, previous_cost, new_centers, threads):
    """Squared distance of each row to its nearest candidate so far (float32, the kernel's)."""
    sq = _kernel.assign(x, new_centers, None, False, _task_threads(threads)).sq_distances
    return sq if previous_cost is None else np.minimum(previous_cost, sq)


def _cost_folds(cost, w, start, n):
    c = cost.astype(np.float64)
    return _fold_terms([c if w is None else w * c], start, n)


def _sample_block(x, cost, w, seed, step, start, ell, phi):
    """Rows drawn with probability min(1, ell * w * cost / phi), keyed on (seed, step, row)."""
    if len(x) == 0:
        return np.empty(0, np.int64), np.empty((0, x.shape[1]), np.float32)
    index = np.arange(start, start + len(x))
    c = cost.astype(np.float64) if w is None else w * cost.astype(np.float64)
    chosen = np.flatnonzero(_uniform(seed, step, index) * phi < ell * c)
    return index[chosen], x[chosen]


def _top_up_block(rows, w, seed, step, start, taken, need):
    """Up to ``need`` rows of positive weight not yet taken, with the smallest keys."""
    index = np.arange(start, start + rows)
    ok = ~np.isin(index, taken)
    if w is not None:
        ok &= w > 0
    index = index[ok]
    keys = _uniform(seed, step, index)
    order = np.lexsort((index, keys))[:need]
    return keys[order], index[order]


def _weights_of_candidates(x, w, candidates, threads):
    return _kernel.assign(x, candidates, w, True, _task_threads(threads)).weight_sums


# --- client side ---------------------------------------------------------------------------


def _fold_global(parts_per_block: Sequence[list[tuple]], n_terms: int) -> list[float]:
    """The objectives of one pass over all rows, from the blocks' :func:`_fold_terms`, in
    block order: each chunk's fold (a shared chunk's terms folded across the blocks, in row
    order), then the chunks added in order (:func:`sum_in_order`)."""
    values: list[list[float]] = [[] for _ in range(n_terms)]
    pending: list[list[np.ndarray]] = []
    pending_chunk = None

    def flush() -> None:
        for i in range(n_terms):
            values[i].append(float(np.cumsum(np.concatenate([p[i] for p in pending]))[-1]))
        pending.clear()

    for parts in parts_per_block:
        for chunk, whole, payload in parts:
            if pending and chunk != pending_chunk:
                flush()
            if whole:
                for i in range(n_terms):
                    values[i].append(float(payload[i]))
            else:
                pending.append(payload)
                pending_chunk = chunk
    if pending:
        flush()
    return [sum_in_order(v) for v in values]


class _Rows:
    """X's rows by global index, for :func:`choose_centers` ('random' reads ``len`` and
    ``X[rows]``)."""

    def __init__(self, data: "_Data") -> None:
        self.data = data

    def __len__(self) -> int:
        return self.data.n

    def __getitem__(self, rows: Any) -> np.ndarray:
        return self.data.take(np.asarray(rows, dtype=np.int64))


@dataclass
class _Data:
    """X (float32) and the weights on the workers, block by block (empty blocks left out)."""

    client: Client
    X: Any  # the persisted float32 dask array (all blocks)
    blocks: list  # futures of the non-empty blocks, in order
    weights: list | None  # futures of their weights
    block_ids: list[int]  # index of each in X's blocks
    starts: np.ndarray  # first global row of each
    lengths: np.ndarray
    n: int
    d: int
    threads: int | dict[str, int]

    def w(self, i: int) -> Any:
        return None if self.weights is None else self.weights[i]

    def map(self, fn: Callable, *columns: Any, gather: bool = True) -> list:
        """``fn(*row)`` for every block, one task each, submitted at once; a column is a list
        (one item per block) or one value for all. Results (or futures) in block order."""
        nb = len(self.blocks)
        cols = [c if isinstance(c, list) else [c] * nb for c in columns]
        token = uuid.uuid4().hex
        keys = [f"{fn.__name__.strip('_')}-{token}-{i}" for i in range(nb)]
        futures = self.client.map(fn, *cols, key=keys)
        if not gather:
            return futures
        return self.client.gather(futures)

    def take(self, rows: np.ndarray) -> np.ndarray:
        """X[rows] (global indices, any order) as a float32 array."""
        out = np.empty((len(rows), self.d), np.float32)
        which = np.searchsorted(self.starts, rows, side="right") - 1
        futures, places = [], []
        for b in np.unique(which):
            mine = np.flatnonzero(which == b)
            futures.append(self.client.submit(_take, self.blocks[b], rows[mine] - self.starts[b],
                                              pure=False))
            places.append(mine)
        for mine, got in zip(places, self.client.gather(futures)):
            out[mine] = got
        return out


def _workers(client: Client) -> dict[str, dict]:
    try:
        return client.scheduler_info(n_workers=-1)["workers"]  # all, not the first 5
    except TypeError:  # distributed before 2025.4 lists them all
        return client.scheduler_info()["workers"]


def _host_threads(client: Client) -> dict[str, int]:
    """Kernel threads per worker: its host's cores shared among the host's worker threads."""
    workers = _workers(client)
    cores = client.run(_cpu_count)
    per_host: dict[str, int] = {}
    for info in workers.values():
        per_host[info["host"]] = per_host.get(info["host"], 0) + int(info["nthreads"])
    return {
        address: max(1, int(cores.get(address, 1)) // max(1, per_host[info["host"]]))
        for address, info in workers.items()
    }


def _large_graph_filter() -> warnings.catch_warnings:
    """A NumPy X (or weights) must reach the workers once; kept in the graph, a block lost with
    its worker can be made again. distributed warns about that graph's size: expected here."""
    ctx = warnings.catch_warnings()
    ctx.__enter__()
    warnings.filterwarnings("ignore", message="Sending large graph", category=UserWarning)
    return ctx


def _rows_per_block(n: int, client: Client) -> int:
    threads = sum(int(w["nthreads"]) for w in _workers(client).values())
    per = -(-n // max(1, 2 * threads))
    return max(CHUNK, -(-per // CHUNK) * CHUNK)


def _prepare(
    client: Client, X: Any, sample_weight: Any, n_clusters: Any, with_moments: bool,
    n_threads: int | None,
) -> tuple[_Data, dict[str, Any]]:
    """Validate X and the weights block by block and persist them as float32 / float64."""
    if not isinstance(X, da.Array):
        check_numeric_kind(X, "X")
        X = np.asarray(X)
    else:
        check_numeric_kind(X, "X")
    if X.dtype.kind == "O":
        raise TypeError("X has dtype object: give numbers")
    if X.ndim != 2:
        raise ValueError(
            f"X must be 2-dimensional (n_samples, n_features), got {X.ndim} dimension(s)")
    if X.dtype.kind not in "biuf":
        raise TypeError(f"X must be numeric, got dtype {X.dtype}")
    if isinstance(X, da.Array):
        if any(np.isnan(c) for c in X.chunks[0]):
            raise ValueError("X has unknown chunk sizes: call X.compute_chunk_sizes() first")
        if len(X.chunks[1]) != 1:
            raise ValueError(
                f"X is chunked along its columns ({len(X.chunks[1])} column chunks): each block "
                "must hold whole rows; use X.rechunk({1: -1})")
    n, d = int(X.shape[0]), int(X.shape[1])
    if n == 0 or d == 0:
        raise ValueError(f"X is empty: shape {(n, d)}")
    k = check_n_clusters(n_clusters, n)
    filters = _large_graph_filter()
    try:
        if not isinstance(X, da.Array):
            X = da.from_array(X, chunks=(_rows_per_block(n, client), d))
        Xf = X.map_blocks(_as_rows, dtype=np.float32)
        W = None
        if sample_weight is not None:
            if isinstance(sample_weight, da.Array):
                check_numeric_kind(sample_weight, "sample_weight")
                if sample_weight.shape != (n,):
                    raise ValueError(
                        f"sample_weight must have shape ({n},), got {sample_weight.shape}")
                W = sample_weight.rechunk((X.chunks[0],))
            else:
                w = np.asarray(sample_weight)
                if w.dtype.kind not in "biuf":
                    raise TypeError(f"sample_weight must be numeric, got dtype {w.dtype}")
                if w.ndim == 0:
                    w = np.full(n, float(w))
                if w.shape != (n,):
                    raise ValueError(f"sample_weight must have shape ({n},), got {w.shape}")
                W = da.from_array(w, chunks=(X.chunks[0],))
            W = W.map_blocks(_weights_block, dtype=np.float64)
        Xf = client.persist(Xf)
        W = client.persist(W) if W is not None else None
    finally:
        filters.__exit__(None, None, None)
    x_futures = {f.key: f for f in futures_of(Xf)}
    x_keys = list(flatten(Xf.__dask_keys__()))
    w_futures = {f.key: f for f in futures_of(W)} if W is not None else {}
    w_keys = list(flatten(W.__dask_keys__())) if W is not None else []
    lengths_all = np.array(X.chunks[0], dtype=np.int64)
    starts_all = np.concatenate([[0], np.cumsum(lengths_all)[:-1]]).astype(np.int64)
    keep = [i for i in range(len(lengths_all)) if lengths_all[i] > 0]  # empty blocks: nothing
    threads: int | dict[str, int] = (
        int(n_threads) if n_threads is not None else _host_threads(client))
    data = _Data(
        client=client,
        X=Xf,
        blocks=[x_futures[x_keys[i]] for i in keep],
        weights=[w_futures[w_keys[i]] for i in keep] if W is not None else None,
        block_ids=keep,
        starts=starts_all[keep],
        lengths=lengths_all[keep],
        n=n,
        d=d,
        threads=threads,
    )
    facts = data.map(_inspect, data.blocks, data.weights, with_moments)
    for i, f in enumerate(facts):
        where = f"(block {data.block_ids[i]}, rows {data.starts[i]}..{data.starts[i] + data.lengths[i] - 1})"
        if f["rows"] != data.lengths[i]:
            raise ValueError(f"X block {data.block_ids[i]} has {f['rows']} rows, its chunk "
                             f"size says {data.lengths[i]}")
        if f["nan"]:
            raise ValueError(f"Input X contains NaN {where}.")
        if f["inf"]:
            raise ValueError(
                f"Input X contains infinity or a value too large for dtype('float32') {where}.")
        if data.weights is not None:
            if f["w_nan"]:
                raise ValueError(f"sample_weight contains NaN or infinity {where}")
            if f["w_negative"]:
                raise ValueError(f"sample_weight must be non-negative {where}")
    limit = np.sqrt(np.finfo(np.float32).max / (4.0 * d))
    largest = max(f["largest"] for f in facts)
    if largest > limit:
        raise ValueError(
            f"X has values up to {largest:.3g}, too large: squared distances would overflow "
            f"float32 (limit {limit:.3g} for {d} features); rescale the data")
    summary: dict[str, Any] = {"k": k}
    if data.weights is not None:
        total = sum_in_order([f["w_sum"] for f in facts])
        if not total > 0:
            raise ValueError("sample_weight sums to zero: no point carries any weight")
        summary["w_positive"] = sum(f["w_positive"] for f in facts)
    # exact sums (the kernel's rule in cpp/kmeans/row_facts.cpp, for all of X)
    lows = [f["lowest"] for f in facts if "lowest" in f]
    if not lows:
        exact = True
    else:
        scale = n if data.weights is None else max(n, sum_in_order([f["w_sum"] for f in facts]))
        exact = (max(f["highest"] for f in facts) - 126) + int(np.ceil(scale)).bit_length() \
            - min(lows) <= 52
        if data.weights is not None:
            exact = exact and all(f["w_integer"] for f in facts)
    summary["exact"] = bool(exact)
    if with_moments:
        total = np.zeros(d)
        total_sq = np.zeros(d)
        for f in facts:
            total += f["sum"]
            total_sq += f["sum_sq"]
        summary["moments"] = (total, total_sq)
    return data, summary


@dataclass
class _Run:
    centers: np.ndarray
    inertia: float
    j_clust: float
    history: list[float]
    j_history: list[float]
    n_iter: int
    converged: bool
    n_relocated: int
    run_id: str
    last_pass: int  # the pass whose labels describe the centers (in the workers' caches)


class _Driver:
    """The Lloyd loop of :mod:`mnist_kmeans.step`, one pass = one task per block."""

    def __init__(self, data: _Data, max_iter: int, tol: float,
                 on_iteration: Callable[[int], None] | None) -> None:
        self.data = data
        self.max_iter = max_iter
        self.tol = tol
        self.on_iteration = on_iteration

    def _pass(self, run_id, pass_index, centers_fut, previous_fut, moves) -> tuple:
        results = self._submit_pass(run_id, pass_index, centers_fut, previous_fut, moves)
        sums = results[0]["sums"].copy()
        weight_sums = results[0]["weight_sums"].copy()
        for r in results[1:]:  # block order, whatever order they finished in
            sums += r["sums"]
            weight_sums += r["weight_sums"]
        inertia, j_clust = _fold_global([r["folds"] for r in results], 2)
        return sums, weight_sums, sum(r["n_changed"] for r in results), inertia, j_clust

    def _submit_pass(self, run_id, pass_index, centers_fut, previous_fut, moves) -> list:
        data = self.data
        return data.map(_pass_block, data.blocks, data.weights, centers_fut, previous_fut,
                        moves, run_id, list(range(len(data.blocks))), pass_index,
                        [int(s) for s in data.starts], data.n, data.threads)

    def _moves(self, rows: np.ndarray, to: np.ndarray) -> list | None:
        if len(rows) == 0:
            return None
        data = self.data
        which = np.searchsorted(data.starts, rows, side="right") - 1
        out: list = [None] * len(data.blocks)
        for b in np.unique(which):
            mine = which == b
            out[b] = (rows[mine] - data.starts[b], to[mine])
        return out

    def run(self, init: np.ndarray) -> _Run:
        data, client = self.data, self.data.client
        run_id = uuid.uuid4().hex
        centers = init
        previous_fut = None
        moves = None
        relocated_last = False
        history: list[float] = []
        j_history: list[float] = []
        n_relocated = 0
        step = None
        for iteration in range(1, self.max_iter + 1):
            centers_fut = client.submit(_identity, centers, pure=False)
            sums, weight_sums, n_changed, inertia, j_clust = self._pass(
                run_id, iteration, centers_fut, previous_fut, moves)
            history.append(inertia)
            j_history.append(j_clust)
            if self.on_iteration is not None:
                self.on_iteration(iteration)

            def candidates(wanted: int | None, centers_fut=centers_fut,
                           pass_index=iteration) -> RelocationCandidates:
                return merge_candidates(data.map(
                    _candidates_block, data.blocks, data.weights, centers_fut, run_id,
                    list(range(len(data.blocks))), pass_index, [int(s) for s in data.starts],
                    wanted, data.threads))

            step = lloyd_step(centers, sums, weight_sums, n_changed=n_changed,
                              iteration=iteration, max_iter=self.max_iter, tol=self.tol,
                              relocated_last=relocated_last, candidates=candidates)
            if step.candidates_exhausted:  # pragma: no cover - the callable gives all rows
                raise RuntimeError("relocation candidates ran out")
            if step.converged and not step.final_pass:
                return _Run(centers, inertia, j_clust, history, j_history, iteration, True,
                            n_relocated, run_id, iteration)
            n_relocated += step.n_relocated
            relocated_last = step.n_relocated > 0
            moves = self._moves(step.moved_rows, step.moved_to)
            previous_fut, centers = centers_fut, step.centers
            if step.final_pass:
                break
        assert step is not None
        # the final pass: labels and objectives of the final centers (not an iteration)
        final_fut = client.submit(_identity, centers, pure=False)
        _, _, _, inertia, j_clust = self._pass(run_id, iteration + 1, final_fut, None, None)
        return _Run(centers, inertia, j_clust, history, j_history, iteration, step.converged,
                    n_relocated, run_id, iteration + 1)


def kmeans_parallel_centers(
    data: _Data,
    n_clusters: int,
    seed: int,
    *,
    init_steps: int = 2,
    oversampling_factor: float = 2.0,
    n_threads: int | None = None,
) -> np.ndarray:
    """k-means|| (Bahmani et al. 2012) over the blocks: initial centers, float32 (k, d).

    A first row drawn uniformly (by weight); ``init_steps`` rounds, each one pass that lowers
    every row's cost (squared distance to its nearest candidate) with the newest candidates
    only, then draws each row with probability ``min(1, l * w * cost / phi)``, l =
    ``oversampling_factor * n_clusters``; the draws are keyed on (seed, round, global row) and
    phi is folded in global row order, so the candidates do not depend on the chunking. Too
    few candidates (tiny or repetitive data) are topped up with keyed random rows. One more pass
    weighs each candidate by the weight of the rows nearest to it; then the package's own
    weighted greedy k-means++ and Lloyd run on the candidates, on the client. init_steps + 1
    passes over X.
    """
    client, n = data.client, data.n
    ell = float(oversampling_factor) * n_clusters
    starts = [int(s) for s in data.starts]
    keys = data.map(_first_row_block, [int(r) for r in data.lengths], data.weights, seed, starts)
    first = max(keys, key=lambda kr: (kr[0], -kr[1]))[1]
    rows = [np.array([first], np.int64)]
    points = [data.take(rows[0])]
    cost_futs: list = [None] * len(data.blocks)
    newest = points[0]
    for step in range(1, init_steps + 1):
        new_fut = client.submit(_identity, newest, pure=False)
        cost_futs = data.map(_cost_block, data.blocks, cost_futs, new_fut, data.threads,
                             gather=False)
        folds = data.map(_cost_folds, cost_futs, data.weights, starts, n)
        (phi,) = _fold_global(folds, 1)
        if not phi > 0:
            break  # every row sits on a candidate
        drawn = data.map(_sample_block, data.blocks, cost_futs, data.weights, seed, step,
                         starts, ell, phi)
        new_rows = np.concatenate([r for r, _ in drawn])
        if len(new_rows) == 0:
            continue
        rows.append(new_rows)
        newest = np.concatenate([p for _, p in drawn])
        points.append(newest)
    del cost_futs
    all_rows = np.concatenate(rows)
    candidates = np.concatenate(points)
    if len(all_rows) < n_clusters:  # top up with keyed random rows
        need = n_clusters - len(all_rows)
        got = data.map(_top_up_block, [int(r) for r in data.lengths], data.weights, seed,
                       init_steps + 1, starts, all_rows, need)
        keys = np.concatenate([k for k, _ in got])
        extra = np.concatenate([r for _, r in got])
        extra = extra[np.lexsort((extra, keys))[:need]]
        extra.sort()
        all_rows = np.concatenate([all_rows, extra])
        candidates = np.concatenate([candidates, data.take(extra)])
    cand_fut = client.submit(_identity, candidates, pure=False)
    parts = data.map(_weights_of_candidates, data.blocks, data.weights, cand_fut, data.threads)
    weights = parts[0].copy()
    for p in parts[1:]:
        weights += p
    rng = np.random.RandomState(seed)
    start = choose_centers(candidates, n_clusters, "k-means++", rng, weights)
    return lloyd(candidates, start, sample_weight=weights, n_threads=n_threads,
                 record_history=False).centers


class DaskRunner:
    """Lloyd runs on a Dask cluster for the restart driver of :mod:`mnist_kmeans.study`.

    ``run_study(X, ..., runner=DaskRunner(client))`` (and ``run_notebook``, and the command
    line's ``--scheduler`` / ``--dask-workers``) runs every restart as a distributed fit: the
    same seeds, initial centers and results as the local run, bit for bit, when the cluster
    sums are exact (MNIST pixels). X is sent to the workers once per array (and kept there
    while this runner holds it); each run's labels and distances are gathered to the client.
    """

    def __init__(self, client: Client | None = None) -> None:
        self.client = client if client is not None else default_client()
        self._X: Any = None
        self._data: _Data | None = None

    def __call__(self, X: np.ndarray, *, max_iter: int, n_threads: int | None = None
                 ) -> Callable[..., RunResult]:
        """``run(init_centers, record_history=...)`` over X (validated float32 rows)."""
        if self._X is not X or self._data is None:
            self._data = None  # release the previous array's blocks first
            self._data, _ = _prepare(self.client, X, None, 1, False, n_threads)
            self._X = X
        data = self._data
        driver = _Driver(data, int(max_iter), 0.0, None)

        def run(init_centers: np.ndarray, record_history: bool = True,
                n_threads: int | None = None, control: np.ndarray | None = None) -> RunResult:
            # n_threads and control (restarts.run_jobs) do not apply: the study runs one
            # restart at a time here (max_parallel=1), each spread over the cluster's threads
            del n_threads, control
            r = driver.run(init_centers)
            try:
                parts = data.map(_last_pass, data.blocks, None, r.centers, r.run_id,
                                 list(range(len(data.blocks))), r.last_pass, data.threads)
            finally:
                self.client.run(_drop_run, r.run_id, on_error="ignore")
            empty = np.empty(0, np.float64)
            return RunResult(
                centers=r.centers,
                labels=np.concatenate([p[0] for p in parts]),
                sq_distances=np.concatenate([p[1] for p in parts]),
                inertia_history=np.array(r.history) if record_history else empty,
                j_clust_history=np.array(r.j_history) if record_history else empty,
                inertia=r.inertia,
                j_clust=r.j_clust,
                n_iter=r.n_iter,
                converged=r.converged,
                n_relocated=r.n_relocated,
                init_centers=init_centers,
            )

        return run


class KMeans(ClusterMixin, TransformerMixin, BaseEstimator):
    """K-means on a Dask cluster with the results of :class:`mnist_kmeans.KMeans`.

    Parameters
    ----------
    n_clusters, max_iter, tol, random_state, n_threads, record_history :
        As for :class:`mnist_kmeans.KMeans` (``n_threads``: kernel threads per task; None
        shares each host's cores among its worker threads).
    init : {'k-means||', 'random'} or array-like of shape (n_clusters, n_features), \
default='k-means||'
        'k-means||': see :func:`kmeans_parallel_centers`. 'random': the single-machine
        estimator's draw (the same rows for the same ``random_state``). ('k-means++' would take
        n_clusters passes over X: not offered.)
    n_init : 'auto' or int, default='auto'
        Restarts: 10 for 'random', 1 otherwise, as on one machine.
    init_steps : int, default=2
        Rounds of k-means|| (Spark's default, enough in Bahmani et al.'s experiments).
    oversampling_factor : float, default=2.0
        k-means|| draws about ``oversampling_factor * n_clusters`` rows a round.
    client : distributed.Client or None, default=None
        None: the current default client.

    Attributes
    ----------
    cluster_centers_, inertia_, j_clust_, n_iter_, n_features_in_, restarts_, best_restart_,
    history_, j_clust_history_ :
        As for :class:`mnist_kmeans.KMeans` (the histories only with ``record_history=True``).
    labels_ : dask.array of shape (n_samples,), int32
        Persisted on the workers, chunked as X.
    sq_distances_ : dask.array of shape (n_samples,), float32
        Likewise.
    exact_ : bool
        True when the per-cluster sums were exact in float64 (integer pixels; no weights or
        integer weights): the results are then those of :class:`mnist_kmeans.KMeans` with the
        same initial centers, bit for bit, whatever the chunking. False: deterministic for a
        given chunking, within about 1e-6 relative of the single-machine fit.
    n_passes_ : int
        Passes over X during fit (initialisation included).
    init_seconds_ : float
        Wall time of the kept run's initialisation.

    Notes
    -----
    Differences from :class:`mnist_kmeans.KMeans`: no ``algorithm`` (each pass scores every
    row: the bounds of 'hamerly' and 'yinyang' would have to live with the blocks); no
    'k-means++' init; ``labels_`` is a dask array.
    """

    def __init__(
        self,
        n_clusters: int = 8,
        *,
        init: str | np.ndarray = "k-means||",
        n_init: str | int = "auto",
        max_iter: int = 300,
        tol: float = 0.0,
        random_state: Any = None,
        n_threads: int | None = None,
        record_history: bool = False,
        init_steps: int = 2,
        oversampling_factor: float = 2.0,
        client: Client | None = None,
    ) -> None:
        self.n_clusters = n_clusters
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.n_threads = n_threads
        self.record_history = record_history
        self.init_steps = init_steps
        self.oversampling_factor = oversampling_factor
        self.client = client

    def __getattr__(self, name: str) -> Any:
        raise missing_attribute(self, name)

    def _client(self) -> Client:
        if self.client is not None:
            return self.client
        try:
            return default_client()
        except ValueError:
            raise ValueError(
                "mnist_kmeans.dask.KMeans needs a dask.distributed Client: start one "
                "(Client(LocalCluster()) or Client('scheduler-address')) or pass client="
            ) from None

    def _check_params(self) -> None:
        if isinstance(self.init, str):
            if self.init not in INIT_METHODS:
                raise ValueError(f"init must be 'k-means||', 'random' or an array, got {self.init!r}")
        if self.n_init != "auto":
            check_positive_int(self.n_init, "n_init")
        check_positive_int(self.max_iter, "max_iter")
        check_positive_int(self.init_steps, "init_steps")
        if not (isinstance(self.tol, numbers.Real) and self.tol >= 0):
            raise ValueError(f"tol must be a number >= 0, got {self.tol!r}")
        if not (isinstance(self.oversampling_factor, numbers.Real) and self.oversampling_factor > 0):
            raise ValueError(f"oversampling_factor must be > 0, got {self.oversampling_factor!r}")
        if self.n_threads is not None:
            check_positive_int(self.n_threads, "n_threads")

    def fit(self, X: Any, y: Any = None, sample_weight: Any = None,
            _on_iteration: Callable[[int], None] | None = None) -> "KMeans":
        """Compute the clustering.

        Parameters
        ----------
        X : dask.array or array-like of shape (n_samples, n_features)
            Rows in chunks of any sizes (empty chunks too), columns in one chunk. A NumPy
            array is split into blocks and sent to the workers.
        y : ignored
        sample_weight : dask.array or array-like of shape (n_samples,), optional
        """
        self._check_params()
        client = self._client()
        data, facts = _prepare(client, X, sample_weight, self.n_clusters, self.tol != 0,
                               self.n_threads)
        k, n, d = facts["k"], data.n, data.d
        threads_used = data.threads
        passes = 1  # the validation pass
        run_ids: list[str] = []
        try:
            init = self.init
            if isinstance(init, str):
                n_init = (10 if init == "random" else 1) if self.n_init == "auto" else int(self.n_init)
                if data.weights is not None and facts["w_positive"] < k:
                    check_enough_weighted_samples(np.zeros(facts["w_positive"]) + 1, k)
            else:
                init = check_init_centers(init, k, d)
                if self.n_init != "auto" and self.n_init != 1:
                    warnings.warn(
                        "Explicit initial center position passed: performing only one init in "
                        f"KMeans instead of n_init={self.n_init}.", RuntimeWarning, stacklevel=2)
                n_init = 1
            tol = 0.0
            if self.tol != 0:
                total, total_sq = facts["moments"]
                mean = total / n
                tol = float(np.maximum(total_sq / n - mean * mean, 0.0).mean() * self.tol)
            driver = _Driver(data, int(self.max_iter), tol, _on_iteration)
            given = not isinstance(init, str)
            seeds = [None] if given else restart_seeds(seed_entropy(self.random_state),
                                                       n_init).tolist()
            weights_np = None
            if isinstance(init, str) and init == "random" and data.weights is not None:
                weights_np = np.concatenate(client.gather(data.weights))
            summaries, best, best_index = [], None, 0
            for i, seed in enumerate(seeds):
                start = time.perf_counter()
                if given:
                    centers = init
                elif isinstance(init, str) and init == "random":
                    centers = choose_centers(_Rows(data), k, "random",
                                             np.random.RandomState(seed), weights_np)
                else:
                    centers = kmeans_parallel_centers(
                        data, k, int(seed), init_steps=int(self.init_steps),
                        oversampling_factor=float(self.oversampling_factor),
                        n_threads=self.n_threads)
                    passes += int(self.init_steps) + 1
                init_seconds = time.perf_counter() - start
                run = driver.run(centers)
                run_ids.append(run.run_id)
                passes += run.n_iter + (run.last_pass > run.n_iter)
                summaries.append(RestartSummary(seed, run.inertia, run.j_clust, run.n_iter,
                                                run.converged, run.n_relocated,
                                                time.perf_counter() - start))
                if best is None or run.inertia < best.inertia:  # ties: the earlier stays
                    if best is not None:
                        client.run(_drop_run, best.run_id, on_error="ignore")
                    best, best_index, best_init_seconds = run, i, init_seconds
                else:
                    client.run(_drop_run, run.run_id, on_error="ignore")
            assert best is not None
            # labels and distances of the kept run, from the workers' last pass (or recomputed)
            centers_d = dask.delayed(best.centers)
            kept = {b: i for i, b in enumerate(data.block_ids)}
            out = []
            for what, dtype in ((0, np.int32), (1, np.float32)):
                out.append(data.X.map_blocks(
                    _labels_block, centers_d, best.run_id, best.last_pass, data.threads, what,
                    kept, dtype=dtype, drop_axis=1))
            labels, sq = client.persist(out)
            with client.as_current():  # wait() looks for the current client, maybe not ours
                wait([labels, sq])
        finally:
            for run_id in run_ids:
                client.run(_drop_run, run_id, on_error="ignore")
            del data
        self.cluster_centers_ = best.centers
        self.labels_ = labels
        self.sq_distances_ = sq
        self.inertia_ = best.inertia
        self.j_clust_ = best.j_clust
        self.n_iter_ = best.n_iter
        self.n_features_in_ = d
        for name in _HISTORY_ATTRIBUTES:
            self.__dict__.pop(name, None)
        if self.record_history:
            self.history_ = np.array(best.history, dtype=np.float64)
            self.j_clust_history_ = np.array(best.j_history, dtype=np.float64)
        self.restarts_ = summaries
        self.best_restart_ = best_index
        self.exact_ = facts["exact"]
        self.n_passes_ = passes
        self.init_seconds_ = best_init_seconds
        self._task_threads_ = threads_used
        return self

    # --- use ---------------------------------------------------------------------------

    def _centers_delayed(self) -> Any:
        return dask.delayed(self.cluster_centers_)

    def _check_blocks(self, X: Any) -> Any:
        check_is_fitted(self)
        if not isinstance(X, da.Array):
            return None
        check_numeric_kind(X, "X")
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has shape {X.shape}, expected (n_samples, {self.n_features_in_})")
        if len(X.chunks[1]) != 1:
            X = X.rechunk({1: -1})
        return X

    def predict(self, X: Any) -> Any:
        """Index of the nearest center of each row: a dask array for a dask X (lazy), else
        ndarray of shape (n_samples,), int32."""
        Xd = self._check_blocks(X)
        if Xd is None:
            return self.to_local().predict(X)
        threads = self._task_threads_
        return Xd.map_blocks(_predict_block, self._centers_delayed(), threads,
                             dtype=np.int32, drop_axis=1)

    def transform(self, X: Any) -> Any:
        """Distances to every center: a dask array of shape (n_samples, n_clusters) for a dask X."""
        Xd = self._check_blocks(X)
        if Xd is None:
            return self.to_local().transform(X)
        k = len(self.cluster_centers_)
        return Xd.map_blocks(_transform_block, self._centers_delayed(), dtype=np.float32,
                             chunks=(Xd.chunks[0], (k,)))

    def score(self, X: Any, y: Any = None) -> float:
        """Opposite of the inertia of X on the fitted centers (computed)."""
        Xd = self._check_blocks(X)
        if Xd is None:
            return self.to_local().score(X)
        threads = self._task_threads_
        parts = Xd.map_blocks(_inertia_block, self._centers_delayed(), threads,
                              dtype=np.float64, drop_axis=1, chunks=((1,) * Xd.numblocks[0],))
        return -sum_in_order(parts.compute())

    def to_local(self) -> LocalKMeans:
        """The equivalent fitted :class:`mnist_kmeans.KMeans` (labels gathered to the client)."""
        check_is_fitted(self)
        random = isinstance(self.init, str) and self.init == "random"
        # 'k-means||' is not a single-machine init: the local estimator starts from our centers
        init = self.init if random else (
            self.cluster_centers_.copy() if isinstance(self.init, str) else self.init)
        local = LocalKMeans(
            n_clusters=self.n_clusters, init=init, n_init=self.n_init if random else "auto",
            max_iter=self.max_iter, tol=self.tol, random_state=self.random_state,
            n_threads=self.n_threads, record_history=self.record_history)
        local.cluster_centers_ = self.cluster_centers_.copy()
        local.labels_ = np.asarray(self.labels_.compute())
        local.sq_distances_ = np.asarray(self.sq_distances_.compute())
        for name in ("inertia_", "j_clust_", "n_iter_", "n_features_in_", "best_restart_"):
            setattr(local, name, getattr(self, name))
        local.restarts_ = list(self.restarts_)
        if self.record_history:
            local.history_ = self.history_.copy()
            local.j_clust_history_ = self.j_clust_history_.copy()
        return local


def _predict_block(x, centers, threads):
    threads = _task_threads(threads)
    x = _as_rows(x)
    if len(x) == 0:
        return np.empty(0, np.int32)
    _check_finite_block(x)
    return _kernel.assign(x, centers, None, False, threads).labels


def _inertia_block(x, centers, threads):
    threads = _task_threads(threads)
    x = _as_rows(x)
    if len(x) == 0:
        return np.zeros(1)
    _check_finite_block(x)
    return np.array([_kernel.assign(x, centers, None, False, threads).inertia])


def _transform_block(x, centers):
    from sklearn.metrics.pairwise import euclidean_distances

    x = _as_rows(x)
    if len(x) == 0:
        return np.empty((0, len(centers)), np.float32)
    _check_finite_block(x)
    return euclidean_distances(x, centers)


def _check_finite_block(x: np.ndarray) -> None:
    if not (np.isfinite(x.min()) and np.isfinite(x.max())):
        raise ValueError("Input X contains NaN or infinity.")
