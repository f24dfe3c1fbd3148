#include "hamerly.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#ifdef KMEANS_HAVE_OPENMP
#include <omp.h>
#endif

namespace kmeans {

namespace {

constexpr double kUnit = 1.0 / 16777216.0;  // u = 2^-24, float32 unit roundoff
constexpr double kUp = 1.0 + 1e-12;          // slack for double rounding, upwards
constexpr double kDown = 1.0 - 1e-12;        // and downwards

// sum_j (a_j - b_j)^2 in double.
double squared_distance(const float* a, const float* b, index_t d) {
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

// Keep the largest value seen (and its index) and the second largest, as values come in.
void keep_largest_two(double m, index_t c, double& largest, double& second, std::int32_t& argmax) {
    if (m > largest) {
        second = largest;
        largest = m;
        argmax = static_cast<std::int32_t>(c);
    } else if (m > second) {
        second = m;
    }
}

}  // namespace

HamerlyBounds::HamerlyBounds(const float* X, index_t n, index_t d, index_t k, int n_threads,
                             bool use_gaps)
    : n_(n), d_(d), k_(k), x_sqnorm_(static_cast<size_t>(n)), lower_(static_cast<size_t>(n), 0.0),
      upper_(static_cast<size_t>(n), INFINITY),
      drift_(static_cast<size_t>(k), 0.0), gap_(static_cast<size_t>(k), 0.0),
      moved_(static_cast<size_t>(k), 0.0), use_gaps_(use_gaps),
      previous_(static_cast<size_t>(k * d)) {
    double* out = x_sqnorm_.data();
    // Also the smallest exponent L with every value a multiple of 2^L, and the largest biased
    // exponent (|x| < 2^(e - 126)), from the float32 bit patterns: see exact_sums().
    int lowest = 1000, highest = -1000;
#ifdef KMEANS_HAVE_OPENMP
#pragma omp parallel for num_threads(n_threads) default(none) shared(X, n, d, out) \
    reduction(min : lowest) reduction(max : highest) schedule(static)
#endif
    for (index_t i = 0; i < n; ++i) {
        const float* x = X + i * d;
        double s = 0.0;
        std::uint32_t exp_max = 0;
        int row_lowest = 1000;
        for (index_t j = 0; j < d; ++j) {
            s += static_cast<double>(x[j]) * x[j];
            std::uint32_t bits;
            std::memcpy(&bits, x + j, sizeof bits);
            const std::uint32_t e = (bits >> 23) & 0xffu, m = bits & 0x7fffffu;
            exp_max = e > exp_max ? e : exp_max;
            if ((bits & 0x7fffffffu) != 0) {
                // value = (m + 2^23 [normal]) * 2^(max(e, 1) - 150)
                const std::uint32_t significand = e != 0 ? (m | 0x800000u) : m;
                const int low = (e != 0 ? static_cast<int>(e) : 1) - 150 + __builtin_ctz(significand);
                row_lowest = low < row_lowest ? low : row_lowest;
            }
        }
        out[i] = s * kDown;  // a lower estimate: it only ever lowers the lower bounds
        lowest = row_lowest < lowest ? row_lowest : lowest;
        highest = static_cast<int>(exp_max) > highest ? static_cast<int>(exp_max) : highest;
    }
    (void)n_threads;
    if (lowest == 1000) {
        exact_sums_ = true;  // all zeros
    } else {
        // |x| < 2^(highest - 126) and n < 2^bit_length(n): sums < 2^(highest - 126 + bits(n))
        int n_bits = 0;
        for (index_t m = n; m > 0; m >>= 1) ++n_bits;
        exact_sums_ = (highest - 126) + n_bits - lowest <= 52;
    }
    // the computed squared distance (4 lanes of fused chains, then a fixed tree) errs by at
    // most (d + 3) u of the exact one, relatively: all its terms are non-negative
    const double gd = (static_cast<double>(d) + 5.0) * kUnit;
    distance_error_ = 1.1 * (gd / (1.0 - gd));
}

void HamerlyBounds::prepare(const float* centers, int n_threads) {
    const index_t k = k_, d = d_;
    double cmax2 = 0.0;
    for (index_t c = 0; c < k; ++c) {
        double s = 0.0;
        for (index_t j = 0; j < d; ++j) s += static_cast<double>(centers[c * d + j]) * centers[c * d + j];
        cmax2 = std::max(cmax2, s);
    }
    cmax2 *= kUp;
    const double cmax = std::sqrt(cmax2) * kUp;
    const double g = (static_cast<double>(d) + 2.0) * kUnit / (1.0 - (static_cast<double>(d) + 2.0) * kUnit);
    error_const_ = 1.1 * 2.1 * kUnit * cmax2;
    error_slope_ = 1.1 * (2.0 * g + 2.1 * kUnit) * cmax;

    // drifts since the previous pass (none at the first)
    drift_max_ = drift_second_ = 0.0;
    drift_argmax_ = -1;
    if (!first_) {
        for (index_t c = 0; c < k; ++c) {
            const double m = std::sqrt(squared_distance(centers + c * d, previous_.data() + c * d, d)) * kUp;
            drift_[static_cast<size_t>(c)] = m;
            keep_largest_two(m, c, drift_max_, drift_second_, drift_argmax_);
        }
    }
    std::copy(centers, centers + k * d, previous_.begin());
    score_all_ = first_;  // the first pass scores every row
    // Gaps move by at most the drifts: d(c, o) now >= d(c, o) then - moved(c) - moved(o), with
    // moved the drift summed since the gaps were last computed. Recompute them (k^2 d work)
    // only when that slack could exceed 5% of the smallest gap: late passes barely move.
    if (!first_ && use_gaps_) {
        moved_max_ = moved_second_ = 0.0;
        moved_argmax_ = -1;
        for (index_t c = 0; c < k; ++c) {
            double& moved = moved_[static_cast<size_t>(c)];
            moved = (moved + drift_[static_cast<size_t>(c)]) * kUp;
            keep_largest_two(moved, c, moved_max_, moved_second_, moved_argmax_);
        }
        if (moved_max_ + moved_second_ <= 0.05 * gap_min_) {
            for (index_t c = 0; c < k; ++c) {
                const double other = c == moved_argmax_ ? moved_second_ : moved_max_;
                const double g = (gap_exact_[static_cast<size_t>(c)] - moved_[static_cast<size_t>(c)] - other) * kDown;
                gap_[static_cast<size_t>(c)] = g > 0.0 ? g : 0.0;
            }
            return;
        }
    }
    first_ = false;
    if (!use_gaps_) return;  // gaps stay 0: no bound from them
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
    gap_min_ = k > 1 ? *std::min_element(gap_.begin(), gap_.end()) : 0.0;
}

void HamerlyBounds::fill(BoundArgs& args, index_t row0) {
    args.x_sqnorm = x_sqnorm_.data() + row0;
    args.lower = lower_.data() + row0;
    args.upper = upper_.data() + row0;
    args.drift = drift_.data();
    args.drift_max = drift_max_;
    args.drift_second = drift_second_;
    args.drift_argmax = drift_argmax_;
    args.gap = gap_.data();
    args.score_error_const = error_const_;
    args.score_error_slope = error_slope_;
    args.distance_error = distance_error_;
    args.score_all = score_all_;
}

}  // namespace kmeans
