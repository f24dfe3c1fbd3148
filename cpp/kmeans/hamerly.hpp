// Hamerly's bounds for exact k-means: one lower and one upper bound per row, and the gap of
// each center (the distance to its nearest other center). With the rounding margins of
// bound_math.hpp, skipped rows provably keep the label that a Lloyd pass would compute for
// them, so a Hamerly run gives Lloyd's labels, centers, objectives and iteration count bit for
// bit. The chunk kernel that uses them: isa/hamerly.cpp.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "chunk.hpp"
#include "drift.hpp"
#include "row_facts.hpp"

namespace kmeans {

class HamerlyBounds {
public:
    // facts must outlive the bounds.
    HamerlyBounds(const RowFacts& facts, index_t n, index_t d, index_t k);

    // Before a pass with these centers: drifts since the previous pass, gaps, margins.
    void prepare(const float* centers, int n_threads);

    // Before a full pass (every row against every center, with second smallest scores) with
    // these centers, which then starts the bounds of every row with seed(): the next
    // prepare() measures the drifts from these centers.
    void begin_seed(const float* centers);

    // After that pass, for rows [row0, row0 + rows): the bounds from their distances to
    // their centers and their second smallest scores (what a scoring of the Hamerly kernel
    // leaves).
    void seed(index_t row0, index_t rows, const float* sq_dist, const float* second);

    // Right after seeding, for the next centers, which moved by drift (k) from the seeding
    // ones: about the share of rows a pass would score (the rows whose bounds, moved by the
    // drifts, do not settle them; without the gaps and the rounding margins: an estimate).
    double predicted_scored(const double* drift, const std::int32_t* labels) const;

    // The bound fields of a BoundArgs for the chunk that starts at row row0.
    void fill(BoundArgs& args, index_t row0);

    // A row's label changed outside a pass (empty-cluster relocation): forget its bounds.
    void forget(index_t row) {
        lower_[static_cast<size_t>(row)] = 0.0;
        upper_[static_cast<size_t>(row)] = INFINITY;
    }

    // The pass about to run (after prepare) scores every row: its sums must be rebuilt.
    bool scores_all() const { return drift_.first(); }

private:
    // gap(c) for every center, from scratch (k^2 d work).
    void compute_gaps(const float* centers, int n_threads);

    // The drifts since the previous call, added to moved_ while the gaps are known.
    void update_drift(const float* centers);

    const RowFacts& facts_;
    index_t d_, k_;
    CenterDrift drift_;
    std::vector<double> lower_, upper_, gap_;
    std::vector<double> moved_, gap_exact_;  // drift since the gaps were computed; those gaps
    std::vector<double> centers_d_, pair_min_;  // scratch of compute_gaps()
    double gap_min_ = 0.0, moved_max_ = 0.0, moved_second_ = 0.0;
    std::int32_t moved_argmax_ = -1;
    bool gaps_known_ = false;  // gap_exact_ and moved_ hold the gaps of some earlier centers
};

}  // namespace kmeans
