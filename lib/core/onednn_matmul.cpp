#include "lib/core/onednn_matmul.h"

#include <ATen/ATen.h>
#include <ATen/ExpandUtils.h>
#include <ATen/ops/addmm_cpu_dispatch.h>
#include <ATen/ops/mm_cpu_dispatch.h>
#include <c10/util/Exception.h>
#include <dlfcn.h>
#include <torch/library.h>
#include <torch/version.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>

#include "lib/core/blas_kernels.h"
#include "lib/core/env.h"

namespace zoo {
namespace {

// oneDNN's C interface (dnnl.h, not installed here): dnnl_sgemm has the Sgemm signature.
Sgemm onednn_sgemm = nullptr;
std::atomic<int64_t> products_computed{0};

// One operand as sgemm reads it: a row-major matrix (trans 'N') or the transpose of one ('T':
// a column-major view, such as weight.t()), with its leading dimension. Any other layout
// (expanded, sliced in both dimensions) is copied to a contiguous one, kept alive in `copy`.
struct GemmOperand {
  const float* data;
  char trans;
  int64_t ld;
  at::Tensor copy;
};

GemmOperand gemm_operand(const at::Tensor& m) {
  const int64_t rows = m.size(0), cols = m.size(1), row_stride = m.stride(0), col_stride = m.stride(1);
  // A dimension of size 1 may carry any stride; the leading dimension must still cover a row.
  if ((cols == 1 || col_stride == 1) && (rows == 1 || row_stride >= cols))
    return {m.data_ptr<float>(), 'N', rows == 1 ? cols : std::max<int64_t>(row_stride, 1), {}};
  if ((rows == 1 || row_stride == 1) && (cols == 1 || col_stride >= rows))
    return {m.data_ptr<float>(), 'T', cols == 1 ? rows : std::max<int64_t>(col_stride, 1), {}};
  auto copy = m.contiguous();
  return {copy.data_ptr<float>(), 'N', cols, copy};
}

// Whether sgemm can write `out` in place: row-major, rows at least a row apart.
bool writable_in_place(const at::Tensor& out) {
  if (out.size(0) == 1) return out.size(1) == 1 || out.stride(1) == 1;
  if (out.size(1) == 1) return out.stride(0) >= 1;
  return out.stride(1) == 1 && out.stride(0) >= out.size(1);
}

// Below 64^3 multiply-adds the call costs more than the product and the BLAS is as fast (~4 us).
constexpr int64_t kSmallestOnednnProduct = 64 * 64 * 64;

// The products oneDNN takes: dense float32 matrices, at least kSmallestOnednnProduct. Everything
// else (other dtypes, empty or tiny products, sparse or negated views) stays with LibTorch.
bool onednn_takes(const at::Tensor& a, const at::Tensor& b) {
  return a.scalar_type() == at::kFloat && b.scalar_type() == at::kFloat && a.layout() == at::kStrided && b.layout() == at::kStrided &&
         a.dim() == 2 && b.dim() == 2 && a.size(1) == b.size(0) && a.size(0) * a.size(1) * b.size(1) >= kSmallestOnednnProduct &&
         !a.is_neg() && !b.is_neg();
}

// c = alpha a b + beta c into a row-major c (writable_in_place); false where oneDNN declined.
bool onednn_gemm(const at::Tensor& a, const at::Tensor& b, const at::Tensor& c, float alpha, float beta) {
  const auto lhs = gemm_operand(a), rhs = gemm_operand(b);
  const int64_t M = a.size(0), K = a.size(1), N = b.size(1);
  const int64_t ldc = M == 1 ? N : c.stride(0);
  if (onednn_sgemm(lhs.trans, rhs.trans, M, N, K, alpha, lhs.data, lhs.ld, rhs.data, rhs.ld, beta, c.data_ptr<float>(), ldc) != 0) return false;
  products_computed.fetch_add(1, std::memory_order_relaxed);
  return true;
}

bool out_aliases_operand(const at::Tensor& out, const at::Tensor& a, const at::Tensor& b) { return out.is_alias_of(a) || out.is_alias_of(b); }

at::Tensor mm_kernel(const at::Tensor& a, const at::Tensor& b) {
  if (!onednn_takes(a, b)) return at::cpu::mm(a, b);
  auto out = at::empty({a.size(0), b.size(1)}, a.options());
  if (!onednn_gemm(a, b, out, 1.f, 0.f)) return at::cpu::mm(a, b);
  return out;
}

at::Tensor& mm_out_kernel(const at::Tensor& a, const at::Tensor& b, at::Tensor& out) {
  if (!onednn_takes(a, b) || out.scalar_type() != at::kFloat || out_aliases_operand(out, a, b)) return at::cpu::mm_out(out, a, b);
  if (out.sizes() != at::IntArrayRef{a.size(0), b.size(1)}) out.resize_({a.size(0), b.size(1)});
  if (writable_in_place(out) && onednn_gemm(a, b, out, 1.f, 0.f)) return out;
  return at::cpu::mm_out(out, a, b);
}

// out = beta self + alpha a b: self broadcast into out (unless beta is 0: then self is not read,
// NaN included, as in LibTorch), then one sgemm adding onto it.
bool onednn_addmm_into(at::Tensor& out, const at::Tensor& self, const at::Tensor& a, const at::Tensor& b, const at::Scalar& beta,
                       const at::Scalar& alpha) {
  const float beta_value = beta.toFloat(), alpha_value = alpha.toFloat();
  if (beta_value != 0.f && !out.is_same(self)) out.copy_(self.expand({a.size(0), b.size(1)}));
  return onednn_gemm(a, b, out, alpha_value, beta_value);
}

bool addmm_takes(const at::Tensor& self, const at::Tensor& a, const at::Tensor& b) {
  const std::array<int64_t, 2> out_sizes{a.size(0), b.size(1)};
  return onednn_takes(a, b) && self.scalar_type() == at::kFloat && self.layout() == at::kStrided &&
         at::is_expandable_to(self.sizes(), at::IntArrayRef(out_sizes));
}

at::Tensor addmm_kernel(const at::Tensor& self, const at::Tensor& a, const at::Tensor& b, const at::Scalar& beta, const at::Scalar& alpha) {
  if (!addmm_takes(self, a, b)) return at::cpu::addmm(self, a, b, beta, alpha);
  auto out = at::empty({a.size(0), b.size(1)}, a.options());
  if (!onednn_addmm_into(out, self, a, b, beta, alpha)) return at::cpu::addmm(self, a, b, beta, alpha);
  return out;
}

at::Tensor& addmm_out_kernel(const at::Tensor& self, const at::Tensor& a, const at::Tensor& b, const at::Scalar& beta, const at::Scalar& alpha,
                             at::Tensor& out) {
  const bool in_place = out.is_same(self);
  if (!addmm_takes(self, a, b) || out.scalar_type() != at::kFloat || out_aliases_operand(out, a, b) || (!in_place && out.is_alias_of(self)))
    return at::cpu::addmm_out(out, self, a, b, beta, alpha);
  if (!in_place && out.sizes() != at::IntArrayRef{a.size(0), b.size(1)}) out.resize_({a.size(0), b.size(1)});
  if (out.sizes() == at::IntArrayRef{a.size(0), b.size(1)} && writable_in_place(out) && onednn_addmm_into(out, self, a, b, beta, alpha))
    return out;
  return at::cpu::addmm_out(out, self, a, b, beta, alpha);
}

at::Tensor& addmm_in_place_kernel(at::Tensor& self, const at::Tensor& a, const at::Tensor& b, const at::Scalar& beta, const at::Scalar& alpha) {
  if (addmm_takes(self, a, b) && !out_aliases_operand(self, a, b) && self.sizes() == at::IntArrayRef{a.size(0), b.size(1)} && writable_in_place(self) &&
      onednn_addmm_into(self, self, a, b, beta, alpha))
    return self;
  return at::cpu::addmm_(self, a, b, beta, alpha);
}

// Replacing a kernel makes the dispatcher warn once per operator; this replacement is meant.
struct SilentWarnings : c10::WarningHandler {
#if TORCH_VERSION_MAJOR >= 2
  void process(const c10::Warning&) override {}
#else
  void process(const c10::SourceLocation&, const std::string&, const bool) override {}
#endif
};
#if TORCH_VERSION_MAJOR >= 2
using WarningHandlerGuard = c10::WarningUtils::WarningHandlerGuard;
#else
using WarningHandlerGuard = c10::Warning::WarningHandlerGuard;
#endif

}  // namespace

void use_onednn_matmul() {
  static bool tried = false;
  if (tried) return;
  tried = true;
  if (env_is("ZOO_MATMUL", "blas")) return;
  // Looked up, not linked: present where LibTorch loads oneDNN as a shared library.
  onednn_sgemm = reinterpret_cast<Sgemm>(dlsym(RTLD_DEFAULT, "dnnl_sgemm"));
  if (!onednn_sgemm) return;
  SilentWarnings silent;
  WarningHandlerGuard quiet(&silent);
  // Kept for the life of the process: destroying the Library would restore LibTorch's kernels.
  static auto* kernels = new torch::Library(torch::Library::IMPL, "aten", c10::DispatchKey::CPU, __FILE__, __LINE__);
  kernels->impl("mm", TORCH_FN(mm_kernel));
  kernels->impl("mm.out", TORCH_FN(mm_out_kernel));
  kernels->impl("addmm", TORCH_FN(addmm_kernel));
  kernels->impl("addmm.out", TORCH_FN(addmm_out_kernel));
  kernels->impl("addmm_", TORCH_FN(addmm_in_place_kernel));
}

void choose_cpu_kernels(char** argv) {
  choose_blas_kernels(argv);
  use_onednn_matmul();
}

bool onednn_matmul_active() { return onednn_sgemm != nullptr; }

int64_t onednn_matmul_products() { return products_computed.load(std::memory_order_relaxed); }

Sgemm onednn_sgemm_function() { return onednn_sgemm; }

}  // namespace zoo
