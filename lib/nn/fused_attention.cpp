#include "lib/nn/fused_attention.h"

#include "lib/core/kernels.h"
#include "lib/core/onednn_matmul.h"
#include "lib/nn/cpu_dispatch.h"
#include "lib/nn/dropout.h"

#include <torch/csrc/jit/frontend/tracer.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

namespace zoo::nn {
namespace {

// ---- The loops, compiled twice (lib/nn/cpu_dispatch.h) ---------------------------------------
#define ZOO_SIMD_LOOPS "lib/nn/fused_attention_simd.inc"
#include "lib/nn/compile_twice.inc"

bool unfused_forced() {
  static const bool forced = env_is("ZOO_ATTENTION", "unfused");
  return forced;
}

int64_t padded_length(int64_t S) { return (S + 7) / 8 * 8; }

// Rows of one (batch, head) slice of a (B, H, rows, D) view: where slice (b, h) starts and how
// far apart its rows are.
struct Heads {
  float* data;
  int64_t batch_stride, head_stride, row_stride;
  explicit Heads(const torch::Tensor& t)
      : data(const_cast<float*>(t.data_ptr<float>())), batch_stride(t.stride(0)), head_stride(t.stride(1)), row_stride(t.stride(2)) {}
  float* slice(int64_t b, int64_t h) const { return data + b * batch_stride + h * head_stride; }
};

// The products' sgemm for slices of T queries and S keys, or null for the kernel's own loops.
// oneDNN's per-slice products (each on the thread of its slice) measured 1.4-1.8x faster than the
// loops without a mask at 65 and 128 tokens (vit_cifar's and bert_mini_mlm's heads of 64), 1.15x
// at 30, and slower at 17; under a causal mask the loops skip the hidden half and tie with it.
Sgemm products_for(int64_t T, int64_t S, int64_t causal_past) { return causal_past < 0 && T >= 24 && S >= 24 ? onednn_sgemm_function() : nullptr; }

// Forward over every (batch, head) slice, one task each: out (B, H, T, D) view, probs (B, H, T, S).
void forward_all(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, double scale, int64_t causal_past,
                 const torch::Tensor& key_padding, const torch::Tensor& keep, const torch::Tensor& probs, const torch::Tensor& out) {
  const int64_t B = q.size(0), H = q.size(1), T = q.size(2), S = k.size(2), D = q.size(3), Sp = padded_length(S);
  const Heads Q(q), K(k), V(v), O(out);
  float* P = probs.data_ptr<float>();
  const bool* padded = key_padding.numel() > 0 ? key_padding.data_ptr<bool>() : nullptr;
  const float* kept = keep.numel() > 0 ? keep.data_ptr<float>() : nullptr;
  const Sgemm sgemm = products_for(T, S, causal_past);
  at::parallel_for(0, B * H, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> scratch(static_cast<size_t>(sgemm ? T * Sp : (D + 4) * Sp));
    for (int64_t slice = begin; slice < end; ++slice) {
      const int64_t b = slice / H, h = slice % H;
      ZOO_DISPATCH(attention_forward_slice, Q.slice(b, h), Q.row_stride, K.slice(b, h), K.row_stride, V.slice(b, h), V.row_stride, T, S, D,
                   static_cast<float>(scale), causal_past, padded ? padded + b * S : nullptr, kept ? kept + slice * T * S : nullptr,
                   P + slice * T * S, O.slice(b, h), O.row_stride, scratch.data(), sgemm);
    }
  });
}

// Backward over every slice: dq (B, H, T, D), dk and dv (B, H, S, D) views, every element written.
void backward_all(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, const torch::Tensor& probs, const torch::Tensor& keep,
                  const torch::Tensor& grad_out, double scale, int64_t causal_past, const torch::Tensor& dq, const torch::Tensor& dk,
                  const torch::Tensor& dv) {
  const int64_t B = q.size(0), H = q.size(1), T = q.size(2), S = k.size(2), D = q.size(3), Sp = padded_length(S);
  const Heads Q(q), K(k), V(v), dO(grad_out), dQ(dq), dK(dk), dV(dv);
  const float* P = probs.data_ptr<float>();
  const float* kept = keep.numel() > 0 ? keep.data_ptr<float>() : nullptr;
  const Sgemm sgemm = products_for(T, S, causal_past);
  at::parallel_for(0, B * H, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> scratch(static_cast<size_t>((D + T) * Sp + (kept ? T * S : 0)));
    for (int64_t slice = begin; slice < end; ++slice) {
      const int64_t b = slice / H, h = slice % H;
      ZOO_DISPATCH(attention_backward_slice, Q.slice(b, h), Q.row_stride, K.slice(b, h), K.row_stride, V.slice(b, h), V.row_stride,
                   P + slice * T * S, kept ? kept + slice * T * S : nullptr, dO.slice(b, h), dO.row_stride, T, S, D, static_cast<float>(scale), causal_past, dQ.slice(b, h),
                   dQ.row_stride, dK.slice(b, h), dK.row_stride, dV.slice(b, h), dV.row_stride, scratch.data(), sgemm);
    }
  });
}

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The heads of a (B, T, 3, H, D) projection: part 0 Q, 1 K, 2 V, as (B, H, T, D) views.
torch::Tensor part(const torch::Tensor& qkv, int64_t index) { return qkv.select(2, index).transpose(1, 2); }

// The attention's output, (B, T, H, D) contiguous, and its (B, H, T, D) view the kernel writes.
torch::Tensor new_output(const torch::Tensor& q) { return torch::empty({q.size(0), q.size(2), q.size(1), q.size(3)}, q.options()); }

