// SIMD primitives of the chunk kernels (isa/plain.cpp, isa/hamerly.cpp, isa/grouped.cpp):
// column lists, squared distances, row sums, and the dispatch over register-block sizes.
//
// Every file under isa/ is compiled several times, once per instruction set (see
// CMakeLists.txt: kmeans_isa_kernel), each time with a different KMEANS_ISA_NAMESPACE and
// different -m flags; dispatch.cpp picks the widest one the running CPU supports. Everything
// here has internal linkage (an unnamed namespace inside the ISA's namespace), and no standard
// library templates are used, so that no AVX-512 code can leak into the generic build. The
// build compiles these files with -ffp-contract=off: every fused multiply-add is written out.
//
// The AVX-512 build uses the same 256-bit code as the AVX2 build (it compiles with AVX2 and FMA
// available, and gets 32 vector registers), but for the register blocks of the plain pass,
// which are 512 bits wide (KMEANS_KERNEL_AVX512 below): its results equal the AVX2 build's.
#pragma once

#include <cmath>
#include <cstdint>

#include "../chunk.hpp"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define KMEANS_KERNEL_AVX2 1
#else
#define KMEANS_KERNEL_AVX2 0
#endif

// The AVX-512 build also scores the plain passes' register blocks with 512-bit multiply-adds
// (isa/score.hpp: score_wide): each lane is the same chain of fused multiply-adds as in the
// 256-bit code, so the scores, and every result, are the same bits.
#if KMEANS_KERNEL_AVX2 && defined(__AVX512F__) && defined(__AVX512DQ__)
#define KMEANS_KERNEL_AVX512 1
#else
#define KMEANS_KERNEL_AVX512 0
#endif

#ifndef KMEANS_ISA_NAMESPACE
#error "KMEANS_ISA_NAMESPACE must be defined by the build"
#endif

namespace kmeans {
namespace KMEANS_ISA_NAMESPACE {
namespace {

constexpr index_t G = kCenterGroup;  // centers per group: one 8-float vector of centers_t
constexpr int R = 4;                 // rows per register block (they share a column list)
#if KMEANS_KERNEL_AVX2
constexpr int V = 3;                 // center groups per register block: 12 ymm accumulators
#else
constexpr int V = 1;                 // 8 SSE accumulators
#endif
constexpr index_t kSweepRows = kColumnLists * R;  // rows whose lists are kept at once

static_assert(G == 8, "the kernel is written for groups of 8 centers");
static_assert(R == 4, "for_row_block dispatches 1 to 4 rows");

// A register block of NR rows, NR known at compile time.
template <int NR>
struct RowBlock {
    static constexpr int rows = NR;
};

// f(RowBlock<nr>{}) for a register block of nr = 1 ... R rows: the one place where a run-time
// row count becomes the template argument of the register-blocked code. f is usually a generic
// lambda: [&](auto block) { constexpr int NR = decltype(block)::rows; ... }.
template <class F>
inline void for_row_block(index_t nr, const F& f) {
    switch (nr) {
        case 4: f(RowBlock<4>{}); break;
        case 3: f(RowBlock<3>{}); break;
        case 2: f(RowBlock<2>{}); break;
        default: f(RowBlock<1>{}); break;
    }
}

// Position of the set bits of an 8-bit mask, in increasing order, and how many there are:
// turns a comparison mask into column indices without a branch per column.
struct CompressTable {
    std::uint8_t pos[256][8];
    std::uint8_t count[256];
};

constexpr CompressTable make_compress_table() {
    CompressTable t{};
    for (int m = 0; m < 256; ++m) {
        int n = 0;
        for (int b = 0; b < 8; ++b) {
            if (m & (1 << b)) t.pos[m][n++] = static_cast<std::uint8_t>(b);
        }
        t.count[m] = static_cast<std::uint8_t>(n);
    }
    return t;
}

constexpr CompressTable kCompress = make_compress_table();

// Columns where any of the NR rows is nonzero, in increasing order; returns their number.
// Also sets bit g of groups (group_words(d) words) when any of the rows is nonzero in columns
// [8g, 8g + 8). list needs room for d entries.
template <int NR>
index_t column_list(const float* const* x, index_t d, std::int32_t* list, std::uint32_t* groups) {
    index_t n = 0, j = 0;
    for (index_t w = 0; w < group_words(d); ++w) groups[w] = 0;
#if KMEANS_KERNEL_AVX2
    const __m256i zero = _mm256_setzero_si256();
    // words of 32 groups of 8 columns; the word's bits are gathered in a register
    for (index_t word = 0; word < d / 256 + 1 && j + 8 <= d; ++word) {
        std::uint32_t bits = 0;
        const index_t word_end = j + 256 < d ? j + 256 : d;
        for (std::uint32_t bit = 1; j + 8 <= word_end; j += 8, bit <<= 1) {
            // a column is skipped when all its values are +0 or -0: or the bits, drop the signs
            __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[0] + j));
            for (int r = 1; r < NR; ++r) {
                v = _mm256_or_si256(v, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[r] + j)));
            }
            v = _mm256_slli_epi32(v, 1);
            const unsigned m =
                ~static_cast<unsigned>(_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(v, zero)))) & 0xffu;
            const __m128i pos8 = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(kCompress.pos[m]));
            const __m256i pos = _mm256_add_epi32(_mm256_cvtepu8_epi32(pos8),
                                                 _mm256_set1_epi32(static_cast<int>(j)));
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(list + n), pos);
#ifdef __POPCNT__
            n += _mm_popcnt_u32(m);
