// Test driver of the kernel without Python: every entry point (assign_pass with and without
// sums and weights, lloyd_step, relocation_candidates, lloyd_run), with every SIMD kernel this
// CPU can run, on edge shapes, checked against a plain double-precision brute force
// (harness.hpp). This file holds the cases and main; checks.cpp the checks run on each case.
// Built by -DMNIST_KMEANS_DRIVER=ON; scripts/run_sanitizers.sh runs it under ASan + UBSan.
//
// Usage: kmeans_driver [-v]. Exit status 0 when every check passed, 1 otherwise (each failed
// check prints one line naming the case).
//
// What is checked, for each ISA and each case:
//   * labels: the brute-force nearest center (lowest index on exact ties), except where the two
//     candidates are within float32 rounding of each other (the same bound as tests/test_oracle.py);
//     a center that duplicates a lower-index center is never chosen;
//   * squared distances: the double value to within float32 rounding (exactly 0 where the row
//     equals its center bitwise);
//   * sums and weight sums: the double sums of the kernel's own labels; objectives likewise;
//   * lloyd_run: history length, finite centers, outputs consistent with the returned centers,
//     centers equal to the means of their members at a strict fixed point, a non-increasing
//     objective, the same clustering as a double brute-force Lloyd on separated blobs;
//   * bitwise identity of 1, 2 and 3 threads, of concurrent calls from several std::threads,
//     and of calls nested inside an outer OpenMP parallel region;
//   * the step: a loop of assign_pass + lloyd_step gives lloyd_run's results bit for bit (the
//     per-chunk objectives, added in order, give the pass's); truncated candidate lists report
//     exhaustion and change nothing; the candidates are a prefix of the full order;
//   * the float64 path on every case, its data widened to double (checks64.cpp): the same
//     checks against a double brute force, threads, algorithms, the step loop, and the
//     baseline copy of its kernel against the AVX2 one.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"
#include "kmeans/dispatch.hpp"
#include "kmeans/lloyd.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace kmeans_test {
namespace {

// ---------------------------------------------------------------------------------------------
// Cases.

Problem random_problem(const std::string& name, index_t n, index_t d, index_t k,
                       std::uint64_t seed, bool weighted, double scale = 1.0) {
    Problem p;
    p.name = name;
    p.n = n, p.d = d, p.k = k;
    Rng rng(seed);
    p.X.resize(n * d);
    for (float& v : p.X) v = static_cast<float>((rng.uniform() * 2.0 - 1.0) * scale);
    // initial centers: k distinct rows (a partial Fisher-Yates shuffle)
    std::vector<index_t> idx(n);
    for (index_t i = 0; i < n; ++i) idx[i] = i;
    for (index_t c = 0; c < k; ++c) std::swap(idx[c], idx[c + rng.below(n - c)]);
    p.centers.resize(k * d);
    for (index_t c = 0; c < k; ++c) {
        std::copy(p.X.begin() + idx[c] * d, p.X.begin() + (idx[c] + 1) * d, p.centers.begin() + c * d);
    }
    if (weighted) {
        p.w.resize(n);
        for (double& w : p.w) w = rng.uniform() < 0.2 ? 0.0 : 0.25 + 2.0 * rng.uniform();
        p.w[rng.below(n)] = 1.5;  // at least one positive weight
    }
    return p;
}

// Well-separated blobs: a double brute-force Lloyd must find the same clustering.
Problem blobs(index_t n, index_t d, index_t k, std::uint64_t seed) {
    Problem p = random_problem("blobs", n, d, k, seed, false);
    Rng rng(seed + 1);
    std::vector<double> means(k * d);
    for (double& m : means) m = rng.uniform() * 200.0 - 100.0;
    for (index_t i = 0; i < n; ++i) {
        const index_t c = i % k;
        for (index_t j = 0; j < d; ++j) {
            p.X[i * d + j] = static_cast<float>(means[c * d + j] + (rng.uniform() - 0.5));
        }
    }
    for (index_t c = 0; c < k; ++c) {  // start from one member of each blob, shifted a little
        for (index_t j = 0; j < d; ++j) p.centers[c * d + j] = p.X[c * d + j] + 0.25f;
    }
    return p;
}

void test_blobs_against_brute_lloyd(index_t n, index_t d, index_t k) {
    Problem p = blobs(n, d, k, 99 + n + d);
    g_case = p.name + " n=" + std::to_string(n) + " d=" + std::to_string(d) + " k=" + std::to_string(k);
    const RunOut r = run_lloyd(p, 2);
    // brute force: double Lloyd from the same centers
    std::vector<double> C(p.centers.begin(), p.centers.end());
    std::vector<index_t> lab(n, -1);
    for (int it = 0; it < 100; ++it) {
        bool changed = false;
        for (index_t i = 0; i < n; ++i) {
            index_t best = 0;
            double bd = INFINITY;
            for (index_t c = 0; c < k; ++c) {
                double s = 0.0;
                for (index_t j = 0; j < d; ++j) {
                    const double diff = p.X[i * d + j] - C[c * d + j];
                    s += diff * diff;
                }
                if (s < bd) bd = s, best = c;
            }
            changed = changed || lab[i] != best;
            lab[i] = best;
        }
        if (!changed) break;
        std::vector<double> sum(k * d, 0.0), cnt(k, 0.0);
        for (index_t i = 0; i < n; ++i) {
            for (index_t j = 0; j < d; ++j) sum[lab[i] * d + j] += p.X[i * d + j];
            cnt[lab[i]] += 1.0;
        }
        for (index_t c = 0; c < k; ++c) {
            if (cnt[c] > 0) {
                for (index_t j = 0; j < d; ++j) C[c * d + j] = sum[c * d + j] / cnt[c];
            }
        }
    }
    bool same = r.stats.converged;
    for (index_t i = 0; i < n; ++i) same = same && r.labels[i] == lab[i];
    double worst = 0.0;
    for (index_t e = 0; e < k * d; ++e) {
        worst = std::max(worst, std::fabs(r.centers[e] - C[e]) / (std::fabs(C[e]) + 1.0));
    }
    check(same, "labels differ from a double brute-force Lloyd on separated blobs");
    check(worst < 1e-5, fmt("centers differ from a double brute-force Lloyd by %.3g", worst));
}

void run_case(Problem p) {
    g_case = kmeans::current_isa() + " " + p.name + " n=" + std::to_string(p.n) +
             " d=" + std::to_string(p.d) + " k=" + std::to_string(p.k) +
             (p.w.empty() ? "" : " weighted");
    if (g_verbose) std::fprintf(stderr, "  %s\n", g_case.c_str());
    test_assign(p);
    test_lloyd(p);
    test_step_loop(p);
    test_sparse(p);
    test_f64(p);
}

void edge_cases() {
    const index_t rows = kmeans::kChunkRows;
    // shapes: n=1, k=1, k=n, d=1, d not a multiple of any SIMD width, n not a multiple of the
    // chunk size (and exactly one, and one more), with and without weights
    struct Shape { index_t n, d, k; };
    const Shape shapes[] = {
        {1, 1, 1},        {1, 3, 1},       {1, 785, 1},    {2, 1, 2},    {7, 1, 3},
        {5, 17, 5},       {9, 3, 9},       {64, 17, 64},   {rows, 3, 4}, {rows + 1, 17, 7},
        {2 * rows - 1, 1, 5}, {3 * rows + 5, 33, 16}, {600, 785, 10}, {700, 16, 9},
        {1500, 31, 37},
    };
    std::uint64_t seed = 1;
    for (const Shape& s : shapes) {
        for (bool weighted : {false, true}) {
            run_case(random_problem("random", s.n, s.d, s.k, seed++, weighted));
        }
    }
    // Empty clusters: duplicated initial centers (the duplicates start empty and are relocated).
    for (bool weighted : {false, true}) {
        Problem p = random_problem("duplicate centers", 2 * rows + 3, 17, 6, 77, weighted);
        for (index_t c = 1; c < p.k; c += 2) {
            std::copy(p.centers.begin(), p.centers.begin() + p.d, p.centers.begin() + c * p.d);
        }
        run_case(p);
        const RunOut r = run_lloyd(p, 2);
        check(r.stats.n_relocated >= 3, "duplicate centers: empty clusters were not relocated");
        std::vector<double> wsum(p.k, 0.0);
        for (index_t i = 0; i < p.n; ++i) wsum[r.labels[i]] += p.w.empty() ? 1.0 : p.w[i];
        for (index_t c = 0; c < p.k; ++c) check(wsum[c] > 0.0, "duplicate centers: a cluster ends empty");
    }
    // Every initial center the same.
    {
        Problem p = random_problem("all centers equal", 300, 5, 4, 78, false);
        for (index_t c = 1; c < p.k; ++c) {
            std::copy(p.centers.begin(), p.centers.begin() + p.d, p.centers.begin() + c * p.d);
        }
        run_case(p);
    }
    // All points equal (distances 0, nothing to relocate), with equal and with distinct centers.
    for (bool equal_centers : {true, false}) {
        Problem p = random_problem(equal_centers ? "all points equal, centers on them"
                                                 : "all points equal, centers apart",
                                   rows + 9, 19, 4, 79, false);
        for (index_t i = 1; i < p.n; ++i) {
            std::copy(p.X.begin(), p.X.begin() + p.d, p.X.begin() + i * p.d);
        }
        if (equal_centers) {
            for (index_t c = 0; c < p.k; ++c) std::copy(p.X.begin(), p.X.begin() + p.d, p.centers.begin() + c * p.d);
        } else {
            for (index_t e = 0; e < p.k * p.d; ++e) p.centers[e] = static_cast<float>(e % 7) - 3.0f;
        }
        run_case(p);
        const RunOut r = run_lloyd(p, 2);
        check(r.stats.inertia == 0.0, "all points equal: objective is not 0");
        if (equal_centers) {
            bool zeros = true;
            for (index_t i = 0; i < p.n; ++i) zeros = zeros && r.labels[i] == 0;
            check(zeros, "all points equal on equal centers: not all labelled 0 (lowest index)");
        }
    }
    // Zero weights: some, a whole chunk, and all of them (the caller refuses that, but the
    // kernel must still return finite centers and no NaN).
    {
        Problem p = random_problem("zero weights in a whole chunk", 3 * rows, 7, 5, 80, true);
        std::fill(p.w.begin() + rows, p.w.begin() + 2 * rows, 0.0);
        run_case(p);
        Problem q = random_problem("all weights zero", rows + 3, 7, 3, 81, true);
        std::fill(q.w.begin(), q.w.end(), 0.0);
        run_case(q);
        const RunOut r = run_lloyd(q, 2);
        check(r.centers == q.centers, "all weights zero: centers moved");
        check(r.stats.inertia == 0.0, "all weights zero: objective is not 0");
        // only one row with weight: every other cluster stays empty (nothing can be moved)
        Problem s = random_problem("one row with weight", 50, 3, 4, 82, true);
        std::fill(s.w.begin(), s.w.end(), 0.0);
        s.w[17] = 2.0;
        run_case(s);
    }
    // Sparse rows like MNIST's: most entries 0, whole columns 0, some rows all 0, some dense.
    for (const Shape& s : {Shape{700, 100, 17}, Shape{600, 785, 10}, Shape{530, 9, 3}}) {
        for (bool weighted : {false, true}) {
            Problem p = random_problem("sparse", s.n, s.d, s.k, seed++, weighted);
            Rng rng(seed);
            for (index_t i = 0; i < p.n; ++i) {
                const double density = i % 7 == 0 ? 0.0 : i % 11 == 0 ? 1.0 : 0.2;
                for (index_t j = 0; j < p.d; ++j) {
                    float& v = p.X[i * p.d + j];
                    if (j % 5 == 1 || rng.uniform() >= density) v = 0.0f;
                    else v = std::fabs(v);  // MNIST-like: non-negative
                }
            }
            for (index_t c = 0; c < p.k; ++c) {  // centers: rows of the sparse data
                const index_t i = (c * 37 + 3) % p.n;
                std::copy(p.X.begin() + i * p.d, p.X.begin() + (i + 1) * p.d, p.centers.begin() + c * p.d);
            }
            run_case(p);
        }
    }
    // Large magnitudes (squares near float32's range are the caller's problem; 1e15 is fine).
    run_case(random_problem("large values", 600, 9, 5, 83, false, 1e15));
    run_case(random_problem("tiny values", 600, 9, 5, 84, true, 1e-15));
    // Duplicate data rows with k = n (identical centers must tie to the lowest index).
    {
        Problem p = random_problem("duplicate rows, k=n", 6, 4, 6, 85, false);
        std::copy(p.X.begin(), p.X.begin() + p.d, p.X.begin() + 3 * p.d);
        p.centers = p.X;
        run_case(p);
    }
}

// Inputs the callers refuse (NaN, infinity, squares beyond float32, negative weights) must still
// not make the kernel write out of bounds: labels stay in [0, k) and runs end.
void unchecked_inputs() {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const float inf = std::numeric_limits<float>::infinity();
    struct Bad {
        const char* name;
        std::function<void(Problem&)> spoil;
    };
    const std::vector<Bad> bad = {
        {"NaN rows", [&](Problem& p) { for (index_t j = 0; j < p.d; ++j) p.X[5 * p.d + j] = nan; p.X[7] = nan; }},
        {"NaN center", [&](Problem& p) { p.centers[p.d + 1] = nan; }},
        {"all centers NaN", [&](Problem& p) { std::fill(p.centers.begin(), p.centers.end(), nan); }},
        {"infinite values", [&](Problem& p) { p.X[3] = inf; p.X[p.d * 9] = -inf; p.centers[0] = inf; }},
        {"squares beyond float32", [&](Problem& p) { for (float& v : p.X) v *= 3e38f; }},
        {"NaN and negative weights", [&](Problem& p) { p.w.assign(p.n, 1.0); p.w[2] = -5.0; p.w[4] = std::nan(""); }},
    };
    for (const Bad& b : bad) {
        Problem p = random_problem(b.name, kmeans::kChunkRows + 40, 19, 9, 123, false);
        b.spoil(p);
        g_case = kmeans::current_isa() + " unchecked input: " + b.name;
        for (int threads : {1, 3}) {
            std::vector<std::int32_t> labels(p.n, -7);
            std::vector<float> sq(p.n);
            std::vector<double> sums(p.k * p.d), wsum(p.k);
            kmeans::assign_pass(p.X.data(), p.n, p.d, p.centers.data(), p.k, p.weights(),
                                labels.data(), sq.data(), sums.data(), wsum.data(), threads);
            bool in_range = true;
            for (std::int32_t L : labels) in_range = in_range && L >= 0 && L < p.k;
            check(in_range, "assign_pass: a label is out of range");
            const RunOut r = run_lloyd(p, threads, 50);
            in_range = r.stats.n_iter >= 1 && r.stats.n_iter <= 50;
            for (std::int32_t L : r.labels) in_range = in_range && L >= 0 && L < p.k;
            check(in_range, "lloyd_run: a label is out of range or n_iter is wrong");
        }
        test_f64_unchecked(p);
    }
}

// The empty-cluster rule on tiny cases worked out by hand: the farthest row (lowest index on
// ties) whose cluster keeps other members, and that carries weight, moves to the empty cluster.
// Rows are value * (1, ..., 1) in d dimensions; one pass (max_iter=1) then the final assignment.
void relocation_rules() {
    struct Case {
        const char* name;
        std::vector<float> x, init, w, expect_centers;
        std::vector<std::int32_t> expect_labels;
    };
    const std::vector<Case> cases = {
        {"farthest row", {0, 10, 1, 2}, {0, 0}, {}, {1, 10}, {0, 1, 0, 0}},
        {"farthest tie: lowest index", {0, 5, -5, 1}, {0, 0}, {}, {-4.0f / 3.0f, 5}, {0, 1, 0, 0}},
        {"a row that would empty its cluster stays", {0, 3, 150}, {0, 0, 200}, {}, {0, 3, 150},
         {0, 1, 2}},
        {"a row of weight 0 stays", {0, 10, 1, 2}, {0, 0}, {1, 0, 1, 1}, {1.0f / 2.0f, 2}, {0, 1, 0, 1}},
    };
    for (index_t d : {1, 5}) {
        for (const Case& c : cases) {
            Problem p;
            p.name = c.name;
            p.n = static_cast<index_t>(c.x.size());
            p.d = d;
            p.k = static_cast<index_t>(c.init.size());
            for (float v : c.x) p.X.insert(p.X.end(), d, v);
            for (float v : c.init) p.centers.insert(p.centers.end(), d, v);
            p.w.assign(c.w.begin(), c.w.end());
            g_case = kmeans::current_isa() + " relocation: " + c.name + " d=" + std::to_string(d);
            const RunOut r = run_lloyd(p, 1, 1);
            check(r.stats.n_relocated == 1, "expected one relocation");
            check(r.labels == c.expect_labels, "labels differ from the worked-out ones");
            bool same = true;
            for (index_t e = 0; e < p.k * d; ++e) {
                same = same && std::fabs(r.centers[e] - c.expect_centers[e / d]) <= 1e-6f;
            }
            check(same, "centers differ from the worked-out ones");
        }
    }
}

// Concurrent lloyd_run calls from several std::threads, each with 2 OpenMP threads, and calls
// nested inside an outer OpenMP parallel region: bitwise identical to a lone serial run.
void concurrency() {
    Problem p = random_problem("concurrency", 3 * kmeans::kChunkRows + 77, 23, 8, 90, true);
    g_case = kmeans::current_isa() + " concurrent and nested calls";
    const RunOut ref = run_lloyd(p, 1);
    std::vector<RunOut> outs(4);
    std::vector<std::thread> pool;
    for (size_t t = 0; t < outs.size(); ++t) {
        pool.emplace_back([&, t] { outs[t] = run_lloyd(p, 2); });
    }
    for (std::thread& th : pool) th.join();
    for (const RunOut& o : outs) check(identical(o, ref), "a concurrent run differs from a serial one");
#ifdef _OPENMP
    std::vector<RunOut> nested(3);
#pragma omp parallel for num_threads(3) schedule(static, 1)
    for (int t = 0; t < 3; ++t) nested[t] = run_lloyd(p, 3);
    for (const RunOut& o : nested) check(identical(o, ref), "a run nested in an OpenMP region differs");
#endif
}

void dispatch_api() {
    g_case = "dispatch";
    const std::vector<std::string> isas = kmeans::available_isas();
    check(!isas.empty() && isas.back() == "generic", "available_isas does not end with generic");
    bool threw = false;
    try {
        kmeans::set_isa("no-such-isa");
    } catch (const std::invalid_argument&) {
        threw = true;
    }
    check(threw, "set_isa('no-such-isa') did not throw std::invalid_argument");
}

}  // namespace
}  // namespace kmeans_test

int main(int argc, char** argv) {
    using namespace kmeans_test;
    for (int i = 1; i < argc; ++i) g_verbose = g_verbose || std::string(argv[i]) == "-v";
    std::fprintf(stderr, "kmeans_driver: openmp=%d max_threads=%d isas:", kmeans::has_openmp(),
                 kmeans::max_threads());
    for (const std::string& isa : kmeans::available_isas()) std::fprintf(stderr, " %s", isa.c_str());
    std::fprintf(stderr, "\n");
    try {
        dispatch_api();
        step_rules();
        sparse_csr_checks();
        for (const std::string& isa : kmeans::available_isas()) {
            kmeans::set_isa(isa);
            std::fprintf(stderr, "kernel %s\n", isa.c_str());
            edge_cases();
            relocation_rules();
            unchecked_inputs();
            concurrency();
            test_blobs_against_brute_lloyd(900, 5, 6);
            test_blobs_against_brute_lloyd(700, 785, 10);
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "FAIL: exception %s in [%s]\n", e.what(), g_case.c_str());
        return 1;
    }
    std::fprintf(stderr, "kmeans_driver: %d checks, %d failures\n", g_checks, g_failures);
    return g_failures == 0 ? 0 : 1;
}
