#include "lib/nn/multihead_attention.h"

#include <cmath>
#include <limits>

#include "lib/core/error.h"

namespace zoo::nn {

MultiheadAttentionImpl::MultiheadAttentionImpl(const MultiheadAttentionOptions& o) : heads_(o.heads) {
  if (o.heads < 1 || o.embed_dim % o.heads != 0)
    throw UsageError("invalid attention heads " + std::to_string(o.heads) + ": the width " + std::to_string(o.embed_dim) +
                     " must be a multiple of it");
  head_dim_ = o.embed_dim / o.heads;
  in_proj = register_module(o.in_proj_name, torch::nn::Linear(torch::nn::LinearOptions(o.embed_dim, 3 * o.embed_dim).bias(o.bias)));
  out_proj = register_module(o.out_proj_name, torch::nn::Linear(torch::nn::LinearOptions(o.embed_dim, o.embed_dim).bias(o.bias)));
  attention_dropout_ = register_module("attn_dropout", torch::nn::Dropout(o.dropout));
}

torch::Tensor MultiheadAttentionImpl::forward(const torch::Tensor& x, bool causal, KeyValueCache* cache, const RotaryTable* rotary) {
  // Q, K, V = X W^Q, X W^K, X W^V, split into heads: (B, T, E) -> 3 x (B, H, T, D)
  auto qkv = in_proj(x).unflatten(-1, {3, heads_, head_dim_});  // (B, T, 3, H, D)
  auto q = qkv.select(2, 0).transpose(1, 2), k = qkv.select(2, 1).transpose(1, 2), v = qkv.select(2, 2).transpose(1, 2);
  if (rotary) {
    q = apply_rotary(q, rotary->cos, rotary->sin);
    k = apply_rotary(k, rotary->cos, rotary->sin);
  }
  const int64_t past = cache ? cache->length() : 0;
  if (cache) {
    if (past > 0) {
      k = torch::cat({cache->key, k}, 2);  // (B, H, T_past + T, D)
      v = torch::cat({cache->value, v}, 2);
    }
    cache->key = k, cache->value = v;
  }
  // scores = Q K^T / sqrt(d_k): (B, H, T, T_past + T)
  auto scores = torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(static_cast<double>(head_dim_));
  if (causal) {
    // Query t (at position past + t) may not see key j > past + t. Built from the scores'
    // shape, so a traced export accepts any length.
    auto future = torch::ones_like(scores, torch::kBool).triu(past + 1);
    scores = scores.masked_fill(future, -std::numeric_limits<float>::infinity());
  }
  auto weights = torch::softmax(scores, -1);
  if (keep_weights_) last_weights_ = weights.detach();
  // head_i = softmax(...) V, then Concat(head_1, ..., head_h) W^O: (B, H, T, D) -> (B, T, E)
  auto heads = torch::matmul(attention_dropout_(weights), v);
  return out_proj(heads.transpose(1, 2).flatten(2));
}

}  // namespace zoo::nn
