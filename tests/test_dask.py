"""mnist_kmeans.dask.KMeans against the single-machine mnist_kmeans.KMeans, bit for bit.

MNIST pixels are integers, so every per-cluster sum is exact in float64 and the distributed
fit must give the single-machine fit's labels, centers, n_iter, objectives and histories
exactly, whatever the chunking (blocks whose edges are or are not multiples of the kernel's
512-row chunk, empty blocks) and the number of workers. Most tests share one in-process
LocalCluster of 2 workers; the fault test starts worker processes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

da = pytest.importorskip("dask.array", reason="the optional extra [dask] is not installed")
distributed = pytest.importorskip(
    "distributed", reason="the optional extra [dask] is not installed (distributed)")

import mnist_kmeans  # noqa: E402
from mnist_kmeans import _kernel  # noqa: E402
from mnist_kmeans.dask import KMeans as DaskKMeans  # noqa: E402

CHUNK = _kernel.chunk_rows
N = 3000  # rows of the bundled sample used by most tests


def _cluster(n_workers: int, **kwargs):
    # Without a dashboard the scheduler still serves its HTTP routes, on port 8787 by default:
    # a free port on localhost instead (no "port in use" warning when 8787 is taken).
    return distributed.LocalCluster(
        n_workers=n_workers, threads_per_worker=1, dashboard_address="127.0.0.1:0", **kwargs)


@pytest.fixture(autouse=True)
def restore_environment():
    """A Nanny writes OMP_NUM_THREADS (and friends) into this process's environment too."""
    saved = dict(os.environ)
    yield
    for name in set(os.environ) - set(saved):
        del os.environ[name]
    os.environ.update(saved)


@pytest.fixture(scope="module")
def client():
    saved = dict(os.environ)
    # in-process workers (inproc:// transport: no sockets, no processes)
    with _cluster(2, processes=False) as cluster, distributed.Client(cluster) as c:
        yield c
    for name in set(os.environ) - set(saved):
        del os.environ[name]
    os.environ.update(saved)


@pytest.fixture(scope="module")
def X(mnist_sample) -> np.ndarray:
    return mnist_sample[0][:N]


def chunked(X, chunks):
    return da.from_array(X, chunks=(chunks, X.shape[1]))


def assert_same_fit(local, dist, *, history=True):
    assert dist.n_iter_ == local.n_iter_
    assert np.array_equal(dist.cluster_centers_, local.cluster_centers_)
    assert np.array_equal(dist.labels_.compute(), local.labels_)
    assert np.array_equal(dist.sq_distances_.compute(), local.sq_distances_)
    assert dist.inertia_ == local.inertia_
    assert dist.j_clust_ == local.j_clust_
    if history:
        assert np.array_equal(dist.history_, local.history_)
        assert np.array_equal(dist.j_clust_history_, local.j_clust_history_)
    assert [s.seed for s in dist.restarts_] == [s.seed for s in local.restarts_]
    assert dist.restarts_ == local.restarts_  # seconds are not compared
    assert dist.best_restart_ == local.best_restart_


# chunk sizes: multiples of 512, not, ragged with empty blocks
CHUNKINGS = {
    "aligned": 2 * CHUNK,
    "unaligned": 1300,
    "ragged+empty": (700, 0, 1100, 1, 0, 1199),
}


@pytest.mark.parametrize("chunking", list(CHUNKINGS))
def test_random_init_equals_the_single_machine_fit(client, X, chunking):
    # two restarts once (the seeds, the choice of the best), one elsewhere (time)
    n_init = 2 if chunking == "unaligned" else 1
    params = dict(n_clusters=8, init="random", n_init=n_init, random_state=11,
                  record_history=True)
    local = mnist_kmeans.KMeans(**params).fit(X)
    dist = DaskKMeans(**params).fit(chunked(X, CHUNKINGS[chunking]))
    assert dist.exact_
    assert local.n_iter_ > 10
    assert_same_fit(local, dist)
    assert dist.labels_.chunks == chunked(X, CHUNKINGS[chunking]).chunks[:1]


