// pybind11 bindings of the kernel: check shapes and dtypes while holding the GIL, then
// release it around the pure C++ work. Inputs are never copied: X and the centers must
// already be C-contiguous float32, or both float64 (then everything is computed in float64 and
// the distances and centers come back float64; the Python layer converts once, see
// kmeans.py), and never modified. Results cross as NamedTuples built here (PassOutput, RunOutput, StepOutput):
// read-only attributes, one name per quantity (inertia, j_clust, sq_distances), picklable.
// Their types: python/mnist_kmeans/_kernel.pyi.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "kmeans/dispatch.hpp"
#include "kmeans/lloyd.hpp"
#include "kmeans/row_facts.hpp"
#include "kmeans/sparse.hpp"
#include "kmeans/step.hpp"

namespace py = pybind11;
using kmeans::index_t;

namespace {

using FloatArray = py::array_t<float, py::array::c_style>;
using DoubleArray = py::array_t<double, py::array::c_style>;

// A C-contiguous array of the given dtype and ndim, or a ValueError/TypeError naming `what`.
template <typename T>
py::array_t<T, py::array::c_style> require(const py::handle& obj, const char* what, int ndim,
                                           const char* or_dtype = nullptr) {
    if (!py::isinstance<py::array>(obj)) {
        throw py::type_error(std::string(what) + " must be a numpy array");
    }
    auto arr = py::reinterpret_borrow<py::array>(obj);
    if (!py::isinstance<py::array_t<T>>(arr)) {  // equivalent dtype (identity can differ after pickling)
        throw py::type_error(std::string(what) + " must have dtype " +
                             std::string(py::str(py::dtype::of<T>())) +
                             (or_dtype ? std::string(" or ") + or_dtype : std::string()) + ", got " +
                             std::string(py::str(arr.dtype())));
    }
    if (arr.ndim() != ndim) {
        throw py::value_error(std::string(what) + " must be " + std::to_string(ndim) +
                              "-dimensional, got " + std::to_string(arr.ndim()));
    }
    if (!(arr.flags() & py::array::c_style)) {
        throw py::value_error(std::string(what) + " must be C-contiguous");
    }
    return py::reinterpret_borrow<py::array_t<T, py::array::c_style>>(arr);
}

// True when obj is a float64 array: the kernel then runs in float64 (T = double).
bool is_float64(const py::handle& obj) {
    return py::isinstance<py::array>(obj) && py::isinstance<py::array_t<double>>(obj);
}

// X and centers of the same dtype T (float or double), and the weights.
template <typename T>
struct Problem {
    py::array_t<T, py::array::c_style> X, centers;
    index_t n, d, k;
    const double* weights = nullptr;
    py::object weights_keepalive;
};

template <typename T>
Problem<T> check(const py::handle& X_obj, const py::handle& centers_obj, const py::handle& w_obj) {
    Problem<T> p{require<T>(X_obj, "X", 2, "float64"), require<T>(centers_obj, "centers", 2), 0,
                 0, 0, nullptr, py::none()};
    p.n = p.X.shape(0);
    p.d = p.X.shape(1);
    p.k = p.centers.shape(0);
    if (p.n < 1 || p.d < 1) throw py::value_error("X must have at least one row and one column");
    if (p.k < 1) throw py::value_error("centers must have at least one row");
    if (p.centers.shape(1) != p.d) {
        throw py::value_error("centers have " + std::to_string(p.centers.shape(1)) +
                              " features, X has " + std::to_string(p.d));
    }
    if (p.k > INT32_MAX) throw py::value_error("too many centers");
    if (!w_obj.is_none()) {
        auto w = require<double>(w_obj, "sample_weight", 1);
        if (w.shape(0) != p.n) {
            throw py::value_error("sample_weight has " + std::to_string(w.shape(0)) +
                                  " entries, X has " + std::to_string(p.n) + " rows");
        }
        p.weights = w.data();
        p.weights_keepalive = w;
    }
    return p;
}

int resolve_threads(int n_threads) {
    if (n_threads < 0) throw py::value_error("n_threads must be >= 1, or 0 for the OpenMP default");
    return n_threads == 0 ? kmeans::max_threads() : n_threads;
}

// A NamedTuple type of this module (so that its instances pickle by name).
py::object named_tuple(py::module_& m, const char* name, std::initializer_list<const char*> fields,
                       const char* doc) {
    py::list names;
    for (const char* f : fields) names.append(f);
    py::object type = py::module_::import("collections").attr("namedtuple")(
        name, names, py::arg("module") = m.attr("__name__"));
    type.attr("__doc__") = doc;
    m.attr(name) = type;
    return type;
}

template <typename T>
py::array_t<T> copy_of(const std::vector<T>& v) {
    return py::array_t<T>(static_cast<py::ssize_t>(v.size()), v.data());
}

template <typename T>
py::object assign(const py::object& type, const py::handle& X_obj, const py::handle& centers_obj,
                  const py::handle& w_obj, bool accumulate, int n_threads,
                  const py::handle& previous_obj) {
    Problem<T> p = check<T>(X_obj, centers_obj, w_obj);
    const int threads = resolve_threads(n_threads);
    const std::int32_t* previous = nullptr;
    py::object previous_keepalive;
    if (!previous_obj.is_none()) {
        auto prev = require<std::int32_t>(previous_obj, "previous_labels", 1);
        if (prev.shape(0) != p.n) {
            throw py::value_error("previous_labels has " + std::to_string(prev.shape(0)) +
                                  " entries, X has " + std::to_string(p.n) + " rows");
        }
        previous = prev.data();
        previous_keepalive = prev;
    }
    py::array_t<std::int32_t> labels(p.n);
    py::array_t<T> sq_dist(p.n);
    const index_t n_chunks = (p.n + kmeans::kChunkRows - 1) / kmeans::kChunkRows;
    py::array_t<double> chunk_inertia(n_chunks), chunk_j_clust(n_chunks);
    py::object sums = py::none(), weight_sums = py::none();
    double* sums_p = nullptr;
    double* wsum_p = nullptr;
    if (accumulate) {
        DoubleArray s({p.k, p.d}), w(p.k);
        sums_p = s.mutable_data();
        wsum_p = w.mutable_data();
        sums = s;
        weight_sums = w;
    }
    kmeans::PassStats stats;
    index_t changed = p.n;  // without previous labels every row counts as changed
    {
        py::gil_scoped_release release;
        stats = kmeans::assign_pass(p.X.data(), p.n, p.d, p.centers.data(), p.k, p.weights,
                                    labels.mutable_data(), sq_dist.mutable_data(), sums_p, wsum_p,
                                    threads, chunk_inertia.mutable_data(),
                                    chunk_j_clust.mutable_data());
        if (previous) changed = kmeans::count_changed(previous, labels.data(), p.n);
    }
    return type(labels, sq_dist, sums, weight_sums, stats.inertia, stats.j_clust, chunk_inertia,
                chunk_j_clust, changed);
}

kmeans::Algorithm parse_algorithm(const std::string& name) {
    if (name == "lloyd") return kmeans::Algorithm::lloyd;
    if (name == "hamerly") return kmeans::Algorithm::hamerly;
    if (name == "yinyang") return kmeans::Algorithm::yinyang;
    if (name == "elkan") return kmeans::Algorithm::elkan;
    throw py::value_error("algorithm must be 'lloyd', 'hamerly', 'yinyang' or 'elkan', got '" + name + "'");
}

// The RowFacts of one float32 X (row_facts.hpp), for several runs on it: the restart driver
// computes them once per fit instead of once per run. Holds a reference to X, so that the
// rows stay at the address the facts describe; the caller must not change X meanwhile.
struct SharedRowFacts {
    py::array_t<float, py::array::c_style> X;
    std::unique_ptr<kmeans::RowFacts> facts;
};

SharedRowFacts make_row_facts(const py::handle& X_obj, int n_threads) {
    auto X = require<float>(X_obj, "X", 2);
    const index_t n = X.shape(0), d = X.shape(1);
    if (n < 1 || d < 1) throw py::value_error("X must have at least one row and one column");
    const int threads = resolve_threads(n_threads);
    SharedRowFacts out{X, nullptr};
    py::gil_scoped_release release;
    out.facts = std::make_unique<kmeans::RowFacts>(X.data(), n, d, threads);
    return out;
}

// The facts given to lloyd, checked against its X (None: the run computes its own).
const kmeans::RowFacts* facts_for(const py::handle& facts_obj, const float* X, index_t n, index_t d) {
    if (facts_obj.is_none()) return nullptr;
    const auto& shared = facts_obj.cast<const SharedRowFacts&>();
    if (!shared.facts->describes(X, n, d)) {
        throw py::value_error("row_facts were computed for another X (another array, or a copy)");
    }
    return shared.facts.get();
}

template <typename T>
py::object lloyd(const py::object& type, const py::handle& X_obj, const py::handle& init_obj,
                 const py::handle& w_obj, int max_iter, double tol, int n_threads,
                 const std::string& algorithm, bool record_history, const py::handle& control_obj,
                 bool adaptive, const std::string& schedule, const py::handle& facts_obj) {
    Problem<T> p = check<T>(X_obj, init_obj, w_obj);
    const kmeans::RowFacts* facts = nullptr;
    if constexpr (std::is_same_v<T, float>) {
        facts = facts_for(facts_obj, p.X.data(), p.n, p.d);
    } else if (!facts_obj.is_none()) {
        throw py::value_error("row_facts are for float32 X only");
    }
    // [stop, threads], which another thread may write between passes: signals reach only the
    // main thread, so a run in a worker thread (restarts.py runs several at once) is stopped
    // by control[0]; control[1] > 0 is the thread count of the next passes.
    py::array_t<std::int32_t, py::array::c_style> control;
    if (!control_obj.is_none()) {
        control = require<std::int32_t>(control_obj, "control", 1);
        if (control.shape(0) != 2) throw py::value_error("control must have two elements");
    }
    const std::int32_t* cells = control_obj.is_none() ? nullptr : control.data();
    if (schedule.find_first_not_of("fb") != std::string::npos) {
        throw py::value_error("schedule must hold only 'f' and 'b', got '" + schedule + "'");
    }
    if (max_iter < 1) throw py::value_error("max_iter must be >= 1");
    if (!(tol >= 0.0)) throw py::value_error("tol must be >= 0");
    if (p.k > p.n) throw py::value_error("more centers than rows");
    kmeans::RunOptions options;
    options.max_iter = max_iter;
    options.tol = tol;
    options.n_threads = resolve_threads(n_threads);
    options.algorithm = parse_algorithm(algorithm);
    options.record_history = record_history;
    int thread_count = options.n_threads;  // written by should_stop, read by the run loop
    if (cells) options.thread_count = &thread_count;
    options.adaptive = adaptive;
    options.schedule = schedule;
    options.row_facts = facts;
    // The caller's initial centers are copied: they are never modified.
    py::array_t<T, py::array::c_style> centers({p.k, p.d});
    std::copy(p.centers.data(), p.centers.data() + p.k * p.d, centers.mutable_data());
    py::array_t<std::int32_t> labels(p.n);
    py::array_t<T> sq_dist(p.n);
    // Called between passes: take the GIL back briefly to let Python see Ctrl-C, and read the
    // control cells (written under the GIL too).
    bool flagged = false;
    auto should_stop = [cells, &flagged, &thread_count]() {
        py::gil_scoped_acquire acquire;
        if (cells) {
            flagged = cells[0] != 0;
            if (cells[1] > 0) thread_count = cells[1];
        }
        return flagged || PyErr_CheckSignals() != 0;
    };
    kmeans::RunStats run;
    {
        py::gil_scoped_release release;
        run = kmeans::lloyd_run(p.X.data(), p.n, p.d, p.k, p.weights, centers.mutable_data(),
                                labels.mutable_data(), sq_dist.mutable_data(), options, should_stop);
    }
    if (run.interrupted) {
        // the KeyboardInterrupt that stopped it, or one standing for control[0]
        if (flagged && !PyErr_Occurred()) PyErr_SetNone(PyExc_KeyboardInterrupt);
        throw py::error_already_set();
    }
    return type(centers, labels, sq_dist, copy_of(run.inertia_history), copy_of(run.j_clust_history),
                run.inertia, run.j_clust, run.n_iter, run.converged, run.n_relocated,
                copy_of(run.rows_scored), py::str(run.pass_kinds), copy_of(run.pass_seconds));
}

// The candidates a Python caller gives the step: (rows int64, labels int32, weights float64 or
// None, X (m, d) of the centers' dtype T, complete), checked against k and d (a label out of
// range would be a write out of bounds).
template <typename T>
kmeans::CandidateListOf<T> candidate_list(const py::handle& obj, index_t k, index_t d,
                                          std::vector<py::object>& keepalive) {
    kmeans::CandidateListOf<T> list;
    if (obj.is_none()) {  // none given: a list that cannot serve anything
        list.complete = false;
        return list;
    }
    const py::tuple t = py::reinterpret_borrow<py::object>(obj).cast<py::tuple>();
    if (t.size() != 5) {
        throw py::value_error("candidates must be (rows, labels, weights, X, complete)");
    }
    auto rows = require<std::int64_t>(t[0], "candidate rows", 1);
    auto labels = require<std::int32_t>(t[1], "candidate labels", 1);
    auto X = require<T>(t[3], "candidate X", 2);
    const index_t m = rows.shape(0);
    if (labels.shape(0) != m || X.shape(0) != m || X.shape(1) != d) {
        throw py::value_error("candidates: rows, labels and X must have " + std::to_string(m) +
                              " rows (X of " + std::to_string(d) + " columns)");
    }
    const double* weights = nullptr;
    if (!t[2].is_none()) {
        auto w = require<double>(t[2], "candidate weights", 1);
        if (w.shape(0) != m) throw py::value_error("candidate weights must have one entry per row");
        weights = w.data();
        keepalive.push_back(w);
    }
    list.complete = t[4].cast<bool>();
    list.rows.reserve(static_cast<size_t>(m));
    for (index_t i = 0; i < m; ++i) {
        const std::int32_t label = labels.data()[i];
        const double w = weights ? weights[i] : 1.0;
        if (label < 0 || label >= k) throw py::value_error("candidate labels must be in [0, k)");
        if (!(w > 0.0)) throw py::value_error("candidate weights must be > 0");
        list.rows.push_back(kmeans::CandidateOf<T>{rows.data()[i], label, w, X.data() + i * d});
    }
    keepalive.push_back(rows);
    keepalive.push_back(labels);
    keepalive.push_back(X);
    return list;
}

template <typename T>
py::object lloyd_step(const py::object& type, const py::handle& centers_obj,
                      const py::handle& sums_obj, const py::handle& wsum_obj, index_t n_changed,
                      bool relocated_last, int iteration, int max_iter, double tol,
                      const py::object& candidates) {
    auto centers_in = require<T>(centers_obj, "centers", 2, "float64");
    auto sums_in = require<double>(sums_obj, "sums", 2);
    auto wsum_in = require<double>(wsum_obj, "weight_sums", 1);
    const index_t k = centers_in.shape(0), d = centers_in.shape(1);
    if (k < 1 || d < 1) throw py::value_error("centers must have at least one row and one column");
    if (k > INT32_MAX) throw py::value_error("too many centers");
    if (sums_in.shape(0) != k || sums_in.shape(1) != d || wsum_in.shape(0) != k) {
        throw py::value_error("sums must have the shape of centers, weight_sums one entry per center");
    }
    if (n_changed < 0) throw py::value_error("n_changed must be >= 0");
    if (iteration < 1 || max_iter < 1) throw py::value_error("iteration and max_iter must be >= 1");
    if (!(tol >= 0.0)) throw py::value_error("tol must be >= 0");
    // the caller's arrays are copied: never modified
    py::array_t<T, py::array::c_style> centers({k, d});
    DoubleArray sums({k, d}), weight_sums(k);
    std::copy(centers_in.data(), centers_in.data() + k * d, centers.mutable_data());
    std::copy(sums_in.data(), sums_in.data() + k * d, sums.mutable_data());
    std::copy(wsum_in.data(), wsum_in.data() + k, weight_sums.mutable_data());
    // a tuple is the list itself; a callable is asked for `wanted` candidates (-1: all)
    std::vector<py::object> keepalive;
    auto source = [&](index_t wanted) {
        if (!candidates.is_none() && PyCallable_Check(candidates.ptr())) {
            return candidate_list<T>(candidates(wanted), k, d, keepalive);
        }
        return candidate_list<T>(candidates, k, d, keepalive);
    };
    const kmeans::StepInput in{k, d, n_changed, relocated_last, iteration, max_iter, tol};
    const kmeans::StepResult step = kmeans::lloyd_step(in, centers.mutable_data(), sums.mutable_data(),
                                                       weight_sums.mutable_data(), source);
    const auto moves = static_cast<py::ssize_t>(step.moves.size());
    py::array_t<std::int64_t> moved_rows(moves);
    py::array_t<std::int32_t> moved_from(moves), moved_to(moves);
    for (py::ssize_t t = 0; t < moves; ++t) {
        moved_rows.mutable_data()[t] = step.moves[static_cast<size_t>(t)].row;
        moved_from.mutable_data()[t] = step.moves[static_cast<size_t>(t)].from;
        moved_to.mutable_data()[t] = step.moves[static_cast<size_t>(t)].to;
    }
    return type(centers, sums, weight_sums, step.shift, moved_rows, moved_from, moved_to,
                static_cast<index_t>(moves), step.converged, step.final_pass,
                step.candidates_exhausted);
}

template <typename T>
py::array_t<std::int64_t> relocation_candidates(const py::handle& sq_obj, const py::handle& w_obj,
                                                const py::object& limit_obj) {
    auto sq = require<T>(sq_obj, "sq_distances", 1, "float64");
    const index_t n = sq.shape(0);
    const double* weights = nullptr;
    py::object keepalive;
    if (!w_obj.is_none()) {
        auto w = require<double>(w_obj, "sample_weight", 1);
        if (w.shape(0) != n) throw py::value_error("sample_weight must have one entry per row");
        weights = w.data();
        keepalive = w;
    }
    index_t limit = -1;
    if (!limit_obj.is_none()) {
        limit = limit_obj.cast<index_t>();
        if (limit < 0) throw py::value_error("limit must be >= 0 or None");
    }
    std::vector<index_t> rows;
    {
        py::gil_scoped_release release;
        kmeans::relocation_candidates(sq.data(), weights, n, limit, rows);
    }
    return copy_of(rows);
}

bool exact_sums(const py::handle& X_obj) {
    Problem<float> p = check<float>(X_obj, X_obj, py::none());
    py::gil_scoped_release release;
    return kmeans::RowFacts(p.X.data(), p.n, p.d, 1).exact_sums();
}

std::size_t bound_bytes(const std::string& algorithm, index_t n, index_t k) {
    if (n < 0 || k < 0) throw py::value_error("n and k must be >= 0");
    return kmeans::bound_bytes(parse_algorithm(algorithm), n, k);
}

// Sparse rows (CSR): indptr int64 (n + 1), indices int32, data float32, n_features; checked
// here (structure in O(nnz): an index out of range would be a read out of bounds). The Python
// layer (_sparse.py) converts and canonicalises once.
struct SparseProblem {
    kmeans::SparseRows rows{};
    FloatArray centers;
    index_t k = 0;
    std::vector<py::object> keepalive;
};

SparseProblem check_sparse(const py::handle& indptr_obj, const py::handle& indices_obj,
                           const py::handle& data_obj, index_t n_features,
                           const py::handle& centers_obj, const py::handle& w_obj) {
    SparseProblem p;
    auto indptr = require<std::int64_t>(indptr_obj, "indptr", 1);
    auto indices = require<std::int32_t>(indices_obj, "indices", 1);
    auto data = require<float>(data_obj, "data", 1);
    p.centers = require<float>(centers_obj, "centers", 2);
    const index_t n = indptr.shape(0) - 1, d = n_features, nnz = indices.shape(0);
    if (n < 1 || d < 1) throw py::value_error("X must have at least one row and one column");
    if (data.shape(0) != nnz) throw py::value_error("indices and data must have the same length");
    p.k = p.centers.shape(0);
    if (p.k < 1) throw py::value_error("centers must have at least one row");
    if (p.centers.shape(1) != d) {
        throw py::value_error("centers have " + std::to_string(p.centers.shape(1)) +
                              " features, X has " + std::to_string(d));
    }
    if (p.k > INT32_MAX) throw py::value_error("too many centers");
    if (d > INT32_MAX) throw py::value_error("too many features for int32 column indices");
    std::string problem;
    {
        py::gil_scoped_release release;
        problem = kmeans::check_csr(indptr.data(), indices.data(), n, d, nnz);
    }
    if (!problem.empty()) throw py::value_error("invalid CSR matrix: " + problem);
    p.rows = kmeans::SparseRows{indptr.data(), indices.data(), data.data(), n, d, nullptr};
    if (!w_obj.is_none()) {
        auto w = require<double>(w_obj, "sample_weight", 1);
        if (w.shape(0) != n) {
            throw py::value_error("sample_weight has " + std::to_string(w.shape(0)) +
                                  " entries, X has " + std::to_string(n) + " rows");
        }
        p.rows.weights = w.data();
        p.keepalive.push_back(w);
    }
    p.keepalive.push_back(indptr);
    p.keepalive.push_back(indices);
    p.keepalive.push_back(data);
    return p;
}

py::object assign_sparse(const py::object& type, const py::handle& indptr, const py::handle& indices,
                         const py::handle& data, index_t n_features, const py::handle& centers_obj,
                         const py::handle& w_obj, bool accumulate, int n_threads) {
    SparseProblem p = check_sparse(indptr, indices, data, n_features, centers_obj, w_obj);
    const int threads = resolve_threads(n_threads);
    const index_t n = p.rows.n, d = p.rows.d;
    py::array_t<std::int32_t> labels(n);
    py::array_t<float> sq_dist(n);
    const index_t n_chunks = (n + kmeans::kChunkRows - 1) / kmeans::kChunkRows;
    py::array_t<double> chunk_inertia(n_chunks), chunk_j_clust(n_chunks);
    py::object sums = py::none(), weight_sums = py::none();
    double* sums_p = nullptr;
    double* wsum_p = nullptr;
    if (accumulate) {
        DoubleArray s({p.k, d}), w(p.k);
        sums_p = s.mutable_data();
        wsum_p = w.mutable_data();
        sums = s;
        weight_sums = w;
    }
    kmeans::PassStats stats;
    {
        py::gil_scoped_release release;
        stats = kmeans::sparse_assign_pass(p.rows, p.centers.data(), p.k, labels.mutable_data(),
                                           sq_dist.mutable_data(), sums_p, wsum_p, threads,
                                           chunk_inertia.mutable_data(), chunk_j_clust.mutable_data());
    }
    return type(labels, sq_dist, sums, weight_sums, stats.inertia, stats.j_clust, chunk_inertia,
                chunk_j_clust, n);
}

py::object lloyd_sparse(const py::object& type, const py::handle& indptr, const py::handle& indices,
                        const py::handle& data, index_t n_features, const py::handle& init_obj,
                        const py::handle& w_obj, int max_iter, double tol, int n_threads,
                        bool record_history) {
    SparseProblem p = check_sparse(indptr, indices, data, n_features, init_obj, w_obj);
    if (max_iter < 1) throw py::value_error("max_iter must be >= 1");
    if (!(tol >= 0.0)) throw py::value_error("tol must be >= 0");
    if (p.k > p.rows.n) throw py::value_error("more centers than rows");
    kmeans::RunOptions options;
    options.max_iter = max_iter;
    options.tol = tol;
    options.n_threads = resolve_threads(n_threads);
    options.record_history = record_history;
    const index_t n = p.rows.n, d = p.rows.d;
    FloatArray centers({p.k, d});
    std::copy(p.centers.data(), p.centers.data() + p.k * d, centers.mutable_data());
    py::array_t<std::int32_t> labels(n);
    py::array_t<float> sq_dist(n);
    auto should_stop = []() {
        py::gil_scoped_acquire acquire;
        return PyErr_CheckSignals() != 0;
    };
    kmeans::RunStats run;
    {
        py::gil_scoped_release release;
        run = kmeans::sparse_lloyd_run(p.rows, p.k, centers.mutable_data(), labels.mutable_data(),
                                       sq_dist.mutable_data(), options, should_stop);
    }
    if (run.interrupted) throw py::error_already_set();
    return type(centers, labels, sq_dist, copy_of(run.inertia_history), copy_of(run.j_clust_history),
                run.inertia, run.j_clust, run.n_iter, run.converged, run.n_relocated,
                copy_of(run.rows_scored), py::str(run.pass_kinds), copy_of(run.pass_seconds));
}

}  // namespace

