// The unit of work of one assignment pass: a contiguous block of rows.
//
// This header is shared by the generic code and by the ISA-specific translation units
// (isa/*.cpp, compiled once per instruction set), so it holds plain data, and the few
// functions it has are in an unnamed namespace: with internal linkage each translation unit
// keeps its own copy, and the linker can never pick an AVX-512 copy for code that runs on an
// older CPU (as it may for an ordinary inline function or template).
#pragma once

#include <cstdint>

namespace kmeans {

using index_t = std::int64_t;

// Centers are also handed to the kernel transposed in groups of kCenterGroup: group g is a
// (d, kCenterGroup) row-major block holding centers g*kCenterGroup ... (the last group padded
// with zero centers whose squared norm is +inf, so that they never win). See pack_centers.
constexpr index_t kCenterGroup = 8;

// Nonzero-column lists the kernel keeps at once; ChunkArgs::column_lists holds
// kColumnLists * column_list_stride(d) entries.
constexpr index_t kColumnLists = 16;

namespace {

// 32-bit words of a bit mask with one bit per 8-column group: ceil(ceil(d / 8) / 32).
constexpr index_t group_words(index_t d) { return (d + 255) / 256; }

// Entries of one column list: the d column indices, then room for what is written past them:
// the nonzero-group mask of the same rows (group_words(d) words, see column_list), and up to 7
// entries of a last partial block of 8 (mask_column_list writes whole blocks). d / 8 + 16 is
// more than either needs (group_words(d) <= d / 8 + 1 for d >= 1).
constexpr index_t column_list_stride(index_t d) { return d + d / 8 + 16; }

}  // namespace

// Fill centers_t ((ceil(k / kCenterGroup), d, kCenterGroup)) and sqnorm (ceil(k / kCenterGroup)
// * kCenterGroup entries: |c|^2 rounded from double, +inf for the padding). Defined in passes.cpp.
void pack_centers(const float* centers, index_t k, index_t d, float* centers_t, float* sqnorm);

// Inputs and outputs of one chunk. Pointers to per-row arrays point at the chunk's first row.
struct ChunkArgs {
    const float* X;             // in:  (rows, d) row-major
    index_t rows;
    index_t d;
    const float* centers;       // in:  (k, d) row-major
    const float* center_sqnorm; // in:  (k rounded up to kCenterGroup) squared norms, see pack_centers
    const float* centers_t;     // in:  the centers transposed in groups, see pack_centers
    index_t k;
    const double* weights;      // in:  (rows) sample weights, or nullptr for all ones
    std::int32_t* labels;       // out: (rows) nearest center of each row (lowest index on ties)
    float* sq_dist;             // out: (rows) squared distance to that center
    float* best_score;          // scratch: (rows)
    float* second;              // out: (rows) second smallest score of each row (of every
                                //      center but the chosen one), or nullptr: not computed
                                //      (same labels either way; see isa/score.hpp)
    float* group_min;           // out: (rows, ceil(k / kCenterGroup)) each row's smallest score
                                //      in each group of packed centers, or nullptr (only
                                //      with second)
    const std::int32_t* order;  // in:  caller's index of each packed center (centers_t and
                                //      center_sqnorm), or nullptr: packed in the caller's
                                //      order; labels are the caller's either way
    std::int32_t* column_lists; // scratch: kColumnLists * column_list_stride(d)
    double* sums;               // in/out: (k, d) weighted row sums per cluster, accumulated into
    double* weight_sums;        // in/out: (k) weight per cluster, accumulated into
    std::uint8_t* touched;      // out: (k) set to 1 for every cluster whose sums the chunk
                                //      changed (bounded kernels only; nullptr otherwise)
    double inertia;             // out: sum of w * sq_dist over the chunk, in row order
    double j_clust;             // out: sum of w * sqrt(sq_dist) over the chunk, in row order
};

// What the distance pass of one chunk computes; sums are accumulated only when accumulate is set.
using ChunkFn = void (*)(ChunkArgs& args, bool accumulate);

// One chunk of a bounded (Hamerly) pass: the outputs of a ChunkArgs pass, bit for bit, but a
// row is scored against every center only when its bounds cannot prove that the scores would
// choose its previous label again (see bound_math.hpp for the bounds and their rounding margins).
struct BoundArgs {
    ChunkArgs chunk;            // as for a pass; chunk.labels holds the previous labels on entry
    const double* x_sqnorm;     // in:  (rows) |x|^2 of each row
    double* lower;              // in/out: (rows) lower bound on the distance from each row to
                                //      every center but its own (0: nothing known)
    const double* drift;        // in:  (k) how far each center moved, bounded above (0 at first)
    double drift_max;           // in:  the largest drift, at center drift_argmax
    double drift_second;        //      the largest drift of the other centers
    std::int32_t drift_argmax;
    const double* gap;          // in:  (k) distance from each center to the nearest other one,
                                //      bounded below (0 when unknown)
    double score_error_const;   // in:  |computed score - exact score| <= score_error_const +
    double score_error_slope;   //      score_error_slope * |x| for every row and center
    double distance_error;      // in:  exact squared distance <= computed one * (1 + distance_error)
    bool score_all;             // in:  score every row (first pass)
    bool incremental;           // in:  sums hold exact sums of the previous labels: add only
                                //      the rows whose label changes (+x to the new cluster,
                                //      -x to the old one); see RowFacts::exact_sums
    std::int32_t* previous;     // scratch: (rows) the labels on entry
    double* upper;              // in/out: (rows) upper bound on the distance from each row to
                                //      its center of the previous pass (+inf: unknown)
    bool lean;                  // in:  skip the rows the bounds settle without reading them:
                                //      their sq_dist is left as it was, and no objective is
                                //      computed (needs incremental; see RunOptions)
    bool refresh;               // in:  only sq_dist of every row to its labelled center and
                                //      the objectives (labels, bounds and sums untouched)
    const float** row_ptrs;     // scratch: (rows) pointers to the rows to score
    std::int32_t* row_index;    // scratch: (rows)
    float* second_score;        // scratch: (rows)
    std::uint32_t* row_groups;  // scratch: (rows, group_words(d)) nonzero 8-column groups of each row
    index_t n_scored;           // out: rows scored against every center
};

using BoundFn = void (*)(BoundArgs& args, bool accumulate);

// Centers per unit of the grouped kernels: two groups of kCenterGroup (8 + 8 accumulators
// per row block keep both FMA pipes busy). The last unit may hold one group.
constexpr index_t kUnitGroups = 2;
constexpr index_t kUnitCenters = kUnitGroups * kCenterGroup;

// One chunk of a grouped pass (Yinyang, Elkan; see grouped.hpp): the outputs of a ChunkArgs
// pass bit for bit, but each row is scored only against the units of centers that its bounds
// cannot rule out. The centers are renumbered ("internal" order) so that each unit of
// kUnitCenters holds centers close to one another; chunk.centers_t and chunk.center_sqnorm are
// packed in internal order, chunk.centers and the labels use the caller's numbering.
struct GroupArgs {
    ChunkArgs chunk;            // as for a pass; chunk.labels holds the previous labels on entry
    const double* x_sqnorm;     // in:  (rows) |x|^2 of each row, bounded below
    float* lower;               // in/out: (rows, n_bounds) lower bounds on distances, rounded
                                //      down: per unit, of every center of the unit but the
                                //      row's own (Yinyang), or per internal center (Elkan)
    index_t n_bounds;           // n_units or k
    bool per_center;            // Elkan's bounds (one per center) rather than one per unit
    const double* drift;        // in:  (n_bounds) how far the unit's centers (or the center)
                                //      moved since the last pass, bounded above
    const std::int32_t* order;  // in:  (k) caller's index of each internal center
    const std::int32_t* position;  // in: (k) internal position of each caller's center
    index_t n_units;            // ceil(k / kUnitCenters)
    const double* center_drift; // in:  (k, caller's order) how far each center moved
    double score_error_const;   // in:  as in BoundArgs
    double score_error_slope;
    double distance_error;
    bool score_all;             // in:  score every row against every unit (first pass)
    bool incremental;           // in:  as in BoundArgs
    double* upper;              // in/out: as in BoundArgs
    bool lean;                  // in:  as in BoundArgs
    const float** row_ptrs;     // scratch: (rows)
    std::int32_t* row_index;    // scratch: (rows)
    std::int32_t* previous;     // scratch: (rows)
    std::uint32_t* row_groups;  // scratch: (rows, group_words(d))
    std::uint8_t* need;         // scratch: (rows, n_units) units to score per row
    std::uint8_t* column_masks; // scratch: (rows, ceil(d / 8)) nonzero columns of each row
    float* unit_min;            // scratch: (kColumnLists * 4, 2 * n_units) per row and unit:
                                //      smallest and second smallest score (Yinyang)
    float* raw;                 // scratch: (4 * kUnitCenters) scores of a row block
    index_t n_scored;           // out: centers scored, summed over the rows
};

using GroupFn = void (*)(GroupArgs& args, bool accumulate);

}  // namespace kmeans
