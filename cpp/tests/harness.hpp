// The harness of the kernel's test driver (driver.cpp: the cases and main; checks.cpp: the
// checks run on each case): the failure counters, a deterministic generator, the problems and
// the double-precision brute force the kernel is checked against.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "kmeans/lloyd.hpp"

namespace kmeans_test {

using kmeans::index_t;

inline int g_failures = 0;
inline int g_checks = 0;
inline bool g_verbose = false;
inline std::string g_case;  // the case being run, for failure messages

inline void fail(const std::string& what) {
    ++g_failures;
    if (g_failures <= 200) std::fprintf(stderr, "FAIL [%s] %s\n", g_case.c_str(), what.c_str());
}

inline void check(bool ok, const std::string& what) {
    ++g_checks;
    if (!ok) fail(what);
}

inline std::string fmt(const char* f, double a, double b = 0, double c = 0, double d = 0) {
    char buf[256];
    std::snprintf(buf, sizeof buf, f, a, b, c, d);
    return buf;
}

// A small deterministic generator (splitmix64), so the data are the same on every platform.
struct Rng {
    std::uint64_t s;
    explicit Rng(std::uint64_t seed) : s(seed) {}
    std::uint64_t next() {
        std::uint64_t z = (s += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
    index_t below(index_t m) { return static_cast<index_t>(next() % static_cast<std::uint64_t>(m)); }
};

constexpr double kEps32 = std::numeric_limits<float>::epsilon();

struct Problem {
    std::string name;
    index_t n = 0, d = 0, k = 0;
    std::vector<float> X;        // n x d
    std::vector<float> centers;  // k x d (initial centers for lloyd_run)
    std::vector<double> w;       // n, or empty for no weights
    const double* weights() const { return w.empty() ? nullptr : w.data(); }
};

// ---------------------------------------------------------------------------------------------
// The brute force, in double.

inline double sq_dist_d(const float* x, const float* c, index_t d) {
    double s = 0.0;
    for (index_t j = 0; j < d; ++j) {
        const double diff = static_cast<double>(x[j]) - c[j];
        s += diff * diff;
    }
    return s;
}

// How far float32 rounding can move the kernel's score difference between centers a and b for
// row x (see tests/test_oracle.py::rounding_bound), plus the error of the reported distance.
inline double rounding_bound(const float* x, const float* ca, const float* cb, index_t d) {
    double dots = 0.0, norms = 0.0;
    for (index_t j = 0; j < d; ++j) {
        dots += std::fabs(static_cast<double>(x[j])) * (std::fabs(ca[j]) + std::fabs(cb[j]));
        norms += static_cast<double>(ca[j]) * ca[j] + static_cast<double>(cb[j]) * cb[j];
    }
    return 2.0 * (d + 2) * kEps32 * dots + 2.0 * kEps32 * norms;
}

// memcmp that accepts empty ranges (whose data() may be null)
inline bool same_bytes(const void* a, const void* b, size_t bytes) {
    return bytes == 0 || std::memcmp(a, b, bytes) == 0;
}

inline bool same_row(const float* a, const float* b, index_t d) {
    return same_bytes(a, b, sizeof(float) * d);
}

// Check one pass's labels and distances for centers C against the brute force.
inline void check_assignment(const Problem& p, const float* C, const std::int32_t* labels,
                      const float* sq_dist, const char* where) {
    const index_t n = p.n, d = p.d, k = p.k;
    int reported = 0;
    for (index_t i = 0; i < n; ++i) {
        const float* x = p.X.data() + i * d;
        const std::int32_t L = labels[i];
        if (L < 0 || L >= k) {
            check(false, std::string(where) + ": label out of range at row " + std::to_string(i));
            continue;
        }
        index_t best = 0;
        double best_d = sq_dist_d(x, C, d);
        for (index_t c = 1; c < k; ++c) {
            const double dc = sq_dist_d(x, C + c * d, d);
            if (dc < best_d) best_d = dc, best = c;
        }
        const double dl = sq_dist_d(x, C + L * d, d);
        bool ok = L == best || dl - best_d <= rounding_bound(x, C + L * d, C + best * d, d);
        // ties to the lowest index: never a center that duplicates an earlier one
        for (index_t c = 0; c < L && ok; ++c) {
            if (same_row(C + c * d, C + L * d, d)) ok = false;
        }
        // the reported distance: sum (x - c)^2 in float32, d terms
        double xc = 0.0;
        for (index_t j = 0; j < d; ++j) {
            const double diff = std::fabs(static_cast<double>(x[j]) - C[L * d + j]);
            xc += diff * diff;
        }
        const double dist_tol = (d + 4) * kEps32 * xc + 1e-37;
        const bool dist_ok = std::fabs(static_cast<double>(sq_dist[i]) - dl) <= dist_tol &&
                             (!same_row(x, C + L * d, d) || sq_dist[i] == 0.0f) &&
                             std::isfinite(sq_dist[i]);
        ++g_checks;
        if ((!ok || !dist_ok) && reported++ < 5) {
            fail(std::string(where) + ": row " + std::to_string(i) + " label " +
                 std::to_string(L) + " (brute force " + std::to_string(best) + ")" +
                 fmt(" d2 %.9g vs %.9g, kernel sq_dist %.9g", dl, best_d, sq_dist[i]));
        }
    }
}

struct Sums {
    std::vector<double> sums, wsum;
    double inertia = 0.0, j_clust = 0.0;
    std::vector<double> abs_sums;  // sum |w x| per entry, for tolerances
};

inline Sums brute_sums(const Problem& p, const std::int32_t* labels, const float* sq_dist) {
    Sums s;
    s.sums.assign(p.k * p.d, 0.0);
    s.abs_sums.assign(p.k * p.d, 0.0);
    s.wsum.assign(p.k, 0.0);
    for (index_t i = 0; i < p.n; ++i) {
        const double w = p.w.empty() ? 1.0 : p.w[i];
        const index_t L = labels[i];
        if (L < 0 || L >= p.k) continue;
        for (index_t j = 0; j < p.d; ++j) {
            s.sums[L * p.d + j] += w * p.X[i * p.d + j];
            s.abs_sums[L * p.d + j] += std::fabs(w * p.X[i * p.d + j]);
        }
        s.wsum[L] += w;
        s.inertia += w * sq_dist[i];
        s.j_clust += w * std::sqrt(static_cast<double>(sq_dist[i]));
    }
    return s;
}

inline bool close(double a, double b, double scale) {
    return std::fabs(a - b) <= 1e-12 * scale + 1e-300;
}

inline bool same_double(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// Two passes' statistics, bit for bit.
inline bool same_stats(const kmeans::PassStats& a, const kmeans::PassStats& b) {
    return same_double(a.inertia, b.inertia) && same_double(a.j_clust, b.j_clust) &&
           a.rows_scored == b.rows_scored && a.lean == b.lean;
}

// Run assign_pass with and without sums, for 1, 2 and 3 threads; check against the brute force

struct RunOut {
    std::vector<float> centers;
    std::vector<std::int32_t> labels;
    std::vector<float> sq;
    kmeans::RunStats stats;
};

inline RunOut run_lloyd(const Problem& p, int threads, int max_iter = 300, double tol = 0.0,
                 const std::function<bool()>& stop = {},
                 kmeans::Algorithm algorithm = kmeans::Algorithm::lloyd, bool history = true,
                 bool adaptive = false, const std::string& schedule = {}) {
    RunOut o;
    o.centers = p.centers;
    o.labels.assign(p.n, -7);
    o.sq.assign(p.n, -1.0f);
    kmeans::RunOptions opt;
    opt.max_iter = max_iter;
    opt.tol = tol;
    opt.n_threads = threads;
    opt.algorithm = algorithm;
    opt.record_history = history;
    opt.adaptive = adaptive;
    opt.schedule = schedule;
    o.stats = kmeans::lloyd_run(p.X.data(), p.n, p.d, p.k, p.weights(), o.centers.data(),
                                o.labels.data(), o.sq.data(), opt, stop);
    return o;
}

inline bool identical(const RunOut& a, const RunOut& b) {
    auto same_d = [](const std::vector<double>& x, const std::vector<double>& y) {
        return x.size() == y.size() && same_bytes(x.data(), y.data(), sizeof(double) * x.size());
    };
    return a.centers.size() == b.centers.size() &&
           same_bytes(a.centers.data(), b.centers.data(), sizeof(float) * a.centers.size()) &&
           a.labels == b.labels && a.sq.size() == b.sq.size() &&
           same_bytes(a.sq.data(), b.sq.data(), sizeof(float) * a.sq.size()) &&
           same_d(a.stats.inertia_history, b.stats.inertia_history) &&
           same_d(a.stats.j_clust_history, b.stats.j_clust_history) &&
           same_double(a.stats.inertia, b.stats.inertia) && same_double(a.stats.j_clust, b.stats.j_clust) &&
           a.stats.n_iter == b.stats.n_iter && a.stats.converged == b.stats.converged &&
           a.stats.n_relocated == b.stats.n_relocated && a.stats.interrupted == b.stats.interrupted;
}

// The checks of checks.cpp, each run on one problem (or on cases of its own).
void test_assign(const Problem& p);   // assign_pass against the brute force, any thread count
void test_lloyd(const Problem& p);    // lloyd_run: consistency, threads, bounded algorithms
void test_step_loop(const Problem& p);  // assign_pass + lloyd_step == lloyd_run, bit for bit
void step_rules();                    // relocation candidates and exhaustion
void test_sparse(const Problem& p);   // the sparse pass and run against the dense ones
void sparse_csr_checks();             // check_csr on malformed CSR structures
void test_f64(const Problem& p);      // the float64 path on the same data (checks64.cpp)
void test_f64_unchecked(const Problem& p);  // the float64 path on input the callers refuse

}  // namespace kmeans_test
