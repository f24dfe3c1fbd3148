"""The exported Lloyd step (cpp/kmeans/step.hpp through mnist_kmeans.kmeans.lloyd_step).

Checked two ways: one step against the NumPy oracle's update (reference.update: relocations and
new centers), on MNIST rows and on adversarial cases; and a Python loop of assign_pass +
lloyd_step, also over blocks of rows as a distributed driver would run it, against the C++ run
(lloyd), bit for bit. MNIST pixels are integers, so every cluster sum is exact in float64 and
the oracle's float64 centers, rounded to float32, must equal the step's exactly.
"""

from __future__ import annotations

import numpy as np
import pytest

from mnist_kmeans import _kernel, reference
from mnist_kmeans.kmeans import (
    as_float32_rows,
    assign_pass,
    initial_centers,
    lloyd,
    lloyd_by_pass,
    lloyd_step,
    merge_candidates,
    relocation_candidates,
    sum_in_order,
)

CHUNK = _kernel.chunk_rows


def exact_sums(X, labels, k, w=None):
    """Per-cluster sums and weights in float64 (exact for integer data and weights)."""
    w = np.ones(len(X)) if w is None else w
    sums = np.zeros((k, X.shape[1]))
    np.add.at(sums, labels, w[:, None] * X.astype(np.float64))
    return sums, np.bincount(labels, weights=w, minlength=k).astype(np.float64)


def check_against_reference(X, labels, centers, sq, w=None, *, limit=None, exact=True):
    """One step from these pass outputs, against reference.update; returns the step."""
    X = as_float32_rows(X)
    centers = np.ascontiguousarray(centers, dtype=np.float32)
    labels = np.asarray(labels, dtype=np.int32)
    sq = np.asarray(sq, dtype=np.float32)
    k = len(centers)
    sums, weight_sums = exact_sums(X, labels, k, w)
    inputs = [a.copy() for a in (centers, sums, weight_sums)]
    cands = relocation_candidates(X, labels, sq, w, limit=limit)
    step = lloyd_step(centers, sums, weight_sums, n_changed=1, iteration=1, max_iter=10,
                      candidates=cands)
    for before, after in zip(inputs, (centers, sums, weight_sums)):
        assert np.array_equal(before, after)  # the caller's arrays are not modified
    assert not step.candidates_exhausted
    ref_centers, ref_labels, ref_moved = reference.update(X, labels, centers, sq, w)
    moved = labels.copy()
    moved[step.moved_rows] = step.moved_to
    assert step.n_relocated == ref_moved == len(step.moved_rows)
    assert np.array_equal(moved, ref_labels)
    assert np.array_equal(step.moved_from, labels[step.moved_rows])
    if exact:
        assert np.array_equal(step.centers, ref_centers.astype(np.float32))
    else:
        np.testing.assert_allclose(step.centers, ref_centers, rtol=1e-5, atol=1e-6)
    filled = step.weight_sums > 0
    diff = step.centers.astype(np.float64) - centers
    assert step.shift == pytest.approx(float((diff[filled] ** 2).sum()), rel=1e-12, abs=1e-300)
    # iteration 1 of 10, tol 0: the step stops (after a final pass) only if no center moved
    assert step.converged == step.final_pass == (step.shift == 0)
    return step


def grid(n, d, seed, high=4):
    return np.random.default_rng(seed).integers(0, high, size=(n, d)).astype(np.float32)


# --- one step against the oracle ----------------------------------------------------------


@pytest.mark.parametrize("weights", ["none", "integer", "real"])
def test_mnist_step_with_empty_clusters(mnist_sample, weights):
    X = mnist_sample[0][:2000]
    rng = np.random.default_rng(5)
    w = {"none": None, "integer": rng.integers(0, 3, len(X)).astype(np.float64),
         "real": rng.random(len(X)) * 2}[weights]
    init = np.vstack([X[:4], X[:4], X[100:103]])  # duplicates: clusters 4..7 start empty
    p = assign_pass(X, init, sample_weight=w)
    assert (p.weight_sums == 0).sum() >= 4
    step = check_against_reference(X, p.labels, init, p.sq_distances, w, exact=weights != "real")
    assert step.n_relocated >= 4
    # the pass's own sums give the same step as the exact ones (integer data)
    if weights != "real":
        again = lloyd_step(init, p.sums, p.weight_sums, n_changed=1, iteration=1,
                           candidates=relocation_candidates(X, p.labels, p.sq_distances, w))
        assert np.array_equal(again.centers, step.centers)
        assert np.array_equal(again.moved_rows, step.moved_rows)


