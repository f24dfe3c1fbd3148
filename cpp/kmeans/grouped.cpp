#include "grouped.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace kmeans {

namespace {

// Split idx (rows of C, k x d in double) into consecutive runs of kUnitCenters (the last may be
// shorter) whose members are close: halve along the principal direction, at a multiple of
// kUnitCenters, and recurse.
void split(const std::vector<double>& C, index_t d, std::int32_t* idx, index_t size,
           std::vector<double>& scratch) {
    if (size <= kUnitCenters) {
        std::sort(idx, idx + size);
        return;
    }
    std::vector<double> mean(static_cast<size_t>(d), 0.0), dir(static_cast<size_t>(d)),
        next(static_cast<size_t>(d));
    for (index_t t = 0; t < size; ++t) {
        for (index_t j = 0; j < d; ++j) mean[j] += C[idx[t] * d + j];
    }
    for (index_t j = 0; j < d; ++j) mean[j] /= static_cast<double>(size);
    // start from the member farthest from the mean (lowest index on ties), then a few power
    // iterations of the covariance
    double far = -1.0;
    for (index_t t = 0; t < size; ++t) {
        double s = 0.0;
        for (index_t j = 0; j < d; ++j) s += (C[idx[t] * d + j] - mean[j]) * (C[idx[t] * d + j] - mean[j]);
        if (s > far) {
            far = s;
            for (index_t j = 0; j < d; ++j) dir[j] = C[idx[t] * d + j] - mean[j];
        }
    }
    scratch.resize(static_cast<size_t>(size));
    for (int iter = 0; iter < 8 && far > 0.0; ++iter) {
        std::fill(next.begin(), next.end(), 0.0);
        for (index_t t = 0; t < size; ++t) {
            double proj = 0.0;
            for (index_t j = 0; j < d; ++j) proj += (C[idx[t] * d + j] - mean[j]) * dir[j];
            for (index_t j = 0; j < d; ++j) next[j] += proj * (C[idx[t] * d + j] - mean[j]);
        }
        double norm = 0.0;
        for (index_t j = 0; j < d; ++j) norm += next[j] * next[j];
        if (!(norm > 0.0)) break;
        norm = std::sqrt(norm);
        for (index_t j = 0; j < d; ++j) dir[j] = next[j] / norm;
    }
    std::vector<std::pair<double, std::int32_t>> keyed(static_cast<size_t>(size));
    for (index_t t = 0; t < size; ++t) {
        double proj = 0.0;
        for (index_t j = 0; j < d; ++j) proj += (C[idx[t] * d + j] - mean[j]) * dir[j];
        keyed[t] = {proj, idx[t]};
    }
    std::sort(keyed.begin(), keyed.end());
    for (index_t t = 0; t < size; ++t) idx[t] = keyed[t].second;
    const index_t units = (size + kUnitCenters - 1) / kUnitCenters;
    const index_t left = (units / 2) * kUnitCenters;
    split(C, d, idx, left, scratch);
    split(C, d, idx + left, size - left, scratch);
}

}  // namespace

void group_centers(const float* centers, index_t k, index_t d, std::int32_t* order) {
    std::vector<double> C(centers, centers + k * d);
    std::iota(order, order + k, 0);
    std::vector<double> scratch;
    split(C, d, order, k, scratch);
}

std::size_t GroupBounds::bound_bytes(index_t n, index_t k, bool per_center) {
    const index_t per_row = per_center ? k : (k + kUnitCenters - 1) / kUnitCenters;
    return static_cast<std::size_t>(n) * static_cast<std::size_t>(per_row) * sizeof(float);
}

GroupBounds::GroupBounds(const float* X, index_t n, index_t d, index_t k, bool per_center,
                         int n_threads)
    : base_(X, n, d, k, n_threads, /*use_gaps=*/false), n_(n), d_(d), k_(k),
      n_units_((k + kUnitCenters - 1) / kUnitCenters), n_bounds_(per_center ? k : n_units_),
      per_center_(per_center), lower_(static_cast<size_t>(n * n_bounds_), 0.0f),
      order_(static_cast<size_t>(k)), position_(static_cast<size_t>(k)),
      drift_(static_cast<size_t>(n_bounds_), 0.0) {}

void GroupBounds::prepare(const float* centers, int n_threads) {
    base_.prepare(centers, n_threads);
    if (!grouped_) {
        group_centers(centers, k_, d_, order_.data());
        for (index_t p = 0; p < k_; ++p) position_[static_cast<size_t>(order_[p])] = static_cast<std::int32_t>(p);
        grouped_ = true;
    }
    BoundArgs b{};
    base_.fill(b, 0);
    // drifts in internal order, or the largest of each unit
    std::fill(drift_.begin(), drift_.end(), 0.0);
    for (index_t p = 0; p < k_; ++p) {
        const double m = b.drift[order_[p]];
        double& slot = drift_[static_cast<size_t>(per_center_ ? p : p / kUnitCenters)];
        slot = std::max(slot, m);
    }
}

void GroupBounds::fill(GroupArgs& args, index_t row0) {
    BoundArgs b{};
    base_.fill(b, row0);
    args.x_sqnorm = b.x_sqnorm;
    args.upper = b.upper;
    args.lower = lower_.data() + row0 * n_bounds_;
    args.n_bounds = n_bounds_;
    args.per_center = per_center_;
    args.drift = drift_.data();
    args.order = order_.data();
    args.position = position_.data();
    args.n_units = n_units_;
    args.center_drift = b.drift;
    args.score_error_const = b.score_error_const;
    args.score_error_slope = b.score_error_slope;
    args.distance_error = b.distance_error;
    args.score_all = b.score_all;
}

void GroupBounds::forget(index_t row) {
    base_.forget(row);  // also its upper bound
    std::fill(lower_.begin() + row * n_bounds_, lower_.begin() + (row + 1) * n_bounds_, 0.0f);
}

}  // namespace kmeans