PYBIND11_MODULE(_kernel, m) {
    m.doc() = "The k-means kernel (private): passes over float32 (or float64) rows, in parallel with OpenMP.";
    const py::object pass_type = named_tuple(
        m, "PassOutput",
        {"labels", "sq_distances", "sums", "weight_sums", "inertia", "j_clust", "chunk_inertia",
         "chunk_j_clust", "n_changed"},
        "One assignment pass (see assign).");
    const py::object run_type = named_tuple(
        m, "RunOutput",
        {"centers", "labels", "sq_distances", "inertia_history", "j_clust_history", "inertia",
         "j_clust", "n_iter", "converged", "n_relocated", "rows_scored", "pass_kinds",
         "pass_seconds"},
        "One Lloyd run (see lloyd).");
    const py::object step_type = named_tuple(
        m, "StepOutput",
        {"centers", "sums", "weight_sums", "shift", "moved_rows", "moved_from", "moved_to",
         "n_relocated", "converged", "final_pass", "candidates_exhausted"},
        "One Lloyd step (see lloyd_step).");
    m.def("assign",
          [pass_type](const py::handle& X, const py::handle& centers, const py::handle& w,
                      bool accumulate, int n_threads, const py::handle& previous) {
              if (is_float64(X)) return assign<double>(pass_type, X, centers, w, accumulate, n_threads, previous);
              return assign<float>(pass_type, X, centers, w, accumulate, n_threads, previous);
          },
          py::arg("X"), py::arg("centers"), py::arg("sample_weight") = py::none(),
          py::arg("accumulate") = true, py::arg("n_threads") = 0,
          py::arg("previous_labels") = py::none(),
          R"doc(One pass over X: a PassOutput.

labels, sq_distances; sums (k, d) float64 and weight_sums (k,), None unless accumulate;
inertia and j_clust; chunk_inertia and chunk_j_clust, each chunk of chunk_rows rows's share,
added in chunk order from 0.0 to give inertia and j_clust bit for bit; n_changed, the rows
whose label differs from previous_labels (int32), or every row without them. n_threads=0 uses
the OpenMP default. Inputs must be C-contiguous float32 (sample_weight float64); nothing else
is checked. float64 X and centers: computed in float64, sq_distances float64.)doc");
    m.def("lloyd",
          [run_type](const py::handle& X, const py::handle& init, const py::handle& w, int max_iter,
                     double tol, int n_threads, const std::string& algorithm, bool record_history,
                     const py::handle& control, bool adaptive, const std::string& schedule,
                     const py::handle& row_facts) {
              if (is_float64(X)) {
                  return lloyd<double>(run_type, X, init, w, max_iter, tol, n_threads, algorithm,
                                       record_history, control, adaptive, schedule, row_facts);
              }
              return lloyd<float>(run_type, X, init, w, max_iter, tol, n_threads, algorithm,
                                  record_history, control, adaptive, schedule, row_facts);
          },
          py::arg("X"), py::arg("init"), py::arg("sample_weight") = py::none(),
          py::arg("max_iter") = 300, py::arg("tol") = 0.0, py::arg("n_threads") = 0,
          py::arg("algorithm") = "lloyd", py::arg("record_history") = true,
          py::arg("control") = py::none(), py::arg("adaptive") = false, py::arg("schedule") = "",
          py::arg("row_facts") = py::none(),
          "A whole Lloyd run from the given centers: a RunOutput. algorithm 'hamerly',\n"
          "'yinyang' or 'elkan' skip scores their bounds prove useless: same results, bit for\n"
          "bit. record_history=False: empty histories, and lean passes. float64 X and init:\n"
          "computed in float64 (every algorithm then runs as Lloyd passes, rows_scored = n).\n"
          "control: None or an int32 array [stop, threads] that another thread may write: stop\n"
          "nonzero ends the run before its next pass with KeyboardInterrupt (signals reach only\n"
          "the main thread); threads > 0 is the thread count of the next passes (results do not\n"
          "depend on it). adaptive ('auto'): full passes or passes of the algorithm, chosen per\n"
          "pass by measurement; schedule (tests): 'f' or 'b' per pass, the last repeated.\n"
          "pass_kinds: 'L' full, 'H', 'Y', 'E' bounded, per pass; pass_seconds: each pass's\n"
          "wall-clock time. row_facts: None, or RowFacts(X) of this very X (float32), shared by\n"
          "several runs on it (results do not depend on it).");
    py::class_<SharedRowFacts>(m, "RowFacts",
                               "What the bounded algorithms need of X's rows (|x|^2, whether sums\n"
                               "of rows are exact), computed once for several runs on the same X.\n"
                               "Keeps a reference to X, which must not change while it is used.")
        .def(py::init(&make_row_facts), py::arg("X"), py::arg("n_threads") = 0)
        .def_property_readonly("exact_sums", [](const SharedRowFacts& f) { return f.facts->exact_sums(); })
        .def_property_readonly("x_sqnorm", [](const SharedRowFacts& f) {
            const index_t n = f.X.shape(0);
            return py::array_t<double>(n, f.facts->x_sqnorm());  // a copy
        });
    m.def("lloyd_step",
          [step_type](const py::handle& centers, const py::handle& sums, const py::handle& wsum,
                      index_t n_changed, bool relocated_last, int iteration, int max_iter,
                      double tol, const py::object& candidates) {
              if (is_float64(centers)) {
                  return lloyd_step<double>(step_type, centers, sums, wsum, n_changed, relocated_last,
                                            iteration, max_iter, tol, candidates);
              }
              return lloyd_step<float>(step_type, centers, sums, wsum, n_changed, relocated_last,
                                       iteration, max_iter, tol, candidates);
          },
          py::arg("centers"), py::arg("sums"), py::arg("weight_sums"), py::arg("n_changed"),
          py::arg("relocated_last"), py::arg("iteration"), py::arg("max_iter"), py::arg("tol"),
          py::arg("candidates") = py::none(),
          R"doc(One Lloyd step after a pass (cpp/kmeans/step.hpp): a StepOutput.

centers float32 (k, d), the pass's centers; sums float64 (k, d) and weight_sums (k,), the pass's;
none of them is modified. candidates: None, a tuple (rows int64, labels int32, weights float64
or None, X float32 (m, d), complete) in priority order, or a callable(wanted) returning one
(wanted -1: all). float64 centers (and candidate X): float64 new centers.)doc");
    m.def("relocation_candidates",
          [](const py::handle& sq, const py::handle& w, const py::object& limit) {
              return is_float64(sq) ? relocation_candidates<double>(sq, w, limit)
                                    : relocation_candidates<float>(sq, w, limit);
          },
          py::arg("sq_distances"),
          py::arg("sample_weight") = py::none(), py::arg("limit") = py::none(),
          "Indices (int64) of the rows that may take an empty cluster, in priority order\n"
          "(largest sq_distances first, lowest index on ties; sq_distances > 0 and weight > 0):\n"
          "the first `limit` of them, or all. O(n).");
    m.def("exact_sums", &exact_sums, py::arg("X"),
          "True when every sum of rows of X is exact in float64 (the bounded algorithms then\n"
          "update cluster sums by the rows that move). For tests.");
    m.def("bound_bytes", &bound_bytes, py::arg("algorithm"), py::arg("n"), py::arg("k"),
          "Bytes of the lower bounds an algorithm keeps for n rows and k centers (hamerly 8 n,\n"
          "yinyang 4 n ceil(k / unit_centers), elkan 4 n k, lloyd 0).");
    m.def("assign_sparse",
          [pass_type](const py::handle& indptr, const py::handle& indices, const py::handle& data,
                      index_t n_features, const py::handle& centers, const py::handle& w,
                      bool accumulate, int n_threads) {
              return assign_sparse(pass_type, indptr, indices, data, n_features, centers, w,
                                   accumulate, n_threads);
          },
          py::arg("indptr"), py::arg("indices"), py::arg("data"), py::arg("n_features"),
          py::arg("centers"), py::arg("sample_weight") = py::none(), py::arg("accumulate") = true,
          py::arg("n_threads") = 0,
          "assign over CSR rows (indptr int64, indices int32 sorted within rows, data float32):\n"
          "a PassOutput (n_changed: every row). Same labels and sums as assign on the dense rows.");
    m.def("lloyd_sparse",
          [run_type](const py::handle& indptr, const py::handle& indices, const py::handle& data,
                     index_t n_features, const py::handle& init, const py::handle& w, int max_iter,
                     double tol, int n_threads, bool record_history) {
              return lloyd_sparse(run_type, indptr, indices, data, n_features, init, w, max_iter,
                                  tol, n_threads, record_history);
          },
          py::arg("indptr"), py::arg("indices"), py::arg("data"), py::arg("n_features"),
          py::arg("init"), py::arg("sample_weight") = py::none(), py::arg("max_iter") = 300,
          py::arg("tol") = 0.0, py::arg("n_threads") = 0, py::arg("record_history") = true,
          "lloyd over CSR rows (as assign_sparse), with Lloyd passes: a RunOutput with the\n"
          "labels, centers and n_iter of lloyd on the dense rows.");
    m.def("has_openmp", &kmeans::has_openmp, "True when the kernel was built with OpenMP.");
    m.def("max_threads", &kmeans::max_threads, "omp_get_max_threads(): the default thread count.");
    m.def("available_isas", &kmeans::available_isas, "SIMD kernels this build and CPU can run.");
    m.def("current_isa", &kmeans::current_isa, "The SIMD kernel in use.");
    m.def("set_isa", &kmeans::set_isa, py::arg("name"), "Use the named SIMD kernel.");
    m.attr("chunk_rows") = kmeans::kChunkRows;
    m.attr("unit_centers") = kmeans::kUnitCenters;
}