#else
            n += kCompress.count[m];
#endif
            bits |= m != 0 ? bit : 0u;
        }
        groups[word] = bits;
    }
#endif
    for (; j < d; ++j) {
        bool nonzero = false;
        for (int r = 0; r < NR; ++r) nonzero = nonzero || x[r][j] != 0.0f;
        list[n] = static_cast<std::int32_t>(j);
        n += nonzero ? 1 : 0;
        groups[j / 256] |= static_cast<std::uint32_t>(nonzero) << ((j / 8) % 32);
    }
    return n;
}

// Bit j % 8 of mask[j / 8] set when x_j is nonzero (+0 and -0 count as zero, as in
// column_list); ceil(d / 8) bytes.
inline void column_mask(const float* x, index_t d, std::uint8_t* mask) {
    index_t j = 0;
#if KMEANS_KERNEL_AVX2
    const __m256 zero = _mm256_setzero_ps();
    for (; j + 8 <= d; j += 8) {
        mask[j / 8] = static_cast<std::uint8_t>(
            _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + j), zero, _CMP_NEQ_UQ)));
    }
#endif
    for (; j < d; j += 8) {
        unsigned m = 0;
        for (index_t l = 0; l < 8 && j + l < d; ++l) m |= (x[j + l] != 0.0f ? 1u : 0u) << l;
        mask[j / 8] = static_cast<std::uint8_t>(m);
    }
}

// The columns where any of the nr rows is nonzero, in increasing order, from their column
// masks (see column_mask): the list column_list would build, without reading the rows.
inline index_t mask_column_list(const std::uint8_t* const* masks, index_t nr, index_t d,
                                std::int32_t* list) {
    index_t n = 0;
    for (index_t b = 0; b * 8 < d; ++b) {
        unsigned m = 0;
        for (index_t r = 0; r < nr; ++r) m |= masks[r][b];
        const std::int32_t base = static_cast<std::int32_t>(b * 8);
        // all 8 slots written, count kept (list has room past d)
#if KMEANS_KERNEL_AVX2
        const __m128i pos8 = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(kCompress.pos[m]));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(list + n),
                            _mm256_add_epi32(_mm256_cvtepu8_epi32(pos8), _mm256_set1_epi32(base)));
#else
        for (unsigned t = 0; t < 8; ++t) list[n + t] = base + kCompress.pos[m][t];
#endif
        n += kCompress.count[m];
    }
    return n;
}

#if KMEANS_KERNEL_AVX2
// The smallest and the sum of the 8 lanes (the sum in a fixed order).
inline float lane_min(__m256 a) {
    __m128 h = _mm_min_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    h = _mm_min_ps(h, _mm_movehl_ps(h, h));
    h = _mm_min_ss(h, _mm_shuffle_ps(h, h, 1));
    return _mm_cvtss_f32(h);
}

inline float lane_sum(__m256 a) {
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
    return _mm_cvtss_f32(h);
}
#endif

