// One Lloyd step, after an assignment pass: the cluster sums and weights of the pass and the
// previous centers -> relocation of empty clusters, new centers, their squared shift, and the
// stopping rule. lloyd_run calls it after every pass; a distributed driver calls it with the
// sums reduced over its blocks and the relocation candidates merged from its blocks (the
// Python binding: _kernel.lloyd_step). It does not care which algorithm made the pass.
//
// The rule (python/mnist_kmeans/reference.py keeps an independent copy: the oracle):
//   * no label changed since the previous pass and nothing was relocated after it: the
//     centers are the means of their clusters, a fixed point - converged, the pass's labels,
//     distances and objectives are final, the centers are not updated;
//   * otherwise each cluster with no weight (in index order) takes the first candidate row,
//     in priority order (largest squared distance, lowest row index on ties; only rows with
//     squared distance > 0 and weight > 0), whose own cluster keeps weight after it leaves
//     (its weight moves with it; a row that would empty its cluster is skipped); a cluster
//     that finds none keeps its center. Each cluster with weight moves to its weighted mean
//     (float32 of the double quotient, or the quotient itself for double centers); the
//     shift is sum (new - old)^2 in double;
//   * shift <= tol: converged (at tol = 0: no center moved, as scikit-learn's rule, so n_iter
//     matches scikit-learn's); or the pass was the max_iter-th: stop. Either way the centers
//     may have moved after the pass: one more assignment pass (not counted) makes the labels,
//     distances and objectives describe the returned centers.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "chunk.hpp"

namespace kmeans {

// The step is written once for the value type T of the data and the centers: float (the
// default path) or double (float64 input, see lloyd.hpp); the sums are double either way.

// A row that may take an empty cluster.
template <class T>
struct CandidateOf {
    index_t row;         // its index (reported in the moves)
    std::int32_t label;  // its cluster in the pass
    double weight;       // its weight (> 0)
    const T* x;          // its d values; or, with columns, its nnz stored values
    // A sparse row (sparse.hpp, float only): the columns of its nnz stored values,
    // increasing; nullptr for a dense row. The step's arithmetic is the same (the other
    // columns are zeros).
    const std::int32_t* columns = nullptr;
    index_t nnz = 0;
};

// Candidates in priority order. complete: every row with squared distance > 0 and weight > 0
// is listed; otherwise the list is a prefix of the full order.
template <class T>
struct CandidateListOf {
    std::vector<CandidateOf<T>> rows;
    bool complete = true;
};

// Gives the candidates, at least `wanted` of them where there are that many (wanted < 0: all
// of them). The step calls it only when a cluster is empty, and at most twice (wanted = the
// number of empty clusters + k, then, if that list ran out before every empty cluster was
// served and it was not complete, wanted = -1). (A struct, not an alias, so that lloyd_step's
// T is deduced from its centers alone and a lambda converts.)
template <class T>
struct CandidateSourceOf {
    using type = std::function<CandidateListOf<T>(index_t wanted)>;
};

using Candidate = CandidateOf<float>;
using CandidateList = CandidateListOf<float>;
using CandidateSource = CandidateSourceOf<float>::type;

// The rows of a pass that may take an empty cluster, in priority order (largest sq_dist,
// lowest index on ties; only sq_dist > 0 and weight > 0; weights nullptr: all 1): the first
// `limit` of them (limit < 0: all) into out. O(n + m log m) for m listed. Returns true when
// every such row is listed. T: float or double.
template <class T>
bool relocation_candidates(const T* sq_dist, const double* weights, index_t n, index_t limit,
                           std::vector<index_t>& out);

// The candidates of a single machine's pass over X (n x d): relocation_candidates with the
// rows' labels, weights and values.
template <class T>
CandidateListOf<T> candidates_of(const T* X, index_t n, index_t d, const double* weights,
                                 const std::int32_t* labels, const T* sq_dist, index_t limit);

// A row moved to an empty cluster.
struct Move {
    index_t row;
    std::int32_t from, to;
};

struct StepInput {
    index_t k, d;
    index_t n_changed;    // rows whose label differs from the previous pass's (after its
                          // moves); anything > 0 at the first pass
    bool relocated_last;  // the previous step moved rows
    int iteration;        // passes run, this one included (1, 2, ...)
    int max_iter;
    double tol;           // 0: stop at a fixed point or when no center moved (or max_iter)
};

struct StepResult {
    bool converged = false;   // a fixed point (final_pass false), or shift <= tol (true;
                              // at tol = 0: no center moved)
    bool final_pass = false;  // stop after one more assignment pass with the new centers
    double shift = 0.0;       // sum over clusters of the squared distance each center moved
    std::vector<Move> moves;  // rows moved to empty clusters, in the order they moved
    // The candidate list ran out before every empty cluster was served and was not complete:
    // nothing was changed (centers, sums and weights are as on entry); call again with more.
    bool candidates_exhausted = false;
};

// One step. centers (k x d): the centers of the pass on entry, the new ones on return. sums
// (k x d) and weight_sums (k): the pass's, on return after the moves. The caller applies the
// moves to its labels (and forgets the bounds of the moved rows).
// T: float (new centers: float32 of the double quotient) or double (the quotient itself).
template <class T>
StepResult lloyd_step(const StepInput& in, T* centers, double* sums, double* weight_sums,
                      const typename CandidateSourceOf<T>::type& candidates);

// Compiled once, in step.cpp, for float and double.
extern template bool relocation_candidates<float>(const float*, const double*, index_t, index_t,
                                                  std::vector<index_t>&);
extern template bool relocation_candidates<double>(const double*, const double*, index_t, index_t,
                                                   std::vector<index_t>&);
extern template CandidateListOf<float> candidates_of<float>(const float*, index_t, index_t,
                                                            const double*, const std::int32_t*,
                                                            const float*, index_t);
extern template CandidateListOf<double> candidates_of<double>(const double*, index_t, index_t,
                                                              const double*, const std::int32_t*,
                                                              const double*, index_t);
extern template StepResult lloyd_step<float>(const StepInput&, float*, double*, double*,
                                             const CandidateSourceOf<float>::type&);
extern template StepResult lloyd_step<double>(const StepInput&, double*, double*, double*,
                                              const CandidateSourceOf<double>::type&);

}  // namespace kmeans
