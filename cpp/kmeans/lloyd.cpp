#include "lloyd.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "dispatch.hpp"

#ifdef KMEANS_HAVE_OPENMP
#include <omp.h>
#endif

namespace kmeans {

bool has_openmp() {
#ifdef KMEANS_HAVE_OPENMP
    return true;
#else
    return false;
#endif
}

int max_threads() {
#ifdef KMEANS_HAVE_OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

namespace {

int thread_id() {
#ifdef KMEANS_HAVE_OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

void center_norms(const float* centers, index_t k, index_t d, float* out) {
    for (index_t c = 0; c < k; ++c) {
        double s = 0.0;
        for (index_t j = 0; j < d; ++j) s += static_cast<double>(centers[c * d + j]) * centers[c * d + j];
        out[c] = static_cast<float>(s);
    }
}

}  // namespace

PassStats assign_pass(const float* X, index_t n, index_t d, const float* centers, index_t k,
                      const double* weights, std::int32_t* labels, float* sq_dist,
                      double* sums, double* weight_sums, int n_threads) {
    const ChunkFn kernel = chunk_kernel();
    const bool accumulate = sums != nullptr;
    const index_t chunk_rows = kChunkRows;  // a local: OpenMP's default(none) names it
    const index_t n_chunks = (n + chunk_rows - 1) / chunk_rows;
    const int threads = static_cast<int>(std::max<index_t>(1, std::min<index_t>(n_threads, n_chunks)));

    std::vector<float> sqnorm(static_cast<size_t>(k));
    center_norms(centers, k, d, sqnorm.data());
    // Per-thread scratch, allocated here so that nothing inside the parallel region can throw.
    std::vector<float> best(static_cast<size_t>(threads) * kChunkRows);
    std::vector<double> local_sums(accumulate ? static_cast<size_t>(threads) * k * d : 0, 0.0);
    std::vector<double> local_w(accumulate ? static_cast<size_t>(threads) * k : 0, 0.0);
    if (accumulate) {
        std::fill(sums, sums + k * d, 0.0);
        std::fill(weight_sums, weight_sums + k, 0.0);
    }
    PassStats stats;
    const float* sqnorm_p = sqnorm.data();
    float* best_p = best.data();
    double* local_sums_p = local_sums.data();
    double* local_w_p = local_w.data();

#ifdef KMEANS_HAVE_OPENMP
#pragma omp parallel num_threads(threads) default(none)                                     \
    shared(X, n, d, centers, k, weights, labels, sq_dist, sums, weight_sums, kernel,        \
           accumulate, chunk_rows, n_chunks, stats, sqnorm_p, best_p, local_sums_p, local_w_p)
#endif
    {
        const int t = thread_id();
        double* my_sums = accumulate ? local_sums_p + static_cast<index_t>(t) * k * d : nullptr;
        double* my_w = accumulate ? local_w_p + static_cast<index_t>(t) * k : nullptr;
#ifdef KMEANS_HAVE_OPENMP
#pragma omp for ordered schedule(static, 1)
#endif
        for (index_t chunk = 0; chunk < n_chunks; ++chunk) {
            const index_t row0 = chunk * kChunkRows;
            ChunkArgs a{};
            a.X = X + row0 * d;
            a.rows = std::min(chunk_rows, n - row0);
            a.d = d;
            a.centers = centers;
            a.center_sqnorm = sqnorm_p;
            a.k = k;
            a.weights = weights ? weights + row0 : nullptr;
            a.labels = labels + row0;
            a.sq_dist = sq_dist + row0;
            a.best_score = best_p + static_cast<index_t>(t) * chunk_rows;
            a.sums = my_sums;
            a.weight_sums = my_w;
            kernel(a, accumulate);
            // Merge in chunk order: the sums do not depend on which thread ran which chunk.
#ifdef KMEANS_HAVE_OPENMP
#pragma omp ordered
#endif
            {
                stats.objective += a.objective;
                stats.sum_dist += a.sum_dist;
                if (accumulate) {
                    for (index_t c = 0; c < k; ++c) {
                        // untouched by this chunk (or only rows of weight 0, which add 0 * x)
                        if (my_w[c] == 0.0) continue;
                        double* dst = sums + c * d;
                        double* src = my_sums + c * d;
                        for (index_t j = 0; j < d; ++j) {
                            dst[j] += src[j];
                            src[j] = 0.0;
                        }
                        weight_sums[c] += my_w[c];
                        my_w[c] = 0.0;
                    }
                }
            }
        }
    }
    return stats;
}

namespace {

// Move each empty cluster to the farthest row that can leave its own cluster. Returns how
// many clusters moved.
index_t relocate_empty(const float* X, index_t n, index_t d, index_t k, const double* weights,
                       std::int32_t* labels, const float* sq_dist, double* sums,
                       double* weight_sums) {
    std::vector<index_t> empty;
    for (index_t c = 0; c < k; ++c) {
        if (!(weight_sums[c] > 0.0)) empty.push_back(c);
    }
    if (empty.empty()) return 0;
    std::vector<index_t> order;
    for (index_t i = 0; i < n; ++i) {
        const double w = weights ? weights[i] : 1.0;
        if (sq_dist[i] > 0.0f && w > 0.0) order.push_back(i);
    }
    std::sort(order.begin(), order.end(), [sq_dist](index_t a, index_t b) {
        return sq_dist[a] != sq_dist[b] ? sq_dist[a] > sq_dist[b] : a < b;
    });
    index_t moved = 0;
    size_t next = 0;
    for (const index_t e : empty) {
        while (next < order.size()) {
            const index_t i = order[next++];
            const index_t old = labels[i];
            const double w = weights ? weights[i] : 1.0;
            if (!(weight_sums[old] - w > 0.0)) continue;  // it would empty its own cluster
            const float* x = X + i * d;
            for (index_t j = 0; j < d; ++j) {
                sums[old * d + j] -= w * x[j];
                sums[e * d + j] = w * x[j];
            }
            weight_sums[old] -= w;
            weight_sums[e] = w;
            labels[i] = static_cast<std::int32_t>(e);
            ++moved;
            break;
        }
    }
    return moved;
}

}  // namespace

RunStats lloyd_run(const float* X, index_t n, index_t d, index_t k, const double* weights,
                   float* centers, std::int32_t* labels, float* sq_dist,
                   const RunOptions& options, const std::function<bool()>& should_stop) {
    RunStats run;
    std::vector<double> sums(static_cast<size_t>(k * d));
    std::vector<double> weight_sums(static_cast<size_t>(k));
    std::vector<std::int32_t> previous(static_cast<size_t>(n), -1);
    bool relocated_last = false;
    bool strict = false;
    for (int it = 0; it < options.max_iter; ++it) {
        if (should_stop && should_stop()) {
            run.interrupted = true;
            return run;
        }
        const PassStats pass = assign_pass(X, n, d, centers, k, weights, labels, sq_dist,
                                           sums.data(), weight_sums.data(), options.n_threads);
        run.objective.push_back(pass.objective);
        run.sum_dist.push_back(pass.sum_dist);
        run.n_iter = it + 1;
        // Same labels as the pass before and no relocation since: the centers are the means
        // of these labels, a fixed point.
        if (!relocated_last && std::memcmp(previous.data(), labels, sizeof(std::int32_t) * n) == 0) {
            run.converged = strict = true;
            run.final_objective = pass.objective;
            run.final_sum_dist = pass.sum_dist;
            break;
        }
        const index_t moved = relocate_empty(X, n, d, k, weights, labels, sq_dist, sums.data(),
                                             weight_sums.data());
        run.n_relocated += moved;
        relocated_last = moved > 0;
        double shift = 0.0;
        for (index_t c = 0; c < k; ++c) {
            if (!(weight_sums[c] > 0.0)) continue;  // still empty: keep its center
            for (index_t j = 0; j < d; ++j) {
                const float updated = static_cast<float>(sums[c * d + j] / weight_sums[c]);
                const double delta = static_cast<double>(updated) - centers[c * d + j];
                shift += delta * delta;
                centers[c * d + j] = updated;
            }
        }
        std::memcpy(previous.data(), labels, sizeof(std::int32_t) * n);
        if (options.tol > 0.0 && shift <= options.tol) {
            run.converged = true;
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
        const PassStats pass = assign_pass(X, n, d, centers, k, weights, labels, sq_dist,
                                           nullptr, nullptr, options.n_threads);
        run.final_objective = pass.objective;
        run.final_sum_dist = pass.sum_dist;
    }
    return run;
}

}  // namespace kmeans
