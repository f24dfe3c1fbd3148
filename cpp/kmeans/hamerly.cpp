#include "hamerly.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#ifdef KMEANS_HAVE_OPENMP
#include <omp.h>
#endif

namespace kmeans {

HamerlyBounds::HamerlyBounds(const RowFacts& facts, index_t n, index_t d, index_t k)
    : facts_(facts), d_(d), k_(k), drift_(k, d), lower_(static_cast<size_t>(n), 0.0),
      upper_(static_cast<size_t>(n), INFINITY), gap_(static_cast<size_t>(k), 0.0),
      moved_(static_cast<size_t>(k), 0.0) {}

void HamerlyBounds::update_drift(const float* centers) {
    drift_.update(centers);
    if (drift_.first() || !gaps_known_) return;
    moved_max_ = moved_second_ = 0.0;
    moved_argmax_ = -1;
    for (index_t c = 0; c < k_; ++c) {
        double& moved = moved_[static_cast<size_t>(c)];
        moved = (moved + drift_.drift()[c]) * kUp;
        keep_largest_two(moved, c, moved_max_, moved_second_, moved_argmax_);
    }
}

void HamerlyBounds::prepare(const float* centers, int n_threads) {
    update_drift(centers);
    // Gaps move by at most the drifts: d(c, o) now >= d(c, o) then - moved(c) - moved(o), with
    // moved the drift summed since the gaps were last computed. Recompute them (k^2 d work)
    // only when that slack could exceed 5% of the smallest gap: late passes barely move.
    if (!drift_.first() && gaps_known_ && moved_max_ + moved_second_ <= 0.05 * gap_min_) {
        for (index_t c = 0; c < k_; ++c) {
            const double other = c == moved_argmax_ ? moved_second_ : moved_max_;
            const double g = (gap_exact_[static_cast<size_t>(c)] - moved_[static_cast<size_t>(c)] - other) * kDown;
            gap_[static_cast<size_t>(c)] = g > 0.0 ? g : 0.0;
        }
        return;
    }
    compute_gaps(centers, n_threads);
}

void HamerlyBounds::begin_seed(const float* centers) { update_drift(centers); }

void HamerlyBounds::seed(index_t row0, index_t rows, const float* sq_dist, const float* second) {
    const ScoreError& e = drift_.score_error();
    const double* x_sqnorm = facts_.x_sqnorm() + row0;
    double* lower = lower_.data() + row0;
    double* upper = upper_.data() + row0;
    for (index_t i = 0; i < rows; ++i) {
        // as score_listed (isa/hamerly.cpp) sets them after scoring a row
        const double error = score_error(e.constant, e.slope, x_sqnorm[i]);
        lower[i] = lower_bound(second[i], x_sqnorm[i], error);
        upper[i] = upper_bound(sq_dist[i], drift_.distance_error());
    }
}

double HamerlyBounds::predicted_scored(const double* drift, const std::int32_t* labels) const {
    double largest = 0.0, second = 0.0;
    std::int32_t argmax = -1;
    for (index_t c = 0; c < k_; ++c) keep_largest_two(drift[c], c, largest, second, argmax);
    const index_t n = static_cast<index_t>(lower_.size());
    index_t scored = 0;
    for (index_t i = 0; i < n; ++i) {
        const std::int32_t own = labels[i];
        const double others = own == argmax ? second : largest;
        scored += lower_[static_cast<size_t>(i)] - others > upper_[static_cast<size_t>(i)] + drift[own] ? 0 : 1;
    }
    return static_cast<double>(scored) / static_cast<double>(n > 0 ? n : 1);
}

void HamerlyBounds::compute_gaps(const float* centers, int n_threads) {
    const index_t k = k_, d = d_;
    std::fill(moved_.begin(), moved_.end(), 0.0);
    // gap(c): distance to the nearest other center, bounded below (+inf when k == 1). Each pair
    // once, in double; rows of the pair triangle are shared among the threads.
    centers_d_.resize(static_cast<size_t>(k * d));
    for (index_t i = 0; i < k * d; ++i) centers_d_[static_cast<size_t>(i)] = centers[i];
    pair_min_.assign(static_cast<size_t>(k * (n_threads > 0 ? n_threads : 1)),
                     std::numeric_limits<double>::infinity());
    const double* cd = centers_d_.data();
    double* pair_min = pair_min_.data();
#ifdef KMEANS_HAVE_OPENMP
#pragma omp parallel for num_threads(n_threads) default(none) shared(k, d, cd, pair_min) \
    schedule(dynamic, 4)
#endif
    for (index_t c = 0; c < k; ++c) {
#ifdef KMEANS_HAVE_OPENMP
        double* mine = pair_min + static_cast<index_t>(omp_get_thread_num()) * k;
#else
        double* mine = pair_min;
#endif
        const double* a = cd + c * d;
        for (index_t o = c + 1; o < k; ++o) {
            const double* b = cd + o * d;
            double s = 0.0;
#ifdef KMEANS_HAVE_OPENMP
#pragma omp simd reduction(+ : s)
#endif
            for (index_t j = 0; j < d; ++j) s += (a[j] - b[j]) * (a[j] - b[j]);
            mine[c] = std::min(mine[c], s);
            mine[o] = std::min(mine[o], s);
        }
    }
    const index_t copies = static_cast<index_t>(pair_min_.size()) / (k > 0 ? k : 1);
    for (index_t c = 0; c < k; ++c) {
        double nearest = std::numeric_limits<double>::infinity();
        for (index_t t = 0; t < copies; ++t) nearest = std::min(nearest, pair_min[t * k + c]);
        gap_[static_cast<size_t>(c)] = std::sqrt(nearest) * kDown;
    }
    gap_exact_ = gap_;
    gaps_known_ = true;
    gap_min_ = k > 1 ? *std::min_element(gap_.begin(), gap_.end()) : 0.0;
}

void HamerlyBounds::fill(BoundArgs& args, index_t row0) {
    args.x_sqnorm = facts_.x_sqnorm() + row0;
    args.lower = lower_.data() + row0;
    args.upper = upper_.data() + row0;
    args.drift = drift_.drift();
    args.drift_max = drift_.largest();
    args.drift_second = drift_.second_largest();
    args.drift_argmax = drift_.argmax();
    args.gap = gap_.data();
    args.score_error_const = drift_.score_error().constant;
    args.score_error_slope = drift_.score_error().slope;
    args.distance_error = drift_.distance_error();
    args.score_all = drift_.first();
}

}  // namespace kmeans
