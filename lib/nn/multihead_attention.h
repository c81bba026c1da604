// Multi-head scaled dot-product self-attention (Vaswani et al. 2017), the building block of the
// transformer models:
//   Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k)) V
//   head_i = Attention(X W_i^Q, X W_i^K, X W_i^V),  MultiHead(X) = Concat(head_1, ..., head_h) W^O
// with an optional causal mask (the seeds' masked self-attention: position t sees positions <= t),
// a key/value cache for generating one token at a time, and rotary positions. The weights of the
// last call can be kept for looking inside (zoo visualize).
#pragma once
#include <torch/torch.h>

#include <string>

#include "lib/nn/positional.h"

namespace zoo::nn {

// Keys and values of the positions seen so far, (B, heads, T_past, head_dim) each; undefined
// before the first call.
struct KeyValueCache {
  torch::Tensor key, value;
  int64_t length() const { return key.defined() ? key.size(2) : 0; }
};

struct MultiheadAttentionOptions {
  int64_t embed_dim = 0, heads = 1;
  double dropout = 0;  // on the attention weights, in training
  bool bias = true;
  // Submodule names: the fused Q/K/V projection (3E x E) and the output projection W^O.
  // nanoGPT calls them c_attn / c_proj; PyTorch's nn.MultiheadAttention in_proj / out_proj.
  std::string in_proj_name = "in_proj", out_proj_name = "out_proj";
};

class MultiheadAttentionImpl : public torch::nn::Module {
 public:
  explicit MultiheadAttentionImpl(const MultiheadAttentionOptions& options);

  // x (B, T, E) -> (B, T, E). causal: query t attends to keys <= t, the cache's keys counting as
  // earlier positions. cache: its keys/values are attended to as well, and this call's are
  // appended. rotary: cos/sin (T, head_dim/2) of this call's positions, rotating queries and keys.
  torch::Tensor forward(const torch::Tensor& x, bool causal, KeyValueCache* cache = nullptr, const RotaryTable* rotary = nullptr);

  // With keep on, forward keeps its attention weights (B, heads, T, T_past + T), detached.
  void keep_weights(bool keep) { keep_weights_ = keep; }
  const torch::Tensor& last_weights() const { return last_weights_; }

  int64_t heads() const { return heads_; }
  torch::nn::Linear in_proj{nullptr}, out_proj{nullptr};

 private:
  int64_t heads_, head_dim_;
  torch::nn::Dropout attention_dropout_{nullptr};
  bool keep_weights_ = false;
  torch::Tensor last_weights_;
};
TORCH_MODULE(MultiheadAttention);

}  // namespace zoo::nn
