// One chunk of a grouped pass, Yinyang or Elkan (compiled per instruction set, see
// isa/simd.hpp): the outputs of process_chunk bit for bit, but a row is scored only against
// the units of kUnitCenters centers that its bounds cannot rule out (see grouped.hpp), unit by
// unit over the rows that need it, with the scores of a pass (isa/score.hpp); its argmin keeps
// the lowest caller's index on ties. The bounds and their rounding margins: bound_math.hpp.
#include <cmath>
#include <cstdint>

#include "../bound_math.hpp"
#include "finish.hpp"
#include "score.hpp"

namespace kmeans {
namespace KMEANS_ISA_NAMESPACE {
namespace {

// Whether row i must be scored, and if so against which units (need[u] = 1). Its bounds are
// first lowered by the drifts; a row whose label they prove keeps it (as in the Hamerly kernel,
// with the smallest of the row's bounds), in lean passes even before it is read (from the upper
// bound carried from the last pass). The unit of the previous center is always scored: the
// argmin is then taken over every center that could tie with or beat it.
bool select_units(GroupArgs& ga, index_t i, std::uint8_t* need) {
    ChunkArgs& a = ga.chunk;
    const index_t d = a.d, k = a.k, n_units = ga.n_units, nb = ga.n_bounds;
    const float* x = a.X + i * d;
    if (ga.score_all) {
        for (index_t u = 0; u < n_units; ++u) need[u] = 1;
        column_list<1>(&x, d, a.column_lists, ga.row_groups + i * group_words(d));
        return true;
    }
    const std::int32_t old = a.labels[i];
    const index_t p_old = ga.position[old];
    const double error = score_error(ga.score_error_const, ga.score_error_slope, ga.x_sqnorm[i]);
    float* lb = ga.lower + i * nb;
    double lowest = INFINITY;  // of the bounds on the centers other than old
    for (index_t b = 0; b < nb; ++b) {
        const double v = static_cast<double>(lb[b]) - ga.drift[b];
        lb[b] = round_down(v);
        if (!ga.per_center || b != p_old) lowest = v < lowest ? v : lowest;
    }
    if (ga.lean) {
        const double loose = moved_upper_bound(ga.upper[i], ga.center_drift[old]);
        if (proves(lowest, proof_limit(loose, error))) {
            ga.upper[i] = loose;
            return false;
        }
    }
    const float d2 = squared_distance<true>(x, a.centers + static_cast<index_t>(old) * d, d,
                                            ga.row_groups + i * group_words(d));
    a.sq_dist[i] = d2;
    const double upper = upper_bound(d2, ga.distance_error);
    ga.upper[i] = upper;
    const double limit = proof_limit(upper, error);
    if (proves(lowest, limit)) return false;
    const index_t u_old = p_old / kUnitCenters;
    for (index_t u = 0; u < n_units; ++u) {
        double bu;
        if (ga.per_center) {
            const index_t p1 = (u + 1) * kUnitCenters < k ? (u + 1) * kUnitCenters : k;
            bu = INFINITY;
            for (index_t p = u * kUnitCenters; p < p1; ++p) {
                if (p != p_old && lb[p] < bu) bu = lb[p];
            }
        } else {
            bu = lb[u];
        }
        need[u] = (u == u_old || !proves(bu, limit)) ? 1 : 0;
    }
    return true;
}

// Lists the rows to score (row_index, row_ptrs, their units in need and their nonzero columns
// in column_masks); returns how many.
index_t list_rows(GroupArgs& ga) {
    ChunkArgs& a = ga.chunk;
    const index_t d = a.d, mask_bytes = (d + 7) / 8;
    index_t n_todo = 0;
    for (index_t i = 0; i < a.rows; ++i) {
        ga.previous[i] = a.labels[i];
        if (!select_units(ga, i, ga.need + n_todo * ga.n_units)) continue;
        const float* x = a.X + i * d;
        column_mask(x, d, ga.column_masks + n_todo * mask_bytes);
        ga.row_index[n_todo] = static_cast<std::int32_t>(i);
        ga.row_ptrs[n_todo] = x;
        ++n_todo;
    }
    return n_todo;
}

// The running best of a row (lowest score, lowest caller's index on ties, as a pass).
inline void keep_best(float score, std::int32_t c, float& best, std::int32_t& label) {
    if (score < best || (score == best && c < label)) {
        best = score;
        label = c;
    }
}

// Folds row q's raw scores sc of the unit's internal positions [p0, p1) into its best and, for
// Yinyang, the unit's smallest and second smallest scores (unit_min); for Elkan, into its
// per-center lower bounds. error: E(x) of the row.
void fold_unit(GroupArgs& ga, index_t q, index_t i, index_t u, index_t p0, index_t p1,
               const float* sc, double error, float& best, std::int32_t& label) {
    float lowest = INFINITY, next = INFINITY;
#if KMEANS_KERNEL_AVX2
    if (!ga.per_center) {
        // the unit's smallest score, the lanes that hold it, and the second smallest
        // (padding lanes score +inf); lanes are in internal order
        const __m256 inf = _mm256_set1_ps(INFINITY);
        const __m256 s0 = _mm256_loadu_ps(sc);
        const __m256 s1 = p1 - p0 > G ? _mm256_loadu_ps(sc + G) : inf;  // a unit of two groups
        lowest = lane_min(_mm256_min_ps(s0, s1));
        const __m256 target = _mm256_set1_ps(lowest);
        const __m256 e0 = _mm256_cmp_ps(s0, target, _CMP_EQ_OQ);
        const __m256 e1 = _mm256_cmp_ps(s1, target, _CMP_EQ_OQ);
        const unsigned equal = static_cast<unsigned>(_mm256_movemask_ps(e0)) |
                               static_cast<unsigned>(_mm256_movemask_ps(e1)) << 8;
        next = (equal & (equal - 1u)) != 0
                   ? lowest
                   : lane_min(_mm256_min_ps(_mm256_blendv_ps(s0, inf, e0),
                                            _mm256_blendv_ps(s1, inf, e1)));
        if (equal != 0) keep_best(lowest, ga.order[p0 + __builtin_ctz(equal)], best, label);
        ga.unit_min[q * 2 * ga.n_units + 2 * u] = lowest;
        ga.unit_min[q * 2 * ga.n_units + 2 * u + 1] = next;
        return;
    }
#endif
    for (index_t p = p0; p < p1; ++p) {
        const float score = sc[p - p0];
        keep_best(score, ga.order[p], best, label);
        if (ga.per_center) {
            ga.lower[i * ga.n_bounds + p] = round_down(lower_bound(score, ga.x_sqnorm[i], error));
        } else if (score < lowest) {
            next = lowest;
            lowest = score;
        } else if (score < next) {
            next = score;
        }
    }
    if (!ga.per_center) {
        ga.unit_min[q * 2 * ga.n_units + 2 * u] = lowest;
        ga.unit_min[q * 2 * ga.n_units + 2 * u + 1] = next;
    }
}

// Listed rows t0 .. t0 + m (m <= kSweepRows), unit by unit: the rows that need the unit, in
// register blocks of R, their raw scores folded into each row's best (fold_unit). Returns the
// number of scores computed.
index_t score_units(GroupArgs& ga, index_t t0, index_t m, const double* error, float* best,
                    std::int32_t* label) {
    ChunkArgs& a = ga.chunk;
    const index_t d = a.d, k = a.k, n_units = ga.n_units, mask_bytes = (d + 7) / 8;
    const index_t n_groups = (k + G - 1) / G;
    index_t n_scored = 0;
    std::int32_t selected[kSweepRows], previous_block[R] = {-1, -1, -1, -1};
    index_t previous_count = 0, n_list = 0;
    std::int32_t* list = a.column_lists;
    for (index_t u = 0; u < n_units; ++u) {
        const index_t g0 = u * kUnitGroups;
        const index_t ng = n_groups - g0 < kUnitGroups ? n_groups - g0 : kUnitGroups;
        index_t count = 0;
        for (index_t q = 0; q < m; ++q) {
            if (ga.need[(t0 + q) * n_units + u]) selected[count++] = static_cast<std::int32_t>(q);
        }
        for (index_t b0 = 0; b0 < count; b0 += R) {
            const index_t nr = count - b0 < R ? count - b0 : R;
            const float* x[R];
            bool same = nr == previous_count;
            for (index_t r = 0; r < nr; ++r) {
                x[r] = ga.row_ptrs[t0 + selected[b0 + r]];
                same = same && previous_block[r] == selected[b0 + r];
                previous_block[r] = selected[b0 + r];
            }
            previous_count = nr;
            if (!same) {  // the same rows as the last block: its column list still holds
                const std::uint8_t* masks[R];
                for (index_t r = 0; r < nr; ++r) {
                    masks[r] = ga.column_masks + (t0 + selected[b0 + r]) * mask_bytes;
                }
                n_list = mask_column_list(masks, nr, d, list);
            }
            for_row_block(nr, [&](auto block) {
                constexpr int NR = decltype(block)::rows;
                if (ng == 2) {
                    score_groups<NR, 2, false, true>(x, a.centers_t, d, a.center_sqnorm, g0, list,
                                                     n_list, nullptr, nullptr, nullptr, 0, ga.raw);
                } else {
                    score_groups<NR, 1, false, true>(x, a.centers_t, d, a.center_sqnorm, g0, list,
                                                     n_list, nullptr, nullptr, nullptr, 0, ga.raw);
                }
            });
            const index_t p0 = g0 * G, p1 = p0 + ng * G < k ? p0 + ng * G : k;
            for (index_t r = 0; r < nr; ++r) {
                const index_t q = selected[b0 + r];
                fold_unit(ga, q, ga.row_index[t0 + q], u, p0, p1, ga.raw + r * ng * G, error[q],
                          best[q], label[q]);
                n_scored += p1 - p0;
            }
        }
    }
    return n_scored;
}

// After the units of listed rows t0 .. t0 + m are scored: Yinyang's lower bound of each
// scored unit (of every center but the row's own: its unit's second smallest score), and each
// row's new label, distance and upper bound.
void store_rows(GroupArgs& ga, index_t t0, index_t m, const double* error,
                const std::int32_t* label) {
    ChunkArgs& a = ga.chunk;
    const index_t n_units = ga.n_units, words = group_words(a.d);
    for (index_t q = 0; q < m; ++q) {
        const index_t i = ga.row_index[t0 + q];
        if (!ga.per_center) {
            const index_t u_new = ga.position[label[q]] / kUnitCenters;
            for (index_t u = 0; u < n_units; ++u) {
                if (!ga.need[(t0 + q) * n_units + u]) continue;
                const float v = ga.unit_min[q * 2 * n_units + 2 * u + (u == u_new ? 1 : 0)];
                ga.lower[i * ga.n_bounds + u] = round_down(lower_bound(v, ga.x_sqnorm[i], error[q]));
            }
        }
        store_label(a, i, label[q], ga.score_all, ga.row_groups + i * words, ga.upper,
                    ga.distance_error);
    }
}

}  // namespace

void process_chunk_grouped(GroupArgs& ga, bool accumulate) {
    // 1. The rows whose label the bounds cannot prove, and the units each must be scored on.
    const index_t n_todo = list_rows(ga);
    // 2. Those rows in sweeps of kSweepRows: their units' scores, then their labels and bounds.
    index_t n_scored = 0;
    for (index_t t0 = 0; t0 < n_todo; t0 += kSweepRows) {
        const index_t m = n_todo - t0 < kSweepRows ? n_todo - t0 : kSweepRows;
        float best[kSweepRows];
        std::int32_t label[kSweepRows];
        double error[kSweepRows];
        for (index_t q = 0; q < m; ++q) {
            best[q] = INFINITY;
            label[q] = 0;
            const index_t i = ga.row_index[t0 + q];
            error[q] = score_error(ga.score_error_const, ga.score_error_slope, ga.x_sqnorm[i]);
        }
        n_scored += score_units(ga, t0, m, error, best, label);
        store_rows(ga, t0, m, error, label);
    }
    ga.n_scored = n_scored;
    // 3. Objectives and sums in row order, as a pass adds them.
    finish_rows(ga.chunk, ga.previous, ga.row_groups, ga.incremental && !ga.score_all, accumulate,
                ga.lean && !ga.score_all);
}

}  // namespace KMEANS_ISA_NAMESPACE
}  // namespace kmeans
