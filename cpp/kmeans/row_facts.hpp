// Facts about the rows of X that do not depend on the centers: computed once per run (one
// parallel read of X) and shared by the bounds of every bounded algorithm.
#pragma once

#include <vector>

#include "chunk.hpp"

namespace kmeans {

class RowFacts {
public:
    // One read of X (n x d), on n_threads threads.
    RowFacts(const float* X, index_t n, index_t d, int n_threads);

    // |x|^2 of each row, in double and rounded down (a lower estimate only ever lowers the
    // lower bounds built from it).
    const double* x_sqnorm() const { return x_sqnorm_.data(); }

    // True when every sum of rows of X is exact in double: all values are integer multiples
    // of one power of two 2^L and n * max|x| < 2^52 * 2^L (MNIST pixels: L = 0, 2^24 rows;
    // pixels / 255: L >= -31). Then per-cluster sums do not depend on the order of the
    // additions, and a pass may update the previous pass's sums by the rows that moved
    // instead of adding every row again, with the same result bit for bit.
    bool exact_sums() const { return exact_sums_; }

private:
    std::vector<double> x_sqnorm_;
    bool exact_sums_ = false;
};

}  // namespace kmeans
