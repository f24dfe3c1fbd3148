// The passes of a run (private to the kernel): one pass over X in chunks of kChunkRows rows,
// with the chunk kernel of an algorithm, the chunks' results added in chunk order. Used by
// assign_pass and lloyd_run (lloyd.hpp).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "chunk.hpp"
#include "grouped.hpp"
#include "hamerly.hpp"
#include "lloyd.hpp"
#include "row_facts.hpp"
#include "step.hpp"

namespace kmeans {

// The rows a run reads: X (n x d, row-major) and their weights (nullptr: all ones).
struct Rows {
    const float* X;
    index_t n, d;
    const double* weights;
};

// What a pass writes. labels (on entry: the previous labels, for the bounded algorithms) and
// sq_dist of every row; with sums (not null), the per-cluster sums (k x d) and weights (k);
// with chunk_inertia and chunk_j_clust (not null), each chunk's partial objectives
// (ceil(n / kChunkRows) each, in chunk order).
struct PassOutputs {
    std::int32_t* labels;
    float* sq_dist;
    double* sums = nullptr;
    double* weight_sums = nullptr;
    double* chunk_inertia = nullptr;
    double* chunk_j_clust = nullptr;
};

// Buffers of the passes of one run, kept from pass to pass: a pass of a large k would
// otherwise spend a few percent of its time on fresh pages (the slot sums are k * d doubles
// per slot). The slot buffers are all zeros between passes: a merge clears what it added.
struct PassScratch {
    std::vector<float> sqnorm, centers_t, ordered, best;
    std::vector<std::int32_t> lists;
    std::vector<double> slot_sums, slot_w;
    std::vector<std::uint8_t> slot_touched;
    // bounded and grouped kernels, per thread
    std::vector<const float*> row_ptrs;
    std::vector<std::int32_t> row_index, previous;
    std::vector<float> second, unit_min, raw;
    std::vector<std::uint32_t> row_groups;
    std::vector<std::uint8_t> need, column_masks;
};

// What the run loop (run_passes) needs of the passes of one run: dense rows (Passes, below)
// or sparse ones (SparsePasses, sparse.hpp). Each call is one pass.
class PassRunner {
public:
    virtual ~PassRunner() = default;
    virtual PassStats run(const float* centers, const PassOutputs& out, bool lean) = 0;
    virtual PassStats plain(const float* centers, const PassOutputs& out) = 0;
    virtual PassStats refresh(const float* centers, std::int32_t* labels, float* sq_dist) = 0;
    virtual void forget(index_t row) = 0;
    // The thread count of the next passes (results do not depend on it).
    virtual void set_threads(int n_threads) = 0;
};

// The run loop of lloyd_run (lloyd.hpp) over any passes of n rows of d columns: a pass, then
// a lloyd_step, until it says stop. candidates(wanted): the relocation candidates of the rows
// (called with the labels and sq_dist of the last pass, refreshed after a lean pass).
RunStats run_passes(PassRunner& passes, index_t n, index_t d, index_t k, float* centers,
                    std::int32_t* labels, float* sq_dist, const RunOptions& options,
                    const std::function<bool()>& should_stop,
                    const std::function<CandidateList(index_t wanted)>& candidates);

// The passes of one run of an algorithm over the same rows, with the buffers, the facts about
// the rows and the algorithm's bounds kept from pass to pass. Each call is one pass; the run
// loop (lloyd_run) only sees this interface.
class Passes : public PassRunner {
public:
    Passes(const Rows& rows, index_t k, Algorithm algorithm, int n_threads);

    // One pass with these centers: the outputs of a plain pass bit for bit, whatever the
    // algorithm. lean: see RunOptions::record_history (then PassStats::lean says whether the
    // pass was lean: only with exact incremental sums).
    PassStats run(const float* centers, const PassOutputs& out, bool lean) override;

    // A plain pass (every row against every center), whatever the algorithm.
    PassStats plain(const float* centers, const PassOutputs& out) override;

    // Distances of every row to its labelled center, and the objectives: what the pass that
    // chose these labels would have reported (after lean passes, which leave some stale).
    PassStats refresh(const float* centers, std::int32_t* labels, float* sq_dist) override;

    // A row's label changed outside a pass (empty-cluster relocation): forget its bounds.
    void forget(index_t row) override;

    // The threads of the next passes (the scratch grows as needed; results do not change).
    void set_threads(int n_threads) override { n_threads_ = n_threads > 0 ? n_threads : 1; }

private:
    PassStats bounded(const float* centers, const PassOutputs& out, bool lean);
    PassStats grouped(const float* centers, const PassOutputs& out, bool lean);

    Rows rows_;
    index_t k_;
    int n_threads_;
    PassScratch scratch_;
    std::unique_ptr<RowFacts> facts_;  // the bounded algorithms only
    std::unique_ptr<HamerlyBounds> hamerly_;
    std::unique_ptr<GroupBounds> groups_;
};

}  // namespace kmeans
