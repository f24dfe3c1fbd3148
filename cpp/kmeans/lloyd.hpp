// Lloyd's k-means on float32 rows (and on float64 rows, in float64): one assignment pass, and
// a whole run of passes.
//
// These functions validate nothing: shapes, finiteness, k <= n and non-negative weights are
// the caller's job (the Python layer checks them once per fit). Every buffer is allocated by
// the caller except small per-thread scratch, and no exception is thrown inside a parallel
// region.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "chunk.hpp"

namespace kmeans {

class RowFacts;

// Rows per chunk: the unit of parallel work and of the fixed-order reduction. Results depend
// on this constant, never on the number of threads.
constexpr index_t kChunkRows = 512;

// True when the library was built with OpenMP.
bool has_openmp();

// omp_get_max_threads() (1 without OpenMP): respects OMP_NUM_THREADS and threadpoolctl.
int max_threads();

struct PassStats {
    double inertia = 0.0;    // sum of w * squared distance to the nearest center
    double j_clust = 0.0;    // sum of w * distance (the notebook's J_clust)
    index_t rows_scored = 0; // rows scored against every center (see RunStats::rows_scored)
    bool lean = false;       // a lean pass (see RunOptions): no objectives, some sq_dist stale
    char kind = 'L';         // what ran: 'L' every row against every center, 'H' Hamerly,
                             // 'Y' Yinyang, 'E' Elkan
    double seconds = 0.0;    // its wall-clock time (lloyd_run's passes)
};

// One pass over X (n x d): nearest center (lowest index on ties) and squared distance of
// every row; when sums is not null, also the weighted per-cluster row sums (k x d, double)
// and weights (k); when chunk_inertia and chunk_j_clust are not null, the objectives of each
// chunk of kChunkRows rows (ceil(n / kChunkRows) each). Partial results of the chunks are
// added in chunk order (starting from 0), so the output is bitwise identical for any
// n_threads, and a caller that adds the chunk objectives of several passes over consecutive
// blocks of rows (each a multiple of kChunkRows rows but the last) in that order gets the
// objective of one pass over all of them, bit for bit.
PassStats assign_pass(const float* X, index_t n, index_t d, const float* centers, index_t k,
                      const double* weights, std::int32_t* labels, float* sq_dist,
                      double* sums, double* weight_sums, int n_threads,
                      double* chunk_inertia = nullptr, double* chunk_j_clust = nullptr);

// The same pass on float64 rows and centers, computed in float64 (passes64.hpp).
PassStats assign_pass(const double* X, index_t n, index_t d, const double* centers, index_t k,
                      const double* weights, std::int32_t* labels, double* sq_dist,
                      double* sums, double* weight_sums, int n_threads,
                      double* chunk_inertia = nullptr, double* chunk_j_clust = nullptr);

// Rows i with previous[i] != labels[i].
index_t count_changed(const std::int32_t* previous, const std::int32_t* labels, index_t n);

// How a run finds each row's nearest center. Every algorithm gives the same labels, centers,
// objectives and iteration count, bit for bit: the bounded ones only skip the (row, center)
// scores that cannot change the label, with margins for the rounding of the scores (see
// bound_math.hpp).
enum class Algorithm {
    lloyd,    // every row against every center, every pass
    hamerly,  // Hamerly's bounds: one lower bound per row (8 bytes a row)
    yinyang,  // plus one bound per row and unit of 16 close centers (see grouped.hpp)
    elkan,    // plus one bound per row and center (4 * k bytes a row)
};

// Bytes of the lower bounds an algorithm keeps for n rows and k centers: Hamerly one double
// per row, Yinyang one float per row and unit of kUnitCenters centers, Elkan one float per row
// and center, Lloyd none. (The bounded algorithms also keep an upper bound and |x|^2 per row:
// 16 bytes a row more.)
std::size_t bound_bytes(Algorithm algorithm, index_t n, index_t k);

struct RunOptions {
    int max_iter = 300;  // passes at most
    double tol = 0.0;    // stop when the squared center shift is <= tol (also at 0, see step.hpp)
    int n_threads = 1;   // OpenMP threads for each pass
    Algorithm algorithm = Algorithm::lloyd;
    // false: no per-iteration objectives (RunStats::inertia_history and j_clust_history stay empty), which
    // lets the bounded algorithms skip rows without reading them: a row whose carried upper
    // bound (its last distance plus its center's drift) already proves its label is not read
    // at all. Only with exact incremental sums (see row_facts.hpp); labels, centers, the final
    // distances and objectives and n_iter are the same either way.
    bool record_history = true;
    // When not null: read after each should_stop() call (on the calling thread, so should_stop
    // may update it), the threads of the passes from then on (a driver that runs several runs
    // at once hands a finished run's threads to one still running). Results do not depend on it.
    const int* thread_count = nullptr;
    // 'auto': each pass is either a full pass (as lloyd, which also starts the bounds of every
    // row from its second smallest score) or a pass of `algorithm` (hamerly, yinyang or
    // elkan), chosen from what the run measures: full passes while many labels change, the
    // bounds once they are cheaper. The results are the same whatever the choices.
    bool adaptive = false;
    // Tests only (with adaptive): the kind of each pass, 'f' full or 'b' bounded, the last
    // one repeated for the passes after; empty: chosen by measurement.
    std::string schedule;
    // When not null and describing X (RowFacts::describes): the row facts of X, computed once
    // by a caller that runs several runs on the same X (restarts), instead of once per run.
    // Results do not depend on it. Float32 runs only.
    const RowFacts* row_facts = nullptr;
};

struct RunStats {
    std::vector<double> inertia_history;  // per iteration: inertia of the assignment to its centers
    std::vector<double> j_clust_history;  // per iteration: J_clust of the same assignment
    double inertia = 0.0;                 // of the returned labels and centers
    double j_clust = 0.0;
    int n_iter = 0;
    bool converged = false;
    index_t n_relocated = 0;        // empty clusters moved to the farthest point
    bool interrupted = false;       // should_stop returned true; outputs are incomplete
    std::vector<index_t> rows_scored;  // per iteration: rows scored against every center (for
                                       // yinyang and elkan: scores computed / k, rounded up)
    std::string pass_kinds;            // per iteration: PassStats::kind
    std::vector<double> pass_seconds;  // per iteration: the pass's wall-clock time
};

// Lloyd iterations from the given centers until no label changes (or the shift is <= tol,
// or max_iter passes): after each pass, one lloyd_step (step.hpp: the center update, the
// relocation of empty clusters and the stopping rule). centers holds the initial centers on
// entry and the final ones on return; labels and sq_dist receive the final assignment, always
// consistent with the returned centers. should_stop is called before each pass (may be
// empty). No center is ever NaN.
RunStats lloyd_run(const float* X, index_t n, index_t d, index_t k, const double* weights,
                   float* centers, std::int32_t* labels, float* sq_dist,
                   const RunOptions& options, const std::function<bool()>& should_stop);

// The same run on float64 rows and centers, computed in float64 (passes64.hpp), with the same
// Lloyd step. options.algorithm is honoured by its results: every algorithm runs as Lloyd
// passes here (they give Lloyd's results bit for bit); RunStats::rows_scored is n per pass.
RunStats lloyd_run(const double* X, index_t n, index_t d, index_t k, const double* weights,
                   double* centers, std::int32_t* labels, double* sq_dist,
                   const RunOptions& options, const std::function<bool()>& should_stop);

}  // namespace kmeans
