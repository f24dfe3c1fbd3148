"""Sparse (CSR) input: the kernel's sparse pass against the dense one and the NumPy oracle.

What the sparse path promises (cpp/kmeans/sparse_chunk.hpp, python/mnist_kmeans/_sparse.py):
on the same data and initial centers, the labels, n_iter and centers of the dense path bit
for bit (the scores are the same float32 chain; the sums are added in the same order), and
distances and objectives within float32 rounding (|x|^2 - 2 x.c + |c|^2 in float64 instead
of a float32 sum over all columns); results independent of the thread count; every
`algorithm` value runs Lloyd passes with the same results.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse
from sklearn.exceptions import ConvergenceWarning

from mnist_kmeans import KMeans, _kernel, reference
from mnist_kmeans._sparse import as_float32_csr
from mnist_kmeans.kmeans import lloyd

EPS32 = float(np.finfo(np.float32).eps)


def run_both(X: np.ndarray, init: np.ndarray, w=None, n_threads=0, **kw):
    """The kernel's dense run and its sparse run on the same rows."""
    dense = _kernel.lloyd(X, init, w, kw.get("max_iter", 300), kw.get("tol", 0.0), n_threads)
    S = sparse.csr_matrix(X)
    run = _kernel.lloyd_sparse(S.indptr.astype(np.int64), S.indices.astype(np.int32), S.data,
                               X.shape[1], init, w, kw.get("max_iter", 300), kw.get("tol", 0.0),
                               n_threads)
    return dense, run


def assert_same_run(dense, run, *, exact_distances=False) -> None:
    assert run.n_iter == dense.n_iter
    assert run.converged == dense.converged
    assert run.n_relocated == dense.n_relocated
    np.testing.assert_array_equal(run.labels, dense.labels)
    np.testing.assert_array_equal(run.centers, dense.centers)  # bitwise: the same sums
    if exact_distances:
        np.testing.assert_array_equal(run.sq_distances, dense.sq_distances)
        assert run.inertia == dense.inertia
    else:
        # the dense distance is a float32 sum over the d columns: its error bound
        d = len(run.centers[0])
        np.testing.assert_allclose(run.sq_distances, dense.sq_distances,
                                   rtol=2 * d * EPS32, atol=1e-6)
        np.testing.assert_allclose(run.inertia, dense.inertia, rtol=1e-6)
        np.testing.assert_allclose(run.inertia_history, dense.inertia_history, rtol=1e-6)
        np.testing.assert_allclose(run.j_clust, dense.j_clust, rtol=1e-6)


def random_rows(X: np.ndarray, k: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return X[rng.choice(len(X), k, replace=False)].copy()


# --- MNIST: sparse equals dense ------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 10, 64])
@pytest.mark.parametrize("weighted", [False, True])
def test_mnist_sample_sparse_equals_dense(mnist_sample, k, weighted):
    X = mnist_sample[0][:4000]
    w = np.random.default_rng(k).uniform(0.0, 3.0, len(X)) if weighted else None
    dense, run = run_both(X, random_rows(X, k, k), w)
    assert_same_run(dense, run)
    assert run.n_iter > 1 or k == 1


def test_mnist_sample_every_isa(mnist_sample, isa):
    X = mnist_sample[0][:3000]
    dense, run = run_both(X, random_rows(X, 20, 1))
    assert_same_run(dense, run)


def test_mnist_sample_thread_count_does_not_matter(mnist_sample):
    X = mnist_sample[0]  # 20 chunks: every thread count splits them differently
    init = random_rows(X, 16, 2)
    w = np.random.default_rng(3).uniform(0.5, 2.0, len(X))
    runs = [run_both(X, init, w, n_threads=t, max_iter=20)[1] for t in (1, 2, 3)]
    for other in runs[1:]:
        for field in ("labels", "centers", "sq_distances", "inertia_history"):
            np.testing.assert_array_equal(getattr(other, field), getattr(runs[0], field))
        assert other.inertia == runs[0].inertia and other.j_clust == runs[0].j_clust


def test_mnist_estimator_sparse_equals_dense(mnist_sample):
    """Through KMeans: fit (random init: the same rows), predict, score, transform, fit_predict."""
    X = mnist_sample[0][:3000]
    S = sparse.csr_matrix(X)
    a = KMeans(12, init="random", n_init=2, random_state=0).fit(X)
    b = KMeans(12, init="random", n_init=2, random_state=0).fit(S)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)
    assert a.n_iter_ == b.n_iter_
    np.testing.assert_allclose(b.inertia_, a.inertia_, rtol=1e-6)
    np.testing.assert_array_equal(b.predict(S), a.predict(X))
    np.testing.assert_array_equal(a.predict(S), a.labels_)  # dense fit, sparse predict
    np.testing.assert_allclose(b.score(S), a.score(X), rtol=1e-6)
    np.testing.assert_allclose(b.transform(S), a.transform(X), rtol=1e-5, atol=1e-2)
    np.testing.assert_array_equal(
        KMeans(12, init="random", n_init=1, random_state=1).fit_predict(S),
        KMeans(12, init="random", n_init=1, random_state=1).fit_predict(X),
    )


