// Hamerly's bounds for exact k-means, with rounding margins: skipped rows provably keep the
// label that a Lloyd pass would compute for them, so a bounded run gives Lloyd's labels,
// centers, objectives and iteration count bit for bit.
//
// A Lloyd pass chooses argmin_c s(x, c), where s is the float32 score |c|^2 - 2 x.c (see
// chunk_kernel.cpp). Against the exact value t(x, c) = d(x, c)^2 - |x|^2 it errs by at most
//
//     E(x) = a + b |x|,   a = 1.1 * 2.1u * cmax^2,   b = 1.1 * (2 g + 2.1u) * cmax,
//
// with u = 2^-24, g = (d + 2) u / (1 - (d + 2) u) (the bound of a d-term dot product, with or
// without fused multiply-adds), cmax the largest center norm: u |c|^2 from rounding |c|^2 to
// float, g |x||c| twice for the doubled dot product, u |s| for the subtraction, and 10% slack
// for the double arithmetic of the bounds. So if a row's current center a is at distance
// <= U and every other center at distance >= L with U^2 + 2 E(x) < L^2, then s(x, a) < s(x, c)
// for every c != a, and the pass would choose a again: the row is skipped.
//
// U is the row's computed squared distance to a (needed anyway: it is the reported one),
// inflated by its own rounding bound. L is the larger of the row's lower bound (from its last
// full scoring: the second smallest score, less E; less the largest drift of the other centers
// since) and gap(a) - U, where gap(a) is the distance from a to its nearest other center
// (triangle inequality). Distances, drifts and gaps are computed in double from the float32
// values and rounded in the safe direction.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "chunk.hpp"

namespace kmeans {

class HamerlyBounds {
public:
    // |x|^2 of every row (once per run, n_threads threads).
    // use_gaps: also bound by the distance between centers (k^2 d work a pass, recomputed
    // only when the centers moved much); without, the gaps stay 0 and bound nothing.
    HamerlyBounds(const float* X, index_t n, index_t d, index_t k, int n_threads,
                  bool use_gaps = true);

    // Before a pass with these centers: drifts since the previous pass, gaps, margins.
    void prepare(const float* centers, int n_threads);

    // The bound fields of a BoundArgs for the chunk that starts at row row0.
    void fill(BoundArgs& args, index_t row0);

    // A row's label changed outside a pass (empty-cluster relocation): forget its bounds.
    void forget(index_t row) {
        lower_[static_cast<size_t>(row)] = 0.0;
        upper_[static_cast<size_t>(row)] = INFINITY;
    }

    // True when every sum of rows of X is exact in double: all values are integer multiples
    // of one power of two 2^L and n * max|x| < 2^52 * 2^L (MNIST pixels: L = 0, 2^24 rows;
    // pixels / 255: L >= -31). Then per-cluster sums do not depend on the order of the
    // additions, and a pass may update the previous pass's sums by the rows that moved
    // instead of adding every row again, with the same result bit for bit.
    bool exact_sums() const { return exact_sums_; }

    // The pass about to run (after prepare) scores every row: its sums must be rebuilt.
    bool scores_all() const { return score_all_; }

private:
    index_t n_, d_, k_;
    std::vector<double> x_sqnorm_, lower_, upper_, drift_, gap_;
    std::vector<double> moved_, gap_exact_;  // drift since the gaps were computed; those gaps
    bool use_gaps_;
    std::vector<float> previous_;  // the centers of the previous pass
    std::vector<double> centers_d_, pair_min_;  // scratch of prepare()
    double gap_min_ = 0.0, moved_max_ = 0.0, moved_second_ = 0.0;
    std::int32_t moved_argmax_ = -1;
    bool first_ = true, score_all_ = true, exact_sums_ = false;
    double drift_max_ = 0.0, drift_second_ = 0.0;
    std::int32_t drift_argmax_ = -1;
    double error_const_ = 0.0, error_slope_ = 0.0, distance_error_ = 0.0;
};

}  // namespace kmeans
