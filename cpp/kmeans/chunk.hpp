// The unit of work of one assignment pass: a contiguous block of rows.
//
// This header is shared by the generic code and by the ISA-specific translation units
// (chunk_kernel.cpp compiled once per instruction set), so it holds plain data only:
// no inline functions or templates whose AVX-512 instantiation could be picked by the
// linker for code that runs on an older CPU.
#pragma once

#include <cstdint>

namespace kmeans {

using index_t = std::int64_t;

// Inputs and outputs of one chunk. Pointers to per-row arrays point at the chunk's first row.
struct ChunkArgs {
    const float* X;             // in:  (rows, d) row-major
    index_t rows;
    index_t d;
    const float* centers;       // in:  (k, d) row-major
    const float* center_sqnorm; // in:  (k) squared norm of each center
    index_t k;
    const double* weights;      // in:  (rows) sample weights, or nullptr for all ones
    std::int32_t* labels;       // out: (rows) nearest center of each row (lowest index on ties)
    float* sq_dist;             // out: (rows) squared distance to that center
    float* best_score;          // scratch: (rows)
    double* sums;               // in/out: (k, d) weighted row sums per cluster, accumulated into
    double* weight_sums;        // in/out: (k) weight per cluster, accumulated into
    double objective;           // out: sum of w * sq_dist over the chunk, in row order
    double sum_dist;            // out: sum of w * sqrt(sq_dist) over the chunk, in row order
};

// What the distance pass of one chunk computes; sums are accumulated only when accumulate is set.
using ChunkFn = void (*)(ChunkArgs& args, bool accumulate);

}  // namespace kmeans
