#include "sparse.hpp"

#include <algorithm>
#include <cmath>

#include "dispatch.hpp"

#ifdef KMEANS_HAVE_OPENMP
#include <omp.h>
#endif

namespace kmeans {

// One declaration per compiled copy of isa/sparse.cpp.
namespace isa_generic { void process_chunk_sparse(SparseChunkArgs&); void add_cluster_sparse(SparseSumArgs&); }
#ifdef KMEANS_HAVE_AVX2
namespace isa_avx2 { void process_chunk_sparse(SparseChunkArgs&); void add_cluster_sparse(SparseSumArgs&); }
#endif
#ifdef KMEANS_HAVE_AVX512
namespace isa_avx512 { void process_chunk_sparse(SparseChunkArgs&); void add_cluster_sparse(SparseSumArgs&); }
#endif

namespace {

struct SparseKernel {
    SparseChunkFn chunk;
    SparseSumFn sums;
};

// The copy of the instruction set the dense kernels use (dispatch.hpp): the same arithmetic.
SparseKernel sparse_kernel() {
    const std::string isa = current_isa();
#ifdef KMEANS_HAVE_AVX512
    if (isa == "avx512") return {isa_avx512::process_chunk_sparse, isa_avx512::add_cluster_sparse};
#endif
#ifdef KMEANS_HAVE_AVX2
    if (isa == "avx2") return {isa_avx2::process_chunk_sparse, isa_avx2::add_cluster_sparse};
#endif
    return {isa_generic::process_chunk_sparse, isa_generic::add_cluster_sparse};
}

int threads_for(int n_threads, index_t units) {
    return static_cast<int>(std::max<index_t>(1, std::min<index_t>(n_threads, units)));
}

}  // namespace

std::string check_csr(const std::int64_t* indptr, const std::int32_t* indices, index_t n,
                      index_t d, index_t nnz) {
    if (indptr[0] < 0) return "indptr[0] is negative";
    if (indptr[n] > nnz) return "indptr[-1] is beyond the stored values";
    for (index_t i = 0; i < n; ++i) {
        if (indptr[i + 1] < indptr[i]) return "indptr is not non-decreasing (row " + std::to_string(i) + ")";
        std::int64_t last = -1;
        for (index_t p = indptr[i]; p < indptr[i + 1]; ++p) {
            const std::int64_t j = indices[p];
            if (j < 0 || j >= d) return "column index " + std::to_string(j) + " out of range in row " + std::to_string(i);
            if (j <= last) return "column indices not sorted or duplicated in row " + std::to_string(i);
            last = j;
        }
    }
    return "";
}

SparsePasses::SparsePasses(const SparseRows& rows, index_t k, int n_threads)
    : rows_(rows), k_(k), k_pad_((k + kCenterGroup - 1) / kCenterGroup * kCenterGroup),
      n_threads_(n_threads), x_sqnorm_(static_cast<size_t>(rows.n)) {
    // |x|^2 in double, in column order (see sparse_chunk.hpp)
    const SparseRows r = rows_;
    double* out = x_sqnorm_.data();
    const int threads = threads_for(n_threads, (r.n + kChunkRows - 1) / kChunkRows);
    (void)threads;
#ifdef KMEANS_HAVE_OPENMP
#pragma omp parallel for num_threads(threads) schedule(static) default(none) shared(r, out)
#endif
    for (index_t i = 0; i < r.n; ++i) {
        double s = 0.0;
        for (index_t p = r.indptr[i]; p < r.indptr[i + 1]; ++p) {
            s += static_cast<double>(r.data[p]) * static_cast<double>(r.data[p]);
        }
        out[i] = s;
    }
}

PassStats SparsePasses::run(const float* centers, const PassOutputs& out, bool) {
    return plain(centers, out);
}

PassStats SparsePasses::plain(const float* centers, const PassOutputs& out) {
    return pass(centers, out, false);
}

PassStats SparsePasses::refresh(const float* centers, std::int32_t* labels, float* sq_dist) {
    return pass(centers, PassOutputs{labels, sq_dist}, true);
}

PassStats SparsePasses::pass(const float* centers, const PassOutputs& out, bool keep_labels) {
    const index_t n = rows_.n, d = rows_.d, k = k_, kp = k_pad_;
    // The centers transposed (column j's k_pad values together: one stretch per stored value),
    // and their squared norms: in float as pack_centers rounds them (the scores must be the
    // dense pass's), and in double for the distances.
    centers_t_.assign(static_cast<size_t>(d * kp), 0.0f);
    center_sqnorm_.assign(static_cast<size_t>(kp), INFINITY);
    center_sqnorm_d_.assign(static_cast<size_t>(k), 0.0);
    for (index_t c = 0; c < k; ++c) {
        const float* row = centers + c * d;
        double s = 0.0;
        for (index_t j = 0; j < d; ++j) {
            centers_t_[static_cast<size_t>(j * kp + c)] = row[j];
            s += static_cast<double>(row[j]) * row[j];
        }
        center_sqnorm_[static_cast<size_t>(c)] = static_cast<float>(s);
        center_sqnorm_d_[static_cast<size_t>(c)] = s;
    }
    const index_t n_chunks = (n + kChunkRows - 1) / kChunkRows;
    chunk_inertia_.assign(static_cast<size_t>(n_chunks), 0.0);
    chunk_j_clust_.assign(static_cast<size_t>(n_chunks), 0.0);
    const SparseChunkFn kernel = sparse_kernel().chunk;
    SparseChunkArgs base{};
    base.indices = rows_.indices;
    base.data = rows_.data;
    base.d = d;
    base.k = k;
    base.centers_t = centers_t_.data();
    base.k_pad = kp;
    base.center_sqnorm = center_sqnorm_.data();
    base.center_sqnorm_d = center_sqnorm_d_.data();
    base.centers = centers;
    base.keep_labels = keep_labels;
    const std::int64_t* indptr = rows_.indptr;
    const double* weights = rows_.weights;
    const double* x_sqnorm = x_sqnorm_.data();
    double* ci = chunk_inertia_.data();
    double* cj = chunk_j_clust_.data();
    const int threads = threads_for(n_threads_, n_chunks);
    const index_t chunk_rows = kChunkRows;
    (void)threads;
    // Each chunk writes only its own rows and its own objectives: no exception, no sharing.
#ifdef KMEANS_HAVE_OPENMP
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1) default(none) \
    shared(base, kernel, indptr, weights, x_sqnorm, out, ci, cj, n, n_chunks, chunk_rows)
#endif
    for (index_t chunk = 0; chunk < n_chunks; ++chunk) {
        const index_t row0 = chunk * chunk_rows;
        SparseChunkArgs a = base;
        a.indptr = indptr + row0;
        a.rows = std::min(chunk_rows, n - row0);
        a.x_sqnorm = x_sqnorm + row0;
        a.weights = weights ? weights + row0 : nullptr;
        a.labels = out.labels + row0;
        a.sq_dist = out.sq_dist + row0;
        kernel(a);
        ci[chunk] = a.inertia;
        cj[chunk] = a.j_clust;
    }
    // the chunks' objectives in chunk order, as chunked_pass adds them
    PassStats stats;
    for (index_t c = 0; c < n_chunks; ++c) {
        stats.inertia += ci[c];
        stats.j_clust += cj[c];
        if (out.chunk_inertia) out.chunk_inertia[c] = ci[c];
        if (out.chunk_j_clust) out.chunk_j_clust[c] = cj[c];
    }
    stats.rows_scored = keep_labels ? 0 : n;
    if (out.sums && !keep_labels) accumulate(out.labels, out.sums, out.weight_sums);
    return stats;
}

