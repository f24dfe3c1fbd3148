"""Bad inputs to KMeans, lloyd() and the private _kernel: the error and what it says.

One table, CASES, holds every class of bad input the library refuses: the call, the exception
type and a pattern the message must match (it names the problem). Every case also checks that
the caller's arrays come back unmodified. docs/bad_inputs.md lists the same rows for users;
keep the two in step (test_docs_table_names_every_case checks the ids).

Further tests pin down inputs that are accepted on purpose (documented), what the unchecked
lower layer does with NaN (no crash, labels in range), and values near float32's limits.

Over 500 lines because CASES is one table, a row per documented case, kept whole so that it
reads beside docs/bad_inputs.md.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import sparse
from sklearn.exceptions import NotFittedError

from mnist_kmeans import _kernel
from mnist_kmeans.kmeans import KMeans, as_float32_rows, lloyd

DOC = Path(__file__).resolve().parents[1] / "docs" / "bad_inputs.md"
N, D = 20, 3


def data() -> np.ndarray:
    return np.random.default_rng(0).random((N, D), dtype=np.float32)


def with_value(value: float, where=(3, 1), dtype=np.float32) -> np.ndarray:
    X = data().astype(dtype)
    X[where] = value
    return X


def weights(first: float | None = None, n: int = N) -> np.ndarray:
    w = np.ones(n)
    if first is not None:
        w[0] = first
    return w


@dataclass
class Case:
    id: str
    call: Callable[..., Any]  # called with the arrays below as keyword arguments
    arrays: Callable[[], dict[str, Any]]  # fresh inputs for each run
    exc: type[BaseException]
    match: str  # regular expression the message must contain
    ignore: tuple[type[Warning], ...] = ()  # warnings allowed on the way (known gaps, see end)


def fit(**params):
    def call(X, sample_weight=None, **_):
        return KMeans(**params).fit(X, sample_weight=sample_weight)

    return call


def fitted_then(method: str, **kwargs):
    def call(X, **arrays):
        km = KMeans(2, n_init=1, random_state=0).fit(data())
        return getattr(km, method)(X, **arrays, **kwargs)

    return call


def run_lloyd(**kwargs):
    def call(X, init, sample_weight=None):
        return lloyd(X, init, sample_weight=sample_weight, **kwargs)

    return call


def X_only(make) -> Callable[[], dict[str, Any]]:
    return lambda: {"X": make()}


def X_init(make_X=data, make_init=lambda: data()[:2].copy(), make_w=None):
    def arrays():
        out = {"X": make_X(), "init": make_init()}
        if make_w is not None:
            out["sample_weight"] = make_w()
        return out

    return arrays


def X_w(make_w, make_X=data):
    return lambda: {"X": make_X(), "sample_weight": make_w()}


def kernel_assign(sample_weight=None, n_threads=0):
    def call(X, centers, sample_weight=sample_weight):
        return _kernel.assign(X, centers, sample_weight, True, n_threads)

    return call


def kernel_lloyd(max_iter=10, tol=0.0, n_threads=0):
    def call(X, centers, sample_weight=None):
        return _kernel.lloyd(X, centers, sample_weight, max_iter, tol, n_threads)

    return call


def kernel_sparse(n_threads=0):
    def call(indptr, indices, data, centers):
        return _kernel.lloyd_sparse(indptr, indices, data, D, centers, None, 10, 0.0, n_threads)

    return call


def csr_arrays(indptr=None, indices=None):
    """Three rows of D columns, one value each (row 0 gets two: columns 0 and 1): valid CSR
    arrays for the kernel, with one of them replaced."""
    return {
        "indptr": np.array([0, 2, 2, 3], np.int64) if indptr is None else indptr,
        "indices": np.array([0, 1, 2], np.int32) if indices is None else indices,
        "data": np.ones(3, np.float32),
        "centers": np.eye(2, D, dtype=np.float32),
    }


def X_centers(make_X=data, make_centers=lambda: data()[:2].copy(), make_w=None):
    def arrays():
        out = {"X": make_X(), "centers": make_centers()}
        if make_w is not None:
            out["sample_weight"] = make_w()
        return out

    return arrays


# InvalidParameterError (scikit-learn's) subclasses both ValueError and TypeError.
CASES = [
    # --- KMeans: the data X ------------------------------------------------------------------
    Case(
        "X-1d", fit(n_clusters=2), X_only(lambda: data()[0]), ValueError,
        "Expected 2D array, got 1D",
    ),
    Case(
        "X-scalar", fit(n_clusters=2), X_only(lambda: np.float32(1)), ValueError,
        "Expected 2D array, got scalar",
    ),
    Case("X-3d", fit(n_clusters=2), X_only(lambda: data().reshape(N, D, 1)), ValueError, "dim 3"),
    Case(
        "X-no-rows", fit(n_clusters=2), X_only(lambda: np.empty((0, D), np.float32)), ValueError,
        "0 sample",
    ),
    Case(
        "X-no-columns", fit(n_clusters=2), X_only(lambda: np.empty((N, 0), np.float32)), ValueError,
        "0 feature",
    ),
    Case(
        "X-ragged", fit(n_clusters=2), X_only(lambda: [[1.0, 2.0], [3.0]]), ValueError,
        "inhomogeneous",
    ),
    Case(
        "X-nan", fit(n_clusters=2), X_only(lambda: with_value(np.nan)), ValueError, "contains NaN",
    ),
    Case(
        "X-inf", fit(n_clusters=2), X_only(lambda: with_value(np.inf)), ValueError,
        "contains infinity",
    ),
    Case(
        "X-minus-inf-float64", fit(n_clusters=2),
        X_only(lambda: with_value(-np.inf, dtype=np.float64)), ValueError, "infinity",
    ),
    Case(
        # float64 is computed in float64 (1e39 is fine there); long double beyond float64's
        # range is not (where long double is float64 itself, 1e400 is already inf)
        "X-beyond-float64", fit(n_clusters=2),
        X_only(lambda: with_value(np.longdouble("1e400"), dtype=np.longdouble)),
        ValueError, "infinity or a value too large for dtype\\('float64'\\)",
        ignore=(RuntimeWarning,),
    ),
    Case(
        "X-float64-squares-overflow", fit(n_clusters=2),
        X_only(lambda: with_value(1e160, dtype=np.float64)), ValueError,
        "squared distances would overflow float64",
    ),
    Case(
        "X-complex", fit(n_clusters=2), X_only(lambda: data().astype(np.complex64)), ValueError,
        "Complex data not supported",
    ),
    Case(
        "X-str", fit(n_clusters=2), X_only(lambda: data().astype(str)), TypeError,
        "string or bytes",
    ),
    Case(
        "X-bytes", fit(n_clusters=2), X_only(lambda: data().astype("S8")), TypeError,
        "string or bytes",
    ),
    Case(
        "X-object-non-numeric", fit(n_clusters=2),
        X_only(lambda: np.array([[1.0, "a"], [2.0, None]], dtype=object)), ValueError,
        "could not convert string to float: 'a'",
    ),
    # --- KMeans: sparse X (accepted: CSR, CSC, COO, ...; see docs/bad_inputs.md) --------------
    Case(
        "X-sparse-nan", fit(n_clusters=2), X_only(lambda: sparse.csr_matrix(with_value(np.nan))),
        ValueError, "Input X contains NaN",
    ),
    Case(
        "X-sparse-inf", fit(n_clusters=2),
        X_only(lambda: sparse.csc_matrix(with_value(np.inf))), ValueError,
        "Input X contains infinity",
    ),
    Case(
        "X-sparse-beyond-float32", fit(n_clusters=2),
        X_only(lambda: sparse.csr_matrix(with_value(1e39, dtype=np.float64))), ValueError,
        "infinity or a value too large",
    ),
    Case(
        "X-sparse-too-large-for-distances", fit(n_clusters=2),
        X_only(lambda: sparse.csr_matrix(with_value(1e19))), ValueError,
        "squared distances would overflow float32",
    ),
    Case(
        "X-sparse-no-rows", fit(n_clusters=2),
        X_only(lambda: sparse.csr_matrix((0, D), dtype=np.float32)), ValueError, "0 sample",
    ),
    Case(
        "X-sparse-no-columns", fit(n_clusters=2),
        X_only(lambda: sparse.csr_matrix((N, 0), dtype=np.float32)), ValueError, "0 feature",
    ),
    Case(
        "X-sparse-complex", fit(n_clusters=2),
        X_only(lambda: sparse.csr_matrix(data().astype(np.complex64))), ValueError,
        "Complex data not supported",
    ),
    Case(
        "X-sparse-1d", fit(n_clusters=2), X_only(lambda: sparse.coo_array(data()[0])), ValueError,
        "must be 2-dimensional",
    ),
    Case(
        # int64 indices beyond the int32 range: refused before anything of that width is made
        "X-sparse-int64-columns", fit(n_clusters=2),
        X_only(lambda: sparse.csr_matrix(
            (np.ones(2, np.float32), np.array([0, 2**31 + 5]), np.array([0, 1, 2])),
            shape=(2, 2**31 + 10))),
        ValueError, "limited to 2147483647",
    ),
    Case(
        "predict-sparse-n_features", fitted_then("predict"),
        X_only(lambda: sparse.csr_matrix(np.ones((N, D + 1), np.float32))), ValueError,
        f"X has {D + 1} features, but KMeans is expecting {D} features",
    ),
    Case(
        "kernel-sparse-unsorted", kernel_sparse(),
        lambda: csr_arrays(indices=np.array([1, 0, 2], np.int32)), ValueError,
        "not sorted or duplicated in row 0",
    ),
    Case(
        "kernel-sparse-duplicate", kernel_sparse(),
        lambda: csr_arrays(indices=np.array([0, 0, 2], np.int32)), ValueError,
        "not sorted or duplicated in row 0",
    ),
    Case(
        "kernel-sparse-column-out-of-range", kernel_sparse(),
        lambda: csr_arrays(indices=np.array([0, 1, D], np.int32)), ValueError,
        f"column index {D} out of range",
    ),
    Case(
        "kernel-sparse-indptr", kernel_sparse(),
        lambda: csr_arrays(indptr=np.array([0, 2, 1, 3], np.int64)), ValueError,
        "indptr is not non-decreasing",
    ),
    Case(
        "kernel-sparse-indptr-beyond-data", kernel_sparse(),
        lambda: csr_arrays(indptr=np.array([0, 1, 2, 4], np.int64)), ValueError,
        "beyond the stored values",
    ),
    Case(
        "kernel-sparse-int64-indices", kernel_sparse(),
        lambda: csr_arrays(indices=np.array([0, 1, 2], np.int64)), TypeError,
        "indices must have dtype int32",
    ),
    # --- KMeans: n_clusters and the other parameters ------------------------------------------
    Case(
        "n_clusters-0", fit(n_clusters=0), X_only(data), ValueError,
        "'n_clusters' parameter .* range \\[1, inf\\)\\. Got 0",
    ),
    Case(
        "n_clusters-negative", fit(n_clusters=-1), X_only(data), ValueError,
        "'n_clusters' parameter .* Got -1",
    ),
    Case(
        "n_clusters-float", fit(n_clusters=2.5), X_only(data), ValueError,
        "'n_clusters' parameter .* Got 2.5",
    ),
    Case(
        "n_clusters-bool", fit(n_clusters=True), X_only(data), TypeError,
        "n_clusters must be an integer, got True",
    ),
    Case(
        "n_clusters-above-n_samples", fit(n_clusters=N + 1), X_only(data), ValueError,
        f"n_samples={N} should be >= n_clusters={N + 1}",
    ),
    Case(
        "max_iter-0", fit(n_clusters=2, max_iter=0), X_only(data), ValueError,
        "'max_iter' parameter .* Got 0",
    ),
    Case(
        "max_iter-float", fit(n_clusters=2, max_iter=1.5), X_only(data), ValueError,
        "'max_iter' parameter .* Got 1.5",
    ),
    Case(
        "tol-negative", fit(n_clusters=2, tol=-1.0), X_only(data), ValueError,
        "'tol' parameter .* Got -1",
    ),
    Case(
        "tol-nan", fit(n_clusters=2, tol=float("nan")), X_only(data), ValueError,
        "'tol' parameter .* Got nan",
    ),
    Case(
        "n_init-0", fit(n_clusters=2, n_init=0), X_only(data), ValueError,
        "'n_init' parameter .* Got 0",
    ),
    Case(
        "n_threads-0", fit(n_clusters=2, n_threads=0), X_only(data), ValueError,
        "'n_threads' parameter .* Got 0",
    ),
    Case(
        "n_threads-negative", fit(n_clusters=2, n_threads=-1), X_only(data), ValueError,
        "'n_threads' parameter .* Got -1",
    ),
    Case(
        "algorithm-unknown", fit(n_clusters=2, algorithm="full"), X_only(data), ValueError,
        "'algorithm' parameter .* Got 'full'",
    ),
    Case(
        # 600000 x 1000 float32 bounds (2.2 GiB): refused before anything is allocated
        "algorithm-elkan-too-big",
        fit(n_clusters=1000, algorithm="elkan", init="random", n_init=1, max_iter=2),
        X_only(lambda: np.arange(600_000, dtype=np.float32)[:, None]), ValueError,
        "algorithm='elkan' needs .* GiB of bounds",
    ),
    Case(
        "random_state-str", fit(n_clusters=2, random_state="x"), X_only(data), ValueError,
        "'random_state' parameter",
    ),
    Case(
        "verbose-negative", fit(n_clusters=2, verbose=-1), X_only(data), ValueError,
        "'verbose' parameter .* Got -1",
    ),
    # --- KMeans: init ---------------------------------------------------------------------
    Case(
        "init-unknown-name", fit(n_clusters=2, init="kmeans"), X_only(data), ValueError,
        "'init' parameter .* Got 'kmeans'",
    ),
    Case(
        "init-nan", lambda X, init: KMeans(2, init=init).fit(X),
        X_init(make_init=lambda: np.array([[np.nan, 0, 0], [1, 1, 1]])), ValueError,
        "init contains NaN",
    ),
    Case(
        "init-inf", lambda X, init: KMeans(2, init=init).fit(X),
        X_init(make_init=lambda: np.array([[np.inf, 0, 0], [1, 1, 1]])), ValueError,
        "init contains NaN or infinity",
    ),
    Case(
        "init-wrong-n_clusters", lambda X, init: KMeans(2, init=init).fit(X),
        X_init(make_init=lambda: data()[:3].copy()), ValueError,
        "initial centers \\(3, 3\\) does not match the number of clusters 2: init must "
        "have shape .* \\(2, 3\\)",
    ),
    Case(
        "init-wrong-n_features", lambda X, init: KMeans(2, init=init).fit(X),
        X_init(make_init=lambda: data()[:2, :2].copy()), ValueError,
        "initial centers \\(2, 2\\) does not match the number of features of the data 3: "
        "init must have shape .* \\(2, 3\\)",
    ),
    Case(
        "init-1d", lambda X, init: KMeans(1, init=init).fit(X),
        X_init(make_init=lambda: data()[0].copy()), ValueError, "init must be 2-dimensional",
    ),
    Case(
        "init-complex", lambda X, init: KMeans(2, init=init).fit(X),
        X_init(make_init=lambda: data()[:2].astype(complex)), ValueError,
        "Complex data not supported: init",
    ),
    Case(
        "init-callable-wrong-shape",
        fit(n_clusters=2, init=lambda X, k, random_state: X[:3]), X_only(data), ValueError,
        "initial centers \\(3, 3\\) does not match the number of clusters 2: the array "
        "returned by the init callable must have shape",
    ),
    Case(
        "init-callable-nan",
        fit(n_clusters=2, init=lambda X, k, random_state: np.full((k, X.shape[1]), np.nan)),
        X_only(data), ValueError, "the array returned by the init callable contains NaN",
    ),
    Case(
        "init-callable-strings",
        fit(n_clusters=2, init=lambda X, k, random_state: [["a"] * X.shape[1]] * k),
        X_only(data), TypeError, "the array returned by the init callable must be numbers",
    ),
    Case(
        "init-callable-writes-X", fit(n_clusters=2, init=lambda X, k, random_state: X.fill(0)),
        X_only(data), ValueError, "read-only",
    ),
    # --- KMeans: sample_weight --------------------------------------------------------------
    Case(
        "weights-negative", fit(n_clusters=2), X_w(lambda: weights(-1.0)), ValueError,
        "sample_weight must be non-negative",
    ),
    Case(
        "weights-all-zero", fit(n_clusters=2), X_w(lambda: np.zeros(N)), ValueError,
        "at least one non-zero",
    ),
    Case(
        "weights-nan", fit(n_clusters=2), X_w(lambda: weights(np.nan)), ValueError,
        "sample_weight contains NaN",
    ),
    Case(
        "weights-inf", fit(n_clusters=2), X_w(lambda: weights(np.inf)), ValueError,
        "sample_weight contains infinity",
    ),
    Case(
        "weights-wrong-length", fit(n_clusters=2), X_w(lambda: np.ones(5)), ValueError,
        "sample_weight.shape == \\(5,\\), expected \\(20,\\)",
    ),
    Case(
        "weights-2d", fit(n_clusters=2), X_w(lambda: np.ones((N, 1))), ValueError,
        "Sample weights must be 1D",
    ),
    Case(
        "weights-complex", fit(n_clusters=2), X_w(lambda: np.ones(N, complex)), ValueError,
        "Complex data not supported",
    ),
    Case(
        "weights-fewer-positive-than-k", fit(n_clusters=3, init="random"),
        X_w(lambda: np.r_[1.0, 1.0, np.zeros(N - 2)]), ValueError,
        "only 2 samples have positive weight, fewer than n_clusters=3",
    ),
    # --- KMeans: predict / score --------------------------------------------------------------
    Case(
        "predict-unfitted", lambda X: KMeans(2).predict(X), X_only(data), NotFittedError,
        "not fitted yet",
    ),
    Case(
        "predict-wrong-n_features", fitted_then("predict"), X_only(lambda: data()[:, :2].copy()),
        ValueError, "X has 2 features, but KMeans is expecting 3",
    ),
    Case(
        "predict-nan", fitted_then("predict"), X_only(lambda: with_value(np.nan)), ValueError,
        "contains NaN",
    ),
    Case(
        "score-negative-weights", fitted_then("score"), X_w(lambda: weights(-1.0)), ValueError,
        "sample_weight must be non-negative",
    ),
    # --- lloyd(): one run from given centers (inputs must come from as_float32_rows) -----------
    Case(
        "lloyd-max_iter-0", run_lloyd(max_iter=0), X_init(), ValueError,
        "max_iter must be an integer >= 1, got 0",
    ),
    Case(
        "lloyd-max_iter-float", run_lloyd(max_iter=1.5), X_init(), ValueError,
        "max_iter must be an integer >= 1, got 1.5",
    ),
    Case(
        "lloyd-tol-negative", run_lloyd(tol=-1.0), X_init(), ValueError,
        "tol must be a number >= 0, got -1",
    ),
    Case(
        "lloyd-tol-nan", run_lloyd(tol=float("nan")), X_init(), ValueError,
        "tol must be a number >= 0, got nan",
    ),
    Case(
        "lloyd-n_threads-0", run_lloyd(n_threads=0), X_init(), ValueError,
        "n_threads must be a positive integer or None, got 0",
    ),
    Case(
        "lloyd-n_threads-negative", run_lloyd(n_threads=-2), X_init(), ValueError,
        "n_threads must be a positive integer or None, got -2",
    ),
    Case(
        "lloyd-X-int64", run_lloyd(), X_init(make_X=lambda: (data() * 10).astype(np.int64)),
        TypeError, "X must have dtype float32 or float64, got int64",
    ),
    Case(
        # X decides the dtype: float64 X needs float64 centers (and float32 X float32 ones)
        "lloyd-X-float64-init-float32", run_lloyd(),
        X_init(make_X=lambda: data().astype(np.float64)), TypeError,
        "centers must have dtype float64, got float32",
    ),
    Case(
        "lloyd-control-int64", run_lloyd(control=np.zeros(2, dtype=np.int64)), X_init(),
        TypeError, "control must have dtype int32, got int64",
    ),
    Case(
        "lloyd-control-size", run_lloyd(control=np.zeros(3, dtype=np.int32)), X_init(),
        ValueError, "control must have two elements",
    ),
    Case(
        "lloyd-X-list", run_lloyd(), X_init(make_X=lambda: data().tolist()), TypeError,
        "X must be a numpy array",
    ),
    Case(
        "lloyd-X-fortran", run_lloyd(), X_init(make_X=lambda: np.asfortranarray(data())),
        ValueError, "X must be C-contiguous",
    ),
    Case(
        "lloyd-init-float64", run_lloyd(), X_init(make_init=lambda: data()[:2].astype(np.float64)),
        TypeError, "centers must have dtype float32, got float64",
    ),
    Case(
        "lloyd-init-wrong-n_features", run_lloyd(), X_init(make_init=lambda: data()[:2, :2].copy()),
        ValueError, "centers have 2 features, X has 3",
    ),
    Case(
        "lloyd-more-centers-than-rows", run_lloyd(), X_init(make_X=lambda: data()[:1].copy()),
        ValueError, "more centers than rows",
    ),
    Case(
        "lloyd-weights-float32", run_lloyd(), X_init(make_w=lambda: np.ones(N, np.float32)),
        TypeError, "sample_weight must have dtype float64, got float32",
    ),
    Case(
        "lloyd-weights-wrong-length", run_lloyd(), X_init(make_w=lambda: np.ones(5)), ValueError,
        "sample_weight has 5 entries, X has 20 rows",
    ),
    # --- _kernel: the private compiled module (checks shapes and dtypes, nothing else) ------
    Case(
        "kernel-X-int32", kernel_assign(), X_centers(make_X=lambda: (data() * 10).astype(np.int32)),
        TypeError, "X must have dtype float32 or float64, got int32",
    ),
    Case(
        "kernel-X-big-endian", kernel_assign(), X_centers(make_X=lambda: data().astype(">f4")),
        TypeError, "X must have dtype float32 or float64, got >f4",
    ),
    Case(
        "kernel-X-strided", kernel_assign(), X_centers(make_X=lambda: data()[::2]), ValueError,
        "X must be C-contiguous",
    ),
    Case(
        "kernel-X-1d", kernel_assign(), X_centers(make_X=lambda: data()[0]), ValueError,
        "X must be 2-dimensional, got 1",
    ),
    Case(
        "kernel-X-empty", kernel_assign(), X_centers(make_X=lambda: np.empty((0, D), np.float32)),
        ValueError, "X must have at least one row and one column",
    ),
    Case(
        "kernel-centers-empty", kernel_assign(),
        X_centers(make_centers=lambda: np.empty((0, D), np.float32)), ValueError,
        "centers must have at least one row",
    ),
    Case(
        "kernel-centers-wrong-n_features", kernel_assign(),
        X_centers(make_centers=lambda: data()[:2, :2].copy()), ValueError,
        "centers have 2 features, X has 3",
    ),
    Case(
        "kernel-weights-2d", kernel_assign(), X_centers(make_w=lambda: np.ones((N, 1))), ValueError,
        "sample_weight must be 1-dimensional, got 2",
    ),
    Case(
        "kernel-n_threads-negative", kernel_assign(n_threads=-1), X_centers(), ValueError,
        "n_threads must be >= 1, or 0 for the OpenMP default",
    ),
    Case(
        "kernel-lloyd-max_iter-0", kernel_lloyd(max_iter=0), X_centers(), ValueError,
        "max_iter must be >= 1",
    ),
    Case(
        "kernel-lloyd-tol-nan", kernel_lloyd(tol=float("nan")), X_centers(), ValueError,
        "tol must be >= 0",
    ),
    Case(
        "kernel-lloyd-more-centers-than-rows", kernel_lloyd(),
        X_centers(make_X=lambda: data()[:1].copy()), ValueError, "more centers than rows",
    ),
    Case(
        "kernel-set_isa-unknown", lambda name: _kernel.set_isa(name), lambda: {"name": "sse9"},
        ValueError, "unknown kernel 'sse9'; this build has: .*generic",
    ),
]


def snapshot(arrays: dict[str, Any]) -> dict[str, Any]:
    """Copies of every ndarray argument (with its dtype, shape and strides) to compare after."""
    out = {}
    for name, value in arrays.items():
        if isinstance(value, np.ndarray):
            flags = value.flags.writeable
            out[name] = (value.copy(), value.dtype, value.shape, value.strides, flags)
    return out


def assert_unmodified(arrays: dict[str, Any], before: dict[str, Any]) -> None:
    for name, (copy, dtype, shape, strides, writeable) in before.items():
        value = arrays[name]
        assert (value.dtype, value.shape, value.strides) == (dtype, shape, strides), name
        assert value.flags.writeable == writeable, name
        same = np.array_equal(value, copy, equal_nan=value.dtype.kind in "fc")
        assert same, f"{name} was modified"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_refused_with_a_clear_message(case: Case):
    arrays = case.arrays()
    before = snapshot(arrays)
    with warnings.catch_warnings():
        for category in case.ignore:
            warnings.simplefilter("ignore", category)
        with pytest.raises(case.exc, match=case.match):
            case.call(**arrays)
    assert_unmodified(arrays, before)


def test_case_ids_are_unique():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))


def test_docs_table_names_every_case():
    """docs/bad_inputs.md backs each of its rows with a test; every case here has a row."""
    text = DOC.read_text(encoding="utf-8")
    missing = [c.id for c in CASES if f"`{c.id}`" not in text]
    assert not missing, f"docs/bad_inputs.md has no row for: {missing}"


def test_unsupported_isa_is_refused():
    built = {"avx512", "avx2", "generic"}
    unsupported = sorted(built - set(_kernel.available_isas()))
    previous = _kernel.current_isa()
    for name in unsupported:
        try:
            _kernel.set_isa(name)
        except ValueError as exc:
            pattern = f"the {name} kernel is not supported by this CPU|unknown kernel"
            assert re.search(pattern, str(exc))
        else:  # pragma: no cover - would mean a CPU feature check is wrong
            _kernel.set_isa(previous)
            pytest.fail(f"set_isa({name!r}) accepted a kernel this CPU cannot run")
    assert _kernel.current_isa() == previous


# --- accepted on purpose ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "X",
    [
        pytest.param(data() > 0.5, id="bool-as-0-1"),
        pytest.param(data().astype(object), id="object-of-numbers"),
        pytest.param(data().astype(np.float16), id="float16"),
        pytest.param((data() * 255).astype(np.uint8), id="uint8-images"),
        pytest.param(data().astype(">f8"), id="big-endian-float64"),
        pytest.param(np.asfortranarray(data()), id="fortran-order"),
        pytest.param(data()[::-1, ::2], id="negative-strides"),
        pytest.param(data().tolist(), id="nested-list"),
        pytest.param(
            [[str(v) for v in row] for row in data().tolist()], id="list-of-numeric-strings"
        ),
    ],
)
def test_convertible_inputs_are_accepted_and_not_modified(X):
    before = np.array(X, copy=True)
    km = KMeans(2, n_init=1, random_state=0).fit(X)
    assert np.isfinite(km.cluster_centers_).all() and np.isfinite(km.inertia_)
    assert np.array_equal(np.asarray(X), before)
    # the same numbers as the float32 conversion of the input
    as_float32 = np.asarray(before, dtype=np.float64).astype(np.float32)
    ref = KMeans(2, n_init=1, random_state=0).fit(as_float32)
    assert np.array_equal(km.labels_, ref.labels_)


def test_masked_array_mask_is_ignored():
    """As in scikit-learn: the data under the mask are used, the mask is not."""
    X = data()
    masked = np.ma.masked_array(X, X > 0.9)
    a = KMeans(2, n_init=1, random_state=0).fit(masked)
    b = KMeans(2, n_init=1, random_state=0).fit(X)
    assert np.array_equal(a.cluster_centers_, b.cluster_centers_)


def test_as_float32_rows_refuses_what_kmeans_refuses():
    with pytest.raises(ValueError, match="contains NaN or infinity"):
        as_float32_rows(with_value(np.nan))
    with pytest.raises(ValueError, match="too large for float32"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # and without a RuntimeWarning on the way
            as_float32_rows(with_value(1e39, dtype=np.float64))
    with pytest.raises(TypeError, match="non-numeric"):
        as_float32_rows(np.array([[1.0, "a"]], dtype=object))
    with pytest.raises(ValueError, match="2-dimensional .* reshape images to rows"):
        as_float32_rows(np.zeros((2, 28, 28)))


# --- the unchecked layer --------------------------------------------------------------------


@pytest.mark.parametrize("where", ["X", "centers", "all-centers"])
def test_kernel_survives_nan_it_does_not_check(where):
    """lloyd() and _kernel trust their caller; NaN gives meaningless numbers, never a crash."""
    X, C = data(), data()[:4].copy()
    if where == "X":
        X[3, 1] = np.nan
    elif where == "centers":
        C[1, 0] = np.nan
    else:
        C[:] = np.nan
    labels, _, sums, wsum, _, _ = _kernel.assign(X, C, None, True, 2)[:6]
    assert labels.min() >= 0 and labels.max() < len(C)
    run = _kernel.lloyd(X, C, None, 20, 0.0, 2)
    assert run.labels.min() >= 0 and run.labels.max() < len(C)
    assert 1 <= run.n_iter <= 20


def test_kernel_n_threads_beyond_the_chunks_is_clamped():
    X = data()
    a = _kernel.assign(X, X[:2].copy(), None, True, 1)
    b = _kernel.assign(X, X[:2].copy(), None, True, 1000)
    assert all(np.array_equal(np.asarray(u), np.asarray(v)) for u, v in zip(a, b))


# --- values near float32's limits ----------------------------------------------------------


def test_beyond_float64_fit_raises_without_a_runtime_warning():
    # float64 data beyond float32's range are computed in float64 (tests/test_float64.py);
    # long double beyond float64's range is refused, without an overflow warning on the way
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="too large"):
            KMeans(2).fit(with_value(np.longdouble("1e400"), dtype=np.longdouble))


def test_values_whose_squares_overflow_float32_are_refused():
    X = data() * np.float32(1e20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # k-means++'s matmul overflows first
        with pytest.raises(ValueError, match="overflow|too large|rescale"):
            KMeans(2, n_init=1, random_state=0).fit(X)
