#include "step.hpp"

#include <algorithm>

namespace kmeans {

template <class T>
bool relocation_candidates(const T* sq_dist, const double* weights, index_t n, index_t limit,
                           std::vector<index_t>& out) {
    out.clear();
    for (index_t i = 0; i < n; ++i) {
        const double w = weights ? weights[i] : 1.0;
        if (sq_dist[i] > T(0) && w > 0.0) out.push_back(i);
    }
    // a strict total order: the first `limit` of a full sort, found in O(n)
    auto before = [sq_dist](index_t a, index_t b) {
        return sq_dist[a] != sq_dist[b] ? sq_dist[a] > sq_dist[b] : a < b;
    };
    const bool complete = limit < 0 || static_cast<index_t>(out.size()) <= limit;
    if (!complete) {
        std::nth_element(out.begin(), out.begin() + limit, out.end(), before);
        out.resize(static_cast<size_t>(limit));
    }
    std::sort(out.begin(), out.end(), before);
    return complete;
}

template <class T>
CandidateListOf<T> candidates_of(const T* X, index_t n, index_t d, const double* weights,
                                 const std::int32_t* labels, const T* sq_dist, index_t limit) {
    std::vector<index_t> rows;
    CandidateListOf<T> list;
    list.complete = relocation_candidates(sq_dist, weights, n, limit, rows);
    list.rows.reserve(rows.size());
    for (const index_t i : rows) {
        list.rows.push_back(CandidateOf<T>{i, labels[i], weights ? weights[i] : 1.0, X + i * d});
    }
    return list;
}

namespace {

// The moves of the empty clusters (in index order) to the first candidates that can leave
// their clusters, against a copy of the weights; chosen: each move's position in the list.
// Returns false when the list ran out first (every later empty cluster then finds none).
template <class T>
bool plan_moves(const std::vector<index_t>& empty, const CandidateListOf<T>& list,
                const double* weight_sums, index_t k, std::vector<Move>& moves,
                std::vector<size_t>& chosen) {
    std::vector<double> weight(weight_sums, weight_sums + k);
    moves.clear();
    chosen.clear();
    size_t next = 0;
    for (const index_t e : empty) {
        bool found = false;
        while (next < list.rows.size() && !found) {
            const CandidateOf<T>& c = list.rows[next++];
            if (!(weight[c.label] - c.weight > 0.0)) continue;  // it would empty its own cluster
            weight[c.label] -= c.weight;
            weight[e] = c.weight;
            moves.push_back(Move{c.row, c.label, static_cast<std::int32_t>(e)});
            chosen.push_back(next - 1);
            found = true;
        }
        if (!found) return false;
    }
    return true;
}

}  // namespace

template <class T>
StepResult lloyd_step(const StepInput& in, T* centers, double* sums, double* weight_sums,
                      const typename CandidateSourceOf<T>::type& candidates) {
    const index_t k = in.k, d = in.d;
    StepResult step;
    // Same labels as the pass before and no relocation since: the centers are the means of
    // these labels, a fixed point.
    if (in.n_changed == 0 && !in.relocated_last) {
        step.converged = true;
        return step;
    }
    std::vector<index_t> empty;
    for (index_t c = 0; c < k; ++c) {
        if (!(weight_sums[c] > 0.0)) empty.push_back(c);
    }
    if (!empty.empty()) {
        CandidateListOf<T> list = candidates(static_cast<index_t>(empty.size()) + k);
        std::vector<size_t> chosen;
        bool served = plan_moves(empty, list, weight_sums, k, step.moves, chosen);
        if (!served && !list.complete) {
            list = candidates(-1);
            served = plan_moves(empty, list, weight_sums, k, step.moves, chosen);
            if (!served && !list.complete) {
                step.moves.clear();
                step.candidates_exhausted = true;
                return step;
            }
        }
        // The moves, in order: the row leaves its old cluster's sums and is its new one's.
        for (size_t t = 0; t < step.moves.size(); ++t) {
            const CandidateOf<T>& c = list.rows[chosen[t]];
            const index_t old = step.moves[t].from, e = step.moves[t].to;
            if (c.columns) {
                // as below: the zero columns leave the old sums as they are and set +0
                std::fill(sums + e * d, sums + (e + 1) * d, 0.0);
                for (index_t p = 0; p < c.nnz; ++p) {
                    const index_t j = c.columns[p];
                    sums[old * d + j] -= c.weight * c.x[p];
                    sums[e * d + j] = c.weight * c.x[p];
                }
            } else {
                for (index_t j = 0; j < d; ++j) {
                    sums[old * d + j] -= c.weight * c.x[j];
                    sums[e * d + j] = c.weight * c.x[j];
                }
            }
            weight_sums[old] -= c.weight;
            weight_sums[e] = c.weight;
        }
    }
    double shift = 0.0;
    for (index_t c = 0; c < k; ++c) {
        if (!(weight_sums[c] > 0.0)) continue;  // still empty: keep its center
        for (index_t j = 0; j < d; ++j) {
            const T updated = static_cast<T>(sums[c * d + j] / weight_sums[c]);
            const double delta = static_cast<double>(updated) - centers[c * d + j];
            shift += delta * delta;
            centers[c * d + j] = updated;
        }
    }
    step.shift = shift;
    // shift <= tol also at tol = 0 (no center moved), as scikit-learn stops: the next pass
    // would find the same labels, so stopping now saves it and counts n_iter as scikit-learn.
    if (shift <= in.tol) {
        step.converged = step.final_pass = true;
    } else if (in.iteration >= in.max_iter) {
        step.final_pass = true;
    }
    return step;
}

template bool relocation_candidates<float>(const float*, const double*, index_t, index_t,
                                           std::vector<index_t>&);
template bool relocation_candidates<double>(const double*, const double*, index_t, index_t,
                                            std::vector<index_t>&);
template CandidateListOf<float> candidates_of<float>(const float*, index_t, index_t, const double*,
                                                     const std::int32_t*, const float*, index_t);
template CandidateListOf<double> candidates_of<double>(const double*, index_t, index_t,
                                                       const double*, const std::int32_t*,
                                                       const double*, index_t);
template StepResult lloyd_step<float>(const StepInput&, float*, double*, double*,
                                      const CandidateSourceOf<float>::type&);
template StepResult lloyd_step<double>(const StepInput&, double*, double*, double*,
                                       const CandidateSourceOf<double>::type&);

}  // namespace kmeans