// The cluster sums of the labels: one cluster per task, its rows in row order, added chunk by
// chunk (add_cluster_sparse), so the sums are the dense pass's bit for bit whichever thread
// adds which cluster.
void SparsePasses::accumulate(const std::int32_t* labels, double* sums, double* weight_sums) {
    const index_t n = rows_.n, d = rows_.d, k = k_;
    std::fill(sums, sums + k * d, 0.0);
    std::fill(weight_sums, weight_sums + k, 0.0);
    // rows grouped by cluster, each group in row order (a counting sort)
    starts_.assign(static_cast<size_t>(k + 1), 0);
    for (index_t i = 0; i < n; ++i) ++starts_[static_cast<size_t>(labels[i]) + 1];
    for (index_t c = 0; c < k; ++c) starts_[static_cast<size_t>(c + 1)] += starts_[static_cast<size_t>(c)];
    order_.resize(static_cast<size_t>(n));
    {
        std::vector<index_t> next(starts_.begin(), starts_.end() - 1);
        for (index_t i = 0; i < n; ++i) order_[static_cast<size_t>(next[static_cast<size_t>(labels[i])]++)] = i;
    }
    const int threads = threads_for(n_threads_, k);
    partial_.assign(static_cast<size_t>(threads * d), 0.0);
    touched_.resize(static_cast<size_t>(threads * d));
    marked_.assign(static_cast<size_t>(threads * d), 0);
    const SparseSumFn add = sparse_kernel().sums;
    SparseSumArgs base{};
    base.indptr = rows_.indptr;
    base.indices = rows_.indices;
    base.data = rows_.data;
    base.weights = rows_.weights;
    base.chunk_rows = kChunkRows;
    const index_t* order = order_.data();
    const index_t* starts = starts_.data();
    double* partial = partial_.data();
    std::int32_t* touched = touched_.data();
    std::uint8_t* marked = marked_.data();
#ifdef KMEANS_HAVE_OPENMP
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1) default(none) \
    shared(base, add, order, starts, partial, touched, marked, sums, weight_sums, d, k)
