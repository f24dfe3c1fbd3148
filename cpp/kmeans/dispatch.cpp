#include "dispatch.hpp"

#include <atomic>
#include <cctype>
#include <cstdlib>
#include <stdexcept>

namespace kmeans {

// One declaration per compiled copy of the chunk kernels (isa/plain.cpp, isa/hamerly.cpp,
// isa/grouped.cpp).
namespace isa_generic { void process_chunk(ChunkArgs&, bool); void process_chunk_bounded(BoundArgs&, bool); void process_chunk_grouped(GroupArgs&, bool); }
#ifdef KMEANS_HAVE_AVX2
namespace isa_avx2 { void process_chunk(ChunkArgs&, bool); void process_chunk_bounded(BoundArgs&, bool); void process_chunk_grouped(GroupArgs&, bool); }
#endif
#ifdef KMEANS_HAVE_AVX512
namespace isa_avx512 { void process_chunk(ChunkArgs&, bool); void process_chunk_bounded(BoundArgs&, bool); void process_chunk_grouped(GroupArgs&, bool); }
#endif

namespace {

struct Kernel {
    const char* name;
    ChunkFn fn;
    BoundFn bounded;
    GroupFn grouped;
    bool (*supported)();
};

bool always() { return true; }
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
bool cpu_avx2() {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
bool cpu_avx512() {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw");
}
#else
bool cpu_avx2() { return false; }
bool cpu_avx512() { return false; }
#endif

const std::vector<Kernel>& kernels() {
    static const std::vector<Kernel> all = {
#ifdef KMEANS_HAVE_AVX512
        {"avx512", isa_avx512::process_chunk, isa_avx512::process_chunk_bounded, isa_avx512::process_chunk_grouped, cpu_avx512},
#endif
#ifdef KMEANS_HAVE_AVX2
        {"avx2", isa_avx2::process_chunk, isa_avx2::process_chunk_bounded, isa_avx2::process_chunk_grouped, cpu_avx2},
#endif
        {"generic", isa_generic::process_chunk, isa_generic::process_chunk_bounded, isa_generic::process_chunk_grouped, always},
    };
    return all;
}

std::atomic<const Kernel*> g_current{nullptr};

const Kernel& find(const std::string& name) {
    for (const Kernel& k : kernels()) {
        if (name == k.name) {
            if (!k.supported()) {
                throw std::invalid_argument("the " + name + " kernel is not supported by this CPU");
            }
            return k;
        }
    }
    std::string names;
    for (const Kernel& k : kernels()) names += std::string(names.empty() ? "" : ", ") + k.name;
    throw std::invalid_argument("unknown kernel '" + name + "'; this build has: " + names);
}

const Kernel& choose_default() {
    if (const char* env = std::getenv("MNIST_KMEANS_ISA"); env && *env) {
        std::string name(env);  // "AVX2" as "avx2": a silent fallback would hide the request
        for (char& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        try {
            return find(name);
        } catch (const std::invalid_argument&) {
            // an unusable request falls back to the widest kernel rather than failing import
            // (the Python package warns: kmeans.py, _check_isa_request)
        }
    }
    for (const Kernel& k : kernels()) {
        if (k.supported()) return k;
    }
    return kernels().back();
}

const Kernel& current() {
    const Kernel* k = g_current.load();
    if (!k) {
        k = &choose_default();
        g_current.store(k);
    }
    return *k;
}

}  // namespace

std::vector<std::string> available_isas() {
    std::vector<std::string> out;
    for (const Kernel& k : kernels()) {
        if (k.supported()) out.emplace_back(k.name);
    }
    return out;
}

std::string current_isa() { return current().name; }

void set_isa(const std::string& name) { g_current.store(&find(name)); }

ChunkFn chunk_kernel() { return current().fn; }

BoundFn bounded_kernel() { return current().bounded; }

GroupFn grouped_kernel() { return current().grouped; }

}  // namespace kmeans
