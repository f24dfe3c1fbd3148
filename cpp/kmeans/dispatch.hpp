// Run-time choice of the chunk kernel: the widest instruction set the CPU supports.
#pragma once

#include <string>
#include <vector>

#include "chunk.hpp"

namespace kmeans {

// Names of the kernels this build contains and this CPU can run, widest first.
std::vector<std::string> available_isas();

// The name of the kernel in use.
std::string current_isa();

// Use the named kernel ("avx512", "avx2", "generic"); throws std::invalid_argument if this
// build or CPU cannot run it. Not thread-safe against running passes: set it before fitting.
void set_isa(const std::string& name);

// The chunk kernel in use (chosen on first call: MNIST_KMEANS_ISA if set and usable, in any
// case, else the widest).
ChunkFn chunk_kernel();

// The bounded (Hamerly) chunk kernel of the same instruction set.
BoundFn bounded_kernel();

// The grouped (Yinyang, Elkan) chunk kernel of the same instruction set.
GroupFn grouped_kernel();

}  // namespace kmeans
