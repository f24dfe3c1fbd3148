// Distance, argmin and partial sums for one chunk of rows: the hot loop of every pass.
//
// This file is compiled several times, once per instruction set (see CMakeLists.txt), each
// time with a different KMEANS_ISA_NAMESPACE and different -m flags; dispatch.cpp picks the
// best one the running CPU supports. Everything here has internal linkage, and no standard
// library templates are used, so that no AVX-512 code can leak into the generic build. The
// build compiles it with -ffp-contract=off: every fused multiply-add is written out.
//
// Nearest center: the argmin over c of |c|^2 - 2 x.c. The dot product x.c is one chain of
// multiply-adds over the columns in increasing order, a single float32 accumulator per (row,
// center), so every score is defined by the row and the center alone:
//
//   AVX2 and AVX-512 builds: acc = fma(x_j, c_j, acc);   generic build: acc = acc + x_j * c_j
//   score = |c|^2 - 2 acc                                (2 acc is exact: one rounding)
//
// Columns where x_j == 0 are skipped: starting from +0, the accumulator is never -0, so adding
// x_j * c_j = +-0 leaves it unchanged bit for bit. Skipping is therefore exact, and a row gets
// the same scores whichever other rows share its register block (MNIST rows are ~80% zeros).
// The accelerated algorithms rely on this: they rescore single rows with the same arithmetic.
//
// Layout: R rows share one list of the columns where any of them is nonzero; each list entry
// broadcasts the R values x_r[j] and multiplies them with V groups of 8 centers read from the
// transposed copy (ChunkArgs::centers_t), into R x V accumulators that stay in registers. The
// centers are visited in blocks that stay in L2 while a sweep of kColumnLists * R rows goes
// through them. The squared distance reported for the chosen center is then computed directly
// as sum (x - c)^2, which is accurate where the expanded form would cancel, and the row is
// added to its cluster's double sums while it is still in cache.
//
// The AVX-512 build uses the same 256-bit code (it compiles with AVX2 and FMA available, and
// gets 32 vector registers): its results equal the AVX2 build's. A 512-bit variant would need
// a machine with AVX-512 to tune and test on.
//
// process_chunk_bounded is the same pass for Hamerly's algorithm (see hamerly.hpp): it scores
// only the rows whose bounds do not prove their label, with the same code, and computes the
// distances, objectives and sums of every row as process_chunk does, so that its outputs are
// process_chunk's bit for bit. process_chunk_grouped (Yinyang, Elkan; see grouped.hpp) goes
// further: a row is scored only against the units of 16 centers its bounds cannot rule out,
// unit by unit over the rows that need it, and its argmin keeps the lowest index on ties.
// Both can update exact sums incrementally and, in lean passes, skip rows unread (BoundArgs).
#include <cmath>
#include <cstdint>

#include "chunk.hpp"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define KMEANS_KERNEL_AVX2 1
#else
#define KMEANS_KERNEL_AVX2 0
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
#ifndef KMEANS_PREFETCH_BLOCKS
#define KMEANS_PREFETCH_BLOCKS 1   // prefetch distance, in register blocks of rows
#endif
#ifndef KMEANS_PREFETCH_HINT
#define KMEANS_PREFETCH_HINT _MM_HINT_T0
#endif
#ifndef KMEANS_BLOCK_KB
#define KMEANS_BLOCK_KB 256
#endif
constexpr index_t kBlockBytes = KMEANS_BLOCK_KB * 1024;  // centers_t kept hot per block (L2)

