// Process-wide runtime choices: device, threads, seeding, determinism, fault injection.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <string>

#include "lib/core/random.h"

namespace zoo {

// "auto" (CUDA when available, else CPU), "cpu", "cuda" or "cuda:N". Asking for CUDA where
// there is none, or for a device index that does not exist, is a UsageError.
torch::Device parse_device(const std::string& spec);

// Cores this process may run on (sched_getaffinity), at least 1.
int available_cores();

// Sets LibTorch's intra-op threads (0 = available_cores()) and one inter-op thread; OpenCV
// runs single-threaded inside the loader's workers, so the two never oversubscribe the cores.
void set_threads(int threads);

// Keeps freed tensor memory in the heap instead of returning it to the OS after every step
// (glibc's mmap threshold 32 MB, no mapped blocks at all, no trimming): measured 1.7x faster CPU
// training steps from fewer page faults, same peak RSS (docs/PERFORMANCE.md). ZOO_MALLOC_DEFAULTS=1 opts out.
void tune_allocator();

// A one-line warning when the BLAS this process loaded is one measured to be slow next to
// LibTorch (reference BLAS ~30x, OpenBLAS's pthread build ~3x on GEMM-bound steps); empty
// when it is fine or unknown. Reads /proc/self/maps.
std::string blas_warning();

// --deterministic: deterministic algorithms only (an op without one is an error naming it),
// cuDNN without autotuning, cuBLAS with a fixed workspace. Call before the first CUDA use.
void use_deterministic_algorithms();

// Fault injection for the reliability tests (docs/RELIABILITY.md): ZOO_FAULT="POINT=N,..."
// makes the N-th call of fault_injected(POINT) in this process return true; every other call,
// and every call without ZOO_FAULT, returns false.
bool fault_injected(const std::string& point);

// Seeds LibTorch's CPU (and CUDA) generators.
void seed_everything(uint64_t seed);

}  // namespace zoo