struct FusedAttention : torch::autograd::Function<FusedAttention> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, double scale,
                               int64_t causal_past, const torch::Tensor& key_padding, const torch::Tensor& keep) {
    auto out = new_output(q);
    auto probs = torch::empty({q.size(0), q.size(1), q.size(2), k.size(2)}, q.options());
    forward_all(q, k, v, scale, causal_past, key_padding, keep, probs, out.transpose(1, 2));
    ctx->save_for_backward({q, k, v, probs, keep});
    ctx->saved_data["scale"] = scale;
    ctx->saved_data["causal_past"] = causal_past;
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    TORCH_CHECK(!torch::GradMode::is_enabled(), "fused_attention: the fused kernel has no second derivative");
    auto saved = ctx->get_saved_variables();
    const auto &q = saved[0], &k = saved[1], &v = saved[2], &probs = saved[3], &keep = saved[4];
    auto grad_out = grads[0].contiguous();  // (B, T, H, D)
    auto dq = torch::empty(q.sizes(), q.options()), dk = torch::empty(k.sizes(), k.options()), dv = torch::empty(v.sizes(), v.options());
    backward_all(q, k, v, probs, keep, grad_out.transpose(1, 2), ctx->saved_data["scale"].toDouble(), ctx->saved_data["causal_past"].toInt(), dq,
                 dk, dv);
    return {dq, dk, dv, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

struct FusedSelfAttention : torch::autograd::Function<FusedSelfAttention> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& qkv, double scale, int64_t causal_past,
                               const torch::Tensor& key_padding, const torch::Tensor& keep) {
    const auto q = part(qkv, 0), k = part(qkv, 1);
    auto out = new_output(q);
    auto probs = torch::empty({q.size(0), q.size(1), q.size(2), k.size(2)}, q.options());
    forward_all(q, k, part(qkv, 2), scale, causal_past, key_padding, keep, probs, out.transpose(1, 2));
    ctx->save_for_backward({qkv, probs, keep});
    ctx->saved_data["scale"] = scale;
    ctx->saved_data["causal_past"] = causal_past;
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    TORCH_CHECK(!torch::GradMode::is_enabled(), "fused_self_attention: the fused kernel has no second derivative");
    auto saved = ctx->get_saved_variables();
    const auto &qkv = saved[0], &probs = saved[1], &keep = saved[2];
    auto grad_out = grads[0].contiguous();  // (B, T, H, D)
    // The projection's gradient in one piece: the kernel writes its three parts in place.
    auto grad_qkv = torch::empty(qkv.sizes(), qkv.options());
    backward_all(part(qkv, 0), part(qkv, 1), part(qkv, 2), probs, keep, grad_out.transpose(1, 2), ctx->saved_data["scale"].toDouble(),
                 ctx->saved_data["causal_past"].toInt(), part(grad_qkv, 0), part(grad_qkv, 1), part(grad_qkv, 2));
    return {grad_qkv, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

// The padding as the kernel reads it: (B, S) bool, or an empty tensor for none (an autograd
// function's tensor arguments must be defined).
torch::Tensor contiguous_padding(const torch::Tensor& key_padding) {
  return key_padding.defined() ? key_padding.to(torch::kBool).contiguous() : torch::empty({0}, torch::kBool);
}

// The dropout mask on the weights (B, H, T, S), drawn as zoo::nn::dropout draws it for the
// unfused weights (the same key and sizes, so the same mask), or an empty tensor for none.
torch::Tensor dropout_keep(const torch::Tensor& q, const torch::Tensor& k, double dropout) {
  if (dropout <= 0) return torch::empty({0}, q.options());
  return keep_mask({q.size(0), q.size(1), q.size(2), k.size(2)}, q.options(), dropout);
}

}  // namespace

bool fused_attention_applies(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, const torch::Tensor& key_padding) {
  if (unfused_forced() || torch::jit::tracer::isTracing()) return false;
  for (const auto* t : {&q, &k, &v})
    if (!t->defined() || t->dim() != 4 || !t->device().is_cpu() || t->scalar_type() != torch::kFloat || t->stride(3) != 1) return false;
  const int64_t B = q.size(0), H = q.size(1), S = k.size(2), D = q.size(3);
  if (D % 8 != 0 || S == 0 || k.size(0) != B || v.size(0) != B || k.size(1) != H || v.size(1) != H || v.size(2) != S || k.size(3) != D ||
      v.size(3) != D)
    return false;
  return !key_padding.defined() || (key_padding.device().is_cpu() && key_padding.dim() == 2 && key_padding.size(0) == B && key_padding.size(1) == S);
}

torch::Tensor fused_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, double scale, int64_t causal_past,
                              const torch::Tensor& key_padding, double dropout) {
  return FusedAttention::apply(q, k, v, scale, causal_past, contiguous_padding(key_padding), dropout_keep(q, k, dropout));
}

torch::Tensor fused_self_attention(const torch::Tensor& qkv, double scale, int64_t causal_past, const torch::Tensor& key_padding,
                                   double dropout) {
  TORCH_CHECK(qkv.dim() == 5 && qkv.size(2) == 3 && qkv.is_contiguous(), "fused_self_attention: qkv must be (B, T, 3, H, D) contiguous");
  const auto q = part(qkv, 0);
  return FusedSelfAttention::apply(qkv, scale, causal_past, contiguous_padding(key_padding), dropout_keep(q, part(qkv, 1), dropout));
}

}  // namespace zoo::nn
