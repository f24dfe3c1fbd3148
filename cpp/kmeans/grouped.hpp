// Yinyang's and Elkan's bounds for exact k-means, with the rounding margins of bound_math.hpp:
// skipped centers provably score worse than the row's previous center, so a grouped run gives
// Lloyd's labels, centers, objectives and iteration count bit for bit. The chunk kernel that
// uses them: isa/grouped.cpp.
//
// The centers are renumbered once, at the first pass, into units of kUnitCenters that lie
// close together (recursive halving along the principal direction: balanced, spatially
// coherent groups, as Yinyang's grouping of the initial centers intends). A row whose bounds
// cannot settle it is scored only against the units that its bounds cannot rule out, plus the
// unit of its previous center:
//
//   yinyang  one lower bound per row and unit: the distance to the unit's nearest center other
//            than the row's own, less the largest drift in the unit since (4 bytes a unit)
//   elkan    one lower bound per row and center, less that center's drift (4 bytes a center:
//            n * k * 4 bytes in all)
//
// plus one upper bound per row (the distance to its center). The gaps between centers that
// Hamerly's bound also uses are not computed (k^2 d work a pass): with the unit bounds they
// skipped no more scores on MNIST (k = 64, 256) and cost 15% of the time. Scores are the
// pass's own (same arithmetic, see isa/score.hpp); ties go to the lowest caller's index, as in
// a pass, whatever the internal order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "chunk.hpp"
#include "drift.hpp"
#include "row_facts.hpp"

namespace kmeans {

// Internal order of the centers: order[p] is the caller's index of the center at position p;
// units of kUnitCenters consecutive positions hold centers close together. Deterministic.
void group_centers(const float* centers, index_t k, index_t d, std::int32_t* order);

class GroupBounds {
public:
    // facts must outlive the bounds.
    GroupBounds(const RowFacts& facts, index_t n, index_t d, index_t k, bool per_center);

    // Before a pass with these centers (the first call also groups them).
    void prepare(const float* centers);

    // Before a full pass (every row against every center, with second smallest scores) with
    // these centers, which then starts the bounds of every row with seed() (the first call
    // also groups the centers): the next prepare() measures the drifts from these centers.
    void begin_seed(const float* centers);

    // After that pass (with the centers packed in internal order), for rows [row0, row0 +
    // rows) with these labels: the upper bound from the row's distance; Yinyang's bound of
    // each unit from the smallest score of its centers (group_min: (rows, ceil(k /
    // kCenterGroup)), internal order), of the row's own unit from its second smallest score;
    // Elkan's bounds all from the second smallest score (0 for the row's own center).
    void seed(index_t row0, index_t rows, const std::int32_t* labels, const float* sq_dist,
              const float* second, const float* group_min);

    // Right after seeding, for the next centers, which moved by drift (k, caller's order)
    // from the seeding ones: about the share of the scores a pass would compute (without
    // the rounding margins: an estimate).
    double predicted_scored(const double* drift, const std::int32_t* labels) const;

    // The bound fields of a GroupArgs for the chunk that starts at row row0.
    void fill(GroupArgs& args, index_t row0);

    // A row's label changed outside a pass: forget its bounds.
    void forget(index_t row);

    // The pass about to run (after prepare) scores every row: its sums must be rebuilt.
    bool scores_all() const { return drift_.first(); }
    const std::int32_t* order() const { return order_.data(); }
    index_t n_units() const { return n_units_; }

private:
    const RowFacts& facts_;
    index_t d_, k_, n_units_, n_bounds_;
    bool per_center_;
    CenterDrift drift_;
    std::vector<float> lower_;
    std::vector<double> upper_;
    std::vector<std::int32_t> order_, position_;
    std::vector<double> unit_drift_;  // per unit or per internal position
    bool grouped_ = false;
};

}  // namespace kmeans