def test_mnist_step_without_empty_clusters(mnist_sample):
    X = mnist_sample[0][:3000]
    init = initial_centers(X, 12, "random", random_state=2)
    p = assign_pass(X, init)
    calls = []
    step = lloyd_step(init, p.sums, p.weight_sums, n_changed=5, iteration=1,
                      candidates=lambda wanted: calls.append(wanted))
    assert calls == []  # no cluster is empty: no candidates asked for
    assert step.n_relocated == 0
    ref_centers, _, _ = reference.update(X, p.labels, init, p.sq_distances)
    assert np.array_equal(step.centers, ref_centers.astype(np.float32))


def test_several_empty_clusters_and_ties():
    # rows 1..6 at the same distance 4 from their centers: ties go to the lowest index
    X = np.array([[0], [2], [2], [-2], [2], [-2], [2], [0], [0]], np.float32)
    labels = np.zeros(9, np.int32)
    labels[5:] = 1
    centers = np.array([[0], [0], [9], [9], [9]], np.float32)
    sq = (X[:, 0] - centers[labels, 0]) ** 2
    step = check_against_reference(X, labels, centers, sq)
    assert step.moved_rows.tolist() == [1, 2, 3]
    assert step.moved_to.tolist() == [2, 3, 4]


def test_a_row_that_would_empty_its_cluster_is_skipped():
    # row 3 is the farthest but alone in cluster 1; row 2 is next
    X = np.array([[0], [1], [3], [50], [0]], np.float32)
    labels = np.array([0, 0, 0, 1, 0], np.int32)
    centers = np.array([[0], [60], [7]], np.float32)
    sq = (X[:, 0] - centers[labels, 0]) ** 2
    step = check_against_reference(X, labels, centers, sq)
    assert step.moved_rows.tolist() == [2] and step.moved_to.tolist() == [2]


def test_zero_weights_are_never_candidates():
    X = grid(40, 3, 0)
    labels = (np.arange(40) % 2).astype(np.int32)
    centers = np.vstack([X[:2], np.full((2, 3), 100.0, np.float32)])
    w = np.ones(40)
    w[:10] = 0.0
    sq = ((X - centers[labels]) ** 2).sum(1)
    sq[:10] = 1e6  # the farthest rows carry no weight
    step = check_against_reference(X, labels, centers, sq, w)
    assert step.n_relocated == 2 and (step.moved_rows >= 10).all()
    # a cluster whose members all have weight 0 is empty too
    labels[:10] = 2
    step = check_against_reference(X, labels, centers, sq, w)
    assert 2 in step.moved_to.tolist()


def test_k_one_and_k_equal_n():
    X = grid(30, 4, 1)
    check_against_reference(X, np.zeros(30, np.int32), X[:1], ((X - X[0]) ** 2).sum(1))
    # k = n with duplicate rows: the duplicates' clusters are empty, but every row sits on its
    # center (distance 0): nothing can move, the empty clusters keep their centers
    X[5] = X[3]
    p = assign_pass(X, X.copy())
    assert (p.weight_sums == 0).sum() >= 1 and not p.sq_distances.any()
    step = check_against_reference(X, p.labels, X, p.sq_distances)
    assert step.n_relocated == 0
    assert np.array_equal(step.centers, X)
    assert step.converged and step.final_pass  # no center moved: scikit-learn's stop at tol 0


def test_truncated_candidates_report_exhaustion():
    # the 3 farthest rows are each alone in their cluster: a list of 3 runs out
    X = np.array([[0], [1], [2], [100], [200], [300]], np.float32)
    labels = np.array([0, 0, 0, 1, 2, 3], np.int32)
    centers = np.array([[0], [90], [190], [290], [-5]], np.float32)
    sq = (X[:, 0] - centers[labels, 0]) ** 2
    sums, weight_sums = exact_sums(X, labels, 5)
    short = relocation_candidates(X, labels, sq, limit=3)
    assert not short.complete and short.rows.tolist() == [3, 4, 5]
    step = lloyd_step(centers, sums, weight_sums, n_changed=1, iteration=1, candidates=short)
    assert step.candidates_exhausted and step.n_relocated == 0
    assert np.array_equal(step.centers, centers) and np.array_equal(step.sums, sums)
    assert np.array_equal(step.weight_sums, weight_sums)
    # no candidates at all, while a cluster is empty: exhausted as well
    assert lloyd_step(centers, sums, weight_sums, n_changed=1, iteration=1).candidates_exhausted
    # a callable is asked for (empty + k) rows first, then for all of them
    asked = []

    def source(wanted):
        asked.append(wanted)
        return relocation_candidates(X, labels, sq, limit=wanted)

    step = lloyd_step(centers, sums, weight_sums, n_changed=1, iteration=1, candidates=source)
    assert asked == [1 + 5] and not step.candidates_exhausted and step.moved_rows.tolist() == [2]
    asked.clear()
    step = lloyd_step(centers, sums, weight_sums, n_changed=1, iteration=1,
                      candidates=lambda wanted: source(None if wanted is None else 3))
    assert asked == [3, None] and step.moved_rows.tolist() == [2]
    check_against_reference(X, labels, centers, sq)


