// Parallel loops over chunks whose results are combined strictly in chunk order.
//
// Generic code (not compiled per instruction set). The combination order never depends on the
// number of threads or on their timing, so sums are bitwise reproducible.
#pragma once

#include <atomic>
#include <thread>
#include <vector>

#include "chunk.hpp"

#ifdef KMEANS_HAVE_OPENMP
#include <omp.h>
#endif

namespace kmeans {

// Run body(chunk, slot, thread) for chunks 0 .. n_chunks-1 on `threads` threads, and
// merge(chunk, slot) for each chunk strictly in chunk order. A chunk's results wait in one of
// `window` slots (window >= threads) until the chunks before it are merged; threads take
// chunks as they come and never wait for each other in lockstep (a thread descheduled on a
// busy machine holds up at most the slots ahead of it). The thread that finds the next chunk
// done merges it. body and merge must not throw. done has `window` entries (scratch).
template <class Body, class Merge>
void for_chunks_in_order(index_t n_chunks, int threads, index_t window,
                         std::vector<std::atomic<index_t>>& done, const Body& body,
                         const Merge& merge) {
    std::atomic<index_t> next{0};    // next chunk to hand out
    std::atomic<index_t> merged{0};  // chunks merged so far
    std::atomic_flag merging = ATOMIC_FLAG_INIT;
    for (auto& slot : done) slot.store(-1, std::memory_order_relaxed);
    auto try_merge = [&]() {
        if (merging.test_and_set(std::memory_order_acquire)) return;  // another thread merges
        index_t m = merged.load(std::memory_order_relaxed);
        while (m < n_chunks && done[m % window].load(std::memory_order_acquire) == m) {
            merge(m, m % window);
            merged.store(++m, std::memory_order_release);
        }
        merging.clear(std::memory_order_release);
    };
#ifdef KMEANS_HAVE_OPENMP
#pragma omp parallel num_threads(threads) default(none) \
    shared(n_chunks, window, done, body, next, merged, try_merge)
#endif
    {
#ifdef KMEANS_HAVE_OPENMP
        const int t = omp_get_thread_num();
#else
        const int t = 0;
#endif
        for (;;) {
            const index_t chunk = next.fetch_add(1, std::memory_order_relaxed);
            if (chunk >= n_chunks) break;
            // its slot is free once the chunk `window` places before it is merged
            while (merged.load(std::memory_order_acquire) + window <= chunk) {
                try_merge();
                std::this_thread::yield();
            }
            body(chunk, chunk % window, t);
            done[chunk % window].store(chunk, std::memory_order_release);
            try_merge();
        }
    }
    (void)threads;
    try_merge();  // every chunk is done: whatever a busy merger left behind
}

}  // namespace kmeans
