// The two per-step halves of additive ("Bahdanau") soft attention as fused CPU kernels, for the
// recurrent decoders that run them at every output position (Show, Attend and Tell; the RNN
// encoder-decoders):
//   e_j = v^T tanh(k_j + q)        additive_energies: keys k_j = U h_j + b (precomputed), query q = W s
//   z   = sum_j alpha_j h_j        weighted_sum
// Written as separate ATen operations, the energies make five passes over the (B, S, A) tanh
// layer forward and backward and keep it for the backward pass; the fused kernel reads the keys
// once forward and once backward (the tanh is recomputed), keeps nothing, and writes the keys'
// gradient once. ATen's batched product for the context is slow for one row per batch; the
// kernel streams the values at the memory's speed and skips zero weights (pads, hard attention's
// one-hot). docs/PERFORMANCE.md, sat_soft, has the measurements.
//
// Both are autograd functions with the same results as the ATen expressions (to float rounding)
// and fall back to those expressions off the CPU, for other dtypes, and while tracing for
// TorchScript export (a trace records ATen operations, not a kernel's loops).
#pragma once
#include <torch/torch.h>

namespace zoo::nn {

// keys (B, S, A), query (B, A), v (A) -> energies (B, S): e_bj = sum_k v_k tanh(keys_bjk + query_bk).
torch::Tensor additive_energies(const torch::Tensor& keys, const torch::Tensor& query, const torch::Tensor& v);

// weights (B, S), values (B, S, D) -> (B, D): sum_j weights_bj values_bj.
torch::Tensor weighted_sum(const torch::Tensor& weights, const torch::Tensor& values);

}  // namespace zoo::nn
