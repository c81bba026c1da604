#include "lib/nn/multihead_attention.h"

#include <torch/csrc/jit/frontend/tracer.h>

#include <cmath>
#include <limits>

#include "lib/core/error.h"
#include "lib/nn/fused_attention.h"

namespace zoo::nn {

namespace {

// A reserved cache tensor (see KeyValueCache) is a view (B, H, T_past, D) of a buffer (B, H,
// capacity, D) that it starts at, the buffer's rows past T_past free. Writes `fresh` (B, H, T, D)
// into the free rows and returns the longer view (B, H, T_past + T, D); undefined when `cached`
// is not such a view (checked, though only reserve_cache's are passed), has no room left, or the
// write would be recorded (tracing, autograd).
torch::Tensor append_in_room(const torch::Tensor& cached, const torch::Tensor& fresh) {
  if (torch::jit::tracer::isTracing() || cached.requires_grad() || fresh.requires_grad() || cached.dim() != 4 ||
      cached.scalar_type() != fresh.scalar_type() || cached.device() != fresh.device() || cached.storage_offset() != 0)
    return {};
  const int64_t B = cached.size(0), H = cached.size(1), past = cached.size(2), D = cached.size(3), T = fresh.size(2);
  if (cached.stride(3) != 1 || cached.stride(2) != D || cached.stride(1) % D != 0) return {};
  const int64_t capacity = cached.stride(1) / D;
  if (capacity < past + T || cached.stride(0) != H * capacity * D ||
      cached.storage().nbytes() != static_cast<size_t>(B * H * capacity * D) * cached.element_size())
    return {};
  auto buffer = cached.as_strided({B, H, capacity, D}, cached.strides());
  buffer.narrow(2, past, T).copy_(fresh);
  return buffer.narrow(2, 0, past + T);
}

}  // namespace

KeyValueCache reserve_cache(int64_t batch, int64_t heads, int64_t capacity, int64_t head_dim, const torch::TensorOptions& options) {
  return {torch::empty({batch, heads, capacity, head_dim}, options).narrow(2, 0, 0),
          torch::empty({batch, heads, capacity, head_dim}, options).narrow(2, 0, 0), /*reserved=*/true};
}

MultiheadAttentionImpl::MultiheadAttentionImpl(const MultiheadAttentionOptions& o) : heads_(o.heads), embed_dim_(o.embed_dim) {
  if (o.heads < 1 || o.embed_dim % o.heads != 0)
    throw UsageError("invalid attention heads " + std::to_string(o.heads) + ": the width " + std::to_string(o.embed_dim) +
                     " must be a multiple of it");
  head_dim_ = o.embed_dim / o.heads;
  if (o.in_proj_parameters) {
    // nn.MultiheadAttention's initialisation: Xavier-uniform weight, zero bias.
    in_proj_weight = register_parameter("in_proj_weight", torch::empty({3 * o.embed_dim, o.embed_dim}));
    torch::nn::init::xavier_uniform_(in_proj_weight);
    if (o.bias) in_proj_bias = register_parameter("in_proj_bias", torch::zeros({3 * o.embed_dim}));
  } else {
    in_proj = register_module(o.in_proj_name, torch::nn::Linear(torch::nn::LinearOptions(o.embed_dim, 3 * o.embed_dim).bias(o.bias)));
    in_proj_weight = in_proj->weight;
    if (o.bias) in_proj_bias = in_proj->bias;
  }
  out_proj = register_module(o.out_proj_name, torch::nn::Linear(torch::nn::LinearOptions(o.embed_dim, o.embed_dim).bias(o.bias)));
  attention_dropout_ = register_module("attn_dropout", Dropout(o.dropout));
}

torch::Tensor MultiheadAttentionImpl::forward(const torch::Tensor& x, bool causal, KeyValueCache* cache, const RotaryTable* rotary,
                                              const torch::Tensor& key_padding) {
  // Q, K, V = X W^Q, X W^K, X W^V, split into heads: (B, T, E) -> 3 x (B, H, T, D)
  auto qkv = torch::nn::functional::linear(x, in_proj_weight, in_proj_bias).unflatten(-1, {3, heads_, head_dim_});  // (B, T, 3, H, D)
  auto q = qkv.select(2, 0).transpose(1, 2), k = qkv.select(2, 1).transpose(1, 2), v = qkv.select(2, 2).transpose(1, 2);
  if (!rotary && !cache && qkv.is_contiguous() && fuses(q, k, v, key_padding))
    // The kernel reads the heads where the projection wrote them and returns its gradient whole.
    return out_proj(fused_self_attention(qkv, 1.0 / std::sqrt(static_cast<double>(head_dim_)), causal ? 0 : -1, key_padding, weight_dropout())
                        .flatten(2));
  if (rotary) {
    q = apply_rotary(q, rotary->cos, rotary->sin);
    k = apply_rotary(k, rotary->cos, rotary->sin);
  }
  const int64_t past = cache ? cache->length() : 0;
  if (cache) {
    // (B, H, T_past + T, D): written into a reserved cache's free rows; else concatenated
    // whenever the cache exists, also when empty, so a traced decoding step records the
    // concatenation and accepts any cache length.
    if (cache->key.defined()) {
      auto k_in_room = cache->reserved ? append_in_room(cache->key, k) : torch::Tensor();
      auto v_in_room = k_in_room.defined() ? append_in_room(cache->value, v) : torch::Tensor();
      if (k_in_room.defined() && v_in_room.defined()) {
        k = k_in_room, v = v_in_room;
      } else {
        k = torch::cat({cache->key, k}, 2);
        v = torch::cat({cache->value, v}, 2);
        cache->reserved = false;
      }
    }
    cache->key = k, cache->value = v;
  }
  return attend(q, k, v, causal ? past : -1, key_padding);
}

KeyValueCache MultiheadAttentionImpl::project_memory(const torch::Tensor& memory) {
  // K, V = M W^K, M W^V with the in-projection's last 2E rows: (B, S, E) -> 2 x (B, H, S, D)
  const auto b = in_proj_bias.defined() ? in_proj_bias.narrow(0, embed_dim_, 2 * embed_dim_) : torch::Tensor();
  auto kv = torch::nn::functional::linear(memory, in_proj_weight.narrow(0, embed_dim_, 2 * embed_dim_), b).unflatten(-1, {2, heads_, head_dim_});
  return {kv.select(2, 0).transpose(1, 2), kv.select(2, 1).transpose(1, 2)};
}

torch::Tensor MultiheadAttentionImpl::attend_memory(const torch::Tensor& x, const KeyValueCache& memory, const torch::Tensor& key_padding,
                                                    torch::Tensor* weights) {
  // Q = X W^Q with the in-projection's first E rows: (B, T, E) -> (B, H, T, D)
  const auto b = in_proj_bias.defined() ? in_proj_bias.narrow(0, 0, embed_dim_) : torch::Tensor();
  auto q = split_heads(torch::nn::functional::linear(x, in_proj_weight.narrow(0, 0, embed_dim_), b));
  return attend(q, memory.key, memory.value, -1, key_padding, weights);
}

torch::Tensor MultiheadAttentionImpl::attend_inputs(const torch::Tensor& query, const torch::Tensor& key, const torch::Tensor& value,
                                                    const torch::Tensor& key_padding, torch::Tensor* weights) {
  // Rows [part E, part E + E) of the in-projection: W^Q, W^K, W^V.
  auto project = [&](const torch::Tensor& x, int64_t part) {
    const auto b = in_proj_bias.defined() ? in_proj_bias.narrow(0, part * embed_dim_, embed_dim_) : torch::Tensor();
    return split_heads(torch::nn::functional::linear(x, in_proj_weight.narrow(0, part * embed_dim_, embed_dim_), b));  // (B, H, T, D)
  };
  return attend(project(query, 0), project(key, 1), project(value, 2), -1, key_padding, weights);
}

bool MultiheadAttentionImpl::fuses(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, const torch::Tensor& key_padding) const {
  // The fused kernel (lib/nn/fused_attention.h) does not hand its weights out.
  return !keep_weights_ && fused_attention_applies(q, k, v, key_padding);
}

double MultiheadAttentionImpl::weight_dropout() const { return attention_dropout_->is_training() ? attention_dropout_->p() : 0.0; }

torch::Tensor MultiheadAttentionImpl::attend(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, int64_t causal_past,
                                             const torch::Tensor& key_padding, torch::Tensor* weights_out) {
  if (!weights_out && fuses(q, k, v, key_padding))
    // Concat(head_1, ..., head_h) W^O, the heads already side by side: (B, T, H, D) -> (B, T, E)
    return out_proj(fused_attention(q, k, v, 1.0 / std::sqrt(static_cast<double>(head_dim_)), causal_past, key_padding, weight_dropout()).flatten(2));
  // scores = Q K^T / sqrt(d_k): (B, H, T, keys)
  auto scores = torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(static_cast<double>(head_dim_));
  const double minus_infinity = -std::numeric_limits<double>::infinity();
  if (causal_past >= 0) {
    // Query t (at position past + t) may not see key j > past + t. Built from the scores'
    // shape, so a traced export accepts any length.
    auto future = torch::ones_like(scores, torch::kBool).triu(causal_past + 1);
    scores = scores.masked_fill(future, minus_infinity);
  }
  // Padding keys get -inf for every query: (B, keys) -> (B, 1, 1, keys)
  if (key_padding.defined()) scores = scores.masked_fill(key_padding.unsqueeze(1).unsqueeze(2), minus_infinity);
  auto weights = torch::softmax(scores, -1);
  if (keep_weights_) last_weights_ = weights.detach();
  if (weights_out) *weights_out = weights;
  // head_i = softmax(...) V, then Concat(head_1, ..., head_h) W^O: (B, H, T, D) -> (B, T, E)
  auto heads = torch::matmul(attention_dropout_(weights), v);
  return out_proj(heads.transpose(1, 2).flatten(2));
}

}  // namespace zoo::nn
