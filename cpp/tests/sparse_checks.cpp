// The sparse (CSR) pass and run (kmeans/sparse.hpp) on the driver's problems: the same labels,
// n_iter and centers as the dense run bit for bit, distances and objectives within float32
// rounding, sums bitwise, 1, 2 and 3 threads bitwise; check_csr on malformed structures.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "harness.hpp"
#include "kmeans/sparse.hpp"

namespace kmeans_test {
namespace {

struct Csr {
    std::vector<std::int64_t> indptr;
    std::vector<std::int32_t> indices;
    std::vector<float> data;
};

// The nonzeros of X (+0 and -0 left out, as the dense kernel skips them).
Csr to_csr(const Problem& p) {
    Csr m;
    m.indptr.push_back(0);
    for (index_t i = 0; i < p.n; ++i) {
        for (index_t j = 0; j < p.d; ++j) {
            const float v = p.X[i * p.d + j];
            if (v != 0.0f) {
                m.indices.push_back(static_cast<std::int32_t>(j));
                m.data.push_back(v);
            }
        }
        m.indptr.push_back(static_cast<std::int64_t>(m.indices.size()));
    }
    return m;
}

RunOut run_sparse(const Problem& p, const Csr& m, int threads) {
    RunOut o;
    o.centers = p.centers;
    o.labels.assign(p.n, -7);
    o.sq.assign(p.n, -1.0f);
    kmeans::RunOptions opt;
    opt.n_threads = threads;
    const kmeans::SparseRows rows{m.indptr.data(), m.indices.data(), m.data.data(), p.n, p.d, p.weights()};
    o.stats = kmeans::sparse_lloyd_run(rows, p.k, o.centers.data(), o.labels.data(), o.sq.data(), opt, {});
    return o;
}

}  // namespace

void test_sparse(const Problem& p) {
    const Csr m = to_csr(p);
    check(kmeans::check_csr(m.indptr.data(), m.indices.data(), p.n, p.d,
                            static_cast<index_t>(m.indices.size())).empty(),
          "sparse: check_csr refuses valid rows");
    const RunOut dense = run_lloyd(p, 2);
    const RunOut one = run_sparse(p, m, 1);
    for (int threads : {2, 3}) {
        check(identical(run_sparse(p, m, threads), one), "sparse: a run differs with the thread count");
    }
    // Relocation picks the farthest row by the pass's distances, which round differently: with
    // relocations the runs may part where two candidates are within float32 rounding.
    if (dense.stats.n_relocated == 0 || one.stats.n_relocated == dense.stats.n_relocated) {
        check(one.labels == dense.labels, "sparse: labels differ from the dense run");
        check(one.stats.n_iter == dense.stats.n_iter, "sparse: n_iter differs from the dense run");
        check(same_bytes(one.centers.data(), dense.centers.data(), sizeof(float) * one.centers.size()),
              "sparse: centers differ from the dense run");
        double worst = 0.0;
        for (index_t i = 0; i < p.n; ++i) {
            // the dense distance: a float32 sum over d columns
            const double scale = std::fabs(static_cast<double>(dense.sq[i])) * 2.0 * (p.d + 2) * kEps32 + 1e-30;
            worst = std::max(worst, std::fabs(static_cast<double>(one.sq[i]) - dense.sq[i]) / scale);
            if (dense.sq[i] == 0.0f && !(one.sq[i] >= 0.0f)) worst = 1e9;
        }
        check(worst <= 1.0, fmt("sparse: distances differ from dense beyond rounding (%.3g)", worst));
        check(std::fabs(one.stats.inertia - dense.stats.inertia) <= 1e-5 * std::fabs(dense.stats.inertia) + 1e-300,
              fmt("sparse: inertia %.17g differs from the dense run's %.17g", one.stats.inertia, dense.stats.inertia));
    }
    // the returned labels and distances against the double brute force, as for dense runs
    check_assignment(p, one.centers.data(), one.labels.data(), one.sq.data(), "sparse run");
    // One pass from the initial centers: sums and weights bitwise.
    std::vector<std::int32_t> la(p.n), lb(p.n);
    std::vector<float> sa(p.n), sb(p.n);
    std::vector<double> suma(p.k * p.d), sumb(p.k * p.d), wa(p.k), wb(p.k);
    kmeans::assign_pass(p.X.data(), p.n, p.d, p.centers.data(), p.k, p.weights(), la.data(), sa.data(),
                        suma.data(), wa.data(), 2);
    const kmeans::SparseRows rows{m.indptr.data(), m.indices.data(), m.data.data(), p.n, p.d, p.weights()};
    kmeans::sparse_assign_pass(rows, p.centers.data(), p.k, lb.data(), sb.data(), sumb.data(), wb.data(), 3);
    check(la == lb, "sparse pass: labels differ from the dense pass");
    check(same_bytes(suma.data(), sumb.data(), sizeof(double) * suma.size()) &&
              same_bytes(wa.data(), wb.data(), sizeof(double) * wa.size()),
          "sparse pass: sums differ from the dense pass");
}

void sparse_csr_checks() {
    g_case = "check_csr";
    const std::int32_t cols[] = {0, 2, 1, 1};
    const std::int64_t ok[] = {0, 2, 2, 4};  // rows: {0, 2}, {}, {1, 1}: a duplicate in row 2
    check(!kmeans::check_csr(ok, cols, 3, 3, 4).empty(), "check_csr accepts a duplicate column");
    check(kmeans::check_csr(ok, cols, 2, 3, 4).empty(), "check_csr refuses valid rows");
    const std::int64_t down[] = {0, 2, 1};
    check(!kmeans::check_csr(down, cols, 2, 3, 4).empty(), "check_csr accepts decreasing offsets");
    const std::int64_t beyond[] = {0, 2, 5};
    check(!kmeans::check_csr(beyond, cols, 2, 3, 4).empty(), "check_csr accepts offsets past nnz");
    check(!kmeans::check_csr(ok, cols, 1, 2, 4).empty(), "check_csr accepts a column >= d");
    const std::int32_t unsorted[] = {2, 0};
    const std::int64_t one_row[] = {0, 2};
    check(!kmeans::check_csr(one_row, unsorted, 1, 3, 2).empty(), "check_csr accepts unsorted columns");
}

}  // namespace kmeans_test
