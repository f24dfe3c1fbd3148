// pybind11 bindings of the kernel: check shapes and dtypes while holding the GIL, then
// release it around the pure C++ work. Inputs are never copied: X and the centers must
// already be C-contiguous float32 (the Python layer converts once, see kmeans.py).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "kmeans/dispatch.hpp"
#include "kmeans/row_facts.hpp"
#include "kmeans/lloyd.hpp"

namespace py = pybind11;
using kmeans::index_t;

namespace {

using FloatArray = py::array_t<float, py::array::c_style>;
using DoubleArray = py::array_t<double, py::array::c_style>;

// A C-contiguous array of the given dtype and ndim, or a ValueError/TypeError naming `what`.
template <typename T>
py::array_t<T, py::array::c_style> require(const py::handle& obj, const char* what, int ndim) {
    if (!py::isinstance<py::array>(obj)) {
        throw py::type_error(std::string(what) + " must be a numpy array");
    }
    auto arr = py::reinterpret_borrow<py::array>(obj);
    if (!py::isinstance<py::array_t<T>>(arr)) {  // equivalent dtype (identity can differ after pickling)
        throw py::type_error(std::string(what) + " must have dtype " +
                             std::string(py::str(py::dtype::of<T>())) + ", got " +
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

struct Problem {
    FloatArray X, centers;
    index_t n, d, k;
    const double* weights = nullptr;
    py::object weights_keepalive;
};

Problem check(const py::handle& X_obj, const py::handle& centers_obj, const py::handle& w_obj) {
    Problem p{require<float>(X_obj, "X", 2), require<float>(centers_obj, "centers", 2), 0, 0, 0,
              nullptr, py::none()};
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

py::tuple assign(const py::handle& X_obj, const py::handle& centers_obj, const py::handle& w_obj,
                 bool accumulate, int n_threads) {
    Problem p = check(X_obj, centers_obj, w_obj);
    const int threads = resolve_threads(n_threads);
    py::array_t<std::int32_t> labels(p.n);
    py::array_t<float> sq_dist(p.n);
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
    {
        py::gil_scoped_release release;
        stats = kmeans::assign_pass(p.X.data(), p.n, p.d, p.centers.data(), p.k, p.weights,
                                    labels.mutable_data(), sq_dist.mutable_data(), sums_p, wsum_p,
                                    threads);
    }
    return py::make_tuple(labels, sq_dist, sums, weight_sums, stats.objective, stats.sum_dist);
}

kmeans::Algorithm parse_algorithm(const std::string& name) {
    if (name == "lloyd") return kmeans::Algorithm::lloyd;
    if (name == "hamerly") return kmeans::Algorithm::hamerly;
    if (name == "yinyang") return kmeans::Algorithm::yinyang;
    if (name == "elkan") return kmeans::Algorithm::elkan;
    throw py::value_error("algorithm must be 'lloyd', 'hamerly', 'yinyang' or 'elkan', got '" + name + "'");
}

py::dict lloyd(const py::handle& X_obj, const py::handle& init_obj, const py::handle& w_obj,
               int max_iter, double tol, int n_threads, const std::string& algorithm,
               bool record_history) {
    Problem p = check(X_obj, init_obj, w_obj);
    if (max_iter < 1) throw py::value_error("max_iter must be >= 1");
    if (!(tol >= 0.0)) throw py::value_error("tol must be >= 0");
    if (p.k > p.n) throw py::value_error("more centers than rows");
    kmeans::RunOptions options;
    options.max_iter = max_iter;
    options.tol = tol;
    options.n_threads = resolve_threads(n_threads);
    options.algorithm = parse_algorithm(algorithm);
    options.record_history = record_history;
    // The caller's initial centers are copied: they are never modified.
    FloatArray centers({p.k, p.d});
    std::copy(p.centers.data(), p.centers.data() + p.k * p.d, centers.mutable_data());
    py::array_t<std::int32_t> labels(p.n);
    py::array_t<float> sq_dist(p.n);
    // Called between passes: take the GIL back briefly to let Python see Ctrl-C.
    auto should_stop = []() {
        py::gil_scoped_acquire acquire;
        return PyErr_CheckSignals() != 0;
    };
    kmeans::RunStats run;
    {
        py::gil_scoped_release release;
        run = kmeans::lloyd_run(p.X.data(), p.n, p.d, p.k, p.weights, centers.mutable_data(),
                                labels.mutable_data(), sq_dist.mutable_data(), options, should_stop);
    }
    if (run.interrupted) throw py::error_already_set();  // the KeyboardInterrupt that stopped it
    py::dict out;
    out["centers"] = centers;
    out["labels"] = labels;
    out["sq_distances"] = sq_dist;
    out["objective_history"] = py::array_t<double>(run.objective.size(), run.objective.data());
    out["sum_dist_history"] = py::array_t<double>(run.sum_dist.size(), run.sum_dist.data());
    out["objective"] = run.final_objective;
    out["sum_dist"] = run.final_sum_dist;
    out["n_iter"] = run.n_iter;
    out["converged"] = run.converged;
    out["n_relocated"] = run.n_relocated;
    out["rows_scored"] = py::array_t<kmeans::index_t>(run.rows_scored.size(), run.rows_scored.data());
    return out;
}

bool exact_sums(const py::handle& X_obj) {
    Problem p = check(X_obj, X_obj, py::none());
    py::gil_scoped_release release;
    return kmeans::RowFacts(p.X.data(), p.n, p.d, 1).exact_sums();
}

}  // namespace

PYBIND11_MODULE(_kernel, m) {
    m.doc() = "The k-means kernel (private): passes over float32 rows, in parallel with OpenMP.";
    m.def("assign", &assign, py::arg("X"), py::arg("centers"), py::arg("sample_weight") = py::none(),
          py::arg("accumulate") = true, py::arg("n_threads") = 0,
          R"doc(One pass over X: (labels, sq_distances, sums, weight_sums, objective, sum_dist).

sums (k, d) float64 and weight_sums (k,) are None unless accumulate. n_threads=0 uses the OpenMP
default. Inputs must be C-contiguous float32 (sample_weight float64); nothing else is checked.)doc");
    m.def("lloyd", &lloyd, py::arg("X"), py::arg("init"), py::arg("sample_weight") = py::none(),
          py::arg("max_iter") = 300, py::arg("tol") = 0.0, py::arg("n_threads") = 0,
          py::arg("algorithm") = "lloyd", py::arg("record_history") = true,
          "A whole Lloyd run from the given centers; returns a dict of results. algorithm\n"
          "'hamerly', 'yinyang' or 'elkan' skip scores their bounds prove useless: same\n"
          "results, bit for bit. record_history=False: empty histories, and lean passes.");
    m.def("exact_sums", &exact_sums, py::arg("X"),
          "True when every sum of rows of X is exact in float64 (the bounded algorithms then\n"
          "update cluster sums by the rows that move). For tests.");
    m.def("has_openmp", &kmeans::has_openmp, "True when the kernel was built with OpenMP.");
    m.def("max_threads", &kmeans::max_threads, "omp_get_max_threads(): the default thread count.");
    m.def("available_isas", &kmeans::available_isas, "SIMD kernels this build and CPU can run.");
    m.def("current_isa", &kmeans::current_isa, "The SIMD kernel in use.");
    m.def("set_isa", &kmeans::set_isa, py::arg("name"), "Use the named SIMD kernel.");
    m.attr("chunk_rows") = kmeans::kChunkRows;
}
