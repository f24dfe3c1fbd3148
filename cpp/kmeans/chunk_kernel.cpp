// Distance, argmin and partial sums for one chunk of rows: the hot loop of every pass.
//
// This file is compiled several times, once per instruction set (see CMakeLists.txt), each
// time with a different KMEANS_ISA_NAMESPACE and different -m flags; dispatch.cpp picks the
// best one the running CPU supports. Everything here has internal linkage, and no standard
// library templates are used, so that no AVX-512 code can leak into the generic build.
//
// Nearest center: the argmin over c of |c|^2 - 2 x.c (one multiply-add per element, the
// form that lets a register block of rows share each loaded center). The squared distance
// reported for the chosen center is then computed directly as sum (x - c)^2, which is
// accurate where the expanded form would cancel.
//
// Lanes: each accumulator is an array of W floats updated element-wise, which compilers
// turn into one SIMD register without needing permission to reassociate; the lanes are
// summed in a fixed order at the end, so results are the same on every run of a build.
#include <cmath>
#include <cstdint>

#include "chunk.hpp"

#ifndef KMEANS_ISA_NAMESPACE
#error "KMEANS_ISA_NAMESPACE must be defined by the build"
#endif
#ifndef KMEANS_LANES
#define KMEANS_LANES 8
#endif
#ifndef KMEANS_BLOCK_CENTERS
#define KMEANS_BLOCK_CENTERS 2
#endif

namespace kmeans {
namespace KMEANS_ISA_NAMESPACE {
namespace {

constexpr int W = KMEANS_LANES;           // floats per accumulator (the SIMD width)
constexpr int R = 4;                      // rows per register block
constexpr int C = KMEANS_BLOCK_CENTERS;   // centers per register block
constexpr index_t kCacheBytes = 192 * 1024;  // centers kept hot per block (fits L2)

inline float lane_sum(const float* a) {
    float s = 0.0f;
    for (int l = 0; l < W; ++l) s += a[l];
    return s;
}

// dots[r][c] = x_r . c_c for NR rows and NC centers.
template <int NR, int NC>
inline void dot_block(const float* const* x, const float* const* c, index_t d,
                      float (&dots)[R][C]) {
    float acc[NR][NC][W];
    for (int r = 0; r < NR; ++r)
        for (int q = 0; q < NC; ++q)
            for (int l = 0; l < W; ++l) acc[r][q][l] = 0.0f;
    const index_t d_main = d - d % W;
    for (index_t j = 0; j < d_main; j += W) {
        for (int r = 0; r < NR; ++r) {
            const float* xr = x[r] + j;
            for (int q = 0; q < NC; ++q) {
                const float* cq = c[q] + j;
                for (int l = 0; l < W; ++l) acc[r][q][l] += xr[l] * cq[l];
            }
        }
    }
    for (int r = 0; r < NR; ++r) {
        for (int q = 0; q < NC; ++q) {
            float tail = 0.0f;
            for (index_t j = d_main; j < d; ++j) tail += x[r][j] * c[q][j];
            dots[r][q] = lane_sum(acc[r][q]) + tail;
        }
    }
}

// Update the running best center of NR rows with centers [c0, c0 + NC).
template <int NR, int NC>
inline void score_block(const ChunkArgs& a, index_t row0, index_t c0) {
    const float* x[R];
    const float* c[C];
    for (int r = 0; r < NR; ++r) x[r] = a.X + (row0 + r) * a.d;
    for (int q = 0; q < NC; ++q) c[q] = a.centers + (c0 + q) * a.d;
    float dots[R][C];
    dot_block<NR, NC>(x, c, a.d, dots);
    for (int r = 0; r < NR; ++r) {
        for (int q = 0; q < NC; ++q) {
            const float score = a.center_sqnorm[c0 + q] - 2.0f * dots[r][q];
            // strict '<' keeps the lowest index on ties, as argmin does
            if (score < a.best_score[row0 + r]) {
                a.best_score[row0 + r] = score;
                a.labels[row0 + r] = static_cast<std::int32_t>(c0 + q);
            }
        }
    }
}

template <int NR>
inline void score_rows(const ChunkArgs& a, index_t row0, index_t cb_begin, index_t cb_end) {
    index_t c0 = cb_begin;
    for (; c0 + C <= cb_end; c0 += C) score_block<NR, C>(a, row0, c0);
    for (; c0 < cb_end; ++c0) score_block<NR, 1>(a, row0, c0);
}

inline float squared_distance(const float* x, const float* c, index_t d) {
    float acc[W];
    for (int l = 0; l < W; ++l) acc[l] = 0.0f;
    const index_t d_main = d - d % W;
    for (index_t j = 0; j < d_main; j += W) {
        for (int l = 0; l < W; ++l) {
            const float diff = x[j + l] - c[j + l];
            acc[l] += diff * diff;
        }
    }
    float tail = 0.0f;
    for (index_t j = d_main; j < d; ++j) {
        const float diff = x[j] - c[j];
        tail += diff * diff;
    }
    return lane_sum(acc) + tail;
}

inline void add_row(double* sum, const float* x, double w, index_t d) {
    for (index_t j = 0; j < d; ++j) sum[j] += w * static_cast<double>(x[j]);
}

inline void add_row_unweighted(double* sum, const float* x, index_t d) {
    for (index_t j = 0; j < d; ++j) sum[j] += static_cast<double>(x[j]);
}

}  // namespace

void process_chunk(ChunkArgs& a, bool accumulate) {
    const index_t rows = a.rows, d = a.d, k = a.k;
    for (index_t i = 0; i < rows; ++i) {
        a.best_score[i] = INFINITY;
        a.labels[i] = 0;
    }
    // Centers in blocks that stay in cache while every row of the chunk visits them.
    index_t block = kCacheBytes / (d * static_cast<index_t>(sizeof(float)) + 1);
    block = block < C ? C : block - block % C;
    for (index_t cb = 0; cb < k; cb += block) {
        const index_t cb_end = cb + block < k ? cb + block : k;
        index_t i = 0;
        for (; i + R <= rows; i += R) score_rows<R>(a, i, cb, cb_end);
        for (; i < rows; ++i) score_rows<1>(a, i, cb, cb_end);
    }
    double objective = 0.0, sum_dist = 0.0;
    for (index_t i = 0; i < rows; ++i) {
        const float* x = a.X + i * d;
        const index_t label = a.labels[i];
        const float d2 = squared_distance(x, a.centers + label * d, d);
        a.sq_dist[i] = d2;
        const double w = a.weights ? a.weights[i] : 1.0;
        objective += w * static_cast<double>(d2);
        sum_dist += w * std::sqrt(static_cast<double>(d2));
        if (accumulate) {
            if (a.weights) {
                add_row(a.sums + label * d, x, w, d);
            } else {
                add_row_unweighted(a.sums + label * d, x, d);
            }
            a.weight_sums[label] += w;
        }
    }
    a.objective = objective;
    a.sum_dist = sum_dist;
}

}  // namespace KMEANS_ISA_NAMESPACE
}  // namespace kmeans
