// The float64 path of the kernel (passes64.hpp), checked on every problem of the driver with
// its data widened to double (exactly): assign_pass against a double brute force (labels the
// nearest center, lowest index on exact ties, differing only at near-ties within float64
// rounding; distances, sums and objectives to float64 accuracy), bitwise identity over 1, 2
// and 3 threads, over the algorithms, and between the AVX2 copy of the kernel and the
// baseline one ("generic"); lloyd_run's outputs consistent with its centers; and a loop of
// assign_pass + lloyd_step<double> equal to lloyd_run bit for bit.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "harness.hpp"
#include "kmeans/dispatch.hpp"
#include "kmeans/lloyd.hpp"
#include "kmeans/step.hpp"

namespace kmeans_test {
namespace {

constexpr double kEps64 = std::numeric_limits<double>::epsilon();

struct Problem64 {
    index_t n, d, k;
    std::vector<double> X, centers;
    const double* weights;
};

Problem64 widen(const Problem& p) {
    return Problem64{p.n, p.d, p.k, std::vector<double>(p.X.begin(), p.X.end()),
                     std::vector<double>(p.centers.begin(), p.centers.end()), p.weights()};
}

double sq_dist64(const double* x, const double* c, index_t d) {
    double s = 0.0;
    for (index_t j = 0; j < d; ++j) s += (x[j] - c[j]) * (x[j] - c[j]);
    return s;
}

// float64 rounding of a score difference (tests/test_float64.py::rounding_bound64).
double bound64(const double* x, const double* ca, const double* cb, index_t d) {
    double s = 0.0;
    for (index_t j = 0; j < d; ++j) {
        s += std::fabs(x[j]) * (std::fabs(ca[j]) + std::fabs(cb[j])) + ca[j] * ca[j] + cb[j] * cb[j];
    }
    return 2.0 * (d + 2) * kEps64 * s;
}

struct Pass64 {
    std::vector<std::int32_t> labels;
    std::vector<double> sq, sums, wsum;
    kmeans::PassStats stats;
};

Pass64 pass64(const Problem64& q, const double* centers, bool accumulate, int threads) {
    Pass64 o;
    o.labels.assign(q.n, -7);
    o.sq.assign(q.n, -1.0);
    if (accumulate) {
        o.sums.assign(q.k * q.d, 12345.0);  // garbage: must be overwritten
        o.wsum.assign(q.k, 12345.0);
    }
    o.stats = kmeans::assign_pass(q.X.data(), q.n, q.d, centers, q.k, q.weights, o.labels.data(),
                                  o.sq.data(), accumulate ? o.sums.data() : nullptr,
                                  accumulate ? o.wsum.data() : nullptr, threads);
    return o;
}

bool same_pass(const Pass64& a, const Pass64& b) {
    return a.labels == b.labels && same_bytes(a.sq.data(), b.sq.data(), sizeof(double) * a.sq.size()) &&
           a.sums.size() == b.sums.size() &&
           same_bytes(a.sums.data(), b.sums.data(), sizeof(double) * a.sums.size()) &&
           same_bytes(a.wsum.data(), b.wsum.data(), sizeof(double) * a.wsum.size()) &&
           same_stats(a.stats, b.stats);
}

void check_pass64(const Problem64& q, const double* C, const Pass64& o, const char* where) {
    const index_t n = q.n, d = q.d, k = q.k;
    int reported = 0;
    std::vector<double> sums(k * d, 0.0), abs_sums(k * d, 0.0), wsum(k, 0.0);
    double inertia = 0.0, scale = 0.0;
    for (index_t i = 0; i < n; ++i) {
        const double* x = q.X.data() + i * d;
        const std::int32_t L = o.labels[i];
        if (L < 0 || L >= k) {
            check(false, std::string(where) + ": label out of range at row " + std::to_string(i));
            continue;
        }
        index_t best = 0;
        double best_d = sq_dist64(x, C, d);
        for (index_t c = 1; c < k; ++c) {
            const double dc = sq_dist64(x, C + c * d, d);
            if (dc < best_d) best_d = dc, best = c;
        }
        const double dl = sq_dist64(x, C + L * d, d);
        bool ok = L == best || dl - best_d <= bound64(x, C + L * d, C + best * d, d);
        for (index_t c = 0; c < L && ok; ++c) {  // never a duplicate of a lower-index center
            ok = !same_bytes(C + c * d, C + L * d, sizeof(double) * d);
        }
        const bool dist_ok = std::fabs(o.sq[i] - dl) <= (d + 4) * kEps64 * dl + 1e-300 &&
                             std::isfinite(o.sq[i]);
        ++g_checks;
        if ((!ok || !dist_ok) && reported++ < 5) {
            fail(std::string(where) + ": row " + std::to_string(i) + " label " + std::to_string(L) +
                 " (brute force " + std::to_string(best) + ")" +
                 fmt(" d2 %.17g vs %.17g, kernel sq_dist %.17g", dl, best_d, o.sq[i]));
        }
        const double w = q.weights ? q.weights[i] : 1.0;
        for (index_t j = 0; j < d; ++j) {
            sums[L * d + j] += w * x[j];
            abs_sums[L * d + j] += std::fabs(w * x[j]);
        }
        wsum[L] += w;
        inertia += w * o.sq[i];
        scale += std::fabs(w * o.sq[i]);
    }
    check(close(o.stats.inertia, inertia, scale), std::string(where) + ": inertia");
    if (o.sums.empty()) return;
    bool sums_ok = true;
    for (index_t e = 0; e < k * d; ++e) sums_ok = sums_ok && close(o.sums[e], sums[e], abs_sums[e]);
    for (index_t c = 0; c < k; ++c) sums_ok = sums_ok && close(o.wsum[c], wsum[c], std::fabs(wsum[c]));
    check(sums_ok, std::string(where) + ": sums differ from the brute force");
}

struct Run64 {
    std::vector<double> centers, sq;
    std::vector<std::int32_t> labels;
    kmeans::RunStats stats;
};

Run64 run64(const Problem64& q, int threads, kmeans::Algorithm algorithm = kmeans::Algorithm::lloyd,
            int max_iter = 300, bool history = true) {
    Run64 o;
    o.centers = q.centers;
    o.labels.assign(q.n, -7);
    o.sq.assign(q.n, -1.0);
    kmeans::RunOptions opt;
    opt.max_iter = max_iter;
    opt.n_threads = threads;
    opt.algorithm = algorithm;
    opt.record_history = history;
    o.stats = kmeans::lloyd_run(q.X.data(), q.n, q.d, q.k, q.weights, o.centers.data(),
                                o.labels.data(), o.sq.data(), opt, {});
    return o;
}

bool same_run(const Run64& a, const Run64& b) {
    auto same_d = [](const std::vector<double>& x, const std::vector<double>& y) {
        return x.size() == y.size() && same_bytes(x.data(), y.data(), sizeof(double) * x.size());
    };
    return same_d(a.centers, b.centers) && same_d(a.sq, b.sq) && a.labels == b.labels &&
           same_d(a.stats.inertia_history, b.stats.inertia_history) &&
           same_double(a.stats.inertia, b.stats.inertia) &&
           same_double(a.stats.j_clust, b.stats.j_clust) && a.stats.n_iter == b.stats.n_iter &&
           a.stats.converged == b.stats.converged && a.stats.n_relocated == b.stats.n_relocated;
}

// The loop a distributed driver runs (python/mnist_kmeans/step.py), with lloyd_step<double>.
Run64 step_loop64(const Problem64& q) {
    Run64 o;
    o.centers = q.centers;
    std::vector<std::int32_t> previous(q.n, -1);
    bool relocated_last = false;
    for (int it = 1; it <= 300; ++it) {
        Pass64 p = pass64(q, o.centers.data(), true, 2);
        const index_t changed = kmeans::count_changed(previous.data(), p.labels.data(), q.n);
        auto source = [&](index_t wanted) {
            return kmeans::candidates_of(q.X.data(), q.n, q.d, q.weights, p.labels.data(),
                                         p.sq.data(), wanted);
        };
        const kmeans::StepInput in{q.k, q.d, changed, relocated_last, it, 300, 0.0};
        const kmeans::StepResult step =
            kmeans::lloyd_step(in, o.centers.data(), p.sums.data(), p.wsum.data(), source);
        o.stats.n_iter = it;
        if (step.converged && !step.final_pass) {
            o.labels = p.labels;
            o.sq = p.sq;
            o.stats.inertia = p.stats.inertia;
            o.stats.converged = true;
            return o;
        }
        for (const kmeans::Move& m : step.moves) p.labels[m.row] = m.to;
        o.stats.n_relocated += static_cast<index_t>(step.moves.size());
        relocated_last = !step.moves.empty();
        previous = p.labels;
        if (step.final_pass) break;
    }
    const Pass64 last = pass64(q, o.centers.data(), false, 2);
    o.labels = last.labels;
    o.sq = last.sq;
    o.stats.inertia = last.stats.inertia;
    return o;
}

}  // namespace

void test_f64(const Problem& p) {
    const Problem64 q = widen(p);
    const std::string isa = kmeans::current_isa();
    const Pass64 base = pass64(q, q.centers.data(), true, 1);
    check_pass64(q, q.centers.data(), base, "f64 assign_pass");
    for (int threads : {2, 3}) {
        check(same_pass(pass64(q, q.centers.data(), true, threads), base),
              "f64 assign_pass with " + std::to_string(threads) + " threads differs from 1 thread");
    }
    const Pass64 bare = pass64(q, q.centers.data(), false, 3);
    check(bare.labels == base.labels && same_bytes(bare.sq.data(), base.sq.data(), sizeof(double) * q.n),
          "f64 assign_pass without sums gives other labels or distances");

    const Run64 r = run64(q, 1);
    check(r.stats.n_iter >= 1 && static_cast<index_t>(r.stats.inertia_history.size()) == r.stats.n_iter,
          "f64 lloyd_run: history length differs from n_iter");
    bool finite = true;
    for (double v : r.centers) finite = finite && std::isfinite(v);
    check(finite, "f64 lloyd_run: a center is not finite");
    const Pass64 again = pass64(q, r.centers.data(), false, 1);
    check(again.labels == r.labels && same_bytes(again.sq.data(), r.sq.data(), sizeof(double) * q.n),
          "f64 lloyd_run: outputs are not those of its centers");
    check_pass64(q, r.centers.data(), again, "f64 lloyd_run final");
    for (int threads : {2, 3}) {
        check(same_run(run64(q, threads), r), "f64 lloyd_run with " + std::to_string(threads) +
                                                  " threads differs from 1 thread");
    }
    const Run64 lean = run64(q, 2, kmeans::Algorithm::lloyd, 300, false);
    check(lean.stats.inertia_history.empty() && same_double(lean.stats.inertia, r.stats.inertia) &&
              lean.centers == r.centers && lean.labels == r.labels,
          "f64 lloyd_run without history differs");
    for (kmeans::Algorithm a : {kmeans::Algorithm::hamerly, kmeans::Algorithm::yinyang,
                                kmeans::Algorithm::elkan}) {
        check(same_run(run64(q, 2, a, 300, false), lean),
              "f64 lloyd_run with a bounded algorithm differs from lloyd");
    }
    const Run64 loop = step_loop64(q);
    check(loop.centers == r.centers && loop.labels == r.labels && loop.sq == r.sq &&
              loop.stats.n_iter == r.stats.n_iter && loop.stats.n_relocated == r.stats.n_relocated &&
              same_double(loop.stats.inertia, r.stats.inertia),
          "f64 assign_pass + lloyd_step differs from lloyd_run");
    if (isa != "generic") {  // the AVX2 copy against the baseline one
        kmeans::set_isa("generic");
        const Run64 g = run64(q, 2);
        const Pass64 gp = pass64(q, q.centers.data(), true, 2);
        kmeans::set_isa(isa);
        check(same_run(g, r) && same_pass(gp, base), "f64: the baseline copy differs from " + isa);
    }
}

// Unchecked input (NaN, infinity) on the float64 path: labels stay in range, runs end.
void test_f64_unchecked(const Problem& p) {
    const Problem64 q = widen(p);
    for (int threads : {1, 3}) {
        const Pass64 o = pass64(q, q.centers.data(), true, threads);
        bool in_range = true;
        for (std::int32_t L : o.labels) in_range = in_range && L >= 0 && L < q.k;
        check(in_range, "f64 assign_pass: a label is out of range");
        const Run64 r = run64(q, threads, kmeans::Algorithm::lloyd, 50);
        in_range = r.stats.n_iter >= 1 && r.stats.n_iter <= 50;
        for (std::int32_t L : r.labels) in_range = in_range && L >= 0 && L < q.k;
        check(in_range, "f64 lloyd_run: a label is out of range or n_iter is wrong");
    }
}

}  // namespace kmeans_test
