// One chunk of a Hamerly pass (compiled per instruction set, see isa/simd.hpp): the outputs of
// process_chunk bit for bit, but only the rows whose bounds do not prove their label are scored
// against every center, with the same scores (isa/score.hpp); the distances, objectives and
// sums of every row are then computed as process_chunk does. The bounds and their rounding
// margins: bound_math.hpp; the bound fields: BoundArgs (chunk.hpp).
#include <cmath>
#include <cstdint>

#include "../bound_math.hpp"
#include "finish.hpp"
#include "score.hpp"

namespace kmeans {
namespace KMEANS_ISA_NAMESPACE {
namespace {

// The row's lower bound on the distance to every center but its own (old), after the centers
// moved: less the largest drift of the other centers.
inline double moved_lower_bound(const BoundArgs& ba, index_t i, std::int32_t old) {
    return ba.lower[i] - (old == ba.drift_argmax ? ba.drift_second : ba.drift_max);
}

// The larger of the row's lower bound and gap(old) - upper (the triangle inequality:
// d(x, c) >= d(old, c) - d(x, old)).
inline double best_lower_bound(const BoundArgs& ba, std::int32_t old, double lower, double upper) {
    const double gap_bound = ba.gap[old] - upper;
    return lower > gap_bound ? lower : gap_bound;
}

// Lean passes: the rows whose carried upper bound (moved by their center's drift) already
// proves their label are settled without being read; the others are listed in row_index.
// Returns how many are listed.
index_t settle_unread(BoundArgs& ba) {
    ChunkArgs& a = ba.chunk;
    index_t n_check = 0;
    for (index_t i = 0; i < a.rows; ++i) {
        const std::int32_t old = a.labels[i];
        ba.previous[i] = old;
        const double lower = moved_lower_bound(ba, i, old);
        const double error = score_error(ba.score_error_const, ba.score_error_slope, ba.x_sqnorm[i]);
        const double loose = moved_upper_bound(ba.upper[i], ba.drift[old]);
        if (proves(best_lower_bound(ba, old, lower, loose), proof_limit(loose, error))) {
            ba.lower[i] = lower;
            ba.upper[i] = loose;
            continue;
        }
        ba.row_index[n_check++] = static_cast<std::int32_t>(i);
    }
    return n_check;
}

// The rows to check (row_index[0 .. n_check) when listed, else every row): the distance to the
// previous center (needed anyway: it is the reported one when the label stays), which bounds
// the upper side. The rows whose label is then proven keep it; the others are listed in
// row_index and row_ptrs to be scored (row_index is compacted in place: the list of rows to
// score never overtakes the list of rows to check). Returns how many are to be scored.
index_t check_rows(BoundArgs& ba, index_t n_check, bool listed) {
    ChunkArgs& a = ba.chunk;
    const index_t d = a.d, words = group_words(d);
    index_t n_todo = 0;
    for (index_t t = 0; t < n_check; ++t) {
        const index_t i = listed ? ba.row_index[t] : t;
        const float* x = a.X + i * d;
        if (listed && t + 2 < n_check) {  // the row after next, one line per 16 floats
            const char* ahead = reinterpret_cast<const char*>(a.X + ba.row_index[t + 2] * d);
            for (index_t off = 0; off < d * static_cast<index_t>(sizeof(float)); off += 64) {
                __builtin_prefetch(ahead + off);
            }
        }
        ba.previous[i] = a.labels[i];
        if (!ba.score_all) {
            const std::int32_t old = a.labels[i];
            const double lower = moved_lower_bound(ba, i, old);
            const double error = score_error(ba.score_error_const, ba.score_error_slope, ba.x_sqnorm[i]);
            const float d2 = squared_distance<true>(x, a.centers + static_cast<index_t>(old) * d, d,
                                                    ba.row_groups + i * words);
            a.sq_dist[i] = d2;
            const double upper = upper_bound(d2, ba.distance_error);
            ba.upper[i] = upper;
            if (proves(best_lower_bound(ba, old, lower, upper), proof_limit(upper, error))) {
                ba.lower[i] = lower;
                continue;
            }
        }
        ba.row_index[n_todo] = static_cast<std::int32_t>(i);
        ba.row_ptrs[n_todo] = x;
        ++n_todo;
    }
    return n_todo;
}

// The listed rows against every center, with the scores of a pass: their labels, and lower
// bounds from their second smallest scores.
void score_listed(BoundArgs& ba, index_t n_todo) {
    ChunkArgs& a = ba.chunk;
    const index_t words = group_words(a.d);
    for (index_t t0 = 0; t0 < n_todo; t0 += kSweepRows) {
        const index_t m = n_todo - t0 < kSweepRows ? n_todo - t0 : kSweepRows;
        float best[kSweepRows];
        std::int32_t label[kSweepRows];
        float* second = ba.second_score + t0;
        score_rows<true>(a, ba.row_ptrs + t0, m, best, second, label);
        for (index_t q = 0; q < m; ++q) {
            const index_t i = ba.row_index[t0 + q];
            // every center but the chosen one: exact squared distance >= second + |x|^2 - error
            const double error = score_error(ba.score_error_const, ba.score_error_slope, ba.x_sqnorm[i]);
            ba.lower[i] = lower_bound(second[q], ba.x_sqnorm[i], error);
            store_label(a, i, label[q], ba.score_all, ba.row_groups + i * words, ba.upper,
                        ba.distance_error);
        }
    }
}

}  // namespace

void process_chunk_bounded(BoundArgs& ba, bool accumulate) {
    ChunkArgs& a = ba.chunk;
    if (ba.refresh) {  // distances to the labelled centers, and the objectives
        for (index_t i = 0; i < a.rows; ++i) {
            a.sq_dist[i] = squared_distance(a.X + i * a.d, a.centers + static_cast<index_t>(a.labels[i]) * a.d, a.d);
        }
        finish_rows(a, nullptr, nullptr, false, false);
        return;
    }
    // 1. Rows whose previous label is proven: every other center is farther by more than the
    //    rounding of the scores could hide. Lean passes first settle what they can from the
    //    carried upper bounds, without reading the rows; the rows left are then read with the
    //    next ones prefetched.
    const bool listed = ba.lean && !ba.score_all;
    const index_t n_check = listed ? settle_unread(ba) : a.rows;
    const index_t n_todo = check_rows(ba, n_check, listed);
    // 2. The other rows against every center, with the scores of a pass.
    score_listed(ba, n_todo);
    ba.n_scored = n_todo;
    // 3. Objectives and sums in row order, as a pass adds them.
    finish_rows(a, ba.previous, ba.row_groups, ba.incremental && !ba.score_all, accumulate,
                ba.lean && !ba.score_all);
}

}  // namespace KMEANS_ISA_NAMESPACE
}  // namespace kmeans