def test_array_init_uint8_and_numpy_input(client, mnist_sample):
    images = (mnist_sample[0][:N]).astype(np.uint8)  # the dtype MNIST comes in
    init = images[100:110].astype(np.float32)
    local = mnist_kmeans.KMeans(10, init=init, record_history=True).fit(images)
    dist = DaskKMeans(10, init=init, record_history=True).fit(chunked(images, 1000))
    assert_same_fit(local, dist)
    # a NumPy array and a Client: split into blocks by the estimator
    dist = DaskKMeans(10, init=init, client=client).fit(images)
    assert_same_fit(local, dist, history=False)
    with pytest.raises(AttributeError, match="record_history=True"):
        dist.history_


def test_tol_and_max_iter(client, X):
    init = X[:6].copy()
    for params in ({"tol": 1e-3}, {"max_iter": 4}):
        local = mnist_kmeans.KMeans(6, init=init, record_history=True, **params).fit(X)
        dist = DaskKMeans(6, init=init, record_history=True, **params).fit(chunked(X, 1700))
        assert_same_fit(local, dist)
    assert dist.n_iter_ == 4 and not dist.restarts_[0].converged


def test_forced_empty_clusters(client, X):
    # duplicated initial centers: clusters 5..14 start empty and take the farthest rows
    init = np.vstack([X[:5], X[:5], X[:5]])
    local = mnist_kmeans.KMeans(15, init=init, record_history=True).fit(X)
    dist = DaskKMeans(15, init=init, record_history=True).fit(chunked(X, 1100))
    assert local.restarts_[0].n_relocated >= 10
    assert_same_fit(local, dist)


def test_integer_and_real_weights(client, X):
    rng = np.random.default_rng(3)
    init = X[200:208].copy()
    w = rng.integers(0, 4, len(X)).astype(np.float64)
    local = mnist_kmeans.KMeans(8, init=init, max_iter=15, record_history=True).fit(
        X, sample_weight=w)
    dist = DaskKMeans(8, init=init, max_iter=15, record_history=True).fit(
        chunked(X, 1300), sample_weight=da.from_array(w, chunks=2000))  # other chunks: aligned
    assert dist.exact_
    assert_same_fit(local, dist)
    # real weights: the sums are not exact; deterministic per chunking, close to one machine
    w = rng.random(len(X)) + 0.5
    local = mnist_kmeans.KMeans(8, init=init, max_iter=6).fit(X, sample_weight=w)
    fits = [DaskKMeans(8, init=init, max_iter=6).fit(chunked(X, 1300), sample_weight=w)
            for _ in range(2)]
    assert not fits[0].exact_
    assert np.array_equal(fits[0].cluster_centers_, fits[1].cluster_centers_)
    assert fits[0].inertia_ == fits[1].inertia_
    np.testing.assert_allclose(fits[0].cluster_centers_, local.cluster_centers_, rtol=1e-5,
                               atol=1e-3)
    assert fits[0].inertia_ == pytest.approx(local.inertia_, rel=1e-6)


def test_one_and_two_workers_agree(client, X):
    init = X[:7].copy()
    two = DaskKMeans(7, init=init, max_iter=15, client=client).fit(chunked(X, 900))
    with _cluster(1, processes=False) as cluster, distributed.Client(
            cluster, set_as_default=False) as one_client:
        one = DaskKMeans(7, init=init, max_iter=15, client=one_client).fit(chunked(X, 900))
        # labels_ lives on the cluster that fitted it
        assert np.array_equal(one.labels_.compute(scheduler=one_client), two.labels_.compute())
    assert np.array_equal(one.cluster_centers_, two.cluster_centers_)
    assert one.inertia_ == two.inertia_ and one.n_iter_ == two.n_iter_


def test_lineage_stays_constant(client, X):
    scheduler = client.cluster.scheduler
    held = {}

    def count(iteration):
        held[iteration] = len(scheduler.tasks)

    DaskKMeans(9, init=X[:9].copy(), max_iter=30).fit(chunked(X, 1000), _on_iteration=count)
    # tasks the scheduler holds: a few per block, whatever the iteration
    assert len(held) >= 15
    assert max(held[i] for i in range(10, len(held) + 1)) <= max(held[i] for i in range(1, 10)), held


