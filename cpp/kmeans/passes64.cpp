// The float64 passes (passes64.hpp): the chunk kernel and the pass over the chunks.
//
// Compiled with -ffp-contract=off (CMakeLists.txt): every score and distance is a defined
// sequence of double multiplications and additions, so the results are the same bit for bit
// with any vector width (the AVX2 copy, the baseline copy, a -march=native build) and any
// thread count.
#include "passes64.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <string>

#include "dispatch.hpp"
#include "ordered.hpp"

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define KMEANS_F64_AVX2 1
#endif

namespace kmeans {
namespace {

constexpr index_t G = kCenterGroup;  // centers per transposed group (8)

#define KMEANS_F64_INLINE __attribute__((always_inline)) inline

// The centers transposed in groups of G, as pack_centers does for float32 (block g is (d, G)
// row-major), and their squared norms (summed in column order); padding centers are zero with
// squared norm +inf, so they never win.
void pack64(const double* centers, index_t k, index_t d, double* centers_t, double* sqnorm) {
    const index_t groups = (k + G - 1) / G;
    for (index_t g = 0; g < groups; ++g) {
        double* block = centers_t + g * d * G;
        for (index_t l = 0; l < G; ++l) {
            const index_t c = g * G + l;
            double s = 0.0;
            for (index_t j = 0; j < d; ++j) {
                const double v = c < k ? centers[c * d + j] : 0.0;
                block[j * G + l] = v;
                s += v * v;
            }
            sqnorm[c] = c < k ? s : INFINITY;
        }
    }
}

// One chunk of rows; as ChunkArgs (chunk.hpp) for the float64 pass.
struct Chunk64 {
    const double* X;          // (rows, d)
    index_t rows, d;
    const double* centers;    // (k, d)
    const double* centers_t;  // see pack64
    const double* sqnorm;     // (groups * G)
    index_t k;
    const double* weights;    // (rows) or nullptr
    std::int32_t* spans;      // scratch: (ceil(d / kSpan))
    std::int32_t* labels;     // out (in, with refresh)
    double* sq_dist;          // out
    double* sums;             // in/out (k, d), nullptr: not accumulated
    double* weight_sums;      // in/out (k)
    bool refresh;             // keep the labels: distances and objectives only
    double inertia, j_clust;  // out
};

// Four doubles, in GCC's and Clang's vector extensions: the compiler maps them to what the
// target has (two SSE2 registers, one AVX2 register), and each lane is a separate sequence
// of IEEE operations, so the lane values are the same on every target.
#if defined(__GNUC__)
// (GCC warns that a 32-byte vector is returned without AVX: these functions are always
// inlined, so no call with that ABI exists.)
#pragma GCC diagnostic ignored "-Wpsabi"
typedef double V4 __attribute__((vector_size(32)));
KMEANS_F64_INLINE V4 load4(const double* p) {
    V4 v;
    __builtin_memcpy(&v, p, sizeof v);
    return v;
}
KMEANS_F64_INLINE V4 broadcast4(double x) { return V4{x, x, x, x}; }
#else
struct V4 {
    double v[4];
    double operator[](int i) const { return v[i]; }
    V4& operator+=(const V4& o) { for (int i = 0; i < 4; ++i) v[i] += o.v[i]; return *this; }
    friend V4 operator*(const V4& a, const V4& b) { V4 r; for (int i = 0; i < 4; ++i) r.v[i] = a.v[i] * b.v[i]; return r; }
    friend V4 operator-(const V4& a, const V4& b) { V4 r; for (int i = 0; i < 4; ++i) r.v[i] = a.v[i] - b.v[i]; return r; }
};
inline V4 load4(const double* p) { return V4{{p[0], p[1], p[2], p[3]}}; }
inline V4 broadcast4(double x) { return V4{{x, x, x, x}}; }
#endif

// sum_j (x_j - c_j)^2 in eight fixed lanes (lane j % 8), the lanes added pairwise: one order
// whatever the vector width, and no chain of d dependent additions.
KMEANS_F64_INLINE double squared_distance64(const double* x, const double* c, index_t d) {
    V4 lo = broadcast4(0.0), hi = broadcast4(0.0);
    index_t j = 0;
    for (; j + 8 <= d; j += 8) {
        const V4 t0 = load4(x + j) - load4(c + j), t1 = load4(x + j + 4) - load4(c + j + 4);
        lo += t0 * t0;
        hi += t1 * t1;
    }
    double part[8] = {lo[0], lo[1], lo[2], lo[3], hi[0], hi[1], hi[2], hi[3]};
    for (index_t l = 0; j < d; ++j, ++l) {
        const double t = x[j] - c[j];
        part[l] += t * t;
    }
    return ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
}

// Columns go in spans of 8 (kSpan): a row block reads only the spans where one of its rows is
// nonzero (most MNIST pixels are 0). Skipping zeros is exact: a dot product or a sum that
// starts at +0 never becomes -0 (a sum of doubles is -0 only when both terms are), and adding
// +-0 to anything else leaves it unchanged, so scores and sums are those of every column, bit
// for bit.
constexpr index_t kSpan = 8;

// The spans (first columns) where one of the R rows x has a nonzero value, into spans; returns
// their number.
template <int R>
KMEANS_F64_INLINE index_t nonzero_spans(const double* const* x, index_t d, std::int32_t* spans) {
    index_t m = 0;
    for (index_t j0 = 0; j0 < d; j0 += kSpan) {
        const index_t len = std::min(kSpan, d - j0);
        std::uint64_t bits = 0;
        for (int r = 0; r < R; ++r) {
            for (index_t j = j0; j < j0 + len; ++j) {
                std::uint64_t b;
                std::memcpy(&b, x[r] + j, sizeof b);
                bits |= b << 1;  // without the sign: -0 is zero
            }
        }
        spans[m] = static_cast<std::int32_t>(j0);
        m += bits != 0 ? 1 : 0;
    }
    return m;
}

// x.c for R rows x and the G centers of one transposed block, over the m listed spans of
// columns (in column order): out[r * G + l]. A function of its own (not inlined into the
// chunk loop), so that its 2 R accumulators keep registers to themselves.
template <int R>
KMEANS_F64_INLINE void block_dots(const double* const* x, index_t d, const std::int32_t* spans,
                                  index_t m, const double* block, double* out) {
    static_assert(kCenterGroup == 8, "a group of centers is two vectors of four");
    V4 lo[R], hi[R];  // centers 0..3 and 4..7 of the block
    for (int r = 0; r < R; ++r) lo[r] = hi[r] = broadcast4(0.0);
    for (index_t t = 0; t < m; ++t) {
        const index_t j0 = spans[t], j1 = std::min(j0 + kSpan, d);
        for (index_t j = j0; j < j1; ++j) {
            const V4 c0 = load4(block + j * G), c1 = load4(block + j * G + 4);
            for (int r = 0; r < R; ++r) {
                const V4 xv = broadcast4(x[r][j]);
                lo[r] += xv * c0;
                hi[r] += xv * c1;
            }
        }
    }
    for (int r = 0; r < R; ++r) {
        for (int l = 0; l < 4; ++l) {
            out[r * G + l] = lo[r][l];
            out[r * G + 4 + l] = hi[r][l];
        }
    }
}

using DotsFn = void (*)(const double* const*, index_t, const std::int32_t*, index_t, const double*,
                        double*);

// The nearest center of the R rows x (spans: their nonzero spans, m of them), into label: the
// lowest score |c|^2 - 2 x.c (x.c summed in column order), lowest index on ties. R rows share
// each load of the centers; R only changes the blocking, never a result.
template <int R, DotsFn dots>
KMEANS_F64_INLINE void nearest_rows(const Chunk64& a, const double* const* x,
                                    const std::int32_t* spans, index_t m, std::int32_t* label) {
    const index_t d = a.d, groups = (a.k + G - 1) / G;
    double best[R];
    for (int r = 0; r < R; ++r) {
        best[r] = INFINITY;
        label[r] = 0;
    }
    double out[R * G];
    for (index_t g = 0; g < groups; ++g) {
        dots(x, d, spans, m, a.centers_t + g * d * G, out);
        for (int r = 0; r < R; ++r) {
            for (index_t l = 0; l < G; ++l) {
                const double s = a.sqnorm[g * G + l] - 2.0 * out[r * G + l];
                if (s < best[r]) {
                    best[r] = s;
                    label[r] = static_cast<std::int32_t>(g * G + l);
                }
            }
        }
    }
}

// A chunk in blocks of R rows: labels (unless refresh), distances, objectives and sums in row
// order.
template <int R, DotsFn dots>
KMEANS_F64_INLINE void chunk_body(Chunk64& a) {
    const index_t d = a.d;
    double inertia = 0.0, j_clust = 0.0;
    for (index_t i0 = 0; i0 < a.rows; i0 += R) {
        const index_t nr = std::min<index_t>(R, a.rows - i0);
        const double* x[R];
        for (int r = 0; r < R; ++r) x[r] = a.X + (i0 + (r < nr ? r : 0)) * d;  // spare rows: row i0
        index_t m = 0;
        if (!a.refresh) {
            m = nonzero_spans<R>(x, d, a.spans);
            std::int32_t label[R];
            nearest_rows<R, dots>(a, x, a.spans, m, label);
            for (index_t r = 0; r < nr; ++r) a.labels[i0 + r] = label[r];
        }
        for (index_t r = 0; r < nr; ++r) {
            const index_t i = i0 + r;
            const double* xi = x[r];
            const index_t label = a.labels[i];
            const double d2 = squared_distance64(xi, a.centers + label * d, d);
            a.sq_dist[i] = d2;
            const double w = a.weights ? a.weights[i] : 1.0;
            inertia += w * d2;
            j_clust += w * std::sqrt(d2);
            if (a.sums) {
                double* s = a.sums + label * d;
                for (index_t t = 0; t < m; ++t) {
                    const index_t j0 = a.spans[t], j1 = std::min(j0 + kSpan, d);
                    if (a.weights) {
                        for (index_t j = j0; j < j1; ++j) s[j] += w * xi[j];
                    } else {
                        for (index_t j = j0; j < j1; ++j) s[j] += xi[j];
                    }
                }
                a.weight_sums[label] += w;
            }
        }
    }
    a.inertia = inertia;
    a.j_clust = j_clust;
}

// 8 accumulators per row: two rows in the baseline's 16 SSE2 registers (4 each), four rows
// with AVX2 (2 each).
__attribute__((noinline)) void dots_baseline(const double* const* x, index_t d,
                                             const std::int32_t* spans, index_t m,
                                             const double* block, double* out) {
    block_dots<2>(x, d, spans, m, block, out);
}
void chunk_baseline(Chunk64& a) { chunk_body<2, dots_baseline>(a); }

#ifdef KMEANS_F64_AVX2
__attribute__((noinline, target("avx2"))) void dots_avx2(const double* const* x, index_t d,
                                                         const std::int32_t* spans, index_t m,
                                                         const double* block, double* out) {
    block_dots<4>(x, d, spans, m, block, out);
}
__attribute__((target("avx2"))) void chunk_avx2(Chunk64& a) { chunk_body<4, dots_avx2>(a); }
#endif

using Chunk64Fn = void (*)(Chunk64&);

// The AVX2 copy where the CPU has AVX2 and the float32 kernel in use is not "generic" (so
// that set_isa("generic") also tests the baseline copy; both give the same bits).
Chunk64Fn chunk64_kernel() {
#ifdef KMEANS_F64_AVX2
    if (current_isa() != "generic") {
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx2")) return chunk_avx2;
    }
#endif
    return chunk_baseline;
}

}  // namespace

Passes64::Passes64(const double* X, index_t n, index_t d, const double* weights, index_t k,
                   int n_threads)
    : X_(X), n_(n), d_(d), k_(k), weights_(weights), n_threads_(n_threads) {}

PassStats Passes64::plain(const double* centers, const PassOutputs64& out) {
    return pass(centers, out, false);
}

PassStats Passes64::refresh(const double* centers, std::int32_t* labels, double* sq_dist) {
    return pass(centers, PassOutputs64{labels, sq_dist}, true);
}

PassStats Passes64::pass(const double* centers, const PassOutputs64& out, bool refresh_only) {
    const index_t n = n_, d = d_, k = k_;
    const bool accumulate = out.sums != nullptr && !refresh_only;
    const index_t n_chunks = (n + kChunkRows - 1) / kChunkRows;
    const int threads = static_cast<int>(std::max<index_t>(1, std::min<index_t>(n_threads_, n_chunks)));
    const index_t window = 2 * static_cast<index_t>(threads);
    const index_t groups = (k + G - 1) / G;
    // Everything is allocated here: nothing inside the parallel region can throw.
    centers_t_.resize(static_cast<size_t>(groups * G * d));
    sqnorm_.resize(static_cast<size_t>(groups * G));
    pack64(centers, k, d, centers_t_.data(), sqnorm_.data());
    columns_.resize(static_cast<size_t>(threads * ((d + kSpan - 1) / kSpan)));
    if (accumulate) {
        // all zeros between passes: a merge clears the slot it added
        slot_sums_.resize(static_cast<size_t>(window * k * d), 0.0);
        slot_w_.resize(static_cast<size_t>(window * k), 0.0);
        std::fill(out.sums, out.sums + k * d, 0.0);
        std::fill(out.weight_sums, out.weight_sums + k, 0.0);
    }
    std::vector<PassStats> slot_stats(static_cast<size_t>(window));
    std::vector<std::atomic<index_t>> done(static_cast<size_t>(window));
    const Chunk64Fn kernel = chunk64_kernel();
    PassStats stats;

    auto body = [&](index_t chunk, index_t slot, int t) {
        const index_t row0 = chunk * kChunkRows;
        Chunk64 a{};
        a.X = X_ + row0 * d;
        a.rows = std::min(kChunkRows, n - row0);
        a.d = d;
        a.centers = centers;
        a.centers_t = centers_t_.data();
        a.sqnorm = sqnorm_.data();
        a.k = k;
        a.weights = weights_ ? weights_ + row0 : nullptr;
        a.spans = columns_.data() + static_cast<index_t>(t) * ((d + kSpan - 1) / kSpan);
        a.labels = out.labels + row0;
        a.sq_dist = out.sq_dist + row0;
        a.sums = accumulate ? slot_sums_.data() + slot * k * d : nullptr;
        a.weight_sums = accumulate ? slot_w_.data() + slot * k : nullptr;
        a.refresh = refresh_only;
        kernel(a);
        PassStats& s = slot_stats[static_cast<size_t>(slot)];
        s.inertia = a.inertia;
        s.j_clust = a.j_clust;
    };
    // In chunk order: the sums do not depend on which thread ran which chunk.
    auto merge = [&](index_t chunk, index_t slot) {
        const PassStats& s = slot_stats[static_cast<size_t>(slot)];
        stats.inertia += s.inertia;
        stats.j_clust += s.j_clust;
        if (out.chunk_inertia) out.chunk_inertia[chunk] = s.inertia;
        if (out.chunk_j_clust) out.chunk_j_clust[chunk] = s.j_clust;
        if (!accumulate) return;
        double* src = slot_sums_.data() + slot * k * d;
        double* w = slot_w_.data() + slot * k;
        for (index_t c = 0; c < k; ++c) {
            if (w[c] == 0.0) {
                // no row, or rows of weight 0 only (their sums are +-0: nothing to add)
                std::fill(src + c * d, src + (c + 1) * d, 0.0);
                continue;
            }
            for (index_t j = 0; j < d; ++j) {
                out.sums[c * d + j] += src[c * d + j];
                src[c * d + j] = 0.0;
            }
            out.weight_sums[c] += w[c];
            w[c] = 0.0;
        }
    };
    for_chunks_in_order(n_chunks, threads, window, done, body, merge);
    stats.rows_scored = refresh_only ? 0 : n;
    return stats;
}

PassStats assign_pass(const double* X, index_t n, index_t d, const double* centers, index_t k,
                      const double* weights, std::int32_t* labels, double* sq_dist,
                      double* sums, double* weight_sums, int n_threads, double* chunk_inertia,
                      double* chunk_j_clust) {
    PassOutputs64 out{labels, sq_dist, sums, weight_sums, chunk_inertia, chunk_j_clust};
    return Passes64(X, n, d, weights, k, n_threads).plain(centers, out);
}

}  // namespace kmeans