#endif
    for (index_t c = 0; c < k; ++c) {
#ifdef KMEANS_HAVE_OPENMP
        const index_t t = omp_get_thread_num();
#else
        const index_t t = 0;
#endif
        SparseSumArgs s = base;
        s.rows = order + starts[c];
        s.m = starts[c + 1] - starts[c];
        s.sum = sums + c * d;
        s.weight_sum = weight_sums + c;
        s.partial = partial + t * d;
        s.touched = touched + t * d;
        s.marked = marked + t * d;
        add(s);
    }
}

CandidateList SparsePasses::candidates(const std::int32_t* labels, const float* sq_dist,
                                       index_t limit) const {
    std::vector<index_t> rows;
    CandidateList list;
    list.complete = relocation_candidates(sq_dist, rows_.weights, rows_.n, limit, rows);
    list.rows.reserve(rows.size());
    for (const index_t i : rows) {
        const index_t p0 = rows_.indptr[i];
        Candidate c{i, labels[i], rows_.weights ? rows_.weights[i] : 1.0, rows_.data + p0};
        c.columns = rows_.indices + p0;
        c.nnz = rows_.indptr[i + 1] - p0;
        list.rows.push_back(c);
    }
    return list;
}

PassStats sparse_assign_pass(const SparseRows& rows, const float* centers, index_t k,
                             std::int32_t* labels, float* sq_dist, double* sums,
                             double* weight_sums, int n_threads, double* chunk_inertia,
                             double* chunk_j_clust) {
    SparsePasses passes(rows, k, n_threads);
    return passes.plain(centers, PassOutputs{labels, sq_dist, sums, weight_sums, chunk_inertia, chunk_j_clust});
}

RunStats sparse_lloyd_run(const SparseRows& rows, index_t k, float* centers,
                          std::int32_t* labels, float* sq_dist, const RunOptions& options,
                          const std::function<bool()>& should_stop) {
    SparsePasses passes(rows, k, options.n_threads);
    return run_passes(passes, rows.n, rows.d, k, centers, labels, sq_dist, options, should_stop,
                      [&](index_t wanted) { return passes.candidates(labels, sq_dist, wanted); });
}

}  // namespace kmeans
