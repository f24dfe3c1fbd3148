#include "lloyd.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <numeric>
#include <thread>

#include "dispatch.hpp"
#include "grouped.hpp"
#include "hamerly.hpp"
#include "ordered.hpp"

#ifdef KMEANS_HAVE_OPENMP
#include <omp.h>
#endif

namespace kmeans {

bool has_openmp() {
#ifdef KMEANS_HAVE_OPENMP
    return true;
#else
    return false;
#endif
}

int max_threads() {
#ifdef KMEANS_HAVE_OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

namespace {


// The first n elements of v, growing it (with value-initialised elements) when it is shorter.
template <class T>
T* at_least(std::vector<T>& v, size_t n) {
    if (v.size() < n) v.resize(n);
    return v.data();
}

}  // namespace

// Buffers of the passes of one run, kept from pass to pass: a pass of a large k would
// otherwise spend a few percent of its time on fresh pages (the slot sums are k * d doubles
// per slot). The slot buffers are all zeros between passes: a merge clears what it added.
struct PassScratch {
    std::vector<float> sqnorm, centers_t, ordered, best;
    std::vector<std::int32_t> lists;
    std::vector<double> slot_sums, slot_w;
    std::vector<std::uint8_t> slot_touched;
    // bounded and grouped kernels, per thread
    std::vector<const float*> row_ptrs;
    std::vector<std::int32_t> row_index, previous;
    std::vector<float> second, unit_min, raw;
    std::vector<std::uint32_t> row_groups;
    std::vector<std::uint8_t> need, column_masks;
};

namespace {

}  // namespace

void pack_centers(const float* centers, index_t k, index_t d, float* centers_t, float* sqnorm) {
    const index_t groups = (k + kCenterGroup - 1) / kCenterGroup;
    for (index_t g = 0; g < groups; ++g) {
        float* block = centers_t + g * d * kCenterGroup;
        for (index_t l = 0; l < kCenterGroup; ++l) {
            const index_t c = g * kCenterGroup + l;
            if (c < k) {
                const float* row = centers + c * d;
                double s = 0.0;
                for (index_t j = 0; j < d; ++j) {
                    block[j * kCenterGroup + l] = row[j];
                    s += static_cast<double>(row[j]) * row[j];
                }
                sqnorm[c] = static_cast<float>(s);
            } else {
                for (index_t j = 0; j < d; ++j) block[j * kCenterGroup + l] = 0.0f;
                sqnorm[c] = INFINITY;
            }
        }
    }
}

namespace {

// One pass over X in chunks of kChunkRows rows: call(args, chunk, thread) fills the outputs of
// a chunk (labels, sq_dist, objectives, and the chunk's sums when accumulating), and the
// chunks' results are added in chunk order, so the output is the same for any thread count.
// Threads a pass of n_chunks chunks uses: at least 1, at most one per chunk.
int pass_threads(int n_threads, index_t n_chunks) {
    return static_cast<int>(std::max<index_t>(1, std::min<index_t>(n_threads, n_chunks)));
}

template <class Call>
PassStats chunked_pass(const float* X, index_t n, index_t d, const float* centers, index_t k,
                       const double* weights, std::int32_t* labels, float* sq_dist,
                       double* sums, double* weight_sums, int n_threads, bool incremental,
                       const std::int32_t* pack_order, PassScratch& scratch, const Call& call) {
    const bool accumulate = sums != nullptr;
    const index_t n_chunks = (n + kChunkRows - 1) / kChunkRows;
    const int threads = pass_threads(n_threads, n_chunks);
    const index_t window = 2 * static_cast<index_t>(threads);

    const index_t groups = (k + kCenterGroup - 1) / kCenterGroup;
    float* sqnorm = at_least(scratch.sqnorm, static_cast<size_t>(groups * kCenterGroup));
    // centers_t aligned to 64 bytes (a cache line)
    float* centers_t = at_least(scratch.centers_t, static_cast<size_t>(groups * kCenterGroup * d + 16));
    centers_t += ((64 - reinterpret_cast<std::uintptr_t>(centers_t) % 64) % 64) / sizeof(float);
    if (pack_order) {  // the kernel sees the centers in this order (grouped kernels)
        float* ordered = at_least(scratch.ordered, static_cast<size_t>(k * d));
        for (index_t p = 0; p < k; ++p) {
            std::copy(centers + pack_order[p] * d, centers + (pack_order[p] + 1) * d, ordered + p * d);
        }
        pack_centers(ordered, k, d, centers_t, sqnorm);
    } else {
        pack_centers(centers, k, d, centers_t, sqnorm);
    }
    // Scratch per thread and results per slot, allocated here so that nothing inside the
    // parallel region can throw.
    const index_t lists_size = kColumnLists * (d + d / 8 + 16);
    float* best = at_least(scratch.best, static_cast<size_t>(threads) * kChunkRows);
    std::int32_t* lists = at_least(scratch.lists, static_cast<size_t>(threads * lists_size));
    double* slot_sums = accumulate ? at_least(scratch.slot_sums, static_cast<size_t>(window * k * d)) : nullptr;
    double* slot_w = accumulate ? at_least(scratch.slot_w, static_cast<size_t>(window * k)) : nullptr;
    std::uint8_t* slot_touched = accumulate ? at_least(scratch.slot_touched, static_cast<size_t>(window * k)) : nullptr;
    std::vector<PassStats> slot_stats(static_cast<size_t>(window));
    std::vector<std::atomic<index_t>> done(static_cast<size_t>(window));
    if (accumulate && !incremental) {  // incremental: the chunks add changes to the sums
        std::fill(sums, sums + k * d, 0.0);
        std::fill(weight_sums, weight_sums + k, 0.0);
    }
    PassStats stats;

    auto body = [&](index_t chunk, index_t slot, int t) {
        const index_t row0 = chunk * kChunkRows;
        ChunkArgs a{};
        a.X = X + row0 * d;
        a.rows = std::min(kChunkRows, n - row0);
        a.d = d;
        a.centers = centers;
        a.center_sqnorm = sqnorm;
        a.centers_t = centers_t;
        a.k = k;
        a.weights = weights ? weights + row0 : nullptr;
        a.labels = labels + row0;
        a.sq_dist = sq_dist + row0;
        a.best_score = best + static_cast<index_t>(t) * kChunkRows;
        a.column_lists = lists + static_cast<index_t>(t) * lists_size;
        a.sums = accumulate ? slot_sums + slot * k * d : nullptr;
        a.weight_sums = accumulate ? slot_w + slot * k : nullptr;
        a.touched = accumulate ? slot_touched + slot * k : nullptr;
        call(a, chunk, t);
        slot_stats[static_cast<size_t>(slot)] = PassStats{a.objective, a.sum_dist};
    };
    // Chunk order: the sums do not depend on which thread ran which chunk.
    auto merge = [&](index_t, index_t slot) {
        stats.objective += slot_stats[static_cast<size_t>(slot)].objective;
        stats.sum_dist += slot_stats[static_cast<size_t>(slot)].sum_dist;
        if (!accumulate) return;
        double* my_sums = slot_sums + slot * k * d;
        double* my_w = slot_w + slot * k;
        std::uint8_t* touched = slot_touched + slot * k;
        for (index_t c = 0; c < k; ++c) {
            // untouched by this chunk (or only rows of weight 0, which add 0 * x); a bounded
            // kernel also marks its clusters (an incremental pass may change sums at weight 0)
            if (my_w[c] == 0.0 && touched[c] == 0) continue;
            touched[c] = 0;
            double* dst = sums + c * d;
            double* src = my_sums + c * d;
            for (index_t j = 0; j < d; ++j) {
                dst[j] += src[j];
                src[j] = 0.0;
            }
            weight_sums[c] += my_w[c];
            my_w[c] = 0.0;
        }
    };
    for_chunks_in_order(n_chunks, threads, window, done, body, merge);
    return stats;
}

// The per-thread row buffers both bounded kernels use, from the run's scratch.
struct RowScratch {
    const float** row_ptrs;
    std::int32_t* row_index;
    std::int32_t* previous;
    std::uint32_t* row_groups;
    index_t group_words;

    RowScratch(PassScratch& scratch, index_t threads, index_t d)
        : row_ptrs(at_least(scratch.row_ptrs, static_cast<size_t>(threads * kChunkRows))),
          row_index(at_least(scratch.row_index, static_cast<size_t>(threads * kChunkRows))),
          previous(at_least(scratch.previous, static_cast<size_t>(threads * kChunkRows))),
          row_groups(nullptr), group_words((d + 255) / 256) {
        row_groups = at_least(scratch.row_groups, static_cast<size_t>(threads * kChunkRows * group_words));
    }

    // Thread t's share, into a BoundArgs or a GroupArgs.
    template <class Args>
    void fill(Args& args, int t) const {
        const index_t rows = static_cast<index_t>(t) * kChunkRows;
        args.row_ptrs = row_ptrs + rows;
        args.row_index = row_index + rows;
        args.previous = previous + rows;
        args.row_groups = row_groups + rows * group_words;
    }
};

// A pass of the bounded (Hamerly) kernel: the outputs of assign_pass, bit for bit; rows_scored
// receives how many rows were scored against every center.
PassStats bounded_pass(HamerlyBounds& bounds, const float* X, index_t n, index_t d,
                       const float* centers, index_t k, const double* weights,
                       std::int32_t* labels, float* sq_dist, double* sums, double* weight_sums,
                       int n_threads, bool lean, PassScratch& scratch, index_t* rows_scored) {
    const BoundFn kernel = bounded_kernel();
    const bool accumulate = sums != nullptr;
    bounds.prepare(centers, n_threads);
    const index_t n_chunks = (n + kChunkRows - 1) / kChunkRows;
    const int threads = pass_threads(n_threads, n_chunks);
    const index_t T = static_cast<index_t>(threads);
    const RowScratch rows(scratch, T, d);
    float* second = at_least(scratch.second, static_cast<size_t>(T * kChunkRows));
    std::vector<index_t> scored(static_cast<size_t>(n_chunks), 0);
    // exact sums, no weights, and sums of the previous labels to start from
    const bool incremental = accumulate && !weights && bounds.exact_sums() && !bounds.scores_all();
    const PassStats stats = chunked_pass(
        X, n, d, centers, k, weights, labels, sq_dist, sums, weight_sums, n_threads, incremental,
        nullptr, scratch, [&](ChunkArgs& a, index_t chunk, int t) {
            BoundArgs b{};
            b.chunk = a;
            bounds.fill(b, chunk * kChunkRows);
            rows.fill(b, t);
            b.second_score = second + static_cast<index_t>(t) * kChunkRows;
            b.incremental = incremental;
            b.lean = lean && incremental;
            kernel(b, accumulate);
            a.objective = b.chunk.objective;
            a.sum_dist = b.chunk.sum_dist;
            scored[static_cast<size_t>(chunk)] = b.n_scored;
        });
    *rows_scored = std::accumulate(scored.begin(), scored.end(), index_t{0});
    PassStats out = stats;
    out.lean = lean && incremental;
    return out;
}

// Distances of every row to its labelled center, and the objectives: what the pass that chose
// these labels would have reported (after lean passes, which leave some distances stale).
PassStats refresh_pass(const float* X, index_t n, index_t d, const float* centers, index_t k,
                       const double* weights, std::int32_t* labels, float* sq_dist,
                       int n_threads, PassScratch& scratch) {
    const BoundFn kernel = bounded_kernel();
    return chunked_pass(X, n, d, centers, k, weights, labels, sq_dist, nullptr, nullptr,
                        n_threads, false, nullptr, scratch, [&](ChunkArgs& a, index_t, int) {
                            BoundArgs b{};
                            b.chunk = a;
                            b.refresh = true;
                            kernel(b, false);
                            a.objective = b.chunk.objective;
                            a.sum_dist = b.chunk.sum_dist;
                        });
}

// A pass of the grouped (Yinyang, Elkan) kernel: the outputs of assign_pass, bit for bit;
// rows_scored receives the number of scores computed divided by k, rounded up.
PassStats grouped_pass(GroupBounds& bounds, const float* X, index_t n, index_t d,
                       const float* centers, index_t k, const double* weights,
                       std::int32_t* labels, float* sq_dist, double* sums, double* weight_sums,
                       int n_threads, bool lean, PassScratch& scratch, index_t* rows_scored) {
    const GroupFn kernel = grouped_kernel();
    const bool accumulate = sums != nullptr;
    bounds.prepare(centers, n_threads);
    const index_t n_chunks = (n + kChunkRows - 1) / kChunkRows;
    const int threads = pass_threads(n_threads, n_chunks);
    const index_t units = bounds.n_units(), T = static_cast<index_t>(threads);
    const index_t sweep = kColumnLists * 4;
    const RowScratch rows(scratch, T, d);
    std::uint8_t* need = at_least(scratch.need, static_cast<size_t>(T * kChunkRows * units));
    std::uint8_t* masks = at_least(scratch.column_masks, static_cast<size_t>(T * kChunkRows * ((d + 7) / 8)));
    float* unit_min = at_least(scratch.unit_min, static_cast<size_t>(T * sweep * 2 * units));
    float* raw = at_least(scratch.raw, static_cast<size_t>(T * 4 * kUnitCenters));
    std::vector<index_t> scored(static_cast<size_t>(n_chunks), 0);
    const bool incremental = accumulate && !weights && bounds.exact_sums() && !bounds.scores_all();
    const PassStats stats = chunked_pass(
        X, n, d, centers, k, weights, labels, sq_dist, sums, weight_sums, n_threads, incremental,
        bounds.order(), scratch, [&](ChunkArgs& a, index_t chunk, int t) {
            const index_t ti = static_cast<index_t>(t);
            GroupArgs g{};
            g.chunk = a;
            bounds.fill(g, chunk * kChunkRows);
            g.incremental = incremental;
            g.lean = lean && incremental;
            rows.fill(g, t);
            g.need = need + ti * kChunkRows * units;
            g.column_masks = masks + ti * kChunkRows * ((d + 7) / 8);
            g.unit_min = unit_min + ti * sweep * 2 * units;
            g.raw = raw + ti * 4 * kUnitCenters;
            kernel(g, accumulate);
            a.objective = g.chunk.objective;
            a.sum_dist = g.chunk.sum_dist;
            scored[static_cast<size_t>(chunk)] = g.n_scored;
        });
    const index_t total = std::accumulate(scored.begin(), scored.end(), index_t{0});
    *rows_scored = (total + k - 1) / k;
    PassStats out = stats;
    out.lean = lean && incremental;
    return out;
}

}  // namespace

namespace {

// A pass that scores every row against every center (assign_pass), with the run's buffers.
PassStats plain_pass(const float* X, index_t n, index_t d, const float* centers, index_t k,
                     const double* weights, std::int32_t* labels, float* sq_dist, double* sums,
                     double* weight_sums, int n_threads, PassScratch& scratch) {
    const ChunkFn kernel = chunk_kernel();
    const bool accumulate = sums != nullptr;
    return chunked_pass(X, n, d, centers, k, weights, labels, sq_dist, sums, weight_sums,
                        n_threads, false, nullptr, scratch,
                        [&](ChunkArgs& a, index_t, int) { kernel(a, accumulate); });
}

}  // namespace

PassStats assign_pass(const float* X, index_t n, index_t d, const float* centers, index_t k,
                      const double* weights, std::int32_t* labels, float* sq_dist,
                      double* sums, double* weight_sums, int n_threads) {
    PassScratch scratch;
    return plain_pass(X, n, d, centers, k, weights, labels, sq_dist, sums, weight_sums,
                      n_threads, scratch);
}

namespace {

// Move each empty cluster to the farthest row that can leave its own cluster. Returns how
// many clusters moved.
index_t relocate_empty(const float* X, index_t n, index_t d, index_t k, const double* weights,
                       std::int32_t* labels, const float* sq_dist, double* sums,
                       double* weight_sums, const std::function<void(index_t)>& forget) {
    std::vector<index_t> empty;
    for (index_t c = 0; c < k; ++c) {
        if (!(weight_sums[c] > 0.0)) empty.push_back(c);
    }
    if (empty.empty()) return 0;
    std::vector<index_t> order;
    for (index_t i = 0; i < n; ++i) {
        const double w = weights ? weights[i] : 1.0;
        if (sq_dist[i] > 0.0f && w > 0.0) order.push_back(i);
    }
    std::sort(order.begin(), order.end(), [sq_dist](index_t a, index_t b) {
        return sq_dist[a] != sq_dist[b] ? sq_dist[a] > sq_dist[b] : a < b;
    });
    index_t moved = 0;
    size_t next = 0;
    for (const index_t e : empty) {
        while (next < order.size()) {
            const index_t i = order[next++];
            const index_t old = labels[i];
            const double w = weights ? weights[i] : 1.0;
            if (!(weight_sums[old] - w > 0.0)) continue;  // it would empty its own cluster
            const float* x = X + i * d;
            for (index_t j = 0; j < d; ++j) {
                sums[old * d + j] -= w * x[j];
                sums[e * d + j] = w * x[j];
            }
            weight_sums[old] -= w;
            weight_sums[e] = w;
            labels[i] = static_cast<std::int32_t>(e);
            if (forget) forget(i);
            ++moved;
            break;
        }
    }
    return moved;
}

}  // namespace

RunStats lloyd_run(const float* X, index_t n, index_t d, index_t k, const double* weights,
                   float* centers, std::int32_t* labels, float* sq_dist,
                   const RunOptions& options, const std::function<bool()>& should_stop) {
    RunStats run;
    std::vector<double> sums(static_cast<size_t>(k * d));
    std::vector<double> weight_sums(static_cast<size_t>(k));
    std::vector<std::int32_t> previous(static_cast<size_t>(n), -1);
    PassScratch scratch;
    // the bounds of the bounded algorithms, kept from pass to pass
    std::unique_ptr<HamerlyBounds> bounds;
    std::unique_ptr<GroupBounds> groups;
    if (options.algorithm == Algorithm::hamerly) {
        bounds = std::make_unique<HamerlyBounds>(X, n, d, k, options.n_threads);
    } else if (options.algorithm == Algorithm::yinyang || options.algorithm == Algorithm::elkan) {
        groups = std::make_unique<GroupBounds>(X, n, d, k, options.algorithm == Algorithm::elkan,
                                               options.n_threads);
    }
    std::function<void(index_t)> forget;
    if (bounds) forget = [&bounds](index_t i) { bounds->forget(i); };
    if (groups) forget = [&groups](index_t i) { groups->forget(i); };
    const bool lean = !options.record_history;
    bool relocated_last = false;
    bool strict = false;
    for (int it = 0; it < options.max_iter; ++it) {
        if (should_stop && should_stop()) {
            run.interrupted = true;
            return run;
        }
        index_t scored = n;
        const PassStats pass =
            bounds   ? bounded_pass(*bounds, X, n, d, centers, k, weights, labels, sq_dist,
                                    sums.data(), weight_sums.data(), options.n_threads, lean,
                                    scratch, &scored)
            : groups ? grouped_pass(*groups, X, n, d, centers, k, weights, labels, sq_dist,
                                    sums.data(), weight_sums.data(), options.n_threads, lean,
                                    scratch, &scored)
                     : plain_pass(X, n, d, centers, k, weights, labels, sq_dist, sums.data(),
                                  weight_sums.data(), options.n_threads, scratch);
        run.rows_scored.push_back(scored);
        if (options.record_history) {
            run.objective.push_back(pass.objective);
            run.sum_dist.push_back(pass.sum_dist);
        }
        run.n_iter = it + 1;
        // Same labels as the pass before and no relocation since: the centers are the means
        // of these labels, a fixed point.
        if (!relocated_last && std::memcmp(previous.data(), labels, sizeof(std::int32_t) * n) == 0) {
            run.converged = strict = true;
            const PassStats last = pass.lean ? refresh_pass(X, n, d, centers, k, weights, labels, sq_dist,
                                                            options.n_threads, scratch)
                                             : pass;
            run.final_objective = last.objective;
            run.final_sum_dist = last.sum_dist;
            break;
        }
        // an empty cluster takes the farthest row: every distance must be the pass's
        if (pass.lean && std::any_of(weight_sums.begin(), weight_sums.end(), [](double w) { return !(w > 0.0); })) {
            refresh_pass(X, n, d, centers, k, weights, labels, sq_dist, options.n_threads, scratch);
        }
        const index_t moved = relocate_empty(X, n, d, k, weights, labels, sq_dist, sums.data(),
                                             weight_sums.data(), forget);
        run.n_relocated += moved;
        relocated_last = moved > 0;
        double shift = 0.0;
        for (index_t c = 0; c < k; ++c) {
            if (!(weight_sums[c] > 0.0)) continue;  // still empty: keep its center
            for (index_t j = 0; j < d; ++j) {
                const float updated = static_cast<float>(sums[c * d + j] / weight_sums[c]);
                const double delta = static_cast<double>(updated) - centers[c * d + j];
                shift += delta * delta;
                centers[c * d + j] = updated;
            }
        }
        std::memcpy(previous.data(), labels, sizeof(std::int32_t) * n);
        if (options.tol > 0.0 && shift <= options.tol) {
            run.converged = true;
            break;
        }
    }
    if (!strict) {
        // The centers moved after the last pass: one more assignment so that labels, distances
        // and the objective describe the returned centers (not counted as an iteration).
        if (should_stop && should_stop()) {
            run.interrupted = true;
            return run;
        }
        const PassStats pass = plain_pass(X, n, d, centers, k, weights, labels, sq_dist,
                                          nullptr, nullptr, options.n_threads, scratch);
        run.final_objective = pass.objective;
        run.final_sum_dist = pass.sum_dist;
    }
    return run;
}

}  // namespace kmeans