def test_kmeans_plus_plus_and_tol_on_sparse(mnist_sample):
    """k-means++ and a relative tol run on sparse rows; k-means++ may pick other seeds than
    on dense rows only through float32 rounding of the products (not seen here)."""
    X = mnist_sample[0][:2000]
    a = KMeans(8, random_state=0, tol=1e-4).fit(X)
    b = KMeans(8, random_state=0, tol=1e-4).fit(sparse.csr_matrix(X))
    np.testing.assert_array_equal(a.labels_, b.labels_)
    assert a.n_iter_ == b.n_iter_


@pytest.mark.parametrize("algorithm", ["auto", "lloyd", "hamerly", "yinyang", "elkan"])
def test_every_algorithm_runs_lloyd_passes_on_sparse(mnist_sample, algorithm):
    X = mnist_sample[0][:2000]
    init = random_rows(X, 10, 4)
    dense = lloyd(X, init, algorithm="lloyd")
    run = lloyd(sparse.csr_matrix(X), init, algorithm=algorithm)
    np.testing.assert_array_equal(run.labels, dense.labels)
    np.testing.assert_array_equal(run.centers, dense.centers)
    assert run.n_iter == dense.n_iter
    assert (run.rows_scored == len(X)).all()  # Lloyd passes: every row scored


# --- the NumPy oracle on the dense copy ----------------------------------------------------


def test_mnist_sample_matches_oracle(mnist_sample):
    """A whole run from the same centers: the oracle (float64) on the dense copy."""
    X = mnist_sample[0][:2000]
    init = random_rows(X, 10, 5)
    S = sparse.csr_matrix(X)
    ours = lloyd(S, init)
    ref = reference.kmeans(S.toarray(), init)
    assert abs(ours.inertia - ref.objective) <= 1e-4 * ref.objective
    assert abs(ours.n_iter - ref.n_iter) <= 5
    # one pass from the oracle's final centers: labels agree but for float32 near-ties
    centers = ref.centers.astype(np.float32)
    out = _kernel.assign_sparse(S.indptr.astype(np.int64), S.indices, S.data, X.shape[1], centers)
    ref_labels, ref_d2 = reference.assign(X, centers)
    assert np.mean(out.labels != ref_labels) < 1e-3
    np.testing.assert_allclose(out.sq_distances, ref_d2, rtol=1e-5, atol=1e-3)


def small_integer_rows(n: int, d: int, seed: int, density: float = 0.3) -> np.ndarray:
    """Small integers, mostly zero: sums are exact, and rows that tie (duplicates, empty rows)
    tie exactly in float32 and float64 alike (lowest index wins in both)."""
    rng = np.random.default_rng(seed)
    X = rng.integers(1, 6, size=(n, d)).astype(np.float32)
    X[rng.random((n, d)) > density] = 0.0
    return X


