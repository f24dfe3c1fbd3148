// What the bounds of every bounded algorithm need to know about the centers before a pass: how
// far each moved since the previous pass (its drift), and the rounding margins of the scores
// against them (see bound_math.hpp). HamerlyBounds and GroupBounds each keep one.
#pragma once

#include <cstdint>
#include <vector>

#include "bound_math.hpp"
#include "chunk.hpp"

namespace kmeans {

// Keep the largest value seen (and its index) and the second largest, as values come in.
inline void keep_largest_two(double m, index_t c, double& largest, double& second,
                             std::int32_t& argmax) {
    if (m > largest) {
        second = largest;
        largest = m;
        argmax = static_cast<std::int32_t>(c);
    } else if (m > second) {
        second = m;
    }
}

// sum_j (a_j - b_j)^2 in double.
double squared_distance_double(const float* a, const float* b, index_t d);

class CenterDrift {
public:
    CenterDrift(index_t k, index_t d);

    // Before a pass with these centers (k x d): the drifts since the previous call (none at
    // the first) and the margins for these centers.
    void update(const float* centers);

    // The pass about to run is the first: nothing is known, every row is scored.
    bool first() const { return first_; }

    // (k) how far each center moved since the previous pass, rounded up (0 at the first).
    const double* drift() const { return drift_.data(); }
    double largest() const { return largest_; }        // the largest drift, of center argmax()
    double second_largest() const { return second_; }  // the largest of the other centers'
    std::int32_t argmax() const { return argmax_; }    // -1 at the first pass

    // E(x) = error.constant + error.slope |x| for these centers, and the relative error of a
    // computed squared distance (bound_math.hpp).
    const ScoreError& score_error() const { return error_; }
    double distance_error() const { return distance_error_; }

private:
    index_t k_, d_;
    std::vector<double> drift_;
    std::vector<float> previous_;  // the centers of the previous pass
    double largest_ = 0.0, second_ = 0.0;
    std::int32_t argmax_ = -1;
    bool seen_ = false, first_ = true;
    ScoreError error_{0.0, 0.0};
    double distance_error_;
};

}  // namespace kmeans
