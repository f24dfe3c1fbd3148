// Facts about the rows of X that do not depend on the centers: computed once per X (one
// parallel read) and shared by the bounds of every bounded algorithm, and by every run on the
// same X (the restart driver computes them once for all its restarts: RunOptions::row_facts).
#pragma once

#include <vector>

#include "chunk.hpp"

namespace kmeans {

class RowFacts {
public:
    // One read of X (n x d), on n_threads threads. X is not kept, only its address and shape
    // (describes()); the caller must not change X while runs use these facts.
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

    // Whether these are the facts of the rows at X, n x d.
    bool describes(const float* X, index_t n, index_t d) const {
        return X == X_ && n == n_ && d == d_;
    }

private:
    std::vector<double> x_sqnorm_;
    bool exact_sums_ = false;
    const float* X_;
    index_t n_, d_;
};

}  // namespace kmeans
