// OpenBLAS's kernels for CPUs its table does not know.
//
// Debian's OpenBLAS (0.3.21, built for every x86 CPU: DYNAMIC_ARCH) picks its kernels from the
// CPU's model number when it loads. A model newer than its table (Intel's Emerald Rapids, family
// 6 model 207, on some of the project's machines) gets the oldest kernels it has, "Prescott"
// (SSE3): a 2048^3 float32 product on 2 threads ran at 38 GFLOP/s there against 190 with the
// AVX-512 kernels (docs/PERFORMANCE.md, "BLAS kernels"), and every LibTorch matrix product and
// convolution fallback with it. OpenBLAS reads OPENBLAS_CORETYPE once, while loading, before
// main: the only way to change its choice is to start the program again with it set.
#pragma once
#include <string>

namespace zoo {

// The kernels OpenBLAS runs in this process ("Prescott", "Cooperlake", ...), or "" when the BLAS
// is not OpenBLAS.
std::string blas_core();

// The kernels this CPU's features call for where OpenBLAS fell back to "Prescott": Cooperlake
// (AVX-512 with BF16), SkylakeX (AVX-512 F/BW/DQ/VL), Haswell (AVX2 and FMA); "" when OpenBLAS's
// own choice stands (it knew the CPU, the CPU has none of those, or it is not OpenBLAS).
std::string better_blas_core();

// At the start of main: where better_blas_core() names kernels and OPENBLAS_CORETYPE is not set
// (the user's choice is kept), sets it and executes this program again with the same arguments
// (/proc/self/exe; the same process id, so launchers such as torchrun see nothing). Returns only
// where nothing was to be done or the restart failed (the program then runs as it is).
// ZOO_BLAS_KEEP=1 opts out.
void choose_blas_kernels(char** argv);

}  // namespace zoo
