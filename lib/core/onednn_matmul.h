// float32 matrix products on the CPU through oneDNN's sgemm instead of the BLAS.
//
// LibTorch computes mm and addmm (every Linear layer, forward and both gradients; matmul over
// folded batches) with the system BLAS, OpenBLAS here. Debian's LibTorch also links oneDNN as a
// shared library (libdnnl.so.2, for its convolutions), and oneDNN's own sgemm, JIT-compiled for
// the CPU it runs on, measured 15-40% faster on the shapes zoo's models multiply (transformer
// widths 128-768 over thousands of rows, output layers, the LSTM's per-step products; docs/
// PERFORMANCE.md, "oneDNN's sgemm for the matrix products"). use_onednn_matmul() makes LibTorch's
// CPU kernels for aten::mm and aten::addmm (and their out= and in-place forms) call it for dense
// float32 operands: every model, the autograd formulas and the profiler see the same operators.
//
// Where LibTorch carries oneDNN inside itself with hidden symbols (the official LibTorch 2.x
// builds), dnnl_sgemm cannot be found and nothing changes.
#pragma once
#include <cstdint>

namespace zoo {

// Installs the kernels once per process (later calls do nothing) where dnnl_sgemm is found and
// ZOO_MATMUL is not "blas". Call at the start of main, before the first product.
void use_onednn_matmul();

// Whether this process's float32 CPU products run through oneDNN (use_onednn_matmul installed).
bool onednn_matmul_active();

// What every zoo program that computes does at the start of main: OpenBLAS's kernels for this
// CPU (choose_blas_kernels, which may start the program again) and then use_onednn_matmul().
void choose_cpu_kernels(char** argv);

// Products oneDNN has computed in this process (for the tests: which products went where).
int64_t onednn_matmul_products();

// oneDNN's row-major sgemm, C = alpha op(A) op(B) + beta C with op(X) = X ('N') or X^T ('T'),
// returning 0 on success: for kernels that multiply small blocks of their own (the fused
// attention's per-head products), called from inside their parallel loops, where it runs on the
// calling thread. Null unless use_onednn_matmul() installed the products (so ZOO_MATMUL=blas
// turns it off too).
using Sgemm = int (*)(char transa, char transb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda, const float* B,
                      int64_t ldb, float beta, float* C, int64_t ldc);
Sgemm onednn_sgemm_function();

}  // namespace zoo