@pytest.mark.parametrize("seed", range(4))
def test_integer_data_equals_oracle_exactly(seed):
    X = small_integer_rows(300, 40, seed)
    X[::7] = 0.0  # empty rows
    X[1::11] = X[2]  # duplicates
    init = X[[2, 3, 4, 5]].copy()
    ours = lloyd(sparse.csr_matrix(X), init)
    ref = reference.kmeans(X, init)
    np.testing.assert_array_equal(ours.labels, ref.labels)
    np.testing.assert_allclose(ours.centers, ref.centers, rtol=EPS32)
    assert ours.n_iter == ref.n_iter
    # float32 centers (the oracle's are float64): distances within that rounding
    np.testing.assert_allclose(ours.sq_distances, ref.sq_distances, rtol=1e-6, atol=1e-5)


# --- adversarial shapes --------------------------------------------------------------------


def test_empty_rows_and_all_zero_columns():
    X = small_integer_rows(1100, 30, 7)
    X[100:700] = 0.0  # a whole chunk of empty rows
    X[:, 5] = 0.0
    dense, run = run_both(X, X[[0, 1, 2, 99, 700]].copy())
    assert_same_run(dense, run)


def test_all_zero_matrix():
    X = np.zeros((50, 8), np.float32)
    for k in (1, 3):
        dense, run = run_both(X, np.zeros((k, 8), np.float32))
        assert_same_run(dense, run, exact_distances=True)
        assert run.inertia == 0.0 and (run.labels == 0).all()
    # one distinct point, three clusters: scikit-learn's warning, as on dense X
    with pytest.warns(ConvergenceWarning, match=r"distinct clusters \(1\)"):
        km = KMeans(3, init="random", n_init=1, random_state=0).fit(sparse.csr_matrix(X))
    assert km.inertia_ == 0.0 and not km.cluster_centers_.any()


def test_k_equals_n_with_duplicates_relocates_as_dense():
    X = small_integer_rows(40, 12, 8)
    X[10:15] = X[3]  # duplicates: their clusters empty out and are relocated
    dense, run = run_both(X, X.copy())
    assert_same_run(dense, run, exact_distances=True)  # centers are (integer) rows
    assert run.inertia == 0.0


def test_empty_clusters_are_relocated_as_dense():
    X = small_integer_rows(600, 20, 9)
    init = np.vstack([X[:3], np.full((3, 20), 1e3, np.float32)])  # three far centers: empty
    for w in (None, np.random.default_rng(0).uniform(0.0, 2.0, len(X))):
        dense, run = run_both(X, init, w)
        assert run.n_relocated >= 3
        assert_same_run(dense, run)


def test_k_equals_one_and_k_equals_n():
    X = small_integer_rows(25, 9, 10)
    for init in (X[:1].copy(), X.copy()):
        dense, run = run_both(X, init)
        # K = N: every center is its own (integer) row, every distance exactly 0 both ways
        assert_same_run(dense, run, exact_distances=len(init) == len(X))


def test_weights_zero_and_fractional():
    X = small_integer_rows(700, 15, 11)
    w = np.random.default_rng(1).uniform(0.1, 2.0, len(X))
    w[::3] = 0.0
    dense, run = run_both(X, X[[1, 2, 4, 5]].copy(), w)
    assert_same_run(dense, run)


def test_float_data_within_rounding():
    rng = np.random.default_rng(12)
    X = rng.standard_normal((1500, 50)).astype(np.float32)
    X[rng.random(X.shape) < 0.8] = 0.0
    dense, run = run_both(X, X[:7].copy())
    assert_same_run(dense, run)


# --- conversion ----------------------------------------------------------------------------


def test_formats_dtypes_and_index_widths_give_the_same_fit():
    X = small_integer_rows(200, 10, 13)
    init = X[:4].copy()
    ref = KMeans(4, init=init).fit(X)
    S = sparse.csr_matrix(X)
    wide = sparse.csr_matrix((S.data, S.indices.astype(np.int64), S.indptr.astype(np.int64)),
                             shape=S.shape)
    for M in (S, sparse.csc_matrix(X), sparse.coo_matrix(X), sparse.csr_array(X),
              sparse.lil_matrix(X), S.astype(np.float64), S.astype(np.int32), wide):
        km = KMeans(4, init=init).fit(M)
        np.testing.assert_array_equal(km.labels_, ref.labels_)
        np.testing.assert_array_equal(km.cluster_centers_, ref.cluster_centers_)


