// Multi-head scaled dot-product attention (Vaswani et al. 2017), the building block of the
// transformer models:
//   Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k) + mask) V
//   head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V),  MultiHead = Concat(head_1, ..., head_h) W^O
// as self-attention (Q = K = V = X) with an optional causal mask (the seeds' masked
// self-attention: position t sees positions <= t), or as cross-attention (queries from the
// decoder, keys and values from the encoder's output); a key padding mask; a key/value cache for
// generating one token at a time; rotary positions. The projections are PyTorch's
// nn.MultiheadAttention's (one fused in-projection, rows W^Q, W^K, W^V, and W^O), so its weights
// load as they are. The weights of the last call can be kept for looking inside (zoo visualize).
#pragma once
#include <torch/torch.h>

#include <string>

#include "lib/nn/dropout.h"
#include "lib/nn/positional.h"

namespace zoo::nn {

// Keys and values of the positions seen so far, (B, heads, T_past, head_dim) each; undefined
// before the first call.
// Keys and values (B, H, T_past, D) each. A reserved cache (reserve_cache) holds views of buffers
// with room for more positions: self-attention writes the new keys and values into their free
// rows instead of copying the cache into a longer one (per token O(T) instead of O(T^2) for a
// sample) and returns longer views, still reserved while there is room. The buffers are shared
// by every view, so continue a reserved cache once only: two continuations would write the same
// rows. Any other cache grows by concatenation.
struct KeyValueCache {
  torch::Tensor key, value;
  bool reserved = false;
  int64_t length() const { return key.defined() ? key.size(2) : 0; }
};

// An empty cache (B, H, 0, D) with room for `capacity` positions, of `options`' dtype and device.
KeyValueCache reserve_cache(int64_t batch, int64_t heads, int64_t capacity, int64_t head_dim, const torch::TensorOptions& options);

struct MultiheadAttentionOptions {
  int64_t embed_dim = 0, heads = 1;
  double dropout = 0;  // on the attention weights, in training
  bool bias = true;
  // Submodule names: the fused Q/K/V projection (3E x E) and the output projection W^O.
  // nanoGPT calls them c_attn / c_proj; PyTorch's nn.MultiheadAttention in_proj / out_proj.
  std::string in_proj_name = "in_proj", out_proj_name = "out_proj";
  // PyTorch's nn.MultiheadAttention keeps the fused in-projection as two parameters of the
  // attention module itself, in_proj_weight and in_proj_bias (torchvision's ViT state_dicts name
  // them so); with false it is a Linear submodule named in_proj_name.
  bool in_proj_parameters = false;
};

class MultiheadAttentionImpl : public torch::nn::Module {
 public:
  explicit MultiheadAttentionImpl(const MultiheadAttentionOptions& options);

  // Self-attention: x (B, T, E) -> (B, T, E). causal: query t attends to keys <= t, the cache's
  // keys counting as earlier positions. cache: its keys/values are attended to as well, and this
  // call's are appended (a cache whose tensors are defined but empty, (B, H, 0, D), starts one).
  // rotary: cos/sin (T, head_dim/2) of this call's positions, rotating queries and keys.
  // key_padding (B, T_past + T) bool: true marks a key no query may attend to.
  torch::Tensor forward(const torch::Tensor& x, bool causal, KeyValueCache* cache = nullptr, const RotaryTable* rotary = nullptr,
                        const torch::Tensor& key_padding = {});

  // Cross-attention, in two parts so a decoder projects the encoder's output once:
  // memory (B, S, E) -> its keys and values (B, H, S, D) each ...
  KeyValueCache project_memory(const torch::Tensor& memory);
  // ... and queries from x (B, T, E) attending to them, key_padding (B, S): (B, T, E). weights,
  // when given, receives the attention weights (B, H, T, S).
  torch::Tensor attend_memory(const torch::Tensor& x, const KeyValueCache& memory, const torch::Tensor& key_padding = {},
                              torch::Tensor* weights = nullptr);

  // The general form, nn.MultiheadAttention(query, key, value): Q from `query` (B, T, E), K from
  // `key` and V from `value` (B, S, E) each, through the in-projection's three parts (DETR adds
  // positions to queries and keys but not to values); key_padding (B, S): (B, T, E). weights,
  // when given, receives the attention weights (B, H, T, S).
  torch::Tensor attend_inputs(const torch::Tensor& query, const torch::Tensor& key, const torch::Tensor& value,
                              const torch::Tensor& key_padding = {}, torch::Tensor* weights = nullptr);

  // With keep on, each call keeps its attention weights (B, heads, T, keys), detached.
  void keep_weights(bool keep) { keep_weights_ = keep; }
  const torch::Tensor& last_weights() const { return last_weights_; }

  int64_t heads() const { return heads_; }
  torch::nn::Linear in_proj{nullptr};  // null with in_proj_parameters
  torch::nn::Linear out_proj{nullptr};
  // The fused in-projection either way: rows W^Q; W^K; W^V (3E, E) and their bias (3E) or undefined.
  torch::Tensor in_proj_weight, in_proj_bias;

 private:
  // (B, T, E) -> (B, H, T, D)
  torch::Tensor split_heads(const torch::Tensor& x) const { return x.unflatten(-1, {heads_, head_dim_}).transpose(1, 2); }
  // Whether the fused kernel (lib/nn/fused_attention.h) may run on these heads: no weights kept,
  // inputs it covers.
  bool fuses(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, const torch::Tensor& key_padding) const;
  // The dropout on the attention weights now: its probability in training, else 0.
  double weight_dropout() const;
  // softmax(q k^T / sqrt(d_k) + mask) v, heads concatenated and projected by W^O. causal_past:
  // with a causal mask, how many cached keys come before this call's queries (else -1).
  torch::Tensor attend(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, int64_t causal_past,
                       const torch::Tensor& key_padding, torch::Tensor* weights_out = nullptr);
  int64_t heads_, head_dim_, embed_dim_;
  Dropout attention_dropout_{nullptr};
  bool keep_weights_ = false;
  torch::Tensor last_weights_;
};
TORCH_MODULE(MultiheadAttention);

}  // namespace zoo::nn
