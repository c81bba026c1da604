// Scaled dot-product attention as one fused CPU kernel with its own backward (issue 27), for every
// model built on lib/nn/multihead_attention (Transformer, GPT, ViT and its kin, BERT, CLIP, DETR,
// TimeSformer):
//   Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k) + mask) V
// Unfused, LibTorch runs it as a batched product, a division, a mask built and applied (a causal
// mask is a fresh (B, H, T, S) tensor every call), a softmax and a second batched product, after
// copying the strided head views of Q, K and V to contiguous ones, and it copies the heads back
// to (B, T, E) for the output projection; backward adds as many passes, and the three heads'
// gradients are scattered into a zeroed (B, T, 3E) buffer one by one. Here each (batch, head)
// slice is one task: its scores, mask and softmax stay in a few cache-sized rows, the products
// read the strided views where they lie, the output is written straight in (B, T, H, D) order,
// and backward writes dQ, dK and dV where the input projection's gradient wants them. The
// probabilities (B, H, T, S) are kept for backward, as the unfused path keeps them.
//
// Dropout on the weights (training) takes the same mask as zoo::nn::dropout draws for the unfused
// weights, from the same generator, and is applied inside the kernel.
//
// Same results as the unfused expressions (to float rounding; the unit test [fused_attention]
// compares values and gradients in float64) for what it covers: float32 on the CPU, head width a
// multiple of 8, not while tracing (a TorchScript export records ATen operations). The caller keeps the unfused path for the rest, and for every call
// under ZOO_ATTENTION=unfused (docs/PERFORMANCE.md's "before").
#pragma once
#include <torch/torch.h>

namespace zoo::nn {

// Whether the fused kernel takes these heads: q (B, H, T, D), k and v (B, H, S, D), each with its
// last dimension contiguous, float32 CPU tensors, D a multiple of 8; key_padding undefined or
// (B, S) bool. False under ZOO_ATTENTION=unfused and while tracing.
bool fused_attention_applies(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, const torch::Tensor& key_padding);

// softmax(scale Q K^T + mask) V -> (B, T, H, D), contiguous (the heads side by side: flatten(2)
// gives (B, T, E) without a copy). causal_past >= 0: query t sees keys at positions <= past + t
// (past: keys cached before these queries); < 0: no causal mask. key_padding (B, S): true marks a
// key no query may see. dropout > 0: each weight dropped with that probability, the rest scaled
// by 1 / (1 - dropout) (training).
torch::Tensor fused_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, double scale, int64_t causal_past,
                              const torch::Tensor& key_padding = {}, double dropout = 0);

// The same for self-attention whose Q, K and V are slices of one input projection, qkv (B, T, 3,
// H, D) contiguous: backward returns that projection's gradient as one tensor (no zeroed buffer
// per head, no scatter).
torch::Tensor fused_self_attention(const torch::Tensor& qkv, double scale, int64_t causal_past, const torch::Tensor& key_padding = {},
                                   double dropout = 0);

}  // namespace zoo::nn