def test_candidates_are_a_prefix_of_the_full_order():
    rng = np.random.default_rng(3)
    sq = rng.integers(0, 6, 3000).astype(np.float32)  # many ties, some zeros
    w = rng.integers(0, 3, 3000).astype(np.float64)
    eligible = np.flatnonzero((sq > 0) & (w > 0))
    full = eligible[np.lexsort((eligible, -sq[eligible]))]
    assert np.array_equal(_kernel.relocation_candidates(sq, w, None), full)
    for limit in (0, 1, 7, 100, len(full) - 1, len(full), len(full) + 5):
        assert np.array_equal(_kernel.relocation_candidates(sq, w, limit), full[:limit])
    # per-block lists merged: the prefix of the global order
    X = np.zeros((3000, 2), np.float32)
    labels = np.zeros(3000, np.int32)
    blocks = [relocation_candidates(X[a:b], labels[a:b], sq[a:b], w[a:b], limit=50, first_row=a)
              for a, b in ((0, 1024), (1024, 2048), (2048, 3000))]
    merged = merge_candidates(blocks)
    assert not merged.complete and np.array_equal(merged.rows, full[:50])
    whole = merge_candidates([relocation_candidates(X[a:b], labels[a:b], sq[a:b], w[a:b],
                                                    first_row=a) for a, b in ((0, 1500), (1500, 3000))])
    assert whole.complete and np.array_equal(whole.rows, full)


def test_stopping_rule():
    X = grid(50, 3, 2)
    labels = (np.arange(50) % 3).astype(np.int32)
    centers = X[:3].copy()
    sums, weight_sums = exact_sums(X, labels, 3)
    # a fixed point: no label changed and no relocation after the previous pass
    fixed = lloyd_step(centers, sums, weight_sums, n_changed=0, iteration=4)
    assert fixed.converged and not fixed.final_pass and fixed.done
    assert np.array_equal(fixed.centers, centers) and fixed.shift == 0.0
    # ... but not right after a relocation
    moved = lloyd_step(centers, sums, weight_sums, n_changed=0, iteration=4, relocated_last=True)
    assert not moved.converged and not moved.done
    # tol: converged after one final pass
    shift = moved.shift
    assert shift > 0
    tol = lloyd_step(centers, sums, weight_sums, n_changed=3, iteration=2, tol=shift)
    assert tol.converged and tol.final_pass
    assert not lloyd_step(centers, sums, weight_sums, n_changed=3, iteration=2,
                          tol=shift * 0.999).done
    # max_iter: a final pass, not converged
    last = lloyd_step(centers, sums, weight_sums, n_changed=3, iteration=5, max_iter=5)
    assert last.final_pass and not last.converged
    # tol = 0 and no center moves (they are the means already, though labels changed): converged
    # after a final pass, as scikit-learn stops (shift <= tol), not one pass later
    means = (sums / weight_sums[:, None]).astype(np.float32)
    still = lloyd_step(means, sums, weight_sums, n_changed=3, iteration=2)
    assert still.shift == 0.0 and still.converged and still.final_pass
    assert np.array_equal(still.centers, means)
    # ... while a center that moves by the least amount does not stop it
    nudged = means.copy()
    nudged[1, 0] = np.nextafter(nudged[1, 0], np.float32(np.inf))
    assert not lloyd_step(nudged, sums, weight_sums, n_changed=3, iteration=2).done


# --- a Python loop of passes and steps equals the C++ run ----------------------------------


