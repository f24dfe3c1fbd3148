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

GroupBounds::GroupBounds(const RowFacts& facts, index_t n, index_t d, index_t k, bool per_center)
    : facts_(facts), d_(d), k_(k), n_units_((k + kUnitCenters - 1) / kUnitCenters),
      n_bounds_(per_center ? k : n_units_), per_center_(per_center), drift_(k, d),
      lower_(static_cast<size_t>(n * n_bounds_), 0.0f), upper_(static_cast<size_t>(n), INFINITY),
      order_(static_cast<size_t>(k)), position_(static_cast<size_t>(k)),
      unit_drift_(static_cast<size_t>(n_bounds_), 0.0) {}

void GroupBounds::prepare(const float* centers) {
    drift_.update(centers);
    if (!grouped_) {
        group_centers(centers, k_, d_, order_.data());
        for (index_t p = 0; p < k_; ++p) position_[static_cast<size_t>(order_[p])] = static_cast<std::int32_t>(p);
        grouped_ = true;
    }
    // drifts in internal order, or the largest of each unit
    std::fill(unit_drift_.begin(), unit_drift_.end(), 0.0);
    for (index_t p = 0; p < k_; ++p) {
        const double m = drift_.drift()[order_[p]];
        double& slot = unit_drift_[static_cast<size_t>(per_center_ ? p : p / kUnitCenters)];
        slot = std::max(slot, m);
    }
}

void GroupBounds::fill(GroupArgs& args, index_t row0) {
    args.x_sqnorm = facts_.x_sqnorm() + row0;
    args.upper = upper_.data() + row0;
    args.lower = lower_.data() + row0 * n_bounds_;
    args.n_bounds = n_bounds_;
    args.per_center = per_center_;
    args.drift = unit_drift_.data();
    args.order = order_.data();
    args.position = position_.data();
    args.n_units = n_units_;
    args.center_drift = drift_.drift();
    args.score_error_const = drift_.score_error().constant;
    args.score_error_slope = drift_.score_error().slope;
    args.distance_error = drift_.distance_error();
    args.score_all = drift_.first();
}

void GroupBounds::forget(index_t row) {
    upper_[static_cast<size_t>(row)] = INFINITY;
    std::fill(lower_.begin() + row * n_bounds_, lower_.begin() + (row + 1) * n_bounds_, 0.0f);
}

}  // namespace kmeans
