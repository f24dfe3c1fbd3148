// k-means over sparse rows (CSR: row offsets, column indices, float32 values), never densified.
//
// The same passes and the same run loop as dense rows (lloyd.hpp): a pass in chunks of
// kChunkRows rows whose results are combined in chunk order (so nothing depends on the thread
// count), then lloyd_step (step.hpp) with the rows' own relocation candidates. On the same
// data the labels, n_iter and centers equal the dense run's bit for bit, and the distances and
// objectives agree within float32 rounding (the arithmetic: sparse_chunk.hpp).
//
// Every algorithm runs Lloyd passes on sparse rows (the bounded ones give the same results by
// design; their chunk kernels read dense rows).
//
// As the dense functions, these validate nothing (check_csr does, for the bindings).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "lloyd.hpp"
#include "passes.hpp"
#include "sparse_chunk.hpp"

namespace kmeans {

// n rows of d columns in CSR form: row i's values are data[indptr[i] .. indptr[i + 1]) at
// columns indices[...], strictly increasing within a row (sorted, no duplicates), in [0, d).
struct SparseRows {
    const std::int64_t* indptr;  // (n + 1)
    const std::int32_t* indices;
    const float* data;
    index_t n, d;
    const double* weights;       // (n), nullptr: all ones
};

// "" when indptr (n + 1 entries, non-decreasing from indptr[0] >= 0 to indptr[n] <= nnz)
// and indices (increasing within each row, in [0, d)) describe valid CSR rows; else what is
// wrong. O(n + nnz).
std::string check_csr(const std::int64_t* indptr, const std::int32_t* indices, index_t n,
                      index_t d, index_t nnz);

// One pass over sparse rows: as assign_pass (lloyd.hpp).
PassStats sparse_assign_pass(const SparseRows& rows, const float* centers, index_t k,
                             std::int32_t* labels, float* sq_dist, double* sums,
                             double* weight_sums, int n_threads, double* chunk_inertia = nullptr,
                             double* chunk_j_clust = nullptr);

// A run over sparse rows: as lloyd_run (lloyd.hpp), with Lloyd passes whatever
// options.algorithm says.
RunStats sparse_lloyd_run(const SparseRows& rows, index_t k, float* centers,
                          std::int32_t* labels, float* sq_dist, const RunOptions& options,
                          const std::function<bool()>& should_stop);

// The passes of one run over sparse rows: |x|^2 of every row computed once, the buffers kept
// from pass to pass.
class SparsePasses : public PassRunner {
public:
    SparsePasses(const SparseRows& rows, index_t k, int n_threads);
    void set_threads(int n_threads) override { n_threads_ = n_threads > 0 ? n_threads : 1; }

    PassStats run(const float* centers, const PassOutputs& out, bool lean) override;
    PassStats plain(const float* centers, const PassOutputs& out) override;
    PassStats refresh(const float* centers, std::int32_t* labels, float* sq_dist) override;
    void forget(index_t) override {}

    // Relocation candidates of the last pass (labels, sq_dist): as candidates_of, each
    // candidate carrying its sparse row.
    CandidateList candidates(const std::int32_t* labels, const float* sq_dist, index_t limit) const;

private:
    PassStats pass(const float* centers, const PassOutputs& out, bool keep_labels);
    void accumulate(const std::int32_t* labels, double* sums, double* weight_sums);

    SparseRows rows_;
    index_t k_, k_pad_;
    int n_threads_;
    std::vector<double> x_sqnorm_, center_sqnorm_d_, chunk_inertia_, chunk_j_clust_;
    std::vector<float> centers_t_, center_sqnorm_;
    std::vector<index_t> order_, starts_;           // rows grouped by cluster
    std::vector<double> partial_;                   // per thread: d
    std::vector<std::int32_t> touched_;             // per thread: d
    std::vector<std::uint8_t> marked_;              // per thread: d
};

}  // namespace kmeans
