#include "lib/core/blas_kernels.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "lib/core/env.h"

namespace zoo {

std::string blas_core() {
  // Looked up, not linked: the BLAS is whichever libblas.so.3 the system selects.
  using Corename = char* (*)();
  const auto corename = reinterpret_cast<Corename>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  const char* name = corename ? corename() : nullptr;
  return name ? name : "";
}

std::string better_blas_core() {
  if (strcasecmp(blas_core().c_str(), "prescott") != 0) return "";
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
  __builtin_cpu_init();
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
                      __builtin_cpu_supports("avx512vl");
  if (avx512 && __builtin_cpu_supports("avx512bf16")) return "Cooperlake";
  if (avx512) return "SkylakeX";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
#endif
  return "";
}

void choose_blas_kernels(char** argv) {
  if (std::getenv("OPENBLAS_CORETYPE") || env_is("ZOO_BLAS_KEEP", "1")) return;
  const std::string core = better_blas_core();
  if (core.empty()) return;
  setenv("OPENBLAS_CORETYPE", core.c_str(), 1);
  execv("/proc/self/exe", argv);
  // The restart failed (no /proc): run on with OpenBLAS's choice, the environment as it was.
  unsetenv("OPENBLAS_CORETYPE");
}

}  // namespace zoo
