// Test driver of the kernel without Python: every entry point (assign_pass with and without
// sums and weights, lloyd_step, relocation_candidates, lloyd_run), with every SIMD kernel this
// CPU can run, on edge shapes,
// checked against a plain double-precision brute force written here. Built by
// -DMNIST_KMEANS_DRIVER=ON; scripts/run_sanitizers.sh runs it under ASan + UBSan.
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
//     exhaustion and change nothing; the candidates are a prefix of the full order.
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

#include "kmeans/dispatch.hpp"
#include "kmeans/lloyd.hpp"
#include "kmeans/step.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

using kmeans::index_t;

namespace {

int g_failures = 0;
int g_checks = 0;
bool g_verbose = false;
std::string g_case;  // the case being run, for failure messages

void fail(const std::string& what) {
    ++g_failures;
    if (g_failures <= 200) std::fprintf(stderr, "FAIL [%s] %s\n", g_case.c_str(), what.c_str());
}

void check(bool ok, const std::string& what) {
    ++g_checks;
    if (!ok) fail(what);
}

std::string fmt(const char* f, double a, double b = 0, double c = 0, double d = 0) {
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

double sq_dist_d(const float* x, const float* c, index_t d) {
    double s = 0.0;
    for (index_t j = 0; j < d; ++j) {
        const double diff = static_cast<double>(x[j]) - c[j];
        s += diff * diff;
    }
    return s;
}

// How far float32 rounding can move the kernel's score difference between centers a and b for
// row x (see tests/test_oracle.py::rounding_bound), plus the error of the reported distance.
double rounding_bound(const float* x, const float* ca, const float* cb, index_t d) {
    double dots = 0.0, norms = 0.0;
    for (index_t j = 0; j < d; ++j) {
        dots += std::fabs(static_cast<double>(x[j])) * (std::fabs(ca[j]) + std::fabs(cb[j]));
        norms += static_cast<double>(ca[j]) * ca[j] + static_cast<double>(cb[j]) * cb[j];
    }
    return 2.0 * (d + 2) * kEps32 * dots + 2.0 * kEps32 * norms;
}

// memcmp that accepts empty ranges (whose data() may be null)
bool same_bytes(const void* a, const void* b, size_t bytes) {
    return bytes == 0 || std::memcmp(a, b, bytes) == 0;
}

bool same_row(const float* a, const float* b, index_t d) {
    return same_bytes(a, b, sizeof(float) * d);
}

// Check one pass's labels and distances for centers C against the brute force.
void check_assignment(const Problem& p, const float* C, const std::int32_t* labels,
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

Sums brute_sums(const Problem& p, const std::int32_t* labels, const float* sq_dist) {
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

bool close(double a, double b, double scale) {
    return std::fabs(a - b) <= 1e-12 * scale + 1e-300;
}

bool same_double(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// Two passes' statistics, bit for bit.
bool same_stats(const kmeans::PassStats& a, const kmeans::PassStats& b) {
    return same_double(a.inertia, b.inertia) && same_double(a.j_clust, b.j_clust) &&
           a.rows_scored == b.rows_scored && a.lean == b.lean;
}

// Run assign_pass with and without sums, for 1, 2 and 3 threads; check against the brute force
// and bitwise against each other.
void test_assign(const Problem& p) {
    const index_t n = p.n, d = p.d, k = p.k;
    struct Out {
        std::vector<std::int32_t> labels;
        std::vector<float> sq;
        std::vector<double> sums, wsum;
        kmeans::PassStats stats;
    };
    auto run = [&](bool accumulate, int threads) {
        Out o;
        o.labels.assign(n, -7);
        o.sq.assign(n, -1.0f);
        if (accumulate) {
            o.sums.assign(k * d, 12345.0);  // garbage: assign_pass must overwrite, not add
            o.wsum.assign(k, 12345.0);
        }
        o.stats = kmeans::assign_pass(p.X.data(), n, d, p.centers.data(), k, p.weights(),
                                      o.labels.data(), o.sq.data(),
                                      accumulate ? o.sums.data() : nullptr,
                                      accumulate ? o.wsum.data() : nullptr, threads);
        return o;
    };
    const Out base = run(true, 1);
    check_assignment(p, p.centers.data(), base.labels.data(), base.sq.data(), "assign_pass");
    const Sums b = brute_sums(p, base.labels.data(), base.sq.data());
    double obj_scale = 0.0, dist_scale = 0.0;
    for (index_t i = 0; i < n; ++i) {
        const double w = p.w.empty() ? 1.0 : p.w[i];
        obj_scale += std::fabs(w * base.sq[i]);
        dist_scale += std::fabs(w * std::sqrt(static_cast<double>(base.sq[i])));
    }
    check(close(base.stats.inertia, b.inertia, obj_scale),
          fmt("inertia %.17g, brute force %.17g", base.stats.inertia, b.inertia));
    check(close(base.stats.j_clust, b.j_clust, dist_scale),
          fmt("j_clust %.17g, brute force %.17g", base.stats.j_clust, b.j_clust));
    int bad = 0;
    for (index_t e = 0; e < k * d; ++e) {
        if (!close(base.sums[e], b.sums[e], b.abs_sums[e]) && bad++ < 3) {
            fail(fmt("sums[%.0f] = %.17g, brute force %.17g", static_cast<double>(e),
                     base.sums[e], b.sums[e]));
        }
    }
    for (index_t c = 0; c < k; ++c) {
        if (!close(base.wsum[c], b.wsum[c], std::fabs(b.wsum[c])) && bad++ < 6) {
            fail(fmt("weight_sums[%.0f] = %.17g, brute force %.17g", static_cast<double>(c),
                     base.wsum[c], b.wsum[c]));
        }
    }
    g_checks += 1;

    // Without sums: the same labels, distances and objectives; sums untouched (null).
    const Out plain = run(false, 1);
    check(plain.labels == base.labels && plain.sq == base.sq, "accumulate=false changes labels");
    check(same_stats(plain.stats, base.stats), "accumulate=false changes the objective");

    // Any number of threads: bitwise identical.
    for (int threads : {2, 3, 8}) {
        for (bool accumulate : {true, false}) {
            const Out o = run(accumulate, threads);
            const Out& ref = accumulate ? base : plain;
            const bool same = o.labels == ref.labels &&
                              same_bytes(o.sq.data(), ref.sq.data(), sizeof(float) * n) &&
                              o.sums.size() == ref.sums.size() &&
                              same_bytes(o.sums.data(), ref.sums.data(),
                                         sizeof(double) * o.sums.size()) &&
                              o.wsum.size() == ref.wsum.size() &&
                              same_bytes(o.wsum.data(), ref.wsum.data(),
                                         sizeof(double) * o.wsum.size()) &&
                              same_stats(o.stats, ref.stats);
            check(same, "assign_pass with " + std::to_string(threads) +
                            " threads differs from 1 thread (accumulate=" +
                            std::to_string(accumulate) + ")");
        }
    }
}

struct RunOut {
    std::vector<float> centers;
    std::vector<std::int32_t> labels;
    std::vector<float> sq;
    kmeans::RunStats stats;
};

RunOut run_lloyd(const Problem& p, int threads, int max_iter = 300, double tol = 0.0,
                 const std::function<bool()>& stop = {},
                 kmeans::Algorithm algorithm = kmeans::Algorithm::lloyd, bool history = true) {
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
    o.stats = kmeans::lloyd_run(p.X.data(), p.n, p.d, p.k, p.weights(), o.centers.data(),
                                o.labels.data(), o.sq.data(), opt, stop);
    return o;
}

bool identical(const RunOut& a, const RunOut& b) {
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

void test_lloyd(const Problem& p) {
    const index_t n = p.n, d = p.d, k = p.k;
    const RunOut r = run_lloyd(p, 1);
    const kmeans::RunStats& s = r.stats;
    check(!s.interrupted, "lloyd_run: interrupted without a stop request");
    check(s.n_iter >= 1 && s.n_iter <= 300, "lloyd_run: n_iter out of range");
    check(static_cast<index_t>(s.inertia_history.size()) == s.n_iter &&
              static_cast<index_t>(s.j_clust_history.size()) == s.n_iter,
          "lloyd_run: history length differs from n_iter");
    bool finite = true;
    for (float c : r.centers) finite = finite && std::isfinite(c);
    check(finite, "lloyd_run: a center is not finite");
    check_assignment(p, r.centers.data(), r.labels.data(), r.sq.data(), "lloyd_run final");
    const Sums b = brute_sums(p, r.labels.data(), r.sq.data());
    double obj_scale = 0.0;
    for (index_t i = 0; i < n; ++i) obj_scale += (p.w.empty() ? 1.0 : p.w[i]) * r.sq[i];
    check(close(s.inertia, b.inertia, obj_scale),
          fmt("inertia %.17g, brute force %.17g", s.inertia, b.inertia));
    // Lloyd never increases the objective (up to float32 rounding of the distances).
    const std::vector<double>& h = s.inertia_history;
    for (size_t i = 1; i < h.size(); ++i) {
        const double slack = 1e-5 * h[i - 1] + 1e-30;
        check(h[i] <= h[i - 1] + slack,
              fmt("inertia rose at iteration %.0f: %.17g -> %.17g", static_cast<double>(i),
                  h[i - 1], h[i]));
    }
    if (!h.empty()) {
        check(s.inertia <= h.back() * (1 + 1e-5) + 1e-30, "final inertia above the last iteration's");
    }
    // A strict fixed point: each cluster with weight has its center at the mean of its members.
    if (s.converged) {
        int bad = 0;
        for (index_t c = 0; c < k; ++c) {
            if (!(b.wsum[c] > 0.0)) continue;
            for (index_t j = 0; j < d; ++j) {
                const double mean = b.sums[c * d + j] / b.wsum[c];
                const double tol = 2.0 * kEps32 * std::fabs(mean) +
                                   1e-12 * b.abs_sums[c * d + j] / b.wsum[c] + 1e-38;
                if (std::fabs(r.centers[c * d + j] - mean) > tol && bad++ < 3) {
                    fail(fmt("converged center %.0f[%.0f] = %.9g, mean of members %.9g",
                             static_cast<double>(c), static_cast<double>(j), r.centers[c * d + j],
                             mean));
                }
            }
        }
        ++g_checks;
    }
    // Bitwise identity for other thread counts.
    for (int threads : {2, 3}) {
        check(identical(r, run_lloyd(p, threads)),
              "lloyd_run with " + std::to_string(threads) + " threads differs from 1 thread");
    }
    // The bounded algorithms give the same run, bit for bit (rows_scored aside).
    for (auto algorithm : {kmeans::Algorithm::hamerly, kmeans::Algorithm::yinyang, kmeans::Algorithm::elkan}) {
        check(identical(r, run_lloyd(p, 2, 300, 0.0, {}, algorithm)),
              "lloyd_run with a bounded algorithm (" + std::to_string(static_cast<int>(algorithm)) +
                  ") differs from lloyd");
        // without histories (lean passes): the same run but for the empty histories
        RunOut lean = run_lloyd(p, 2, 300, 0.0, {}, algorithm, false);
        check(lean.stats.inertia_history.empty() && lean.stats.j_clust_history.empty(),
              "lloyd_run without history recorded one");
        lean.stats.inertia_history = r.stats.inertia_history;
        lean.stats.j_clust_history = r.stats.j_clust_history;
        check(identical(r, lean), "lloyd_run without history differs from lloyd (" +
                                      std::to_string(static_cast<int>(algorithm)) + ")");
    }
    // max_iter=1 and a positive tol also give consistent outputs.
    const RunOut one = run_lloyd(p, 2, 1);
    check(one.stats.n_iter == 1 && one.stats.inertia_history.size() == 1, "max_iter=1: n_iter != 1");
    check_assignment(p, one.centers.data(), one.labels.data(), one.sq.data(), "lloyd_run max_iter=1");
    const RunOut loose = run_lloyd(p, 3, 300, 1e-3);
    check_assignment(p, loose.centers.data(), loose.labels.data(), loose.sq.data(),
                     "lloyd_run tol=1e-3");
    // should_stop: asked before the first pass, it stops at once and reports it.
    int calls = 0;
    const RunOut stopped = run_lloyd(p, 2, 300, 0.0, [&calls] { return ++calls >= 1; });
    check(stopped.stats.interrupted && stopped.stats.n_iter == 0 && calls == 1,
          "should_stop=true before the first pass did not stop the run");
    // ... and after the second, it stops after two passes.
    calls = 0;
    const RunOut stopped2 = run_lloyd(p, 2, 300, 0.0, [&calls] { return ++calls >= 3; });
    check(stopped2.stats.interrupted ? stopped2.stats.n_iter == 2 : stopped2.stats.n_iter <= 2,
          "should_stop after two passes: wrong n_iter");
}

// A loop of assign_pass + lloyd_step, as a distributed driver runs it, against lloyd_run: the
// same run, bit for bit. The chunk objectives of each pass, added in order, give its inertia.
void test_step_loop(const Problem& p) {
    const index_t n = p.n, d = p.d, k = p.k;
    const index_t n_chunks = (n + kmeans::kChunkRows - 1) / kmeans::kChunkRows;
    const int max_iter = 300;
    RunOut loop;
    loop.centers = p.centers;
    loop.labels.assign(n, -7);
    loop.sq.assign(n, -1.0f);
    std::vector<std::int32_t> previous(n, -1);
    std::vector<double> sums(k * d), wsum(k), chunk_inertia(n_chunks), chunk_j_clust(n_chunks);
    kmeans::RunStats& s = loop.stats;
    bool relocated_last = false, strict = false, chunks_ok = true;
    for (int it = 1; it <= max_iter; ++it) {
        const kmeans::PassStats pass = kmeans::assign_pass(
            p.X.data(), n, d, loop.centers.data(), k, p.weights(), loop.labels.data(),
            loop.sq.data(), sums.data(), wsum.data(), 2, chunk_inertia.data(), chunk_j_clust.data());
        double folded = 0.0, folded_j = 0.0;
        for (index_t c = 0; c < n_chunks; ++c) folded += chunk_inertia[c], folded_j += chunk_j_clust[c];
        chunks_ok = chunks_ok && same_double(folded, pass.inertia) && same_double(folded_j, pass.j_clust);
        s.inertia_history.push_back(pass.inertia);
        s.j_clust_history.push_back(pass.j_clust);
        s.n_iter = it;
        const kmeans::StepInput in{k, d, kmeans::count_changed(previous.data(), loop.labels.data(), n),
                                   relocated_last, it, max_iter, 0.0};
        const kmeans::StepResult step = kmeans::lloyd_step(
            in, loop.centers.data(), sums.data(), wsum.data(), [&](index_t wanted) {
                return kmeans::candidates_of(p.X.data(), n, d, p.weights(), loop.labels.data(),
                                             loop.sq.data(), wanted);
            });
        check(!step.candidates_exhausted, "step loop: a complete list reported exhaustion");
        if (step.converged && !step.final_pass) {
            strict = s.converged = true;
            s.inertia = pass.inertia;
            s.j_clust = pass.j_clust;
            break;
        }
        for (const kmeans::Move& m : step.moves) {
            check(loop.labels[m.row] == m.from, "step loop: a move's old label is not the row's");
            loop.labels[m.row] = m.to;
        }
        s.n_relocated += static_cast<index_t>(step.moves.size());
        relocated_last = !step.moves.empty();
        previous = loop.labels;
        if (step.final_pass) {
            s.converged = step.converged;
            break;
        }
    }
    if (!strict) {
        const kmeans::PassStats last = kmeans::assign_pass(p.X.data(), n, d, loop.centers.data(), k,
                                                           p.weights(), loop.labels.data(),
                                                           loop.sq.data(), nullptr, nullptr, 1);
        s.inertia = last.inertia;
        s.j_clust = last.j_clust;
    }
    check(chunks_ok, "the chunk objectives, added in order, differ from the pass's");
    check(identical(loop, run_lloyd(p, 2)), "a loop of assign_pass + lloyd_step differs from lloyd_run");
}

// The step's rules on their own: candidates in priority order (a prefix of the full sort for
// any limit); a truncated list that runs out reports exhaustion and changes nothing.
void step_rules() {
    g_case = "step rules";
    Rng rng(7);
    const index_t n = 2000;
    std::vector<float> sq(n);
    std::vector<double> w(n);
    for (index_t i = 0; i < n; ++i) {
        sq[i] = static_cast<float>(rng.below(6));  // ties and zeros
        w[i] = static_cast<double>(rng.below(3));
    }
    std::vector<index_t> full, part;
    check(kmeans::relocation_candidates(sq.data(), w.data(), n, -1, full), "a full list is not complete");
    bool sorted = true;
    for (size_t t = 0; t < full.size(); ++t) {
        const index_t i = full[t];
        sorted = sorted && sq[i] > 0.0f && w[i] > 0.0;
        if (t > 0) {
            const index_t h = full[t - 1];
            sorted = sorted && (sq[h] > sq[i] || (sq[h] == sq[i] && h < i));
        }
    }
    check(sorted, "relocation candidates out of order");
    for (index_t limit : {index_t{0}, index_t{1}, index_t{37}, static_cast<index_t>(full.size()) - 1,
                          static_cast<index_t>(full.size()), static_cast<index_t>(full.size()) + 3}) {
        const bool complete = kmeans::relocation_candidates(sq.data(), w.data(), n, limit, part);
        const size_t m = std::min(full.size(), static_cast<size_t>(limit));
        check(part.size() == m && std::equal(part.begin(), part.end(), full.begin()) &&
                  complete == (static_cast<size_t>(limit) >= full.size()),
              "relocation candidates with a limit are not the prefix of the full order");
    }
    // rows 0, 1, 2 in cluster 0; 100, 200, 300 alone in clusters 1, 2, 3; cluster 4 empty
    const index_t d = 2, k = 5;
    std::vector<float> X;
    for (float v : {0.0f, 1.0f, 2.0f, 100.0f, 200.0f, 300.0f}) X.insert(X.end(), d, v);
    std::vector<std::int32_t> labels = {0, 0, 0, 1, 2, 3};
    std::vector<float> dist = {0, 2, 8, 200, 200, 200};
    std::vector<float> centers(k * d, 7.0f);
    std::vector<double> sums(k * d, 0.0), wsum = {3, 1, 1, 1, 0};
    for (index_t i = 0; i < 6; ++i) {
        for (index_t j = 0; j < d; ++j) sums[labels[i] * d + j] += X[i * d + j];
    }
    const std::vector<float> centers0 = centers;
    const std::vector<double> sums0 = sums, wsum0 = wsum;
    const kmeans::StepInput in{k, d, 6, false, 1, 10, 0.0};
    index_t asked = 0;
    auto truncated = [&](index_t) {
        ++asked;
        kmeans::CandidateList list = kmeans::candidates_of(X.data(), 6, d, nullptr, labels.data(),
                                                           dist.data(), 3);
        return list;
    };
    kmeans::StepResult step = kmeans::lloyd_step(in, centers.data(), sums.data(), wsum.data(), truncated);
    check(step.candidates_exhausted && step.moves.empty() && asked == 2,
          "a truncated list that runs out did not report exhaustion");
    check(centers == centers0 && sums == sums0 && wsum == wsum0, "an exhausted step changed its inputs");
    step = kmeans::lloyd_step(in, centers.data(), sums.data(), wsum.data(), [&](index_t wanted) {
        return kmeans::candidates_of(X.data(), 6, d, nullptr, labels.data(), dist.data(), wanted);
    });
    check(!step.candidates_exhausted && step.moves.size() == 1 && step.moves[0].row == 2 &&
              step.moves[0].from == 0 && step.moves[0].to == 4,
          "the row that leaves a cluster of several should have moved");
    check(wsum[4] == 1.0 && wsum[0] == 2.0 && centers[4 * d] == 2.0f && centers[0] == 0.5f,
          "the step's sums or centers after the move are wrong");
}

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

int main(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) g_verbose = g_verbose || std::string(argv[i]) == "-v";
    std::fprintf(stderr, "kmeans_driver: openmp=%d max_threads=%d isas:", kmeans::has_openmp(),
                 kmeans::max_threads());
    for (const std::string& isa : kmeans::available_isas()) std::fprintf(stderr, " %s", isa.c_str());
    std::fprintf(stderr, "\n");
    try {
        dispatch_api();
        step_rules();
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