// sum (x_j - c_j)^2: four 8-lane accumulators over blocks of 32 columns, combined in a fixed
// order, then the remaining columns one by one. With GROUPS, also sets the bit of groups (as
// in column_list, for this row alone) of every full 8-column group where x is nonzero; the
// arithmetic is the same either way.
template <bool GROUPS = false>
inline float squared_distance(const float* x, const float* c, index_t d,
                              std::uint32_t* groups = nullptr) {
    index_t j = 0;
    float s = 0.0f;
    std::uint64_t bits = 0;   // groups [base, base + 64)
    index_t base = 0;
    auto flush = [&]() {
        if constexpr (GROUPS) {
            groups[base / 32] = static_cast<std::uint32_t>(bits);
            if (base + 32 < (d + 7) / 8) groups[base / 32 + 1] = static_cast<std::uint32_t>(bits >> 32);
            base += 64;
            bits = 0;
        }
    };
#if KMEANS_KERNEL_AVX2
    const __m256i no_sign = _mm256_set1_epi32(0x7fffffff);
    auto nonzero = [&](const float* p) -> std::uint64_t {
        return _mm256_testz_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)), no_sign) ? 0u : 1u;
    };
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (; j + 32 <= d; j += 32) {
        const __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(x + j), _mm256_loadu_ps(c + j));
        const __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(x + j + 8), _mm256_loadu_ps(c + j + 8));
        const __m256 d2 = _mm256_sub_ps(_mm256_loadu_ps(x + j + 16), _mm256_loadu_ps(c + j + 16));
        const __m256 d3 = _mm256_sub_ps(_mm256_loadu_ps(x + j + 24), _mm256_loadu_ps(c + j + 24));
        a0 = _mm256_fmadd_ps(d0, d0, a0);
        a1 = _mm256_fmadd_ps(d1, d1, a1);
        a2 = _mm256_fmadd_ps(d2, d2, a2);
        a3 = _mm256_fmadd_ps(d3, d3, a3);
        if constexpr (GROUPS) {
            const std::uint64_t m = nonzero(x + j) | nonzero(x + j + 8) << 1 |
                                    nonzero(x + j + 16) << 2 | nonzero(x + j + 24) << 3;
            bits |= m << (j / 8 - base);
            if (j / 8 + 4 - base == 64) flush();
        }
    }
    for (; j + 8 <= d; j += 8) {
        const __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(x + j), _mm256_loadu_ps(c + j));
        a0 = _mm256_fmadd_ps(d0, d0, a0);
        if constexpr (GROUPS) {
            bits |= nonzero(x + j) << (j / 8 - base);
            if (j / 8 + 1 - base == 64) flush();
        }
    }
    s = lane_sum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
#else
    float acc[G];
    for (index_t l = 0; l < G; ++l) acc[l] = 0.0f;
    for (; j + G <= d; j += G) {
        bool any = false;
        for (index_t l = 0; l < G; ++l) {
            const float diff = x[j + l] - c[j + l];
            acc[l] = acc[l] + diff * diff;
            any = any || x[j + l] != 0.0f;
        }
        if constexpr (GROUPS) {
            bits |= static_cast<std::uint64_t>(any) << (j / 8 - base);
            if (j / 8 + 1 - base == 64) flush();
        }
    }
    for (index_t l = 0; l < G; ++l) s += acc[l];
#endif
    if constexpr (GROUPS) {
        if (base < (d + 7) / 8) flush();
    }
    for (; j < d; ++j) {
        const float diff = x[j] - c[j];
        s = s + diff * diff;
    }
    return s;
}

// sum += w * x (WEIGHTED false: sum += x), in double, over the full 8-column groups whose bit is
// set in groups (the others are zero in x: adding +-0 changes no sum, which is never -0), then
// the last d % 8 columns.
template <bool WEIGHTED>
void add_row(double* sum, const float* x, double w, index_t d, const std::uint32_t* groups) {
    const index_t full = d / 8;
    for (index_t word = 0; word * 32 < full; ++word) {
        std::uint32_t bits = groups[word];
        if ((word + 1) * 32 > full) bits &= (1u << (full - word * 32)) - 1u;
        while (bits != 0) {
            const index_t j = (word * 32 + __builtin_ctz(bits)) * 8;
            bits &= bits - 1u;
#if KMEANS_KERNEL_AVX2
            const __m256d lo = _mm256_cvtps_pd(_mm_loadu_ps(x + j));
            const __m256d hi = _mm256_cvtps_pd(_mm_loadu_ps(x + j + 4));
            if constexpr (WEIGHTED) {
                const __m256d wv = _mm256_set1_pd(w);
                _mm256_storeu_pd(sum + j, _mm256_fmadd_pd(wv, lo, _mm256_loadu_pd(sum + j)));
                _mm256_storeu_pd(sum + j + 4, _mm256_fmadd_pd(wv, hi, _mm256_loadu_pd(sum + j + 4)));
            } else {
                _mm256_storeu_pd(sum + j, _mm256_add_pd(_mm256_loadu_pd(sum + j), lo));
                _mm256_storeu_pd(sum + j + 4, _mm256_add_pd(_mm256_loadu_pd(sum + j + 4), hi));
            }
#else
            for (index_t l = j; l < j + 8; ++l) {
                if constexpr (WEIGHTED) {
                    sum[l] = sum[l] + w * static_cast<double>(x[l]);
                } else {
                    sum[l] = sum[l] + static_cast<double>(x[l]);
                }
            }
#endif
        }
    }
    for (index_t j = full * 8; j < d; ++j) {
        if constexpr (WEIGHTED) {
#if KMEANS_KERNEL_AVX2
            sum[j] = __builtin_fma(w, static_cast<double>(x[j]), sum[j]);
#else
            sum[j] = sum[j] + w * static_cast<double>(x[j]);
#endif
        } else {
            sum[j] = sum[j] + static_cast<double>(x[j]);
        }
    }
}

}  // namespace
}  // namespace KMEANS_ISA_NAMESPACE
}  // namespace kmeans
