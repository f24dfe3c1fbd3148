// The unit of work of a pass over sparse (CSR) rows, shared by sparse.cpp and the per-ISA
// copies of isa/sparse.cpp: plain data only (see chunk.hpp for why).
//
// Scores. A dense pass scores a row x against a center c as |c|^2 - 2 acc, acc one float32
// chain of multiply-adds over the nonzero columns of x in increasing order (isa/score.hpp;
// zero columns are skipped exactly). A CSR row with sorted column indices gives the same
// chain over its stored values, so the sparse pass computes the same scores bit for bit, and
// therefore the same labels (lowest index on ties) as the dense pass over the same data.
//
// Distances. The dense pass computes the distance to the chosen center directly as
// sum (x_j - c_j)^2 in float32 over all d columns; a sparse pass cannot afford O(d) per row
// (d = 50 000 for text), so it uses |x|^2 - 2 x.c + |c|^2 in double (|x|^2 precomputed, x.c
// over the stored values, |c|^2 once per pass, each summed in increasing column order),
// clamped at 0 and rounded to float32. It is as accurate as the dense float32 value or more,
// but not bitwise equal to it: objectives agree within float32 rounding. A row equal to its
// center gets exactly 0 (the three sums are then the same double), as in the dense pass.
// (Computing the dense pass's float32 value would cost O(d) per row, 1000 times the stored
// values of a TF-IDF row.) One consequence: an empty cluster takes the farthest row by these
// distances, so where two candidate rows are within float32 rounding of each other the sparse
// and dense runs may relocate different rows and part from there (not seen on MNIST).
//
// Sums. A cluster's sums are added chunk by chunk as the dense pass adds them (each chunk's
// rows in row order from zero, then the chunks in order, with the same fused or unfused
// multiply-add per value as add_row in isa/simd.hpp), so they are bitwise equal to the dense
// pass's, and the centers of the same labels are too.
#pragma once

#include <cstdint>

#include "chunk.hpp"

namespace kmeans {

// One chunk of rows of a sparse pass.
struct SparseChunkArgs {
    const std::int64_t* indptr;     // in:  (rows + 1) offsets of the chunk's rows into indices / data
    const std::int32_t* indices;    // in:  column of each stored value, increasing within a row
    const float* data;              // in:  the stored values
    index_t rows;
    index_t d;
    index_t k;
    const float* centers_t;         // in:  (d, k_pad) the centers transposed: column j's k_pad values
    index_t k_pad;                  //      k rounded up to kCenterGroup
    const float* center_sqnorm;     // in:  (k_pad) |c|^2 rounded to float as pack_centers does,
                                    //      +inf for the padding
    const double* center_sqnorm_d;  // in:  (k) |c|^2 in double, summed in column order
    const float* centers;           // in:  (k, d) row-major
    const double* x_sqnorm;         // in:  (rows) |x|^2 in double, summed in column order
    const double* weights;          // in:  (rows) or nullptr for all ones
    bool keep_labels;               // in:  labels are given: only the distances (a refresh)
    std::int32_t* labels;           // out: (rows) nearest center, lowest index on ties
    float* sq_dist;                 // out: (rows) squared distance to it
    double inertia;                 // out: sum of w * sq_dist over the chunk, in row order
    double j_clust;                 // out: sum of w * sqrt(sq_dist), in row order
};

using SparseChunkFn = void (*)(SparseChunkArgs& args);

// The rows of one cluster, added to its sums as a dense pass adds them: each chunk of
// chunk_rows rows from zero, then into sum and weight_sum, chunk after chunk.
struct SparseSumArgs {
    const std::int64_t* indptr;     // in:  (n + 1) of all rows
    const std::int32_t* indices;
    const float* data;
    const double* weights;          // in:  (n) or nullptr
    index_t chunk_rows;
    const index_t* rows;            // in:  (m) the cluster's rows, increasing
    index_t m;
    double* sum;                    // in/out: (d) the cluster's sums, added into
    double* weight_sum;             // in/out: the cluster's weight, added into
    double* partial;                // scratch: (d) zeros on entry, zeros on return
    std::int32_t* touched;          // scratch: (d)
    std::uint8_t* marked;           // scratch: (d) zeros on entry, zeros on return
};

using SparseSumFn = void (*)(SparseSumArgs& args);

}  // namespace kmeans
