// What the lm task needs from a language model: next-token logits for a batch of token
// sequences, with a state that carries what came before (a recurrent model's hidden state, a
// transformer's key/value cache). The same call trains (truncated backpropagation through time
// carries the state from chunk to chunk) and generates (one token at a time).
#pragma once
#include <torch/torch.h>

#include <vector>

namespace zoo::models {

struct LmOutput {
  torch::Tensor logits;              // (B, T, V)
  std::vector<torch::Tensor> state;  // to pass to the next call
};

class LanguageModel : public torch::nn::Module {
 public:
  // tokens (B, T) int64 -> logits (B, T, V) of the token after each position. `state` from the
  // previous call continues the sequences; empty starts them.
  virtual LmOutput forward(const torch::Tensor& tokens, const std::vector<torch::Tensor>& state) = 0;
  // The longest sequence (state included) the model accepts; 0 for no limit (recurrent models).
  virtual int64_t context() const = 0;
  // Whether the state summarises the past and is carried between training chunks (recurrent
  // models), or only caches what a generator would otherwise recompute (transformers).
  virtual bool recurrent() const = 0;
  virtual int64_t vocab_size() const = 0;
};

}  // namespace zoo::models