def block_pass(X, centers, w, previous, block_rows):
    """One pass over X in blocks of block_rows rows (a multiple of the kernel's chunk), each
    by its own kernel call, combined in block order as a distributed driver would."""
    parts = []
    for a in range(0, len(X), block_rows):
        b = min(a + block_rows, len(X))
        parts.append(assign_pass(
            X[a:b], centers, sample_weight=None if w is None else w[a:b],
            previous_labels=None if previous is None else previous[a:b]))
    sums = np.zeros_like(parts[0].sums)
    weight_sums = np.zeros_like(parts[0].weight_sums)
    for p in parts:  # exact sums: any order gives the same bits
        sums += p.sums
        weight_sums += p.weight_sums
    chunks = np.concatenate([p.chunk_inertia for p in parts])
    chunks_j = np.concatenate([p.chunk_j_clust for p in parts])
    return (np.concatenate([p.labels for p in parts]),
            np.concatenate([p.sq_distances for p in parts]), sums, weight_sums,
            sum_in_order(chunks), sum_in_order(chunks_j),
            sum(p.n_changed for p in parts) if previous is not None else len(X))


def python_lloyd(X, init, w=None, *, max_iter=300, tol=0.0, block_rows=None):
    centers, previous, relocated_last = init, None, False
    history, j_history, n_relocated = [], [], 0
    block_rows = block_rows or len(X)
    for iteration in range(1, max_iter + 1):
        labels, sq, sums, weight_sums, inertia, j_clust, n_changed = block_pass(
            X, centers, w, previous, block_rows)
        history.append(inertia)
        j_history.append(j_clust)

        def candidates(wanted, labels=labels, sq=sq):
            return merge_candidates(
                relocation_candidates(X[a:a + block_rows], labels[a:a + block_rows],
                                      sq[a:a + block_rows],
                                      None if w is None else w[a:a + block_rows],
                                      limit=wanted, first_row=a)
                for a in range(0, len(X), block_rows))

        step = lloyd_step(centers, sums, weight_sums, n_changed=n_changed, iteration=iteration,
                          max_iter=max_iter, tol=tol, relocated_last=relocated_last,
                          candidates=candidates)
        assert not step.candidates_exhausted
        if step.converged and not step.final_pass:
            return centers, labels, sq, history, j_history, iteration, True, n_relocated, inertia
        labels[step.moved_rows] = step.moved_to
        previous, relocated_last, centers = labels, step.n_relocated > 0, step.centers
        n_relocated += step.n_relocated
        if step.final_pass:
            break
    labels, sq, _, _, inertia, _, _ = block_pass(X, centers, w, None, block_rows)
    return centers, labels, sq, history, j_history, iteration, step.converged, n_relocated, inertia


def assert_same_run(X, init, w=None, **kwargs):
    X = as_float32_rows(X)
    init = np.ascontiguousarray(init, dtype=np.float32)
    ref = lloyd(X, init, sample_weight=w, algorithm="lloyd",
                **{k: v for k, v in kwargs.items() if k != "block_rows"})
    centers, labels, sq, history, j_history, n_iter, converged, n_relocated, inertia = (
        python_lloyd(X, init, w, **kwargs))
    assert np.array_equal(centers, ref.centers)
    assert np.array_equal(labels, ref.labels)
    assert np.array_equal(sq, ref.sq_distances)
    assert np.array_equal(history, ref.inertia_history)
    assert np.array_equal(j_history, ref.j_clust_history)
    assert (n_iter, converged, n_relocated) == (ref.n_iter, ref.converged, ref.n_relocated)
    assert inertia == ref.inertia
    return ref


@pytest.mark.parametrize("block_rows", [None, 4 * CHUNK, 5 * CHUNK])
def test_python_loop_equals_the_run_on_mnist(mnist_sample, block_rows):
    X = mnist_sample[0]
    ref = assert_same_run(X, initial_centers(X, 10, "random", random_state=7),
                          block_rows=block_rows)
    assert ref.converged and ref.n_iter > 10


@pytest.mark.parametrize("block_rows", [None, 2 * CHUNK, 3 * CHUNK])
def test_python_loop_equals_the_run_with_relocations(mnist_sample, block_rows):
    X = mnist_sample[0][:3000]
    init = np.vstack([X[:5], X[:5], X[:5]])
    ref = assert_same_run(X, init, block_rows=block_rows)
    assert ref.n_relocated >= 10
    w = np.random.default_rng(4).integers(0, 3, len(X)).astype(np.float64)
    ref = assert_same_run(X, init, w, block_rows=block_rows)
    assert ref.n_relocated >= 10


def test_python_loop_equals_the_run_with_tol_and_max_iter(mnist_sample):
    X = mnist_sample[0][:4000]
    init = initial_centers(X, 8, "random", random_state=1)
    ref = assert_same_run(X, init, tol=1e-3 * float(X.var(0).mean()), block_rows=2 * CHUNK)
    assert ref.converged
    ref = assert_same_run(X, init, max_iter=3, block_rows=2 * CHUNK)
    assert ref.n_iter == 3 and not ref.converged


