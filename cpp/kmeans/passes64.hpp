// The passes of a run on float64 rows (private to the kernel): float64 input is computed in
// float64, scores, distances and sums alike. The same structure as the float32 passes
// (passes.hpp): chunks of kChunkRows rows whose results are added in chunk order, so the
// output does not depend on the thread count; lowest center index on ties. One portable chunk
// kernel (passes64.cpp, vectorised by the compiler; an AVX2 copy of the same code where GCC
// can build one) instead of the per-ISA kernels of the float32 path, and no bounds: every
// algorithm runs as Lloyd passes on float64 (the bounded ones give Lloyd's results bit for
// bit on float32, so the results are those of the algorithm asked for; only the time differs).
#pragma once

#include <cstdint>
#include <vector>

#include "chunk.hpp"
#include "lloyd.hpp"

namespace kmeans {

// What a float64 pass writes: as PassOutputs (passes.hpp), with float64 distances.
struct PassOutputs64 {
    std::int32_t* labels;
    double* sq_dist;
    double* sums = nullptr;
    double* weight_sums = nullptr;
    double* chunk_inertia = nullptr;
    double* chunk_j_clust = nullptr;
};

// The passes of one run over the same float64 rows X (n x d, row-major; weights nullptr: all
// ones), with the interface of Passes that the run loop (lloyd.cpp) uses.
class Passes64 {
public:
    Passes64(const double* X, index_t n, index_t d, const double* weights, index_t k, int n_threads);
    void set_threads(int n_threads) { n_threads_ = n_threads > 0 ? n_threads : 1; }

    // Every row against every center (whatever algorithm was asked for; never lean).
    PassStats run(const double* centers, const PassOutputs64& out, bool /*lean*/) {
        return plain(centers, out);
    }
    PassStats plain(const double* centers, const PassOutputs64& out);

    // Distances of every row to its labelled center, and the objectives.
    PassStats refresh(const double* centers, std::int32_t* labels, double* sq_dist);

    // No bounds to forget.
    void forget(index_t /*row*/) {}

private:
    PassStats pass(const double* centers, const PassOutputs64& out, bool refresh_only);

    const double* X_;
    index_t n_, d_, k_;
    const double* weights_;
    int n_threads_;
    std::vector<double> centers_t_, sqnorm_, slot_sums_, slot_w_;
    std::vector<std::int32_t> columns_;  // per thread: nonzero spans of columns
};

}  // namespace kmeans
