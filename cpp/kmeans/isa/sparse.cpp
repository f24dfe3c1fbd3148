// The chunk kernel of a sparse (CSR) pass, and the cluster sums of sparse rows (compiled per
// instruction set, see isa/simd.hpp). The arithmetic that must equal the dense pass's, and
// why it does: sparse_chunk.hpp.
#include <cmath>
#include <cstdint>

#include "../sparse_chunk.hpp"
#include "simd.hpp"

namespace kmeans {
namespace KMEANS_ISA_NAMESPACE {
namespace {

// Groups of 8 centers scored per walk over a row's values: 8 accumulators in registers.
constexpr index_t kSparseBlock = 8;

#if KMEANS_KERNEL_AVX2
// Scores of one row (values [p0, p1)) against NB groups of centers from group g0; keeps the
// lowest (strict '<', groups in increasing order, lowest lane among equals: as update_best).
template <int NB>
void score_groups(const SparseChunkArgs& a, index_t p0, index_t p1, index_t g0, float& best,
                  std::int32_t& label) {
    __m256 acc[NB];
    for (int b = 0; b < NB; ++b) acc[b] = _mm256_setzero_ps();
    const float* ct = a.centers_t + g0 * G;
    for (index_t p = p0; p < p1; ++p) {
        const __m256 x = _mm256_set1_ps(a.data[p]);
        const float* c = ct + static_cast<index_t>(a.indices[p]) * a.k_pad;
        for (int b = 0; b < NB; ++b) acc[b] = _mm256_fmadd_ps(x, _mm256_loadu_ps(c + b * G), acc[b]);
    }
    for (int b = 0; b < NB; ++b) {
        // acc + acc is exact: one rounding, as in |c|^2 - 2 acc
        const __m256 s = _mm256_sub_ps(_mm256_loadu_ps(a.center_sqnorm + (g0 + b) * G),
                                       _mm256_add_ps(acc[b], acc[b]));
        const float lowest = lane_min(s);
        if (lowest < best) {
            const unsigned mask = static_cast<unsigned>(
                _mm256_movemask_ps(_mm256_cmp_ps(s, _mm256_set1_ps(lowest), _CMP_EQ_OQ)));
            if (mask != 0) {
                best = lowest;
                label = static_cast<std::int32_t>((g0 + b) * G + __builtin_ctz(mask));
            }
        }
    }
}

void score_block(const SparseChunkArgs& a, index_t p0, index_t p1, index_t g0, index_t nb,
                 float& best, std::int32_t& label) {
    switch (nb) {
        case 8: score_groups<8>(a, p0, p1, g0, best, label); break;
        case 7: score_groups<7>(a, p0, p1, g0, best, label); break;
        case 6: score_groups<6>(a, p0, p1, g0, best, label); break;
        case 5: score_groups<5>(a, p0, p1, g0, best, label); break;
        case 4: score_groups<4>(a, p0, p1, g0, best, label); break;
        case 3: score_groups<3>(a, p0, p1, g0, best, label); break;
        case 2: score_groups<2>(a, p0, p1, g0, best, label); break;
        default: score_groups<1>(a, p0, p1, g0, best, label); break;
    }
}
#else
// The generic build's arithmetic: acc = acc + x * c (no fused multiply-add), as score_groups
// in isa/score.hpp.
void score_block(const SparseChunkArgs& a, index_t p0, index_t p1, index_t g0, index_t nb,
                 float& best, std::int32_t& label) {
    float acc[kSparseBlock * G];
    const index_t lanes = nb * G;
    for (index_t l = 0; l < lanes; ++l) acc[l] = 0.0f;
    const float* ct = a.centers_t + g0 * G;
    for (index_t p = p0; p < p1; ++p) {
        const float x = a.data[p];
        const float* c = ct + static_cast<index_t>(a.indices[p]) * a.k_pad;
        for (index_t l = 0; l < lanes; ++l) acc[l] = acc[l] + x * c[l];
    }
    for (index_t l = 0; l < lanes; ++l) {
        const float score = a.center_sqnorm[g0 * G + l] - 2.0f * acc[l];
        if (score < best) {
            best = score;
            label = static_cast<std::int32_t>(g0 * G + l);
        }
    }
}
#endif

// |x|^2 - 2 x.c + |c|^2 in double (see sparse_chunk.hpp), clamped at 0, as float32.
inline float sparse_distance(const SparseChunkArgs& a, index_t p0, index_t p1, double x_sqnorm,
                             std::int32_t label) {
    const float* c = a.centers + static_cast<index_t>(label) * a.d;
    double dot = 0.0;
    for (index_t p = p0; p < p1; ++p) {
        dot += static_cast<double>(a.data[p]) * static_cast<double>(c[a.indices[p]]);
    }
    const double sq = x_sqnorm + a.center_sqnorm_d[label] - 2.0 * dot;
    return sq > 0.0 ? static_cast<float>(sq) : 0.0f;
}

}  // namespace

void process_chunk_sparse(SparseChunkArgs& a) {
    const index_t n_groups = a.k_pad / G;
    double inertia = 0.0, j_clust = 0.0;
    for (index_t i = 0; i < a.rows; ++i) {
        const index_t p0 = a.indptr[i], p1 = a.indptr[i + 1];
        std::int32_t label = 0;
        if (a.keep_labels) {
            label = a.labels[i];
        } else {
            float best = INFINITY;
            for (index_t g0 = 0; g0 < n_groups; g0 += kSparseBlock) {
                const index_t nb = n_groups - g0 < kSparseBlock ? n_groups - g0 : kSparseBlock;
                score_block(a, p0, p1, g0, nb, best, label);
            }
            a.labels[i] = label;
        }
        const float d2 = sparse_distance(a, p0, p1, a.x_sqnorm[i], label);
        a.sq_dist[i] = d2;
        const double w = a.weights ? a.weights[i] : 1.0;
        inertia += w * static_cast<double>(d2);
        j_clust += w * std::sqrt(static_cast<double>(d2));
    }
    a.inertia = inertia;
    a.j_clust = j_clust;
}

void add_cluster_sparse(SparseSumArgs& s) {
    index_t chunk = -1, n_touched = 0;
    double chunk_weight = 0.0;
    auto flush = [&]() {
        for (index_t t = 0; t < n_touched; ++t) {
            const index_t j = s.touched[t];
            s.sum[j] += s.partial[j];
            s.partial[j] = 0.0;
            s.marked[j] = 0;
        }
        *s.weight_sum += chunk_weight;
        chunk_weight = 0.0;
        n_touched = 0;
    };
    for (index_t r = 0; r < s.m; ++r) {
        const index_t i = s.rows[r];
        if (i / s.chunk_rows != chunk) {
            if (chunk >= 0) flush();
            chunk = i / s.chunk_rows;
        }
        const double w = s.weights ? s.weights[i] : 1.0;
        for (index_t p = s.indptr[i]; p < s.indptr[i + 1]; ++p) {
            const index_t j = s.indices[p];
            if (!s.marked[j]) {
                s.marked[j] = 1;
                s.touched[n_touched++] = static_cast<std::int32_t>(j);
            }
            const double x = static_cast<double>(s.data[p]);
            // as add_row (isa/simd.hpp): fused with weights in the AVX2 builds
            if (s.weights) {
#if KMEANS_KERNEL_AVX2
                s.partial[j] = __builtin_fma(w, x, s.partial[j]);
#else
                s.partial[j] = s.partial[j] + w * x;
#endif
            } else {
                s.partial[j] = s.partial[j] + x;
            }
        }
        chunk_weight += w;
    }
    if (chunk >= 0) flush();
}

}  // namespace KMEANS_ISA_NAMESPACE
}  // namespace kmeans
