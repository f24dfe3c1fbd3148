#include "passes.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <numeric>
#include <utility>

#include "dispatch.hpp"
#include "drift.hpp"
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

index_t count_changed(const std::int32_t* previous, const std::int32_t* labels, index_t n) {
    index_t changed = 0;
    for (index_t i = 0; i < n; ++i) changed += previous[i] != labels[i] ? 1 : 0;
    return changed;
}

std::size_t bound_bytes(Algorithm algorithm, index_t n, index_t k) {
    const auto rows = static_cast<std::size_t>(n);
    switch (algorithm) {
        case Algorithm::hamerly: return rows * sizeof(double);
        case Algorithm::yinyang:
            return rows * static_cast<std::size_t>((k + kUnitCenters - 1) / kUnitCenters) * sizeof(float);
        case Algorithm::elkan: return rows * static_cast<std::size_t>(k) * sizeof(float);
        case Algorithm::lloyd: break;
    }
    return 0;
}

namespace {

// The first n elements of v, growing it (with value-initialised elements) when it is shorter.
template <class T>
T* at_least(std::vector<T>& v, size_t n) {
    if (v.size() < n) v.resize(n);
    return v.data();
}

// Threads a pass of n_chunks chunks uses: at least 1, at most one per chunk.
int pass_threads(int n_threads, index_t n_chunks) {
    return static_cast<int>(std::max<index_t>(1, std::min<index_t>(n_threads, n_chunks)));
}

// One pass over the rows in chunks of kChunkRows rows: call(args, chunk, thread) fills the
// outputs of a chunk (labels, sq_dist, objectives, and the chunk's sums when accumulating),
// and the chunks' results are added in chunk order, so the output is the same for any thread
// count. incremental: the chunks add changes to the sums of the previous pass (out.sums holds
// them on entry); otherwise the sums are rebuilt. pack_order: the order in which the kernel
// sees the centers (grouped kernels), or nullptr.
template <class Call>
PassStats chunked_pass(const Rows& rows, const float* centers, index_t k, const PassOutputs& out,
                       int n_threads, bool incremental, const std::int32_t* pack_order,
                       PassScratch& scratch, const Call& call) {
    const index_t n = rows.n, d = rows.d;
    const bool accumulate = out.sums != nullptr;
    const index_t n_chunks = (n + kChunkRows - 1) / kChunkRows;
    const int threads = pass_threads(n_threads, n_chunks);
    const index_t window = 2 * static_cast<index_t>(threads);

    const index_t groups = (k + kCenterGroup - 1) / kCenterGroup;
    float* sqnorm = at_least(scratch.sqnorm, static_cast<size_t>(groups * kCenterGroup));
    // centers_t aligned to 64 bytes (a cache line)
    float* centers_t = at_least(scratch.centers_t, static_cast<size_t>(groups * kCenterGroup * d + 16));
    centers_t += ((64 - reinterpret_cast<std::uintptr_t>(centers_t) % 64) % 64) / sizeof(float);
    if (pack_order) {
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
    const index_t lists_size = kColumnLists * column_list_stride(d);
    float* best = at_least(scratch.best, static_cast<size_t>(threads) * kChunkRows);
    std::int32_t* lists = at_least(scratch.lists, static_cast<size_t>(threads * lists_size));
    double* slot_sums = accumulate ? at_least(scratch.slot_sums, static_cast<size_t>(window * k * d)) : nullptr;
    double* slot_w = accumulate ? at_least(scratch.slot_w, static_cast<size_t>(window * k)) : nullptr;
    std::uint8_t* slot_touched = accumulate ? at_least(scratch.slot_touched, static_cast<size_t>(window * k)) : nullptr;
    std::vector<PassStats> slot_stats(static_cast<size_t>(window));
    std::vector<std::atomic<index_t>> done(static_cast<size_t>(window));
    double* sums = out.sums;
    double* weight_sums = out.weight_sums;
    if (accumulate && !incremental) {
        std::fill(sums, sums + k * d, 0.0);
        std::fill(weight_sums, weight_sums + k, 0.0);
    }
    PassStats stats;

    auto body = [&](index_t chunk, index_t slot, int t) {
        const index_t row0 = chunk * kChunkRows;
        ChunkArgs a{};
        a.X = rows.X + row0 * d;
        a.rows = std::min(kChunkRows, n - row0);
        a.d = d;
        a.centers = centers;
        a.center_sqnorm = sqnorm;
        a.centers_t = centers_t;
        a.k = k;
        a.weights = rows.weights ? rows.weights + row0 : nullptr;
        a.labels = out.labels + row0;
        a.sq_dist = out.sq_dist + row0;
        a.best_score = best + static_cast<index_t>(t) * kChunkRows;
        a.column_lists = lists + static_cast<index_t>(t) * lists_size;
        a.sums = accumulate ? slot_sums + slot * k * d : nullptr;
        a.weight_sums = accumulate ? slot_w + slot * k : nullptr;
        a.touched = accumulate ? slot_touched + slot * k : nullptr;
        call(a, chunk, t);
        PassStats& s = slot_stats[static_cast<size_t>(slot)];
        s.inertia = a.inertia;
        s.j_clust = a.j_clust;
    };
    // Chunk order: the sums do not depend on which thread ran which chunk.
    auto merge = [&](index_t chunk, index_t slot) {
        const PassStats& s = slot_stats[static_cast<size_t>(slot)];
        stats.inertia += s.inertia;
        stats.j_clust += s.j_clust;
        if (out.chunk_inertia) out.chunk_inertia[chunk] = s.inertia;
        if (out.chunk_j_clust) out.chunk_j_clust[chunk] = s.j_clust;
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
    stats.rows_scored = n;
    return stats;
}

// The per-thread row buffers both bounded kernels use, from the run's scratch.
struct RowScratch {
    const float** row_ptrs;
    std::int32_t* row_index;
    std::int32_t* previous;
    std::uint32_t* row_groups;
    index_t words;

    RowScratch(PassScratch& scratch, index_t threads, index_t d)
        : row_ptrs(at_least(scratch.row_ptrs, static_cast<size_t>(threads * kChunkRows))),
          row_index(at_least(scratch.row_index, static_cast<size_t>(threads * kChunkRows))),
          previous(at_least(scratch.previous, static_cast<size_t>(threads * kChunkRows))),
          row_groups(nullptr), words(group_words(d)) {
        row_groups = at_least(scratch.row_groups, static_cast<size_t>(threads * kChunkRows * words));
    }

    // Thread t's share, into a BoundArgs or a GroupArgs.
    template <class Args>
    void fill(Args& args, int t) const {
        const index_t rows = static_cast<index_t>(t) * kChunkRows;
        args.row_ptrs = row_ptrs + rows;
        args.row_index = row_index + rows;
        args.previous = previous + rows;
        args.row_groups = row_groups + rows * words;
    }
};

}  // namespace

PassStats assign_pass(const float* X, index_t n, index_t d, const float* centers, index_t k,
                      const double* weights, std::int32_t* labels, float* sq_dist,
                      double* sums, double* weight_sums, int n_threads, double* chunk_inertia,
                      double* chunk_j_clust) {
    PassOutputs out{labels, sq_dist, sums, weight_sums, chunk_inertia, chunk_j_clust};
    return Passes(Rows{X, n, d, weights}, k, Algorithm::lloyd, n_threads).plain(centers, out);
}

Passes::Passes(const Rows& rows, index_t k, Algorithm algorithm, int n_threads, bool adaptive,
               std::string schedule, const RowFacts* facts)
    : rows_(rows), k_(k), n_threads_(n_threads), kind_('L'),
      adaptive_(adaptive && algorithm != Algorithm::lloyd), schedule_(std::move(schedule)) {
    if (algorithm == Algorithm::lloyd) return;
    if (facts && facts->describes(rows.X, rows.n, rows.d)) {
        facts_ = facts;
    } else {
        own_facts_ = std::make_unique<RowFacts>(rows.X, rows.n, rows.d, n_threads);
        facts_ = own_facts_.get();
    }
    if (algorithm == Algorithm::hamerly) {
        kind_ = 'H';
        hamerly_ = std::make_unique<HamerlyBounds>(*facts_, rows.n, rows.d, k);
    } else {
        kind_ = algorithm == Algorithm::elkan ? 'E' : 'Y';
        groups_ = std::make_unique<GroupBounds>(*facts_, rows.n, rows.d, k, algorithm == Algorithm::elkan);
    }
    if (adaptive_) {
        seed_centers_.resize(static_cast<size_t>(k * rows.d));
        drift_.resize(static_cast<size_t>(k));
    }
}

PassStats Passes::run(const float* centers, const PassOutputs& out, bool lean) {
    using clock = std::chrono::steady_clock;
    const bool bounded_pass = adaptive_ ? choose_bounded(centers, out.labels) : kind_ != 'L';
    const auto start = clock::now();
    PassStats stats;
    if (!bounded_pass) {
        stats = adaptive_ ? full(centers, out) : plain(centers, out);
    } else {
        stats = hamerly_ ? bounded(centers, out, lean) : grouped(centers, out, lean);
        stats.kind = kind_;
    }
    stats.seconds = std::chrono::duration<double>(clock::now() - start).count();
    ++n_passes_;
    if (!adaptive_) return stats;
    PassChoice& c = choice_;
    c.last_bounded = bounded_pass;
    if (bounded_pass) {
        c.t_bounded = stats.seconds;
        c.slow_bounded = stats.seconds > 1.1 * c.t_full ? c.slow_bounded + 1 : 0;
        // no overhead measured before it: the first bounded pass, the probe (see PassChoice);
        // slower than a full pass, back to full passes now, with the overhead it measured
        const bool probe = c.overhead < 0.0;
        if (c.predicted >= 0.0) c.overhead = std::max(0.0, stats.seconds - c.predicted * c.t_full);
        if (probe && stats.seconds > c.t_full) c.slow_bounded = 2;
    } else {
        c.slow_bounded = 0;
        c.t_full = c.t_full < 0.0 ? stats.seconds : std::min(c.t_full, stats.seconds);
        c.seeded = true;
    }
    return stats;
}

bool Passes::choose_bounded(const float* centers, const std::int32_t* labels) {
    if (!schedule_.empty()) {
        const size_t at = std::min(static_cast<size_t>(n_passes_), schedule_.size() - 1);
        return schedule_[at] == 'b';
    }
    PassChoice& c = choice_;
    c.predicted = -1.0;
    if (!c.seeded) return false;  // nothing measured yet: a full pass
    if (c.last_bounded) return c.slow_bounded < 2;
    const index_t d = rows_.d;
    for (index_t j = 0; j < k_; ++j) {
        drift_[static_cast<size_t>(j)] =
            std::sqrt(squared_distance_double(centers + j * d, seed_centers_.data() + j * d, d));
    }
    c.predicted = hamerly_ ? hamerly_->predicted_scored(drift_.data(), labels)
                           : groups_->predicted_scored(drift_.data(), labels);
    // no bounded pass measured yet: no overhead assumed, so the first one (a probe) runs as
    // soon as the bounds predict any saving, and measures it
    const double overhead = c.overhead >= 0.0 ? c.overhead : 0.0;
    return overhead + c.predicted * c.t_full < c.t_full;
}

PassStats Passes::full(const float* centers, const PassOutputs& out) {
    const ChunkFn kernel = chunk_kernel();
    const bool accumulate = out.sums != nullptr;
    const index_t n_chunks = (rows_.n + kChunkRows - 1) / kChunkRows;
    const index_t T = static_cast<index_t>(pass_threads(n_threads_, n_chunks));
    const index_t n_groups = (k_ + kCenterGroup - 1) / kCenterGroup;
    float* second = at_least(scratch_.second, static_cast<size_t>(T * kChunkRows));
    float* group_min = nullptr;
    const std::int32_t* order = nullptr;  // Yinyang: centers packed in units
    if (hamerly_) {
        hamerly_->begin_seed(centers);
    } else {
        groups_->begin_seed(centers);
        order = groups_->order();
        group_min = at_least(scratch_.unit_min, static_cast<size_t>(T * kChunkRows * n_groups));
    }
    PassStats stats = chunked_pass(
        rows_, centers, k_, out, n_threads_, false, order, scratch_,
        [&](ChunkArgs& a, index_t chunk, int t) {
            const index_t ti = static_cast<index_t>(t);
            a.second = second + ti * kChunkRows;
            a.order = order;
            a.group_min = group_min ? group_min + ti * kChunkRows * n_groups : nullptr;
            kernel(a, accumulate);
            const index_t row0 = chunk * kChunkRows;
            if (hamerly_) {
                hamerly_->seed(row0, a.rows, a.sq_dist, a.second);
            } else {
                groups_->seed(row0, a.rows, a.labels, a.sq_dist, a.second, a.group_min);
            }
        });
    std::copy(centers, centers + k_ * rows_.d, seed_centers_.begin());
    return stats;
}

PassStats Passes::plain(const float* centers, const PassOutputs& out) {
    const ChunkFn kernel = chunk_kernel();
    const bool accumulate = out.sums != nullptr;
    return chunked_pass(rows_, centers, k_, out, n_threads_, false, nullptr, scratch_,
                        [&](ChunkArgs& a, index_t, int) { kernel(a, accumulate); });
}

PassStats Passes::refresh(const float* centers, std::int32_t* labels, float* sq_dist) {
    const BoundFn kernel = bounded_kernel();
    return chunked_pass(rows_, centers, k_, PassOutputs{labels, sq_dist}, n_threads_, false,
                        nullptr, scratch_, [&](ChunkArgs& a, index_t, int) {
                            BoundArgs b{};
                            b.chunk = a;
                            b.refresh = true;
                            kernel(b, false);
                            a.inertia = b.chunk.inertia;
                            a.j_clust = b.chunk.j_clust;
                        });
}

void Passes::forget(index_t row) {
    if (hamerly_) hamerly_->forget(row);
    if (groups_) groups_->forget(row);
}

// A pass of the bounded (Hamerly) kernel; rows_scored: the rows scored against every center.
PassStats Passes::bounded(const float* centers, const PassOutputs& out, bool lean) {
    const index_t d = rows_.d;
    const BoundFn kernel = bounded_kernel();
    const bool accumulate = out.sums != nullptr;
    hamerly_->prepare(centers, n_threads_);
    const index_t n_chunks = (rows_.n + kChunkRows - 1) / kChunkRows;
    const index_t T = static_cast<index_t>(pass_threads(n_threads_, n_chunks));
    const RowScratch rows(scratch_, T, d);
    float* second = at_least(scratch_.second, static_cast<size_t>(T * kChunkRows));
    std::vector<index_t> scored(static_cast<size_t>(n_chunks), 0);
    // exact sums, no weights, and sums of the previous labels to start from
    const bool incremental = accumulate && !rows_.weights && facts_->exact_sums() && !hamerly_->scores_all();
    PassStats stats = chunked_pass(
        rows_, centers, k_, out, n_threads_, incremental, nullptr, scratch_,
        [&](ChunkArgs& a, index_t chunk, int t) {
            BoundArgs b{};
            b.chunk = a;
            hamerly_->fill(b, chunk * kChunkRows);
            rows.fill(b, t);
            b.second_score = second + static_cast<index_t>(t) * kChunkRows;
            b.incremental = incremental;
            b.lean = lean && incremental;
            kernel(b, accumulate);
            a.inertia = b.chunk.inertia;
            a.j_clust = b.chunk.j_clust;
            scored[static_cast<size_t>(chunk)] = b.n_scored;
        });
    stats.rows_scored = std::accumulate(scored.begin(), scored.end(), index_t{0});
    stats.lean = lean && incremental;
    return stats;
}

// A pass of the grouped (Yinyang, Elkan) kernel; rows_scored: the number of scores computed
// divided by k, rounded up.
PassStats Passes::grouped(const float* centers, const PassOutputs& out, bool lean) {
    const index_t d = rows_.d, k = k_;
    const GroupFn kernel = grouped_kernel();
    const bool accumulate = out.sums != nullptr;
    groups_->prepare(centers);
    const index_t n_chunks = (rows_.n + kChunkRows - 1) / kChunkRows;
    const index_t T = static_cast<index_t>(pass_threads(n_threads_, n_chunks));
    const index_t units = groups_->n_units();
    const index_t sweep = kColumnLists * 4;  // rows of a sweep (isa/simd.hpp: kSweepRows)
    const RowScratch rows(scratch_, T, d);
    std::uint8_t* need = at_least(scratch_.need, static_cast<size_t>(T * kChunkRows * units));
    std::uint8_t* masks = at_least(scratch_.column_masks, static_cast<size_t>(T * kChunkRows * ((d + 7) / 8)));
    float* unit_min = at_least(scratch_.unit_min, static_cast<size_t>(T * sweep * 2 * units));
    float* raw = at_least(scratch_.raw, static_cast<size_t>(T * 4 * kUnitCenters));
    std::vector<index_t> scored(static_cast<size_t>(n_chunks), 0);
    const bool incremental = accumulate && !rows_.weights && facts_->exact_sums() && !groups_->scores_all();
    PassStats stats = chunked_pass(
        rows_, centers, k, out, n_threads_, incremental, groups_->order(), scratch_,
        [&](ChunkArgs& a, index_t chunk, int t) {
            const index_t ti = static_cast<index_t>(t);
            GroupArgs g{};
            g.chunk = a;
            groups_->fill(g, chunk * kChunkRows);
            g.incremental = incremental;
            g.lean = lean && incremental;
            rows.fill(g, t);
            g.need = need + ti * kChunkRows * units;
            g.column_masks = masks + ti * kChunkRows * ((d + 7) / 8);
            g.unit_min = unit_min + ti * sweep * 2 * units;
            g.raw = raw + ti * 4 * kUnitCenters;
            kernel(g, accumulate);
            a.inertia = g.chunk.inertia;
            a.j_clust = g.chunk.j_clust;
            scored[static_cast<size_t>(chunk)] = g.n_scored;
        });
    const index_t total = std::accumulate(scored.begin(), scored.end(), index_t{0});
    stats.rows_scored = (total + k - 1) / k;
    stats.lean = lean && incremental;
    return stats;
}

}  // namespace kmeans
