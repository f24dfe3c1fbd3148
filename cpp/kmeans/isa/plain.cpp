// The plain pass over one chunk (Lloyd's algorithm): every row against every center
// (compiled per instruction set, see isa/simd.hpp; the scores in isa/score.hpp).
//
// With ChunkArgs::second, also each row's second smallest score, and each group's smallest
// with group_min (the full passes of 'auto' start the bounds from them); the centers may then
// be packed in another order (ChunkArgs::order). The labels are the same either way.
//
// The rows go through in sweeps of up to kSweepRows: their scores against every center, then,
// while the rows are still in cache, the squared distance to the chosen center, computed
// directly as sum (x - c)^2 (accurate where the expanded form would cancel), the objectives,
// and the row added to its cluster's double sums, in row order.
#include <cmath>
#include <cstdint>

#include "score.hpp"

namespace kmeans {
namespace KMEANS_ISA_NAMESPACE {
namespace {

// The score of row x against packed center p, with the arithmetic of score_groups: one chain
// of multiply-adds over the row's nonzero columns in increasing order (isa/score.hpp).
float packed_score(const ChunkArgs& a, const float* x, index_t p) {
    const float* c = a.centers + static_cast<index_t>(a.order[p]) * a.d;
    float acc = 0.0f;
    for (index_t j = 0; j < a.d; ++j) {
        if (x[j] == 0.0f) continue;
#if KMEANS_KERNEL_AVX2
        acc = __builtin_fmaf(x[j], c[j], acc);
#else
        acc = acc + x[j] * c[j];
#endif
    }
    return a.center_sqnorm[p] - (acc + acc);
}

// The caller's label of a row whose best packed center is `position`, with score best and
// second smallest score second (centers packed in another order, ChunkArgs::order): that
// center's index, unless another center scores the same; then, as a pass in the caller's
// order, the lowest caller's index among the centers with the best score.
std::int32_t caller_label(const ChunkArgs& a, const float* x, std::int32_t position, float best,
                          float second) {
    if (!(second == best)) return a.order[position];
    std::int32_t label = a.order[position];
    for (index_t p = 0; p < a.k; ++p) {
        if (a.order[p] < label && packed_score(a, x, p) == best) label = a.order[p];
    }
    return label;
}

// Rows [s0, s1) of the chunk (at most kSweepRows): labels, distances, objectives and sums.
void sweep(ChunkArgs& a, index_t s0, index_t s1, bool accumulate, double& inertia,
           double& j_clust) {
    const index_t d = a.d, list_stride = column_list_stride(d);
    const float* rows[kSweepRows];
    for (index_t i = s0; i < s1; ++i) rows[i - s0] = a.X + i * d;
    // a sweep of one register block prefetches the rows of a later block
    const char* prefetch = nullptr;
    index_t prefetch_lines = 0;
    if (kPrefetchBlocks > 0 && s1 - s0 == R) {
        const index_t p0 = s0 + kPrefetchBlocks * R;
        const index_t p1 = p0 + R < a.rows ? p0 + R : a.rows;
        if (p0 < p1) {
            prefetch = reinterpret_cast<const char*>(a.X + p0 * d);
            prefetch_lines = ((p1 - p0) * d * static_cast<index_t>(sizeof(float)) + 63) / 64;
        }
    }
    if (a.second) {
        const index_t n_groups = (a.k + G - 1) / G;
        score_rows<true>(a, rows, s1 - s0, a.best_score + s0, a.second + s0, a.labels + s0,
                         prefetch, prefetch_lines, a.group_min ? a.group_min + s0 * n_groups : nullptr);
        if (a.order) {
            for (index_t i = s0; i < s1; ++i) {
                a.labels[i] = caller_label(a, a.X + i * d, a.labels[i], a.best_score[i], a.second[i]);
            }
        }
    } else {
        score_rows<false>(a, rows, s1 - s0, a.best_score + s0, nullptr, a.labels + s0, prefetch,
                          prefetch_lines);
    }
    for (index_t i = s0; i < s1; ++i) {
        const float* xi = a.X + i * d;
        const index_t label = a.labels[i];
        const float d2 = squared_distance(xi, a.centers + label * d, d);
        a.sq_dist[i] = d2;
        const double w = a.weights ? a.weights[i] : 1.0;
        inertia += w * static_cast<double>(d2);
        j_clust += w * std::sqrt(static_cast<double>(d2));
        if (accumulate) {
            // the nonzero groups of the row's register block: a superset of the row's own
            const std::int32_t* list = a.column_lists + ((i - s0) / R) * list_stride;
            const auto* groups = reinterpret_cast<const std::uint32_t*>(list + d);
            if (a.weights) {
                add_row<true>(a.sums + label * d, xi, w, d, groups);
            } else {
                add_row<false>(a.sums + label * d, xi, 1.0, d, groups);
            }
            a.weight_sums[label] += w;
        }
    }
}

}  // namespace

void process_chunk(ChunkArgs& a, bool accumulate) {
    const index_t n_groups = (a.k + G - 1) / G;
    // With one block of centers, a sweep is one register block of rows: its rows stay in L1
    // from the column list to the sums.
    const index_t sweep_rows = n_groups <= center_block_groups(a.d) ? R : kSweepRows;
    double inertia = 0.0, j_clust = 0.0;
    for (index_t s0 = 0; s0 < a.rows; s0 += sweep_rows) {
        const index_t s1 = s0 + sweep_rows < a.rows ? s0 + sweep_rows : a.rows;
        sweep(a, s0, s1, accumulate, inertia, j_clust);
    }
    a.inertia = inertia;
    a.j_clust = j_clust;
}

}  // namespace KMEANS_ISA_NAMESPACE
}  // namespace kmeans