def test_predict_transform_score_and_to_local(client, X):
    Xd = chunked(X, 1300)
    dist = DaskKMeans(6, init=X[:6].copy(), max_iter=8).fit(Xd)
    local = dist.to_local()
    assert isinstance(local, mnist_kmeans.KMeans)
    ref = mnist_kmeans.KMeans(6, init=X[:6].copy(), max_iter=8).fit(X)
    assert np.array_equal(local.labels_, ref.labels_)
    assert np.array_equal(local.sq_distances_, ref.sq_distances_)
    assert local.inertia_ == ref.inertia_
    other = X[::-1][:2500]
    pred = dist.predict(chunked(other, 700))
    assert isinstance(pred, da.Array)
    assert np.array_equal(pred.compute(), ref.predict(other))
    np.testing.assert_array_equal(dist.transform(chunked(other, 700)).compute(),
                                  ref.transform(other))
    assert dist.score(chunked(other, 700)) == pytest.approx(ref.score(other), rel=1e-12)
    assert np.array_equal(dist.predict(other), ref.predict(other))  # NumPy in, NumPy out


# --- bad input: the single machine's errors, before any iteration ---------------------------


def both_raise(client, X_np, X_dask, exc, match, **params):
    with pytest.raises(exc, match=match):
        mnist_kmeans.KMeans(init="random", **params).fit(X_np)
    calls = []
    with pytest.raises(exc, match=match):
        DaskKMeans(init="random", **params).fit(X_dask, _on_iteration=calls.append)
    assert calls == []  # raised before the first pass


def test_bad_input_raises_before_any_iteration(client, X):
    bad = X.copy()
    bad[2500, 7] = np.nan  # in the last block only
    both_raise(client, bad, chunked(bad, 1000), ValueError, "Input X contains NaN",
               n_clusters=3)
    bad[2500, 7] = np.inf
    both_raise(client, bad, chunked(bad, 1000), ValueError, "infinity", n_clusters=3)
    small = X[:5]
    both_raise(client, small, chunked(small, 2), ValueError,
               r"n_samples=5 should be >= n_clusters=10\.", n_clusters=10)
    strings = np.array([["a", "b"], ["c", "d"]])
    both_raise(client, strings, da.from_array(strings, chunks=1), TypeError,
               "must be numbers, got string", n_clusters=1)
    complex_ = X[:10].astype(np.complex64)
    both_raise(client, complex_, chunked(complex_, 5), ValueError, "Complex data not supported",
               n_clusters=2)
    huge = X[:100].astype(np.float64)
    huge[50, 3] = 1e200  # its square overflows float64 (one machine) and it float32 (Dask)
    both_raise(client, huge, chunked(huge, 30), ValueError, "too large", n_clusters=2)
    # negative weights, zero total weight
    w = np.ones(3000)
    w[2999] = -1
    with pytest.raises(ValueError, match="non-negative"):
        DaskKMeans(3, init="random").fit(chunked(X[:3000], 1000), sample_weight=w)
    with pytest.raises(ValueError, match="sums to zero"):
        DaskKMeans(3, init="random").fit(chunked(X[:3000], 1000), sample_weight=np.zeros(3000))
    # no such thing on one machine: columns split across blocks, an empty X
    with pytest.raises(ValueError, match="chunked along its columns"):
        DaskKMeans(3).fit(da.from_array(X[:100], chunks=(50, 400)))
    with pytest.raises(ValueError, match="X is empty"):
        DaskKMeans(3).fit(da.zeros((0, 784), chunks=(10, 784)))
    with pytest.raises(ValueError, match="2-dimensional"):
        DaskKMeans(3).fit(da.zeros((10,), chunks=5))
    with pytest.raises(ValueError, match="init must be"):
        DaskKMeans(3, init="k-means++").fit(chunked(X[:100], 50))


