// The scores of rows against centers, as every pass computes them (compiled per instruction
// set, see isa/simd.hpp).
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
// centers are visited in blocks that stay in L2 while a sweep of kSweepRows rows goes through
// them (score_rows).
#pragma once

#include "simd.hpp"

namespace kmeans {
namespace KMEANS_ISA_NAMESPACE {
namespace {

// Bytes of centers_t kept hot per block of centers (L2).
constexpr index_t kBlockBytes = 256 * 1024;

// Register blocks ahead that a sweep of one register block prefetches (see score_rows).
constexpr index_t kPrefetchBlocks = 1;

// Groups of centers per cache block for d columns: a multiple of V, at least V.
inline index_t center_block_groups(index_t d) {
    const index_t groups = kBlockBytes / (d * G * static_cast<index_t>(sizeof(float)));
    return groups < V ? V : groups - groups % V;
}

#if KMEANS_KERNEL_AVX2
// One row's scores |c|^2 - 2 acc for NV groups of centers from group g; keeps the lowest
// (strict '<' against the running best, lowest lane among equals).
template <int NV, bool SECOND>
inline void update_best(__m256 acc0, __m256 acc1, __m256 acc2, __m256 n0, __m256 n1, __m256 n2,
                        index_t g, float& best, float* second, std::int32_t& label,
                        float* gmin = nullptr) {
    // acc + acc is exact: one rounding, as in |c|^2 - 2 acc
    const __m256 s0 = _mm256_sub_ps(n0, _mm256_add_ps(acc0, acc0));
    const __m256 s1 = _mm256_sub_ps(n1, _mm256_add_ps(acc1, acc1));
    const __m256 s2 = _mm256_sub_ps(n2, _mm256_add_ps(acc2, acc2));
    __m256 m = s0;
    if constexpr (NV > 1) m = _mm256_min_ps(m, s1);
    if constexpr (NV > 2) m = _mm256_min_ps(m, s2);
    const float lowest = lane_min(m);
    if constexpr (SECOND) {
        if (gmin) {  // each group's smallest score (see score_rows)
            gmin[0] = NV > 1 ? lane_min(s0) : lowest;
            if constexpr (NV > 1) gmin[1] = lane_min(s1);
            if constexpr (NV > 2) gmin[2] = lane_min(s2);
        }
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
            next = lane_min(m2);
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
                  float* second, float* gmin = nullptr, index_t gmin_stride = 0) {
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
        _mm_prefetch(prefetch + t * 64, _MM_HINT_T0);
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
    if constexpr (NR > 0) update_best<NV, SECOND>(a00, a01, a02, n0, n1, n2, g, best[0], second + 0, label[0],
                                                  gmin ? gmin + 0 * gmin_stride + g : nullptr);
    if constexpr (NR > 1) update_best<NV, SECOND>(a10, a11, a12, n0, n1, n2, g, best[1], second + 1, label[1],
                                                  gmin ? gmin + 1 * gmin_stride + g : nullptr);
    if constexpr (NR > 2) update_best<NV, SECOND>(a20, a21, a22, n0, n1, n2, g, best[2], second + 2, label[2],
                                                  gmin ? gmin + 2 * gmin_stride + g : nullptr);
    if constexpr (NR > 3) update_best<NV, SECOND>(a30, a31, a32, n0, n1, n2, g, best[3], second + 3, label[3],
                                                  gmin ? gmin + 3 * gmin_stride + g : nullptr);
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
            if (SECOND && gmin) gmin[r * gmin_stride + g + v] = INFINITY;
            for (index_t l = 0; l < G; ++l) {
                const float score = sqnorm[(g + v) * G + l] - 2.0f * acc[r][v][l];
                if (SECOND && gmin && score < gmin[r * gmin_stride + g + v]) gmin[r * gmin_stride + g + v] = score;
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

#if KMEANS_KERNEL_AVX512
// Centers per 512-bit register block of a row: kWide vectors of 16 centers (two groups each).
constexpr int kWide = 4;
constexpr index_t kWideGroups = 2 * kWide;

// score_groups<NR, kWideGroups, SECOND> with 512-bit vectors (the AVX-512 build): NR x kWide
// accumulators of 16 centers each (groups g + 2w and g + 2w + 1 in the low and high halves),
// the same multiply-add chain per (row, center) as the 256-bit code, so the same scores bit for
// bit; the scores then go through update_best in groups of 3, 3 and 2, in increasing order, as
// score_block visits groups (the result does not depend on how the groups are split: strict
// '<' across calls, the lowest lane within one).
template <int NR, bool SECOND>
__attribute__((noinline)) void score_wide(const float* const* x, const float* centers_t, index_t d,
                                          const float* sqnorm, index_t g, const std::int32_t* list,
                                          index_t n_list, float* best, std::int32_t* label,
                                          const char* prefetch, index_t prefetch_lines,
                                          float* second, float* gmin, index_t gmin_stride) {
    static_assert(NR <= 4 && kWide == 4, "register block too large");
    const index_t stride = d * G;  // floats from one group to the next
    const float* ct = centers_t + g * stride;
    const __m512 zero = _mm512_setzero_ps();
    __m512 a00 = zero, a01 = zero, a02 = zero, a03 = zero, a10 = zero, a11 = zero, a12 = zero, a13 = zero;
    __m512 a20 = zero, a21 = zero, a22 = zero, a23 = zero, a30 = zero, a31 = zero, a32 = zero, a33 = zero;
    const index_t with_prefetch = prefetch_lines < n_list ? prefetch_lines : n_list;
#define KM_PAIR(w) \
    _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_loadu_ps(cj + (2 * (w)) * stride)), \
                       _mm256_loadu_ps(cj + (2 * (w) + 1) * stride), 1)
#define KM_ROW(r)                                                     \
        if constexpr (NR > r) {                                       \
            const __m512 b = _mm512_set1_ps(x[r][j]);                 \
            a##r##0 = _mm512_fmadd_ps(b, c0, a##r##0);                \
            a##r##1 = _mm512_fmadd_ps(b, c1, a##r##1);                \
            a##r##2 = _mm512_fmadd_ps(b, c2, a##r##2);                \
            a##r##3 = _mm512_fmadd_ps(b, c3, a##r##3);                \
        }
#define KM_STEP                                                       \
        const index_t j = list[t];                                    \
        const float* cj = ct + j * G;                                 \
        const __m512 c0 = KM_PAIR(0), c1 = KM_PAIR(1), c2 = KM_PAIR(2), c3 = KM_PAIR(3); \
        KM_ROW(0) KM_ROW(1) KM_ROW(2) KM_ROW(3)
    index_t t = 0;
    for (; t < with_prefetch; ++t) {
        _mm_prefetch(prefetch + t * 64, _MM_HINT_T0);
        KM_STEP
    }
    for (; t < n_list; ++t) {
        KM_STEP
    }
#undef KM_STEP
#undef KM_ROW
#undef KM_PAIR
    // the eight groups' accumulators as 256-bit halves, in group order, to update_best
    const __m256 n0 = _mm256_loadu_ps(sqnorm + g * G), n1 = _mm256_loadu_ps(sqnorm + (g + 1) * G);
    const __m256 n2 = _mm256_loadu_ps(sqnorm + (g + 2) * G), n3 = _mm256_loadu_ps(sqnorm + (g + 3) * G);
    const __m256 n4 = _mm256_loadu_ps(sqnorm + (g + 4) * G), n5 = _mm256_loadu_ps(sqnorm + (g + 5) * G);
    const __m256 n6 = _mm256_loadu_ps(sqnorm + (g + 6) * G), n7 = _mm256_loadu_ps(sqnorm + (g + 7) * G);
    const __m256 none = _mm256_setzero_ps();
#define KM_LO(a) _mm512_extractf32x8_ps(a, 0)  /* the cast warns in GCC 12 (-Wuninitialized) */
#define KM_HI(a) _mm512_extractf32x8_ps(a, 1)
#define KM_UPDATE(r)                                                                                  \
    if constexpr (NR > r) {                                                                           \
        float* gm = gmin ? gmin + (r) * gmin_stride + g : nullptr;                                    \
        update_best<3, SECOND>(KM_LO(a##r##0), KM_HI(a##r##0), KM_LO(a##r##1), n0, n1, n2, g,         \
                               best[r], second + (r), label[r], gm);                                  \
        update_best<3, SECOND>(KM_HI(a##r##1), KM_LO(a##r##2), KM_HI(a##r##2), n3, n4, n5, g + 3,     \
                               best[r], second + (r), label[r], gm ? gm + 3 : nullptr);               \
        update_best<2, SECOND>(KM_LO(a##r##3), KM_HI(a##r##3), none, n6, n7, none, g + 6,             \
                               best[r], second + (r), label[r], gm ? gm + 6 : nullptr);               \
    }
    KM_UPDATE(0) KM_UPDATE(1) KM_UPDATE(2) KM_UPDATE(3)
#undef KM_UPDATE
#undef KM_HI
#undef KM_LO
}
#endif

// Groups [g0, g1) for NR rows: full register blocks of V groups, then the rest. The first
// register block also prefetches prefetch_lines cache lines from prefetch. With SECOND, also
// the second smallest score of each row (second, nullptr otherwise), and with gmin, the
// smallest score of row r in group g at gmin[r * gmin_stride + g].
template <int NR, bool SECOND = false>
void score_block(const float* const* x, const ChunkArgs& a, index_t g0, index_t g1,
                 const std::int32_t* list, index_t n_list, float* best, std::int32_t* label,
                 const char* prefetch, index_t prefetch_lines, float* second = nullptr,
                 float* gmin = nullptr, index_t gmin_stride = 0) {
    index_t g = g0;
#if KMEANS_KERNEL_AVX512
    for (; g + kWideGroups <= g1; g += kWideGroups) {
        score_wide<NR, SECOND>(x, a.centers_t, a.d, a.center_sqnorm, g, list, n_list, best, label,
                               prefetch, prefetch_lines, second, gmin, gmin_stride);
        prefetch_lines = 0;
    }
#endif
    for (; g + V <= g1; g += V) {
        score_groups<NR, V, SECOND>(x, a.centers_t, a.d, a.center_sqnorm, g, list, n_list, best,
                                    label, prefetch, prefetch_lines, second, gmin,
                                    gmin_stride);
        prefetch_lines = 0;
    }
#if KMEANS_KERNEL_AVX2
    if (g1 - g == 2) {
        score_groups<NR, 2, SECOND>(x, a.centers_t, a.d, a.center_sqnorm, g, list, n_list, best,
                                    label, prefetch, prefetch_lines, second, gmin,
                                    gmin_stride);
    } else if (g1 - g == 1) {
        score_groups<NR, 1, SECOND>(x, a.centers_t, a.d, a.center_sqnorm, g, list, n_list, best,
                                    label, prefetch, prefetch_lines, second, gmin,
                                    gmin_stride);
    }
#endif
}

// Rows rows[0 .. m) (m <= kSweepRows, any rows of the chunk, by pointer) against every center:
// each row's smallest score and its center (lowest index on ties) into best and label, and
// with SECOND the second smallest score (of every center but the chosen one) into second
// (nullptr without). The column list of register block b (rows R b ...) and its nonzero-group
// mask stay in a.column_lists + b * column_list_stride(d) for the caller.
//
// The centers are visited in blocks of center_block_groups(d) groups, each gone through by
// every register block of rows while it is in cache. prefetch / prefetch_lines: cache lines
// (of rows of a later register block) the first register block reads ahead while it scores
// the first center groups; nullptr / 0 for none. With SECOND and gmin, also each row's
// smallest score in each group of kCenterGroup centers, at gmin[r * n_groups + g] for row r
// (n_groups = ceil(k / kCenterGroup)).
template <bool SECOND>
void score_rows(const ChunkArgs& a, const float* const* rows, index_t m, float* best,
                float* second, std::int32_t* label, const char* prefetch = nullptr,
                index_t prefetch_lines = 0, float* gmin = nullptr) {
    const index_t d = a.d, list_stride = column_list_stride(d);
    const index_t n_groups = (a.k + G - 1) / G, block_groups = center_block_groups(d);
    index_t n_list[kColumnLists];
    index_t b = 0;
    for (index_t r0 = 0; r0 < m; r0 += R, ++b) {
        std::int32_t* list = a.column_lists + b * list_stride;
        auto* groups = reinterpret_cast<std::uint32_t*>(list + d);
        for_row_block(m - r0 < R ? m - r0 : R, [&](auto block) {
            constexpr int NR = decltype(block)::rows;
            n_list[b] = column_list<NR>(rows + r0, d, list, groups);
        });
    }
    for (index_t i = 0; i < m; ++i) {
        best[i] = INFINITY;
        if constexpr (SECOND) second[i] = INFINITY;
        label[i] = 0;
    }
    for (index_t g0 = 0; g0 < n_groups; g0 += block_groups) {
        const index_t g1 = g0 + block_groups < n_groups ? g0 + block_groups : n_groups;
        b = 0;
        for (index_t r0 = 0; r0 < m; r0 += R, ++b) {
            const std::int32_t* list = a.column_lists + b * list_stride;
            const bool ahead = g0 == 0 && b == 0;
            for_row_block(m - r0 < R ? m - r0 : R, [&](auto block) {
                constexpr int NR = decltype(block)::rows;
                score_block<NR, SECOND>(rows + r0, a, g0, g1, list, n_list[b], best + r0,
                                        label + r0, ahead ? prefetch : nullptr,
                                        ahead ? prefetch_lines : 0,
                                        SECOND ? second + r0 : nullptr,
                                        gmin ? gmin + r0 * n_groups : nullptr, n_groups);
            });
        }
    }
}

}  // namespace
}  // namespace KMEANS_ISA_NAMESPACE
}  // namespace kmeans
