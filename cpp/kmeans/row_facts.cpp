#include "row_facts.hpp"

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "bound_math.hpp"
#include "dispatch.hpp"

namespace kmeans {
namespace {

// Per row: |x|^2 in double, the largest biased float32 exponent, and the smallest L with
// every value a multiple of 2^L (kNone for a row of zeros), from the float32 bit patterns.
// Two copies: a scalar one, and one eight columns at a time in GCC vector types compiled for
// AVX2 (3x faster on MNIST; used where the AVX2 or AVX-512 chunk kernel is, see dispatch.hpp).
// Both give the same exponents; |x|^2 may differ in the last bits (the order of the sum),
// always within the (d + 1) 2^-53 that kDown allows for.
constexpr std::int32_t kNone = 1000;

// The biased exponent e and the lowest power of two of a value's bits (I: int32 or a vector
// of them, F: the float type of the same width); folds them into exponent (max) and lowest
// (min; zeros are left out). The lowest set bit of the significand is found by converting it
// to float (exact: a power of two <= 2^23).
template <class I, class F>
inline void fold_bits(const I& bits, I& exponent, I& lowest) {
    const I e = (bits >> 23) & 0xff;
    const I m = bits & 0x7fffff;
    // value = significand * 2^(max(e, 1) - 150), significand = m (+ 2^23 when normal)
    const I significand = e != 0 ? (m | 0x800000) : m;
    const I low_bit = significand & -significand;  // 2^ctz, or 0 for a zero
    F as_float;
    if constexpr (std::is_same_v<I, std::int32_t>) {
        as_float = static_cast<float>(low_bit);
    } else {
        as_float = __builtin_convertvector(low_bit, F);
    }
    I fbits;
    std::memcpy(&fbits, &as_float, sizeof fbits);
    const I ctz = ((fbits >> 23) & 0xff) - 127;
    const I low = (e != 0 ? e : 1) - 150 + ctz;
    exponent = e > exponent ? e : exponent;
    lowest = significand != 0 && low < lowest ? low : lowest;
}

void row_facts_scalar(const float* x, index_t d, double& sqnorm, std::int32_t& exponent,
                      std::int32_t& lowest) {
    double s = 0.0;
    exponent = 0;
    lowest = kNone;
    for (index_t j = 0; j < d; ++j) {
        s += static_cast<double>(x[j]) * x[j];
        std::int32_t bits;
        std::memcpy(&bits, x + j, sizeof bits);
        fold_bits<std::int32_t, float>(bits, exponent, lowest);
    }
    sqnorm = s;
}

#if defined(__GNUC__) && defined(KMEANS_HAVE_AVX2)
#define KMEANS_ROW_FACTS_AVX2 1
typedef float f8 __attribute__((vector_size(32)));
typedef std::int32_t i8 __attribute__((vector_size(32)));
typedef float f4 __attribute__((vector_size(16)));
typedef double d4 __attribute__((vector_size(32)));

__attribute__((target("avx2"))) void row_facts_avx2(const float* x, index_t d, double& sqnorm,
                                                    std::int32_t& exponent, std::int32_t& lowest) {
    d4 s_lo = {}, s_hi = {};
    i8 emax = {}, low = {kNone, kNone, kNone, kNone, kNone, kNone, kNone, kNone};
    index_t j = 0;
    for (; j + 8 <= d; j += 8) {
        f8 v;
        std::memcpy(&v, x + j, sizeof v);
        const f4 lo = {v[0], v[1], v[2], v[3]}, hi = {v[4], v[5], v[6], v[7]};
        const d4 dlo = __builtin_convertvector(lo, d4), dhi = __builtin_convertvector(hi, d4);
        s_lo += dlo * dlo;  // exact products
        s_hi += dhi * dhi;
        i8 bits;
        std::memcpy(&bits, &v, sizeof bits);
        fold_bits<i8, f8>(bits, emax, low);
    }
    double total = 0.0;
    exponent = 0;
    lowest = kNone;
    for (int u = 0; u < 4; ++u) total += s_lo[u] + s_hi[u];
    for (int u = 0; u < 8; ++u) {
        exponent = emax[u] > exponent ? emax[u] : exponent;
        lowest = low[u] < lowest ? low[u] : lowest;
    }
    for (; j < d; ++j) {
        total += static_cast<double>(x[j]) * x[j];
        std::int32_t bits;
        std::memcpy(&bits, x + j, sizeof bits);
        fold_bits<std::int32_t, float>(bits, exponent, lowest);
    }
    sqnorm = total;
}
#endif

}  // namespace

RowFacts::RowFacts(const float* X, index_t n, index_t d, int n_threads)
    : x_sqnorm_(static_cast<size_t>(n)), X_(X), n_(n), d_(d) {
    double* out = x_sqnorm_.data();
    // Also the smallest exponent L with every value a multiple of 2^L, and the largest biased
    // exponent (|x| < 2^(e - 126)), from the float32 bit patterns: see exact_sums().
    int lowest = kNone, highest = -1000;
    auto facts = row_facts_scalar;
#ifdef KMEANS_ROW_FACTS_AVX2
    if (current_isa() != "generic") facts = row_facts_avx2;  // the CPU has AVX2
#endif
#ifdef KMEANS_HAVE_OPENMP
#pragma omp parallel for num_threads(n_threads) default(none) shared(X, n, d, out, facts) \
    reduction(min : lowest) reduction(max : highest) schedule(static)
#endif
    for (index_t i = 0; i < n; ++i) {
        double s;
        std::int32_t row_highest, row_lowest;
        facts(X + i * d, d, s, row_highest, row_lowest);
        out[i] = s * kDown;
        lowest = row_lowest < lowest ? row_lowest : lowest;
        highest = row_highest > highest ? row_highest : highest;
    }
    (void)n_threads;
    if (lowest == kNone) {
        exact_sums_ = true;  // all zeros
    } else {
        // |x| < 2^(highest - 126) and n < 2^bit_length(n): sums < 2^(highest - 126 + bits(n))
        int n_bits = 0;
        for (index_t m = n; m > 0; m >>= 1) ++n_bits;
        exact_sums_ = (highest - 126) + n_bits - lowest <= 52;
    }
}

}  // namespace kmeans
