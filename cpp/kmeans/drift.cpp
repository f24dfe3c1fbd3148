#include "drift.hpp"

#include <algorithm>
#include <cmath>

namespace kmeans {

double squared_distance_double(const float* a, const float* b, index_t d) {
    double s = 0.0;
#ifdef KMEANS_HAVE_OPENMP
#pragma omp simd reduction(+ : s)
#endif
    for (index_t j = 0; j < d; ++j) {
        const double t = static_cast<double>(a[j]) - static_cast<double>(b[j]);
        s += t * t;
    }
    return s;
}

CenterDrift::CenterDrift(index_t k, index_t d)
    : k_(k), d_(d), drift_(static_cast<size_t>(k), 0.0), previous_(static_cast<size_t>(k * d)),
      distance_error_(kmeans::distance_error(d)) {}

void CenterDrift::update(const float* centers) {
    const index_t k = k_, d = d_;
    double cmax2 = 0.0;
    for (index_t c = 0; c < k; ++c) {
        double s = 0.0;
        for (index_t j = 0; j < d; ++j) s += static_cast<double>(centers[c * d + j]) * centers[c * d + j];
        cmax2 = std::max(cmax2, s);
    }
    error_ = score_error_margins(cmax2, d);
    first_ = !seen_;
    largest_ = second_ = 0.0;
    argmax_ = -1;
    if (!first_) {
        for (index_t c = 0; c < k; ++c) {
            const double m = std::sqrt(squared_distance_double(centers + c * d, previous_.data() + c * d, d)) * kUp;
            drift_[static_cast<size_t>(c)] = m;
            keep_largest_two(m, c, largest_, second_, argmax_);
        }
    }
    std::copy(centers, centers + k * d, previous_.begin());
    seen_ = true;
}

}  // namespace kmeans
