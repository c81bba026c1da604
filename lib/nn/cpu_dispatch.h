// Run-time choice between a kernel's two builds: the AVX2 + FMA one where the CPU has both, the
// compiler's baseline otherwise or when ZOO_KERNELS=baseline (how the tests run the baseline on
// an AVX2 machine). A kernel file compiles its loops twice, inside namespaces avx2 and baseline,
// through lib/nn/compile_twice.inc, and calls them through ZOO_DISPATCH(kernel, arguments...).
#pragma once
#include "lib/core/kernels.h"

#define ZOO_INLINE inline __attribute__((always_inline))

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#define ZOO_AVX2_DISPATCH 1
#define ZOO_DISPATCH(kernel, ...) (::zoo::nn::cpu_has_avx2() ? avx2::kernel(__VA_ARGS__) : baseline::kernel(__VA_ARGS__))
#else
#define ZOO_AVX2_DISPATCH 0
#define ZOO_DISPATCH(kernel, ...) baseline::kernel(__VA_ARGS__)
#endif

namespace zoo::nn {

// Whether the AVX2 builds run: the CPU has AVX2 and FMA and ZOO_KERNELS is not "baseline".
inline bool cpu_has_avx2() {
  static const bool yes = [] {
#if ZOO_AVX2_DISPATCH
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && !env_is("ZOO_KERNELS", "baseline");
#else
    return false;
#endif
  }();
  return yes;
}

}  // namespace zoo::nn
