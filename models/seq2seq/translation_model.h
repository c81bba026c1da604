// What the translate task needs from an encoder-decoder: teacher-forced logits for training,
// and encode + one decoding step for search and export. The state between steps is a list of
// tensors whose first dimension is the batch, so beam search can reorder it without knowing it.
#pragma once
#include <torch/torch.h>

#include <vector>

#include "lib/nn/search.h"

namespace zoo::models {

class TranslationModel : public torch::nn::Module {
 public:
  // src (B, S) token ids padded with 0, src_lengths (B) int64 on the CPU: the state before the
  // first decoding step.
  virtual std::vector<torch::Tensor> encode(const torch::Tensor& src, const torch::Tensor& src_lengths) = 0;
  // One step: the previous tokens (B) -> log-probabilities (B, V), the next state, attention (B, S).
  virtual nn::DecodeStep decode_step(const torch::Tensor& tokens, const std::vector<torch::Tensor>& state) = 0;
  // Teacher-forced logits (B, T, V) for tgt_in (B, T) = <bos> y_1 ... y_{T-1}.
  virtual torch::Tensor forward(const torch::Tensor& src, const torch::Tensor& src_lengths, const torch::Tensor& tgt_in) = 0;
};

}  // namespace zoo::models