def test_python_loop_equals_the_run_on_real_values():
    # not integer: the sums are not exact, so one pass over all rows (no blocks)
    rng = np.random.default_rng(1)
    X = rng.normal(size=(2000, 17)).astype(np.float32)
    init = np.vstack([X[:20], X[:20], np.full((10, 17), 50.0, np.float32)])
    ref = assert_same_run(X, init, rng.random(len(X)) + 0.5)
    assert ref.n_relocated > 0


@pytest.mark.parametrize("case", ["plain", "relocations", "weighted", "real", "tol", "max_iter"])
def test_lloyd_by_pass_equals_the_run(mnist_sample, case):
    """kmeans.lloyd_by_pass (what KMeans(verbose=1) runs) is the kernel's run, bit for bit, and
    calls back once per counted pass with that pass's objective; only the last step stops."""
    X = mnist_sample[0][:3000]
    rng = np.random.default_rng(3)
    init = initial_centers(X, 8, "random", random_state=1)
    w, kwargs = None, {}
    if case in ("relocations", "weighted"):
        init = np.vstack([X[:5], X[:5], X[:5]])
    if case == "weighted":
        w = rng.integers(0, 3, len(X)).astype(np.float64)
    if case == "real":
        X = rng.normal(size=(2000, 17)).astype(np.float32)
        init = np.vstack([X[:20], X[:20], np.full((10, 17), 50.0, np.float32)])
        w = rng.random(len(X)) + 0.5
    if case == "tol":
        kwargs = {"tol": 1e-3 * float(X.var(0).mean())}
    if case == "max_iter":
        kwargs = {"max_iter": 3}
    ref = lloyd(X, init, sample_weight=w, algorithm="lloyd", **kwargs)
    calls = []
    ours = lloyd_by_pass(X, init, sample_weight=w, **kwargs,
                         on_pass=lambda i, p, step: calls.append((i, p.inertia, step.done)))
    for name in ("centers", "labels", "sq_distances", "inertia_history", "j_clust_history",
                 "rows_scored"):
        assert np.array_equal(getattr(ours, name), getattr(ref, name)), name
    for name in ("inertia", "j_clust", "n_iter", "converged", "n_relocated"):
        assert getattr(ours, name) == getattr(ref, name), name
    assert [c[0] for c in calls] == list(range(1, ref.n_iter + 1))
    assert [c[1] for c in calls] == ref.inertia_history.tolist()
    assert [c[2] for c in calls] == [False] * (ref.n_iter - 1) + [True]
    if case in ("relocations", "weighted", "real"):
        assert ref.n_relocated > 0
    if case == "max_iter":
        assert ref.n_iter == 3 and not ref.converged


def test_bad_step_inputs_raise_clear_errors():
    X = grid(20, 3, 4)
    labels = np.zeros(20, np.int32)
    centers = np.vstack([X[:1], X[:1]])
    sums, weight_sums = exact_sums(X, labels, 2)
    cands = relocation_candidates(X, labels, ((X - X[0]) ** 2).sum(1))
    ok = dict(n_changed=1, iteration=1)
    with pytest.raises(TypeError, match="centers must have dtype float32 or float64, got int64"):
        lloyd_step(centers.astype(np.int64), sums, weight_sums, **ok)
    # float64 centers take float64 candidate rows (the step runs in the centers' dtype)
    with pytest.raises(TypeError, match="candidate X must have dtype float64, got float32"):
        lloyd_step(centers.astype(np.float64), sums, weight_sums, candidates=cands, **ok)
    with pytest.raises(ValueError, match="shape of centers"):
        lloyd_step(centers, sums[:1], weight_sums, **ok)
    with pytest.raises(ValueError, match="iteration"):
        lloyd_step(centers, sums, weight_sums, n_changed=1, iteration=0)
    # a candidate label out of range would be a write out of bounds: refused
    bad = cands.__class__(**{**cands.__dict__, "labels": np.full(len(cands.rows), 7, np.int32)})
    with pytest.raises(ValueError, match=r"candidate labels must be in \[0, k\)"):
        lloyd_step(centers, sums, weight_sums, candidates=bad, **ok)
    bad = cands.__class__(**{**cands.__dict__, "X": cands.X[:, :2].copy()})
    with pytest.raises(ValueError, match="candidates"):
        lloyd_step(centers, sums, weight_sums, candidates=bad, **ok)
    with pytest.raises(ValueError, match="limit"):
        _kernel.relocation_candidates(np.ones(3, np.float32), None, -1)
    with pytest.raises(ValueError, match="merge_candidates needs"):
        merge_candidates([])