def test_no_client_is_a_clear_error(X, monkeypatch):
    def no_client():
        raise ValueError("No clients found")

    monkeypatch.setattr("mnist_kmeans.dask.default_client", no_client)
    with pytest.raises(ValueError, match="needs a dask.distributed Client"):
        DaskKMeans(2).fit(chunked(X[:100], 50))


# --- k-means|| ---------------------------------------------------------------------------


def test_kmeans_parallel_does_not_depend_on_the_chunking(client, X):
    fits = [DaskKMeans(10, random_state=5, max_iter=2).fit(chunked(X, chunks))
            for chunks in (2 * CHUNK, 1300, (700, 0, 1100, 1, 0, 1199))]
    for other in fits[1:]:
        assert np.array_equal(other.cluster_centers_, fits[0].cluster_centers_)
        assert other.inertia_ == fits[0].inertia_
    assert fits[0].n_passes_ == 1 + 3 + 2 + 1  # validation, 2 rounds + weights, 2 + final
    # with integer weights too (the first row and the draws are weighted)
    w = np.random.default_rng(8).integers(0, 3, len(X)).astype(np.float64)
    weighted = [DaskKMeans(10, random_state=5, max_iter=2).fit(chunked(X, chunks), sample_weight=w)
                for chunks in (1300, (700, 0, 1100, 1, 0, 1199))]
    assert np.array_equal(weighted[0].cluster_centers_, weighted[1].cluster_centers_)
    assert not np.array_equal(weighted[0].cluster_centers_, fits[0].cluster_centers_)
    # another seed, other centers
    assert not np.array_equal(
        DaskKMeans(10, random_state=6, max_iter=2).fit(chunked(X, 1300)).cluster_centers_,
        fits[0].cluster_centers_)


def test_kmeans_parallel_on_tiny_and_repetitive_data(client):
    # fewer distinct rows than candidates wanted: topped up, every cluster gets a row
    X = np.repeat(np.arange(6, dtype=np.float32)[:, None], 50, axis=0)
    dist = DaskKMeans(6, random_state=0).fit(chunked(X, 64))
    assert dist.inertia_ == 0.0
    assert sorted(dist.cluster_centers_[:, 0].tolist()) == [0, 1, 2, 3, 4, 5]
    # k = n
    X = np.arange(8, dtype=np.float32).reshape(4, 2)
    assert DaskKMeans(4, random_state=0).fit(chunked(X, 3)).inertia_ == 0.0


@pytest.mark.slow
def test_kmeans_parallel_quality_on_mnist_train(client, mnist_train):
    X = mnist_train[0]
    start = time.perf_counter()
    local = mnist_kmeans.KMeans(20, init="k-means++", random_state=0).fit(X)
    middle = time.perf_counter()
    dist = DaskKMeans(20, random_state=0).fit(chunked(X, 15000))
    print(local.inertia_, dist.inertia_, local.n_iter_, dist.n_iter_, middle - start,
          time.perf_counter() - middle)
    assert dist.inertia_ <= local.inertia_ * 1.01, (dist.inertia_, local.inertia_)


# --- without the extra -------------------------------------------------------------------


def test_the_package_works_without_dask():
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('dask', 'distributed'):\n"
        "            raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import numpy as np, mnist_kmeans\n"
        "X = np.arange(40, dtype=np.float32).reshape(20, 2)\n"
        "print(mnist_kmeans.KMeans(2, random_state=0).fit(X).n_iter_ > 0)\n"
        "try:\n"
        "    import mnist_kmeans.dask\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert out.stdout.splitlines() == [
        "True", "mnist_kmeans.dask needs dask[array] and distributed: "
        "pip install 'mnist-kmeans[dask]'"]


# --- worker processes: pickling, and a worker killed mid-fit -----------------------------


