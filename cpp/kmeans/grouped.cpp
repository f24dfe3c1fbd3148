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

void GroupBounds::begin_seed(const float* centers) {
    drift_.update(centers);
    if (!grouped_) {
        group_centers(centers, k_, d_, order_.data());
        for (index_t p = 0; p < k_; ++p) position_[static_cast<size_t>(order_[p])] = static_cast<std::int32_t>(p);
        grouped_ = true;
    }
}

void GroupBounds::seed(index_t row0, index_t rows, const std::int32_t* labels, const float* sq_dist,
                       const float* second, const float* group_min) {
    const ScoreError& e = drift_.score_error();
    const double* x_sqnorm = facts_.x_sqnorm() + row0;
    const index_t n_groups = (k_ + kCenterGroup - 1) / kCenterGroup;
    for (index_t i = 0; i < rows; ++i) {
        const double error = score_error(e.constant, e.slope, x_sqnorm[i]);
        // as the grouped kernel bounds a row it scored against every unit (isa/grouped.cpp:
        // store_rows), with the smallest score of the row's own unit but its own center
        // replaced by the (smaller or equal) second smallest score over all centers
        const float own = round_down(lower_bound(second[i], x_sqnorm[i], error));
        const index_t p_own = position_[static_cast<size_t>(labels[i])];
        float* lb = lower_.data() + (row0 + i) * n_bounds_;
        if (per_center_) {
            std::fill(lb, lb + n_bounds_, own);
            lb[p_own] = 0.0f;
        } else {
            const float* gm = group_min + i * n_groups;
            for (index_t u = 0; u < n_units_; ++u) {
                if (u == p_own / kUnitCenters) {
                    lb[u] = own;
                    continue;
                }
                const index_t g = u * kUnitGroups;
                const float m = g + 1 < n_groups && gm[g + 1] < gm[g] ? gm[g + 1] : gm[g];
                lb[u] = round_down(lower_bound(m, x_sqnorm[i], error));
            }
        }
        upper_[static_cast<size_t>(row0 + i)] = upper_bound(sq_dist[i], drift_.distance_error());
    }
}

double GroupBounds::predicted_scored(const double* drift, const std::int32_t* labels) const {
    // the largest drift of each bound's centers
    std::vector<double> moved(static_cast<size_t>(n_bounds_), 0.0);
    for (index_t p = 0; p < k_; ++p) {
        double& slot = moved[static_cast<size_t>(per_center_ ? p : p / kUnitCenters)];
        slot = std::max(slot, drift[order_[static_cast<size_t>(p)]]);
    }
    const index_t n = static_cast<index_t>(upper_.size());
    const index_t per_bound = per_center_ ? 1 : kUnitCenters;
    double scores = 0.0;
    for (index_t i = 0; i < n; ++i) {
        const std::int32_t own = labels[i];
        const double upper = upper_[static_cast<size_t>(i)] + drift[own];
        const index_t b_own = per_center_ ? position_[static_cast<size_t>(own)]
                                          : position_[static_cast<size_t>(own)] / kUnitCenters;
        const float* lb = lower_.data() + i * n_bounds_;
        index_t needed = 0;
        bool any = false;
        for (index_t b = 0; b < n_bounds_; ++b) {
            const bool open = static_cast<double>(lb[b]) - moved[static_cast<size_t>(b)] <= upper;
            any = any || open;
            needed += b != b_own && open ? 1 : 0;
        }
        if (any) scores += static_cast<double>((needed + 1) * per_bound);  // and the own unit
    }
    return std::min(1.0, scores / (static_cast<double>(n > 0 ? n : 1) * static_cast<double>(k_)));
}

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