static_assert(G == 8, "the kernel is written for groups of 8 centers");

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
// Also sets bit g of groups (ceil(d / 8) bits, in 32-bit words) when any of the rows is nonzero
// in columns [8g, 8g + 8). list needs room for d entries.
template <int NR>
index_t column_list(const float* const* x, index_t d, std::int32_t* list, std::uint32_t* groups) {
    index_t n = 0, j = 0;
    for (index_t w = 0; w < (d + 255) / 256; ++w) groups[w] = 0;
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

#if KMEANS_KERNEL_AVX2
// One row's scores |c|^2 - 2 acc for NV groups of centers from group g; keeps the lowest
// (strict '<' against the running best, lowest lane among equals).
template <int NV, bool SECOND>
inline void update_best(__m256 acc0, __m256 acc1, __m256 acc2, __m256 n0, __m256 n1, __m256 n2,
                        index_t g, float& best, float* second, std::int32_t& label) {
    // acc + acc is exact: one rounding, as in |c|^2 - 2 acc
    const __m256 s0 = _mm256_sub_ps(n0, _mm256_add_ps(acc0, acc0));
    const __m256 s1 = _mm256_sub_ps(n1, _mm256_add_ps(acc1, acc1));
    const __m256 s2 = _mm256_sub_ps(n2, _mm256_add_ps(acc2, acc2));
    __m256 m = s0;
    if constexpr (NV > 1) m = _mm256_min_ps(m, s1);
    if constexpr (NV > 2) m = _mm256_min_ps(m, s2);
    __m128 h = _mm_min_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_min_ps(h, _mm_movehl_ps(h, h));
    h = _mm_min_ss(h, _mm_shuffle_ps(h, h, 1));
    const float lowest = _mm_cvtss_f32(h);
    if constexpr (SECOND) {
        // The second smallest score (of all centers but the chosen one): within these groups,
        // the smallest once one lane holding `lowest` is left out.
        const __m256 target = _mm256_set1_ps(lowest);
        const __m256 inf = _mm256_set1_ps(INFINITY);
        const __m256 e0 = _mm256_cmp_ps(s0, target, _CMP_EQ_OQ);
        const __m256 e1 = _mm256_cmp_ps(s1, target, _CMP_EQ_OQ);
        const __m256 e2 = _mm256_cmp_ps(s2, target, _CMP_EQ_OQ);
        unsigned equal = static_cast<unsigned>(_mm256_movemask_ps(e0));
        if constexpr (NV > 1) equal |= static_cast<unsigned>(_mm256_movemask_ps(e1)) << 8;
        if constexpr (NV > 2) equal |= static_cast<unsigned>(_mm256_movemask_ps(e2)) << 16;
        float next = lowest;  // two lanes hold the lowest value
        if ((equal & (equal - 1u)) == 0) {
            __m256 m2 = _mm256_blendv_ps(s0, inf, e0);
            if constexpr (NV > 1) m2 = _mm256_min_ps(m2, _mm256_blendv_ps(s1, inf, e1));
            if constexpr (NV > 2) m2 = _mm256_min_ps(m2, _mm256_blendv_ps(s2, inf, e2));
            __m128 h2 = _mm_min_ps(_mm256_castps256_ps128(m2), _mm256_extractf128_ps(m2, 1));
            h2 = _mm_min_ps(h2, _mm_movehl_ps(h2, h2));
            h2 = _mm_min_ss(h2, _mm_shuffle_ps(h2, h2, 1));
            next = _mm_cvtss_f32(h2);
        }
        if (lowest < best) {
            *second = best < next ? best : next;
            best = lowest;
            label = static_cast<std::int32_t>(g * G + __builtin_ctz(equal));
        } else if (lowest < *second) {
            *second = lowest;
        }
        return;
    }
    if (lowest < best) {
        const __m256 target = _mm256_set1_ps(lowest);
        unsigned mask = static_cast<unsigned>(_mm256_movemask_ps(_mm256_cmp_ps(s0, target, _CMP_EQ_OQ)));
        if constexpr (NV > 1) {
            mask |= static_cast<unsigned>(_mm256_movemask_ps(_mm256_cmp_ps(s1, target, _CMP_EQ_OQ))) << 8;
        }
        if constexpr (NV > 2) {
            mask |= static_cast<unsigned>(_mm256_movemask_ps(_mm256_cmp_ps(s2, target, _CMP_EQ_OQ))) << 16;
        }
        if (mask != 0) {
            best = lowest;
            label = static_cast<std::int32_t>(g * G + __builtin_ctz(mask));
        }
    }
}
#endif

// Scores of NR rows against NV groups of centers starting at group g (centers g*8 ...);
// updates each row's best score and label (strict '<': the lowest index wins ties, as the
// groups are visited in increasing order and the lowest lane wins within a group).
//
// With RAW, the scores themselves are stored instead: row r's score of center (g + v) * 8 + l
// goes to second[r * NV * 8 + v * 8 + l] (best and label are not used).
template <int NR, int NV, bool SECOND, bool RAW = false>
__attribute__((noinline)) void score_groups(const float* const* x, const float* centers_t, index_t d, const float* sqnorm,
                  index_t g, const std::int32_t* list, index_t n_list, float* best,
                  std::int32_t* label, const char* prefetch, index_t prefetch_lines,
                  float* second) {
    const index_t stride = d * G;  // floats from one group to the next
    const float* ct = centers_t + g * stride;
#if KMEANS_KERNEL_AVX2
    // Named accumulators a<row><group> (not an array, which compilers may keep in memory).
    const __m256 zero = _mm256_setzero_ps();
    __m256 a00 = zero, a01 = zero, a02 = zero, a10 = zero, a11 = zero, a12 = zero;
    __m256 a20 = zero, a21 = zero, a22 = zero, a30 = zero, a31 = zero, a32 = zero;
    static_assert(NR <= 4 && NV <= 3, "register block too large");
    // One cache line of prefetch per list entry (rows of a later block, see sweep): spread
    // over the multiply-adds, memory reads overlap the arithmetic.
    const index_t with_prefetch = prefetch_lines < n_list ? prefetch_lines : n_list;
#define KM_ROW(r)                                                                     \
        if constexpr (NR > r) {                                                       \
            const __m256 b = _mm256_broadcast_ss(x[r] + j);                           \
            a##r##0 = _mm256_fmadd_ps(b, c0, a##r##0);                                \
            if constexpr (NV > 1) a##r##1 = _mm256_fmadd_ps(b, c1, a##r##1);          \
            if constexpr (NV > 2) a##r##2 = _mm256_fmadd_ps(b, c2, a##r##2);          \
        }
#define KM_STEP                                                                       \
        const index_t j = list[t];                                                    \
        const float* cj = ct + j * G;                                                 \
        const __m256 c0 = _mm256_loadu_ps(cj);                                        \
        const __m256 c1 = NV > 1 ? _mm256_loadu_ps(cj + stride) : zero;               \
        const __m256 c2 = NV > 2 ? _mm256_loadu_ps(cj + 2 * stride) : zero;           \
        KM_ROW(0) KM_ROW(1) KM_ROW(2) KM_ROW(3)
    index_t t = 0;
    for (; t < with_prefetch; ++t) {
        _mm_prefetch(prefetch + t * 64, KMEANS_PREFETCH_HINT);
        KM_STEP
    }
    for (; t < n_list; ++t) {
        KM_STEP
    }
#undef KM_STEP
#undef KM_ROW
    const __m256 n0 = _mm256_loadu_ps(sqnorm + g * G);
    const __m256 n1 = NV > 1 ? _mm256_loadu_ps(sqnorm + (g + 1) * G) : zero;
    const __m256 n2 = NV > 2 ? _mm256_loadu_ps(sqnorm + (g + 2) * G) : zero;
    if constexpr (RAW) {
        // the scores of update_best, |c|^2 - (acc + acc), stored
#define KM_STORE(r)                                                                                  \
        if constexpr (NR > r) {                                                                      \
            float* out = second + r * NV * G;                                                        \
            _mm256_storeu_ps(out, _mm256_sub_ps(n0, _mm256_add_ps(a##r##0, a##r##0)));              \
            if constexpr (NV > 1) _mm256_storeu_ps(out + G, _mm256_sub_ps(n1, _mm256_add_ps(a##r##1, a##r##1)));     \
            if constexpr (NV > 2) _mm256_storeu_ps(out + 2 * G, _mm256_sub_ps(n2, _mm256_add_ps(a##r##2, a##r##2))); \
        }
        KM_STORE(0) KM_STORE(1) KM_STORE(2) KM_STORE(3)
#undef KM_STORE
        return;
    }
    if constexpr (NR > 0) update_best<NV, SECOND>(a00, a01, a02, n0, n1, n2, g, best[0], second + 0, label[0]);
    if constexpr (NR > 1) update_best<NV, SECOND>(a10, a11, a12, n0, n1, n2, g, best[1], second + 1, label[1]);
    if constexpr (NR > 2) update_best<NV, SECOND>(a20, a21, a22, n0, n1, n2, g, best[2], second + 2, label[2]);
    if constexpr (NR > 3) update_best<NV, SECOND>(a30, a31, a32, n0, n1, n2, g, best[3], second + 3, label[3]);
#else
    (void)prefetch;
    (void)prefetch_lines;
    float acc[NR][NV][G];
    for (int r = 0; r < NR; ++r)
        for (int v = 0; v < NV; ++v)
            for (index_t l = 0; l < G; ++l) acc[r][v][l] = 0.0f;
    for (index_t t = 0; t < n_list; ++t) {
        const index_t j = list[t];
        const float* cj = ct + j * G;
        for (int r = 0; r < NR; ++r) {
            const float xv = x[r][j];
            for (int v = 0; v < NV; ++v)
                for (index_t l = 0; l < G; ++l) acc[r][v][l] = acc[r][v][l] + xv * cj[v * stride + l];
        }
    }
    for (int r = 0; r < NR; ++r) {
        for (int v = 0; v < NV; ++v) {
            for (index_t l = 0; l < G; ++l) {
                const float score = sqnorm[(g + v) * G + l] - 2.0f * acc[r][v][l];
                if constexpr (RAW) {
                    second[(r * NV + v) * G + l] = score;
                    continue;
                }
                if (score < best[r]) {
                    if constexpr (SECOND) second[r] = best[r];
                    best[r] = score;
                    label[r] = static_cast<std::int32_t>((g + v) * G + l);
                } else if constexpr (SECOND) {
                    if (score < second[r]) second[r] = score;
                }
            }
        }
    }
#endif
}

// Groups [g0, g1) for NR rows: full register blocks of V groups, then the rest. The first
// register block also prefetches prefetch_lines cache lines from prefetch. With SECOND, also
// the second smallest score of each row (second, nullptr otherwise).
template <int NR, bool SECOND = false>
void score_block(const float* const* x, const ChunkArgs& a, index_t g0, index_t g1,
                 const std::int32_t* list, index_t n_list, float* best, std::int32_t* label,
                 const char* prefetch, index_t prefetch_lines, float* second = nullptr) {
    index_t g = g0;
    for (; g + V <= g1; g += V) {
        score_groups<NR, V, SECOND>(x, a.centers_t, a.d, a.center_sqnorm, g, list, n_list, best,
                                    label, prefetch, prefetch_lines, second);
        prefetch_lines = 0;
    }
#if KMEANS_KERNEL_AVX2
    if (g1 - g == 2) {
        score_groups<NR, 2, SECOND>(x, a.centers_t, a.d, a.center_sqnorm, g, list, n_list, best,
                                    label, prefetch, prefetch_lines, second);
    } else if (g1 - g == 1) {
        score_groups<NR, 1, SECOND>(x, a.centers_t, a.d, a.center_sqnorm, g, list, n_list, best,
                                    label, prefetch, prefetch_lines, second);
    }
#endif
}

#if KMEANS_KERNEL_AVX2
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

// sum += w * x (w == nullptr: sum += x), in double, over the full 8-column groups whose bit is
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

// Rows [s0, s1) of the chunk (at most kSweepRows): column lists, then the center blocks, each
// visited by every register block of rows while it is in cache; then, while the rows are still
// in cache, their distances, objectives and sums (in row order).
void sweep(ChunkArgs& a, index_t s0, index_t s1, index_t n_groups, index_t block_groups,
           bool accumulate, double& objective, double& sum_dist) {
    const index_t d = a.d, list_stride = d + d / 8 + 16;
    index_t n_list[kColumnLists];
    const float* x[R];
    index_t b = 0;
    for (index_t r0 = s0; r0 < s1; r0 += R, ++b) {
        const index_t nr = s1 - r0 < R ? s1 - r0 : R;
        for (index_t r = 0; r < nr; ++r) x[r] = a.X + (r0 + r) * d;
        std::int32_t* list = a.column_lists + b * list_stride;
        std::uint32_t* groups = reinterpret_cast<std::uint32_t*>(list + d);
        switch (nr) {
            case 4: n_list[b] = column_list<4>(x, d, list, groups); break;
            case 3: n_list[b] = column_list<3>(x, d, list, groups); break;
            case 2: n_list[b] = column_list<2>(x, d, list, groups); break;
            default: n_list[b] = column_list<1>(x, d, list, groups); break;
        }
    }
    for (index_t g0 = 0; g0 < n_groups; g0 += block_groups) {
        const index_t g1 = g0 + block_groups < n_groups ? g0 + block_groups : n_groups;
        b = 0;
        for (index_t r0 = s0; r0 < s1; r0 += R, ++b) {
            const index_t nr = s1 - r0 < R ? s1 - r0 : R;
            for (index_t r = 0; r < nr; ++r) x[r] = a.X + (r0 + r) * d;
            const std::int32_t* list = a.column_lists + b * list_stride;
            float* best = a.best_score + r0;
            std::int32_t* label = a.labels + r0;
            // single sweeps of one register block: prefetch the rows of a later block
            const char* prefetch = nullptr;
            index_t prefetch_lines = 0;
            if (KMEANS_PREFETCH_BLOCKS > 0 && s1 - s0 == R && g0 == 0) {
                const index_t p0 = r0 + KMEANS_PREFETCH_BLOCKS * R;
                const index_t p1 = p0 + R < a.rows ? p0 + R : a.rows;
                if (p0 < p1) {
                    prefetch = reinterpret_cast<const char*>(a.X + p0 * d);
                    prefetch_lines = ((p1 - p0) * d * static_cast<index_t>(sizeof(float)) + 63) / 64;
                }
            }
            switch (nr) {
                case 4: score_block<4>(x, a, g0, g1, list, n_list[b], best, label, prefetch, prefetch_lines); break;
                case 3: score_block<3>(x, a, g0, g1, list, n_list[b], best, label, prefetch, prefetch_lines); break;
                case 2: score_block<2>(x, a, g0, g1, list, n_list[b], best, label, prefetch, prefetch_lines); break;
                default: score_block<1>(x, a, g0, g1, list, n_list[b], best, label, prefetch, prefetch_lines); break;
            }
        }
    }
    for (index_t i = s0; i < s1; ++i) {
        const float* xi = a.X + i * d;
        const index_t label = a.labels[i];
        const float d2 = squared_distance(xi, a.centers + label * d, d);
        a.sq_dist[i] = d2;
        const double w = a.weights ? a.weights[i] : 1.0;
        objective += w * static_cast<double>(d2);
        sum_dist += w * std::sqrt(static_cast<double>(d2));
        if (accumulate) {
            const std::int32_t* list = a.column_lists + ((i - s0) / R) * list_stride;
            const auto* groups = reinterpret_cast<const std::uint32_t*>(list + d);
            if (a.weights) {
                add_row<true>(a.sums + label * d, xi, w, d, groups);
            } else {
                add_row<false>(a.sums + label * d, xi, 1.0, d, groups);
            }
            a.weight_sums[label] += w;
        }
    }
}

}  // namespace

void process_chunk(ChunkArgs& a, bool accumulate) {
    const index_t rows = a.rows, d = a.d, k = a.k;
    const index_t n_groups = (k + G - 1) / G;
    for (index_t i = 0; i < rows; ++i) {
        a.best_score[i] = INFINITY;
        a.labels[i] = 0;
    }
    // Groups of centers per cache block: a multiple of V, at least V.
    index_t block_groups = kBlockBytes / (d * G * static_cast<index_t>(sizeof(float)));
    block_groups = block_groups < V ? V : block_groups - block_groups % V;

    // With one block of centers, a sweep is one register block of rows: its rows stay in L1
    // from the column list to the sums.
    const index_t sweep_rows = n_groups <= block_groups ? R : kSweepRows;
    double objective = 0.0, sum_dist = 0.0;
    for (index_t s0 = 0; s0 < rows; s0 += sweep_rows) {
        const index_t s1 = s0 + sweep_rows < rows ? s0 + sweep_rows : rows;
        sweep(a, s0, s1, n_groups, block_groups, accumulate, objective, sum_dist);
    }
    a.objective = objective;
    a.sum_dist = sum_dist;
}

namespace {

// Rows rows[0 .. m) (any rows of the chunk, by pointer; m <= kSweepRows): the smallest score and
// its center (lowest index on ties), and the second smallest score, against every center, with
// the arithmetic of a pass (so the same label as a pass would give).
void score_rows(const ChunkArgs& a, const float* const* rows, index_t m, index_t n_groups,
                index_t block_groups, float* best, float* second, std::int32_t* label) {
    const index_t d = a.d, list_stride = d + d / 8 + 16;
    index_t n_list[kColumnLists];
    index_t b = 0;
    for (index_t r0 = 0; r0 < m; r0 += R, ++b) {
        const index_t nr = m - r0 < R ? m - r0 : R;
        std::int32_t* list = a.column_lists + b * list_stride;
        auto* groups = reinterpret_cast<std::uint32_t*>(list + d);
        switch (nr) {
            case 4: n_list[b] = column_list<4>(rows + r0, d, list, groups); break;
            case 3: n_list[b] = column_list<3>(rows + r0, d, list, groups); break;
            case 2: n_list[b] = column_list<2>(rows + r0, d, list, groups); break;
            default: n_list[b] = column_list<1>(rows + r0, d, list, groups); break;
        }
    }
    for (index_t i = 0; i < m; ++i) {
        best[i] = second[i] = INFINITY;
        label[i] = 0;
    }
    for (index_t g0 = 0; g0 < n_groups; g0 += block_groups) {
        const index_t g1 = g0 + block_groups < n_groups ? g0 + block_groups : n_groups;
        b = 0;
        for (index_t r0 = 0; r0 < m; r0 += R, ++b) {
            const index_t nr = m - r0 < R ? m - r0 : R;
            const std::int32_t* list = a.column_lists + b * list_stride;
            const float* const* x = rows + r0;
            switch (nr) {
                case 4: score_block<4, true>(x, a, g0, g1, list, n_list[b], best + r0, label + r0, nullptr, 0, second + r0); break;
                case 3: score_block<3, true>(x, a, g0, g1, list, n_list[b], best + r0, label + r0, nullptr, 0, second + r0); break;
                case 2: score_block<2, true>(x, a, g0, g1, list, n_list[b], best + r0, label + r0, nullptr, 0, second + r0); break;
                default: score_block<1, true>(x, a, g0, g1, list, n_list[b], best + r0, label + r0, nullptr, 0, second + r0); break;
            }
        }
    }
}

// The end of a bounded pass, once labels and sq_dist hold every row's result: objectives and
// sums in row order, as a pass adds them (incremental: only the rows whose label differs from
// previous, +x to the new cluster and -x to the old one; see BoundArgs::incremental).
// row_groups holds each row's nonzero 8-column groups.
// A scored row's new label; its distance (and nonzero groups) again when the label changed or
// nothing was computed for it yet (first pass), and its upper bound from that distance.
inline void store_label(ChunkArgs& a, index_t i, std::int32_t label, bool score_all,
                        std::uint32_t* groups, double* upper, double distance_error) {
    const bool changed = score_all || label != a.labels[i];
    a.labels[i] = label;
    if (changed) {
        a.sq_dist[i] = squared_distance<true>(a.X + i * a.d, a.centers + static_cast<index_t>(label) * a.d,
                                              a.d, groups);
    }
    upper[i] = std::sqrt(static_cast<double>(a.sq_dist[i]) * (1.0 + distance_error));
}

// lean: no objectives (sq_dist is not up to date for the rows a lean pass skipped).
void finish_rows(ChunkArgs& a, const std::int32_t* previous, const std::uint32_t* row_groups,
                 bool incremental, bool accumulate, bool lean = false) {
    const index_t d = a.d, group_words = (d + 255) / 256;
    double objective = 0.0, sum_dist = 0.0;
    for (index_t i = 0; i < a.rows; ++i) {
        const index_t label = a.labels[i];
        const double w = a.weights ? a.weights[i] : 1.0;
        if (!lean) {
            const float d2 = a.sq_dist[i];
            objective += w * static_cast<double>(d2);
            sum_dist += w * std::sqrt(static_cast<double>(d2));
        }
        if (!accumulate) continue;
        // the row's own nonzero groups: skipping zeros changes no sum (see add_row)
        const std::uint32_t* groups = row_groups + i * group_words;
        if (incremental) {
            const index_t old = previous[i];
            if (old == label) continue;
            add_row<false>(a.sums + label * d, a.X + i * d, 1.0, d, groups);
            add_row<true>(a.sums + old * d, a.X + i * d, -1.0, d, groups);
            a.weight_sums[label] += 1.0;
            a.weight_sums[old] -= 1.0;
            a.touched[label] = a.touched[old] = 1;
            continue;
        }
        if (a.weights) {
            add_row<true>(a.sums + label * d, a.X + i * d, w, d, groups);
        } else {
            add_row<false>(a.sums + label * d, a.X + i * d, 1.0, d, groups);
        }
        a.weight_sums[label] += w;
        a.touched[label] = 1;
    }
    a.objective = objective;
    a.sum_dist = sum_dist;
}

}  // namespace

void process_chunk_bounded(BoundArgs& ba, bool accumulate) {
    ChunkArgs& a = ba.chunk;
    const index_t rows = a.rows, d = a.d, k = a.k;
    const index_t n_groups = (k + G - 1) / G;
    const index_t group_words = (d + 255) / 256;
    index_t block_groups = kBlockBytes / (d * G * static_cast<index_t>(sizeof(float)));
    block_groups = block_groups < V ? V : block_groups - block_groups % V;

    // 1. Rows whose previous label is proven: every other center is farther by more than the
    //    rounding of the scores could hide. The distance to the previous center is needed
    //    anyway (it is the reported one when the label stays); it bounds the upper side.
    if (ba.refresh) {  // distances to the labelled centers, and the objectives
        for (index_t i = 0; i < rows; ++i) {
            a.sq_dist[i] = squared_distance(a.X + i * d, a.centers + static_cast<index_t>(a.labels[i]) * d, d);
        }
        finish_rows(a, nullptr, nullptr, false, false);
        return;
    }
    // Lean passes first settle what they can from the carried upper bounds, without reading
    // the rows; the rows left (in row_index) are then read with the next ones prefetched.
    index_t n_check = rows;
    if (ba.lean && !ba.score_all) {
        n_check = 0;
        for (index_t i = 0; i < rows; ++i) {
            const std::int32_t old = a.labels[i];
            ba.previous[i] = old;
            const double lower =
                ba.lower[i] - (old == ba.drift_argmax ? ba.drift_second : ba.drift_max);
            const double error =
                ba.score_error_const + ba.score_error_slope * std::sqrt(ba.x_sqnorm[i]);
            const double loose = (ba.upper[i] + ba.drift[old]) * (1.0 + 1e-12);
            const double gap_bound = ba.gap[old] - loose;
            const double bound = lower > gap_bound ? lower : gap_bound;
            if (bound > 0.0 && loose * loose + 2.0 * error < bound * bound) {
                ba.lower[i] = lower;
                ba.upper[i] = loose;
                continue;
            }
            ba.row_index[n_check++] = static_cast<std::int32_t>(i);
        }
    }
    // (row_index is compacted in place: the todo list never overtakes the check list)
    const bool listed = ba.lean && !ba.score_all;
    index_t n_todo = 0;
    for (index_t t = 0; t < n_check; ++t) {
        const index_t i = listed ? ba.row_index[t] : t;
        const float* x = a.X + i * d;
        if (listed && t + 2 < n_check) {  // the row after next, one line per 16 floats
            const char* ahead = reinterpret_cast<const char*>(a.X + ba.row_index[t + 2] * d);
            for (index_t off = 0; off < d * static_cast<index_t>(sizeof(float)); off += 64) {
                __builtin_prefetch(ahead + off);
            }
        }
        ba.previous[i] = a.labels[i];
        if (!ba.score_all) {
            const std::int32_t old = a.labels[i];
            const double lower =
                ba.lower[i] - (old == ba.drift_argmax ? ba.drift_second : ba.drift_max);
            const double error =
                ba.score_error_const + ba.score_error_slope * std::sqrt(ba.x_sqnorm[i]);
            const float d2 = squared_distance<true>(x, a.centers + static_cast<index_t>(old) * d, d,
                                                    ba.row_groups + i * group_words);
            a.sq_dist[i] = d2;
            const double upper = std::sqrt(static_cast<double>(d2) * (1.0 + ba.distance_error));
            ba.upper[i] = upper;
            const double gap_bound = ba.gap[old] - upper;  // d(x, c) >= d(old, c) - d(x, old)
            const double bound = lower > gap_bound ? lower : gap_bound;
            if (bound > 0.0 && upper * upper + 2.0 * error < bound * bound) {
                ba.lower[i] = lower;
                continue;
            }
        }
        ba.row_index[n_todo] = static_cast<std::int32_t>(i);
        ba.row_ptrs[n_todo] = x;
        ++n_todo;
    }
    // 2. The other rows against every center, with the scores of a pass.
    for (index_t t0 = 0; t0 < n_todo; t0 += kSweepRows) {
        const index_t m = n_todo - t0 < kSweepRows ? n_todo - t0 : kSweepRows;
        float best[kSweepRows];
        std::int32_t label[kSweepRows];
        float* second = ba.second_score + t0;
        score_rows(a, ba.row_ptrs + t0, m, n_groups, block_groups, best, second, label);
        for (index_t q = 0; q < m; ++q) {
            const index_t i = ba.row_index[t0 + q];
            // every center but the chosen one: exact squared distance >= second + |x|^2 - error
            const double error =
                ba.score_error_const + ba.score_error_slope * std::sqrt(ba.x_sqnorm[i]);
            const double low2 = static_cast<double>(second[q]) + ba.x_sqnorm[i] - error;
            ba.lower[i] = low2 > 0.0 ? std::sqrt(low2) : 0.0;
            store_label(a, i, label[q], ba.score_all, ba.row_groups + i * group_words,
                        ba.upper, ba.distance_error);
        }
    }
    ba.n_scored = n_todo;
    // 3. Objectives and sums in row order, as a pass adds them.
    finish_rows(a, ba.previous, ba.row_groups, ba.incremental && !ba.score_all, accumulate,
                ba.lean && !ba.score_all);
}

namespace {

// A lower bound on a distance, as a float rounded down (0 for v <= 0).
inline float round_down(double v) {
    if (!(v > 0.0)) return 0.0f;
    float f = static_cast<float>(v);
    if (static_cast<double>(f) > v) f = nextafterf(f, 0.0f);
    return f;
}

// Bit j % 8 of mask[j / 8] set when x_j is nonzero (+0 and -0 count as zero, as in
// column_list); ceil(d / 8) bytes.
void column_mask(const float* x, index_t d, std::uint8_t* mask) {
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
index_t mask_column_list(const std::uint8_t* const* masks, index_t nr, index_t d,
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

// Raw scores of NR rows against unit groups [g, g + ng) (ng = 1 or 2) into raw.
template <int NR>
void score_unit(const float* const* x, const ChunkArgs& a, index_t g, index_t ng,
                const std::int32_t* list, index_t n_list, float* raw) {
    if (ng == 2) {
        score_groups<NR, 2, false, true>(x, a.centers_t, a.d, a.center_sqnorm, g, list, n_list,
                                         nullptr, nullptr, nullptr, 0, raw);
    } else {
        score_groups<NR, 1, false, true>(x, a.centers_t, a.d, a.center_sqnorm, g, list, n_list,
                                         nullptr, nullptr, nullptr, 0, raw);
    }
}

}  // namespace

void process_chunk_grouped(GroupArgs& ga, bool accumulate) {
    ChunkArgs& a = ga.chunk;
    const index_t rows = a.rows, d = a.d, k = a.k, n_units = ga.n_units, nb = ga.n_bounds;
    const index_t n_groups = (k + G - 1) / G;
    const index_t group_words = (d + 255) / 256, mask_bytes = (d + 7) / 8;
    const bool per_center = ga.per_center;

    // 1. Rows whose previous label is proven (as in the bounded kernel, with the smallest of
    //    the row's bounds), and for the others the units their bounds cannot rule out. The
    //    unit of the previous center is always scored: the argmin is then taken over every
    //    center that could tie with or beat it.
    index_t n_todo = 0;
    for (index_t i = 0; i < rows; ++i) {
        const float* x = a.X + i * d;
        ga.previous[i] = a.labels[i];
        std::uint8_t* need = ga.need + n_todo * n_units;
        if (ga.score_all) {
            for (index_t u = 0; u < n_units; ++u) need[u] = 1;
            column_list<1>(&x, d, a.column_lists, ga.row_groups + i * group_words);
        } else {
            const std::int32_t old = a.labels[i];
            const index_t p_old = ga.position[old];
            const index_t u_old = p_old / kUnitCenters;
            const double error = ga.score_error_const + ga.score_error_slope * std::sqrt(ga.x_sqnorm[i]);
            float* lb = ga.lower + i * nb;
            double lowest = INFINITY;
            for (index_t b = 0; b < nb; ++b) {
                const double v = static_cast<double>(lb[b]) - ga.drift[b];
                lb[b] = round_down(v);
                if (!per_center || b != p_old) lowest = v < lowest ? v : lowest;
            }
            if (ga.lean) {
                // the upper bound carried from the last pass, without reading the row
                const double loose = (ga.upper[i] + ga.center_drift[old]) * (1.0 + 1e-12);
                if (lowest > 0.0 && loose * loose + 2.0 * error < lowest * lowest) {
                    ga.upper[i] = loose;
                    continue;
                }
            }
            const float d2 = squared_distance<true>(x, a.centers + static_cast<index_t>(old) * d, d,
                                                    ga.row_groups + i * group_words);
            a.sq_dist[i] = d2;
            const double upper = std::sqrt(static_cast<double>(d2) * (1.0 + ga.distance_error));
            ga.upper[i] = upper;
            const double limit = upper * upper + 2.0 * error;  // a bound b proves when b^2 > limit
            const double gap_bound = ga.gap[old] - upper;  // d(x, c) >= d(old, c) - d(x, old)
            const double bound = lowest > gap_bound ? lowest : gap_bound;
            if (bound > 0.0 && limit < bound * bound) continue;
            for (index_t u = 0; u < n_units; ++u) {
                double bu;
                if (per_center) {
                    const index_t p1 = (u + 1) * kUnitCenters < k ? (u + 1) * kUnitCenters : k;
                    bu = INFINITY;
                    for (index_t p = u * kUnitCenters; p < p1; ++p) {
                        if (p != p_old && lb[p] < bu) bu = lb[p];
                    }
                } else {
                    bu = lb[u];
                }
                bu = bu > gap_bound ? bu : gap_bound;
                need[u] = (u == u_old || !(bu > 0.0 && limit < bu * bu)) ? 1 : 0;
            }
        }
        column_mask(x, d, ga.column_masks + n_todo * mask_bytes);
        ga.row_index[n_todo] = static_cast<std::int32_t>(i);
        ga.row_ptrs[n_todo] = x;
        ++n_todo;
    }

    // 2. Sweeps of the remaining rows: unit by unit, the rows that need it in register blocks
    //    of R, their raw scores folded into each row's best (lowest caller index on ties, as
    //    a pass) and into its bounds.
    index_t n_scored = 0;
    for (index_t t0 = 0; t0 < n_todo; t0 += kSweepRows) {
        const index_t m = n_todo - t0 < kSweepRows ? n_todo - t0 : kSweepRows;
        float best[kSweepRows];
        std::int32_t label[kSweepRows];
        double error[kSweepRows];
        for (index_t q = 0; q < m; ++q) {
            best[q] = INFINITY;
            label[q] = 0;
            const index_t i = ga.row_index[t0 + q];
            error[q] = ga.score_error_const + ga.score_error_slope * std::sqrt(ga.x_sqnorm[i]);
        }
        std::int32_t selected[kSweepRows], previous_block[R] = {-1, -1, -1, -1};
        index_t previous_count = 0, n_list = 0;
        std::int32_t* list = a.column_lists;
        for (index_t u = 0; u < n_units; ++u) {
            const index_t g0 = u * kUnitGroups;
            const index_t ng = n_groups - g0 < kUnitGroups ? n_groups - g0 : kUnitGroups;
            index_t count = 0;
            for (index_t q = 0; q < m; ++q) {
                if (ga.need[(t0 + q) * n_units + u]) selected[count++] = static_cast<std::int32_t>(q);
            }
            for (index_t b0 = 0; b0 < count; b0 += R) {
                const index_t nr = count - b0 < R ? count - b0 : R;
                const float* x[R];
                bool same = nr == previous_count;
                for (index_t r = 0; r < nr; ++r) {
                    x[r] = ga.row_ptrs[t0 + selected[b0 + r]];
                    same = same && previous_block[r] == selected[b0 + r];
                    previous_block[r] = selected[b0 + r];
                }
                previous_count = nr;
                if (!same) {  // the same rows as the last block: its column list still holds
                    const std::uint8_t* masks[R];
                    for (index_t r = 0; r < nr; ++r) {
                        masks[r] = ga.column_masks + (t0 + selected[b0 + r]) * mask_bytes;
                    }
                    n_list = mask_column_list(masks, nr, d, list);
                }
                switch (nr) {
                    case 4: score_unit<4>(x, a, g0, ng, list, n_list, ga.raw); break;
                    case 3: score_unit<3>(x, a, g0, ng, list, n_list, ga.raw); break;
                    case 2: score_unit<2>(x, a, g0, ng, list, n_list, ga.raw); break;
                    default: score_unit<1>(x, a, g0, ng, list, n_list, ga.raw); break;
                }
                const index_t p0 = g0 * G, p1 = p0 + ng * G < k ? p0 + ng * G : k;
                for (index_t r = 0; r < nr; ++r) {
                    const index_t q = selected[b0 + r];
                    const index_t i = ga.row_index[t0 + q];
                    const float* sc = ga.raw + r * ng * G;
                    float lowest = INFINITY, next = INFINITY;
#if KMEANS_KERNEL_AVX2
                    if (!per_center) {
                        // the unit's smallest score, the lanes that hold it, and the second
                        // smallest (padding lanes score +inf); lanes are in caller's order
                        const __m256 inf = _mm256_set1_ps(INFINITY);
                        const __m256 s0 = _mm256_loadu_ps(sc);
                        const __m256 s1 = ng > 1 ? _mm256_loadu_ps(sc + G) : inf;
                        lowest = lane_min(_mm256_min_ps(s0, s1));
                        const __m256 target = _mm256_set1_ps(lowest);
                        const __m256 e0 = _mm256_cmp_ps(s0, target, _CMP_EQ_OQ);
                        const __m256 e1 = _mm256_cmp_ps(s1, target, _CMP_EQ_OQ);
                        const unsigned equal = static_cast<unsigned>(_mm256_movemask_ps(e0)) |
                                               static_cast<unsigned>(_mm256_movemask_ps(e1)) << 8;
                        next = (equal & (equal - 1u)) != 0
                                   ? lowest
                                   : lane_min(_mm256_min_ps(_mm256_blendv_ps(s0, inf, e0),
                                                            _mm256_blendv_ps(s1, inf, e1)));
                        if (equal != 0) {
                            const std::int32_t c = ga.order[p0 + __builtin_ctz(equal)];
                            if (lowest < best[q] || (lowest == best[q] && c < label[q])) {
                                best[q] = lowest;
                                label[q] = c;
                            }
                        }
                        ga.unit_min[q * 2 * n_units + 2 * u] = lowest;
                        ga.unit_min[q * 2 * n_units + 2 * u + 1] = next;
                        n_scored += p1 - p0;
                        continue;
                    }
#endif
                    for (index_t p = p0; p < p1; ++p) {
                        const float score = sc[p - p0];
                        const std::int32_t c = ga.order[p];
                        if (score < best[q] || (score == best[q] && c < label[q])) {
                            best[q] = score;
                            label[q] = c;
                        }
                        if (per_center) {
                            const double low2 = static_cast<double>(score) + ga.x_sqnorm[i] - error[q];
                            ga.lower[i * nb + p] = round_down(low2 > 0.0 ? std::sqrt(low2) : 0.0);
                        } else if (score < lowest) {
                            next = lowest;
                            lowest = score;
                        } else if (score < next) {
                            next = score;
                        }
                    }
                    if (!per_center) {
                        ga.unit_min[q * 2 * n_units + 2 * u] = lowest;
                        ga.unit_min[q * 2 * n_units + 2 * u + 1] = next;
                    }
                    n_scored += p1 - p0;
                }
            }
        }
        for (index_t q = 0; q < m; ++q) {
            const index_t i = ga.row_index[t0 + q];
            if (!per_center) {
                // per scored unit: every center but the row's own (its unit's second smallest)
                const index_t u_new = ga.position[label[q]] / kUnitCenters;
                for (index_t u = 0; u < n_units; ++u) {
                    if (!ga.need[(t0 + q) * n_units + u]) continue;
                    const float v = ga.unit_min[q * 2 * n_units + 2 * u + (u == u_new ? 1 : 0)];
                    const double low2 = static_cast<double>(v) + ga.x_sqnorm[i] - error[q];
                    ga.lower[i * nb + u] = round_down(low2 > 0.0 ? std::sqrt(low2) : 0.0);
                }
            }
            store_label(a, i, label[q], ga.score_all, ga.row_groups + i * group_words,
                        ga.upper, ga.distance_error);
        }
    }
    ga.n_scored = n_scored;
    // 3. Objectives and sums in row order, as a pass adds them.
    finish_rows(a, ga.previous, ga.row_groups, ga.incremental && !ga.score_all, accumulate,
                ga.lean && !ga.score_all);
}

}  // namespace KMEANS_ISA_NAMESPACE
}  // namespace kmeans
