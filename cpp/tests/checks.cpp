// The checks the kernel's test driver runs on each problem (see harness.hpp, driver.cpp).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "harness.hpp"
#include "kmeans/lloyd.hpp"
#include "kmeans/step.hpp"

namespace kmeans_test {

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
        // 'auto': full and bounded passes in turn (forced switch points, and measured), with
        // and without histories
        for (const char* schedule : {"fb", "ffbbfb", "bfffb", ""}) {
            for (bool history : {true, false}) {
                RunOut mixed = run_lloyd(p, 2, 300, 0.0, {}, algorithm, history, true, schedule);
                check(mixed.stats.pass_kinds.size() == static_cast<size_t>(mixed.stats.n_iter),
                      "lloyd_run: one pass kind per pass");
                if (!history) {
                    mixed.stats.inertia_history = r.stats.inertia_history;
                    mixed.stats.j_clust_history = r.stats.j_clust_history;
                }
                check(identical(r, mixed), std::string("lloyd_run switching (schedule '") + schedule +
                                               "', algorithm " + std::to_string(static_cast<int>(algorithm)) +
                                               ", history " + std::to_string(history) + ") differs from lloyd");
            }
        }
    }
    // Restarted from its converged centers at tol 0, no center moves in the first step: the run
    // stops after that one pass (scikit-learn's shift <= tol rule at tol 0), with the same
    // labels and centers, for every algorithm.
    if (s.converged) {
        Problem again = p;
        again.centers = r.centers;
        for (auto algorithm : {kmeans::Algorithm::lloyd, kmeans::Algorithm::hamerly,
                               kmeans::Algorithm::yinyang, kmeans::Algorithm::elkan}) {
            const RunOut a = run_lloyd(again, 2, 300, 0.0, {}, algorithm);
            check(a.stats.n_iter == 1 && a.stats.converged && a.labels == r.labels &&
                      same_bytes(a.centers.data(), r.centers.data(), sizeof(float) * k * d),
                  "lloyd_run from converged centers: not stopped after one pass with the same "
                  "labels and centers (" + std::to_string(static_cast<int>(algorithm)) + ")");
        }
    }
    // A thread count that changes between passes (RunOptions::thread_count, updated by
    // should_stop as the Python binding does): the same run, bit for bit, for every algorithm,
    // with and without history.
    for (auto algorithm : {kmeans::Algorithm::lloyd, kmeans::Algorithm::hamerly,
                           kmeans::Algorithm::yinyang, kmeans::Algorithm::elkan}) {
        for (bool history : {true, false}) {
            RunOut o;
            o.centers = p.centers;
            o.labels.assign(p.n, -7);
            o.sq.assign(p.n, -1.0f);
            kmeans::RunOptions opt;
            opt.n_threads = 1;
            opt.algorithm = algorithm;
            opt.record_history = history;
            int threads = 1, calls = 0;
            opt.thread_count = &threads;
            const std::function<bool()> hand_over = [&threads, &calls] {
                threads = 1 + (calls++ * 2) % 3;  // 1, 3, 2, 1, 3, 2, ...
                return false;
            };
            o.stats = kmeans::lloyd_run(p.X.data(), p.n, p.d, p.k, p.weights(), o.centers.data(),
                                        o.labels.data(), o.sq.data(), opt, hand_over);
            if (!history) {
                o.stats.inertia_history = r.stats.inertia_history;
                o.stats.j_clust_history = r.stats.j_clust_history;
            }
            check(identical(r, o), "lloyd_run with a thread count changing between passes "
                                   "differs (algorithm " + std::to_string(static_cast<int>(algorithm)) +
                                   ", history " + std::to_string(history) + ")");
        }
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

}  // namespace kmeans_test
