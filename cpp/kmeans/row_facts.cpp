#include "row_facts.hpp"

#include <cstdint>
#include <cstring>

#include "bound_math.hpp"

namespace kmeans {

RowFacts::RowFacts(const float* X, index_t n, index_t d, int n_threads)
    : x_sqnorm_(static_cast<size_t>(n)) {
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
        out[i] = s * kDown;
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
}

}  // namespace kmeans
