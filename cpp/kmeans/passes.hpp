// The passes of a run (private to the kernel): one pass over X in chunks of kChunkRows rows,
// with the chunk kernel of an algorithm, the chunks' results added in chunk order. Used by
// assign_pass and lloyd_run (lloyd.hpp).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
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

// How 'auto' chooses the kind of each pass (RunOptions::adaptive): what it has measured.
//
// A full pass (every row against every center, also keeping each row's second smallest
// score, and for Yinyang each unit's smallest) costs about the same every time: t_full, the
// fastest measured. It starts the bounds of every row; with the drifts of the next centers
// they predict the share s of the scores a bounded pass would compute. A bounded pass is
// modelled as overhead + s t_full (what it scores costs what a full pass spends on it), the
// overhead measured from the last bounded pass that followed a full pass, as its time less
// s t_full with the s predicted for it (so it also absorbs the bias of the prediction, which
// leaves out the gaps and the tighter bounds of the rows the pass reads). Until one has run,
// the overhead is taken as 0: the first bounded pass is a probe, run as soon as the bounds
// predict any saving; if it is slower than a full pass, full passes resume at once, and the
// model has the measured overhead from then on (a fixed guess would be tuned to one CPU: on
// 2 AVX2 cores, t_full / 2 left passes 2-7 full where bounded ones were up to 15% faster).
// Full passes run while the model says they are cheaper; bounded passes run until two in a
// row are measured slower than a full pass by more than 10% (room for the noise of a shared
// machine's clock: a switch back drops Yinyang's unit bounds and Hamerly's gaps, which a
// later switch must rebuild).
struct PassChoice {
    double t_full = -1.0;      // seconds of the fastest full pass so far (< 0: none yet)
    double overhead = -1.0;    // seconds: see above (< 0: none yet)
    double predicted = -1.0;   // s predicted for the pass about to run (< 0: none)
    double t_bounded = -1.0;   // seconds of the last bounded pass
    bool last_bounded = false; // the last pass was bounded
    int slow_bounded = 0;      // bounded passes in a row slower than 1.1 t_full
    bool seeded = false;       // a full pass started the bounds since
};

// The passes of one run of an algorithm over the same rows, with the buffers, the facts about
// the rows and the algorithm's bounds kept from pass to pass. Each call is one pass; the run
// loop (lloyd_run) only sees this interface.
class Passes : public PassRunner {
public:
    // adaptive: 'auto', full passes or passes of the bounded algorithm, chosen per pass (see
    // PassChoice). schedule (tests; needs adaptive): the kind of each pass, 'f' (full) or 'b'
    // (bounded), the last one repeated; empty: measured.
    // facts: the RowFacts of these rows computed by the caller (shared by several runs on the
    // same X), or null to compute them here when the algorithm needs them.
    Passes(const Rows& rows, index_t k, Algorithm algorithm, int n_threads, bool adaptive = false,
           std::string schedule = {}, const RowFacts* facts = nullptr);

    // One pass with these centers: the outputs of a plain pass bit for bit, whatever the
    // algorithm. lean: see RunOptions::record_history (then PassStats::lean says whether the
    // pass was lean: only with exact incremental sums). PassStats::kind and seconds say what
    // ran and how long it took.
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
    // A plain pass that also starts the bounds of every row (adaptive runs).
    PassStats full(const float* centers, const PassOutputs& out);
    // Whether the next pass (with these centers, the rows labelled so) is to be bounded.
    bool choose_bounded(const float* centers, const std::int32_t* labels);

    Rows rows_;
    index_t k_;
    int n_threads_;
    char kind_;  // of the bounded passes: 'H', 'Y', 'E' ('L' for lloyd)
    bool adaptive_;
    std::string schedule_;
    index_t n_passes_ = 0;
    PassChoice choice_;
    std::vector<float> seed_centers_;  // adaptive: the centers of the last full pass
    std::vector<double> drift_;        // adaptive: how far each center moved since
    PassScratch scratch_;
    std::unique_ptr<RowFacts> own_facts_;  // when the caller gave none
    const RowFacts* facts_ = nullptr;      // the bounded algorithms only
    std::unique_ptr<HamerlyBounds> hamerly_;
    std::unique_ptr<GroupBounds> groups_;
};

}  // namespace kmeans
