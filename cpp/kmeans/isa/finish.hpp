// The end of a bounded pass (isa/hamerly.cpp, isa/grouped.cpp; compiled per instruction set,
// see isa/simd.hpp): a scored row's new label, distance and upper bound; then the objectives
// and sums of the chunk in row order, as a plain pass adds them.
#pragma once

#include <cmath>
#include <cstdint>

#include "../bound_math.hpp"
#include "simd.hpp"

namespace kmeans {
namespace KMEANS_ISA_NAMESPACE {
namespace {

// A scored row's new label; its distance (and nonzero groups) again when the label changed or
// nothing was computed for it yet (first pass), and its upper bound from that distance.
inline void store_label(ChunkArgs& a, index_t i, std::int32_t label, bool score_all,
                        std::uint32_t* groups, double* upper, double distance_error) {
    const bool changed = score_all || label != a.labels[i];
    a.labels[i] = label;
    if (changed) {
        a.sq_dist[i] = squared_distance<true>(a.X + i * a.d, a.centers + static_cast<index_t>(label) * a.d,
                                              a.d, groups);
    }
    upper[i] = upper_bound(a.sq_dist[i], distance_error);
}

// Once labels and sq_dist hold every row's result: objectives and sums in row order, as a pass
// adds them (incremental: only the rows whose label differs from previous, +x to the new
// cluster and -x to the old one; see BoundArgs::incremental). row_groups holds each row's
// nonzero 8-column groups. lean: no objectives (sq_dist is not up to date for the rows a lean
// pass skipped).
inline void finish_rows(ChunkArgs& a, const std::int32_t* previous, const std::uint32_t* row_groups,
                        bool incremental, bool accumulate, bool lean = false) {
    const index_t d = a.d, words = group_words(d);
    double inertia = 0.0, j_clust = 0.0;
    for (index_t i = 0; i < a.rows; ++i) {
        const index_t label = a.labels[i];
        const double w = a.weights ? a.weights[i] : 1.0;
        if (!lean) {
            const float d2 = a.sq_dist[i];
            inertia += w * static_cast<double>(d2);
            j_clust += w * std::sqrt(static_cast<double>(d2));
        }
        if (!accumulate) continue;
        // the row's own nonzero groups: skipping zeros changes no sum (see add_row)
        const std::uint32_t* groups = row_groups + i * words;
        if (incremental) {
            const index_t old = previous[i];
            if (old == label) continue;
            add_row<false>(a.sums + label * d, a.X + i * d, 1.0, d, groups);
            add_row<true>(a.sums + old * d, a.X + i * d, -1.0, d, groups);
            a.weight_sums[label] += 1.0;
            a.weight_sums[old] -= 1.0;
            a.touched[label] = a.touched[old] = 1;
            continue;
        }
        if (a.weights) {
            add_row<true>(a.sums + label * d, a.X + i * d, w, d, groups);
        } else {
            add_row<false>(a.sums + label * d, a.X + i * d, 1.0, d, groups);
        }
        a.weight_sums[label] += w;
        a.touched[label] = 1;
    }
    a.inertia = inertia;
    a.j_clust = j_clust;
}

}  // namespace
}  // namespace KMEANS_ISA_NAMESPACE
}  // namespace kmeans