def test_unsorted_and_duplicate_entries_are_summed_on_a_copy():
    """As X.toarray() reads them; the user's matrix keeps its order and duplicates."""
    X = small_integer_rows(60, 8, 14)
    coo = sparse.coo_matrix(X)
    # every value split in two halves, stored twice, rows' entries in reverse column order
    order = np.lexsort((-coo.col, coo.row))
    rows, cols, vals = coo.row[order], coo.col[order], coo.data[order]
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=60) * 2)])
    messy = sparse.csr_matrix(
        (np.repeat(vals / 2, 2), np.repeat(cols, 2), indptr), shape=X.shape)
    assert not messy.has_canonical_format
    before = (messy.data.copy(), messy.indices.copy(), messy.indptr.copy())
    np.testing.assert_array_equal(messy.toarray(), X)
    canon = as_float32_csr(messy)
    assert canon.has_canonical_format and canon.dtype == np.float32
    np.testing.assert_array_equal(canon.toarray(), X)
    init = X[:3].copy()
    a = KMeans(3, init=init).fit(messy)
    b = KMeans(3, init=init).fit(X)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    for got, was in zip((messy.data, messy.indices, messy.indptr), before):
        np.testing.assert_array_equal(got, was)


def test_canonical_float32_csr_is_not_copied():
    S = sparse.csr_matrix(small_integer_rows(20, 5, 15))
    assert as_float32_csr(S) is S


def test_sample_weight_through_the_estimator():
    X = small_integer_rows(300, 10, 17)
    w = np.random.default_rng(2).uniform(0.0, 2.0, len(X))
    init = X[:5].copy()
    a = KMeans(5, init=init).fit(sparse.csr_matrix(X), sample_weight=w)
    b = KMeans(5, init=init).fit(X, sample_weight=w)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)
    assert a.score(sparse.csr_matrix(X), sample_weight=w) == pytest.approx(
        b.score(X, sample_weight=w), rel=1e-6)


def test_kernel_assign_sparse_sums_equal_dense():
    X = small_integer_rows(1300, 25, 18)
    centers = X[:6].copy()
    w = np.random.default_rng(3).uniform(0.0, 2.0, len(X))
    S = sparse.csr_matrix(X)
    for weights in (None, w):
        a = _kernel.assign(X, centers, weights, True)
        b = _kernel.assign_sparse(S.indptr.astype(np.int64), S.indices, S.data, 25, centers,
                                  weights, True)
        np.testing.assert_array_equal(b.labels, a.labels)
        np.testing.assert_array_equal(b.sums, a.sums)
        np.testing.assert_array_equal(b.weight_sums, a.weight_sums)
        np.testing.assert_allclose(b.chunk_inertia, a.chunk_inertia, rtol=1e-6)


def test_initial_centers_on_sparse_rows_equal_dense():
    from mnist_kmeans import initial_centers

    X = small_integer_rows(300, 12, 19)
    for init in ("random", "k-means++"):
        a = initial_centers(sparse.csr_matrix(X), 5, init, random_state=3)
        b = initial_centers(X, 5, init, random_state=3)
        assert a.dtype == np.float32 and a.flags.c_contiguous
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="X is empty"):
        initial_centers(sparse.csr_matrix((0, 4), dtype=np.float32), 1)
    with pytest.raises(ValueError, match="NaN or infinity"):
        initial_centers(sparse.csr_matrix(np.array([[np.nan, 1.0]])), 1)


def test_estimator_thread_count_does_not_matter(mnist_sample):
    S = sparse.csr_matrix(mnist_sample[0][:2600])  # 6 chunks
    fits = [KMeans(9, init="random", n_init=2, random_state=5, n_threads=t).fit(S) for t in (1, 2)]
    np.testing.assert_array_equal(fits[0].labels_, fits[1].labels_)
    np.testing.assert_array_equal(fits[0].cluster_centers_, fits[1].cluster_centers_)
    assert fits[0].inertia_ == fits[1].inertia_ and fits[0].n_iter_ == fits[1].n_iter_
    np.testing.assert_array_equal(fits[0].transform(S[:50]), fits[1].transform(S[:50]))
