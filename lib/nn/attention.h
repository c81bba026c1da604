// Soft attention over a padded source (the seeds' "soft attention": c_i = sum_j a_ij h_j with
// a_ij = softmax_j(e_ij)), in the variants the RNN encoder-decoders use. Shared by the
// translation and captioning models. Every variant masks padding: a pad position gets weight
// exactly 0, and the weights over real positions sum to 1.
#pragma once
#include <torch/torch.h>

#include "lib/nn/attention_kernels.h"

#include <string>
#include <vector>

namespace zoo::nn {

enum class AttentionKind { Bahdanau, LuongDot, LuongGeneral, LuongConcat, ScaledDot, Location };

// "bahdanau" | "luong_dot" | "luong_general" | "luong_concat" | "scaled_dot" | "location";
// UsageError listing the valid names otherwise.
AttentionKind parse_attention(const std::string& name);
const std::vector<std::string>& attention_names();

// The source as every step of one training pass attends over it: the memory's and the keys'
// gradients formed once for all the steps instead of one (B, S, *) gradient per step, added up
// (lib/nn/attention_kernels.h). Build it once before the steps from what forward() would get.
struct StepSource {
  StepSource(const torch::Tensor& memory, const torch::Tensor& keys) : memory(memory), keys(keys) {}
  StepValues memory;  // read by every variant's weighted sum
  StepKeys keys;      // read by the additive energies (bahdanau, luong_concat)
};

struct AttentionOutput {
  torch::Tensor context;  // (B, Dk): sum_j a_j h_j
  torch::Tensor weights;  // (B, S): a_j, 0 on pads
  torch::Tensor state;    // (B, K) Gaussian centres kappa for "location"; (B, 0) otherwise
};

class AttentionImpl : public torch::nn::Module {
 public:
  // query_size: the decoder state's width; key_size: the encoder output's width (memory);
  // hidden_size: the width of the additive scores' tanh layer (bahdanau, luong_concat);
  // mixtures: K Gaussians for "location".
  AttentionImpl(AttentionKind kind, int64_t query_size, int64_t key_size, int64_t hidden_size, int64_t mixtures = 5);

  // What does not depend on the query, once per source sentence (B, S, *): U h_j (bahdanau),
  // W k (luong_general), the key half of W[q;k] (luong_concat); the memory itself otherwise.
  torch::Tensor precompute(const torch::Tensor& memory);

  // query (B, Dq), memory (B, S, Dk), keys = precompute(memory), mask (B, S) bool (true on real
  // tokens), state from the previous step (initial_state() at the first); `steps`, when given, is
  // the same memory and keys as a teacher-forced pass's steps share them.
  AttentionOutput forward(const torch::Tensor& query, const torch::Tensor& memory, const torch::Tensor& keys,
                          const torch::Tensor& mask, const torch::Tensor& state, const StepSource* steps = nullptr);

  // Zeros (B, K) for location, (B, 0) otherwise; `like` (B, ...) gives batch, dtype and device.
  torch::Tensor initial_state(const torch::Tensor& like) const;
  AttentionKind kind() const { return kind_; }

 private:
  AttentionKind kind_;
  int64_t key_size_, mixtures_;
  torch::nn::Linear query_proj_{nullptr}, key_proj_{nullptr}, window_{nullptr};
  torch::Tensor v_;  // (A): the score vector of the additive forms
};
TORCH_MODULE(Attention);

// softmax over j of `scores` (B, S) with -inf where `mask` is false: pads get exactly 0.
torch::Tensor masked_softmax(const torch::Tensor& scores, const torch::Tensor& mask);

}  // namespace zoo::nn