@pytest.mark.slow
def test_a_worker_killed_mid_fit_changes_nothing(X, tmp_path):
    # X read from files, so that the blocks of a dead worker can be read again
    path = str(tmp_path / "X")
    da.to_npy_stack(path, chunked(X, 700))  # 700: blocks not aligned to 512 rows
    Xd = da.from_npy_stack(path)
    init = np.vstack([X[:4], X[:4], X[10:14]])  # relocations too
    local = mnist_kmeans.KMeans(12, init=init, record_history=True).fit(X)
    killed = []
    with _cluster(2, processes=True) as cluster, distributed.Client(
            cluster, set_as_default=False) as c:
        pids = c.run(os.getpid)
        # the Nanny would start a new worker; closing the cluster would then wait for it
        c.run(lambda dask_worker: setattr(dask_worker, "auto_restart", False), nanny=True)

        def kill(iteration):
            if iteration == 3:  # the worker holding the most blocks of X
                victim = max(c.has_what().items(), key=lambda item: len(item[1]))[0]
                os.kill(pids[victim], signal.SIGKILL)
                killed.append(iteration)
                time.sleep(0.2)  # the next pass starts while the scheduler learns of it

        times = []
        dist = DaskKMeans(12, init=init, record_history=True, client=c).fit(
            Xd, _on_iteration=lambda i: (times.append(time.perf_counter()), kill(i)))
        print("seconds per iteration", np.round(np.diff(times), 3))
        labels = dist.labels_.compute(scheduler=c)
    assert killed == [3]
    assert local.n_iter_ > 5
    assert np.array_equal(labels, local.labels_)
    assert np.array_equal(dist.cluster_centers_, local.cluster_centers_)
    assert np.array_equal(dist.history_, local.history_)
    assert (dist.n_iter_, dist.inertia_, dist.j_clust_) == (
        local.n_iter_, local.inertia_, local.j_clust_)


def test_threads_share_the_cores_and_change_nothing(client, X):
    init = X[:5].copy()
    default = DaskKMeans(5, init=init, max_iter=5).fit(chunked(X, 1300))
    # in-process workers share this process's cores: 2 workers of 1 thread each
    cores = len(os.sched_getaffinity(0))
    assert set(default._task_threads_.values()) == {max(1, cores // 2)}
    for n_threads in (1, 3):
        other = DaskKMeans(5, init=init, max_iter=5, n_threads=n_threads).fit(chunked(X, 1300))
        assert np.array_equal(other.cluster_centers_, default.cluster_centers_)
        assert other.inertia_ == default.inertia_


def test_study_restarts_on_dask_equal_the_local_study(client, X, tmp_path):
    from mnist_kmeans.dask import DaskRunner
    from mnist_kmeans.study import run_study

    local = run_study(X[:1000], 4, 2, random_state=2)
    dist = run_study(X[:1000], 4, 2, random_state=2, runner=DaskRunner(client))
    for name in ("seeds", "inertia", "j_clust", "n_iter", "converged", "n_relocated"):
        assert np.array_equal(getattr(dist, name), getattr(local, name)), name
    for which in ("best", "worst"):
        a, b = getattr(dist, which), getattr(local, which)
        for field in ("centers", "labels", "sq_distances", "inertia_history", "j_clust_history"):
            assert np.array_equal(getattr(a, field), getattr(b, field)), (which, field)
    # the command line: --dask-workers
    from mnist_kmeans.cli import main

    argv = ["study", "--limit", "600", "--k", "3", "--restarts", "2", "--nearest", "3",
            "--quiet", "--seed", "7"]
    assert main([*argv, "--out", str(tmp_path / "local")]) == 0
    assert main([*argv, "--dask-workers", "2", "--out", str(tmp_path / "dask")]) == 0
    import json

    def timeless(value):  # the summary without wall times, dates and the command line
        if isinstance(value, dict):
            return {k: timeless(v) for k, v in value.items()
                    if k not in ("created", "argv") and "seconds" not in k}
        return [timeless(v) for v in value] if isinstance(value, list) else value

    summaries = [timeless(json.loads((tmp_path / d / "summary.json").read_text()))
                 for d in ("local", "dask")]
    assert summaries[0] == summaries[1]
    assert summaries[0]["studies"][0]["runs"]  # not compared empty
