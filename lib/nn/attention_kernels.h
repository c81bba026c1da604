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
// TorchScript export (a trace records ATen operations, not a kernel's loops). The loops are built
// for AVX2 + FMA and for the compiler's baseline; the CPU picks, and ZOO_KERNELS=baseline forces
// the latter (a test runs both).
#pragma once
#include <torch/torch.h>

#include "lib/nn/step_gradient.h"

#include <vector>

namespace zoo::nn {

// keys (B, S, A), query (B, A), v (A) -> energies (B, S): e_bj = sum_k v_k tanh(keys_bjk + query_bk).
torch::Tensor additive_energies(const torch::Tensor& keys, const torch::Tensor& query, const torch::Tensor& v);

// What the steps' backward passes leave for the keys: the sum of their gradients so far.
struct KeysRecord : StepRecord {
  torch::Tensor accumulated;  // undefined before the first
  torch::Tensor take_gradient() override;
};

// The keys as every step of one decoding pass reads them: the steps' gradients for them add up
// inside the energies' backward kernel, in one buffer, instead of autograd allocating a fresh
// (B, S, A) gradient per step and adding it to the sum (lib/nn/step_gradient.h). Build it once
// before the steps; without a graph, or with gather false (a single decoding step), it is
// additive_energies on the keys themselves.
class StepKeys {
 public:
  explicit StepKeys(const torch::Tensor& keys, bool gather = true);  // (B, S, A)
  torch::Tensor energies(const torch::Tensor& query, const torch::Tensor& v) const;

 private:
  torch::Tensor keys_;                     // seen through the node that gathers their gradient
  c10::intrusive_ptr<KeysRecord> record_;  // null when the steps do not gather it
};

// weights (B, S), values (B, S, D) -> (B, D): sum_j weights_bj values_bj.
torch::Tensor weighted_sum(const torch::Tensor& weights, const torch::Tensor& values);

// What the steps' backward passes leave for the values: each step's weights a_t (B, S) and output
// gradient dz_t (B, D); the values' gradient is then sum_t a_t^T dz_t, one batched product
// A^T dZ over the steps, where autograd would form and add T outer products of (B, S, D).
struct ValuesRecord : StepRecord {
  std::vector<torch::Tensor> weights, output_grads;
  torch::Tensor take_gradient() override;
};

// The values (the memory) as every step of one decoding pass reads them, the counterpart of
// StepKeys for weighted_sum. Without a graph, or with gather false, it is weighted_sum on the
// values themselves.
class StepValues {
 public:
  explicit StepValues(const torch::Tensor& values, bool gather = true);  // (B, S, D)
  torch::Tensor weighted_sum(const torch::Tensor& weights) const;

 private:
  torch::Tensor values_;
  c10::intrusive_ptr<ValuesRecord> record_;
};

}  // namespace zoo::nn
