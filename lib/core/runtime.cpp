#include "lib/core/runtime.h"

#include <sched.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

#include <cmath>
#include <opencv2/core.hpp>

#include "lib/core/env.h"
#include "lib/core/error.h"

namespace zoo {

torch::Device parse_device(const std::string& spec) {
  if (spec == "cpu") return torch::Device(torch::kCPU);
  if (spec == "auto") return torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  if (spec == "cuda" || spec.rfind("cuda:", 0) == 0) {
    int index = 0;
    if (spec.size() > 5) {
      const std::string digits = spec.substr(5);
      if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos)
        throw UsageError("invalid --device '" + spec + "': expected auto, cpu, cuda or cuda:N");
      index = std::stoi(digits);
    }
    if (!torch::cuda::is_available())
      throw UsageError("--device " + spec + ": CUDA is not available on this machine (use --device cpu or auto)");
    const int count = static_cast<int>(torch::cuda::device_count());
    if (index >= count)
      throw UsageError("--device " + spec + ": this machine has " + std::to_string(count) + " CUDA device(s)");
    return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  throw UsageError("invalid --device '" + spec + "': expected auto, cpu, cuda or cuda:N");
}

int available_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return 1;
}

void set_threads(int threads) {
  if (threads < 0) throw UsageError("invalid --threads " + std::to_string(threads) + ": expected 0 or more");
  torch::set_num_threads(threads == 0 ? available_cores() : threads);
  static bool interop_set = false;  // LibTorch allows setting it once, before any inter-op work
  if (!interop_set) {
    interop_set = true;
    try {
      torch::set_num_interop_threads(1);
    } catch (const c10::Error&) {
    }
  }
  cv::setNumThreads(0);
}

void tune_allocator() {
#if defined(__GLIBC__)
  if (env_is("ZOO_MALLOC_DEFAULTS", "1")) return;
  // Every allocation comes from the heap and is reused: no block is mapped on allocation and
  // unmapped on free, which made each step page-fault its activations in again. 32 MB is the
  // highest threshold glibc takes; with no mapped blocks at all (M_MMAP_MAX 0) the larger ones
  // are reused too (a 224-pixel ResNet-50 trunk at batch 32 allocates ~100 MB activations: 3.5x
  // fewer page faults, ~4% faster; docs/PERFORMANCE.md). Freed heap memory is not trimmed.
  mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
}

std::string blas_warning() {
  // A LibTorch built with MKL (the CUDA wheels, most 2.x builds) links it statically: whatever
  // libblas.so OpenCV loads next to it does not run LibTorch's matrix products.
  if (at::hasMKL()) return "";
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    if (line.find("/blas/libblas.so") != std::string::npos)
      return "LibTorch is using the reference BLAS (measured ~30x slower matrix products); run scripts/setup.sh to select OpenBLAS (OpenMP)";
    if (line.find("openblas-pthread/") != std::string::npos)
      return "LibTorch is using OpenBLAS's pthread build, which oversubscribes the cores next to LibTorch's OpenMP threads (measured ~3x slower); run scripts/setup.sh to select the OpenMP build";
  }
  return "";
}

void use_deterministic_algorithms() {
  // cuBLAS reuses workspaces nondeterministically unless told their size before it starts.
  ::setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8", /*overwrite=*/0);
  at::globalContext().setDeterministicAlgorithms(true, /*warn_only=*/false);
  at::globalContext().setDeterministicCuDNN(true);
  at::globalContext().setBenchmarkCuDNN(false);
}

bool fault_injected(const std::string& point) {
  static std::mutex mutex;
  static std::map<std::string, int64_t> calls;
  const char* spec = std::getenv("ZOO_FAULT");
  if (!spec || !*spec) return false;
  std::lock_guard<std::mutex> lock(mutex);
  const int64_t call = ++calls[point];
  std::stringstream items(spec);
  for (std::string item; std::getline(items, item, ',');) {
    const auto eq = item.find('=');
    if (eq != std::string::npos && item.substr(0, eq) == point && std::atoll(item.c_str() + eq + 1) == call) return true;
  }
  return false;
}

void seed_everything(uint64_t seed) {
  torch::manual_seed(seed);
  if (torch::cuda::is_available()) torch::cuda::manual_seed_all(seed);
}

}  // namespace zoo
