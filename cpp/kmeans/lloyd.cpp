// The run loop: a pass (passes.hpp), then a Lloyd step (step.hpp), until the step says stop.
#include "lloyd.hpp"

#include <cstring>
#include <vector>

#include "passes.hpp"
#include "passes64.hpp"
#include "step.hpp"

namespace kmeans {
namespace {

// The loop, for any pass object (Passes on float32 rows, SparsePasses on CSR rows, Passes64
// on float64 rows) with its outputs type Out and value type T; candidates(wanted): the
// relocation candidates of the rows (with the labels and sq_dist of the last pass,
// refreshed after a lean pass).
template <class Out, class T, class P, class Candidates>
RunStats run_loop(P& passes, index_t n, index_t d, index_t k, T* centers,
                  std::int32_t* labels, T* sq_dist, const RunOptions& options,
                  const std::function<bool()>& should_stop,
                  const Candidates& candidates_of_rows) {
    RunStats run;
    std::vector<double> sums(static_cast<size_t>(k * d));
    std::vector<double> weight_sums(static_cast<size_t>(k));
    std::vector<std::int32_t> previous(static_cast<size_t>(n), -1);  // every row changes at first
    const Out out{labels, sq_dist, sums.data(), weight_sums.data()};
    const bool lean = !options.record_history;
    bool relocated_last = false;
    bool strict = false;  // converged at a fixed point: the last pass's outputs are final
    for (int it = 0; it < options.max_iter; ++it) {
        if (should_stop && should_stop()) {
            run.interrupted = true;
            return run;
        }
        if (options.thread_count) passes.set_threads(*options.thread_count);
        const PassStats pass = passes.run(centers, out, lean);
        run.rows_scored.push_back(pass.rows_scored);
        run.pass_kinds.push_back(pass.kind);
        run.pass_seconds.push_back(pass.seconds);
        if (options.record_history) {
            run.inertia_history.push_back(pass.inertia);
            run.j_clust_history.push_back(pass.j_clust);
        }
        run.n_iter = it + 1;
        // The candidates for empty clusters: every row of this pass, whose distances must then
        // be the pass's (a lean pass left some stale).
        bool refreshed = false;
        auto candidates = [&](index_t wanted) {
            if (pass.lean && !refreshed) {
                passes.refresh(centers, labels, sq_dist);
                refreshed = true;
            }
            return candidates_of_rows(wanted);
        };
        const StepInput in{k, d, count_changed(previous.data(), labels, n), relocated_last,
                           it + 1, options.max_iter, options.tol};
        const StepResult step = lloyd_step(in, centers, sums.data(), weight_sums.data(), candidates);
        if (step.converged && !step.final_pass) {
            strict = true;
            run.converged = true;
            const PassStats last = pass.lean ? passes.refresh(centers, labels, sq_dist) : pass;
            run.inertia = last.inertia;
            run.j_clust = last.j_clust;
            break;
        }
        for (const Move& m : step.moves) {
            labels[m.row] = m.to;
            passes.forget(m.row);
        }
        run.n_relocated += static_cast<index_t>(step.moves.size());
        relocated_last = !step.moves.empty();
        std::memcpy(previous.data(), labels, sizeof(std::int32_t) * n);
        if (step.final_pass) {
            run.converged = step.converged;
            break;
        }
    }
    if (!strict) {
        // The centers moved after the last pass: one more assignment so that labels, distances
        // and the objective describe the returned centers (not counted as an iteration).
        if (should_stop && should_stop()) {
            run.interrupted = true;
            return run;
        }
        if (options.thread_count) passes.set_threads(*options.thread_count);
        const PassStats pass = passes.plain(centers, Out{labels, sq_dist});
        run.inertia = pass.inertia;
        run.j_clust = pass.j_clust;
    }
    return run;
}

}  // namespace

RunStats run_passes(PassRunner& passes, index_t n, index_t d, index_t k, float* centers,
                    std::int32_t* labels, float* sq_dist, const RunOptions& options,
                    const std::function<bool()>& should_stop,
                    const std::function<CandidateList(index_t wanted)>& candidates) {
    return run_loop<PassOutputs>(passes, n, d, k, centers, labels, sq_dist, options, should_stop,
                                 candidates);
}

RunStats lloyd_run(const float* X, index_t n, index_t d, index_t k, const double* weights,
                   float* centers, std::int32_t* labels, float* sq_dist,
                   const RunOptions& options, const std::function<bool()>& should_stop) {
    Passes passes(Rows{X, n, d, weights}, k, options.algorithm, options.n_threads, options.adaptive,
                  options.schedule, options.row_facts);
    return run_loop<PassOutputs>(passes, n, d, k, centers, labels, sq_dist, options, should_stop,
                                 [&](index_t wanted) {
                                     return candidates_of(X, n, d, weights, labels, sq_dist,
                                                          wanted);
                                 });
}

RunStats lloyd_run(const double* X, index_t n, index_t d, index_t k, const double* weights,
                   double* centers, std::int32_t* labels, double* sq_dist,
                   const RunOptions& options, const std::function<bool()>& should_stop) {
    Passes64 passes(X, n, d, weights, k, options.n_threads);
    return run_loop<PassOutputs64>(passes, n, d, k, centers, labels, sq_dist, options,
                                   should_stop, [&](index_t wanted) {
                                       return candidates_of(X, n, d, weights, labels, sq_dist,
                                                            wanted);
                                   });
}

}  // namespace kmeans
