#include "lib/nn/attention.h"

#include <cmath>

#include "lib/core/error.h"

namespace zoo::nn {

const std::vector<std::string>& attention_names() {
  static const std::vector<std::string> names{"bahdanau", "luong_dot", "luong_general", "luong_concat", "scaled_dot", "location"};
  return names;
}

AttentionKind parse_attention(const std::string& name) {
  const auto& names = attention_names();
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == name) return static_cast<AttentionKind>(i);
  std::string valid;
  for (const auto& n : names) valid += (valid.empty() ? "" : ", ") + n;
  throw UsageError("invalid attention '" + name + "': expected one of " + valid);
}

torch::Tensor masked_softmax(const torch::Tensor& scores, const torch::Tensor& mask) {
  return torch::softmax(scores.masked_fill(mask.logical_not(), -std::numeric_limits<float>::infinity()), -1);
}

AttentionImpl::AttentionImpl(AttentionKind kind, int64_t query_size, int64_t key_size, int64_t hidden_size, int64_t mixtures)
    : kind_(kind), key_size_(key_size), mixtures_(mixtures) {
  using torch::nn::LinearOptions;
  const bool dot = kind == AttentionKind::LuongDot || kind == AttentionKind::ScaledDot;
  if (dot && query_size != key_size)
    throw UsageError("attention " + attention_names()[static_cast<int>(kind)] + " needs the decoder state (" + std::to_string(query_size) +
                     ") as wide as the encoder output (" + std::to_string(key_size) + "); use luong_general or change hidden sizes");
  switch (kind) {
    case AttentionKind::Bahdanau:
      query_proj_ = register_module("query_proj", torch::nn::Linear(LinearOptions(query_size, hidden_size).bias(false)));  // W
      key_proj_ = register_module("key_proj", torch::nn::Linear(LinearOptions(key_size, hidden_size)));                  // U
      v_ = register_parameter("v", torch::empty({hidden_size}).uniform_(-1.0 / std::sqrt(hidden_size), 1.0 / std::sqrt(hidden_size)));
      break;
    case AttentionKind::LuongGeneral:
      key_proj_ = register_module("key_proj", torch::nn::Linear(LinearOptions(key_size, query_size).bias(false)));  // W
      break;
    case AttentionKind::LuongConcat:
      // W [q; k] = W_q q + W_k k: one (A, Dq + Dk) matrix, applied in two halves.
      query_proj_ = register_module("query_proj", torch::nn::Linear(LinearOptions(query_size, hidden_size).bias(false)));
      key_proj_ = register_module("key_proj", torch::nn::Linear(LinearOptions(key_size, hidden_size)));
      v_ = register_parameter("v", torch::empty({hidden_size}).uniform_(-1.0 / std::sqrt(hidden_size), 1.0 / std::sqrt(hidden_size)));
      break;
    case AttentionKind::Location:
      window_ = register_module("window", torch::nn::Linear(query_size, 3 * mixtures));  // W_{h p}, b_p
      break;
    default:
      break;
  }
}

torch::Tensor AttentionImpl::precompute(const torch::Tensor& memory) {
  if (key_proj_) return key_proj_->forward(memory);  // (B, S, A) or (B, S, Dq)
  return memory;
}

torch::Tensor AttentionImpl::initial_state(const torch::Tensor& like) const {
  // Built from `like` rather than from its sizes, so a traced export keeps the batch dynamic.
  auto zero = torch::zeros_like(like.flatten(1).narrow(1, 0, 1));  // (B, 1)
  return kind_ == AttentionKind::Location ? zero.expand({-1, mixtures_}).contiguous() : zero.narrow(1, 0, 0);
}

AttentionOutput AttentionImpl::forward(const torch::Tensor& query, const torch::Tensor& memory, const torch::Tensor& keys,
                                       const torch::Tensor& mask, const torch::Tensor& state, const StepSource* steps) {
  torch::Tensor scores;  // e_j, (B, S)
  torch::Tensor next_state = state;
  switch (kind_) {
    case AttentionKind::Bahdanau:
    case AttentionKind::LuongConcat:
      // e_j = v^T tanh(W q + U h_j)   (bahdanau; luong_concat: v^T tanh(W [q; k_j]), the same split in two)
      scores = steps ? steps->keys.energies(query_proj_->forward(query), v_) : additive_energies(keys, query_proj_->forward(query), v_);
      break;
    case AttentionKind::LuongDot:
      // e_j = q^T k_j
      scores = keys.matmul(query.unsqueeze(2)).squeeze(2);
      break;
    case AttentionKind::LuongGeneral:
      // e_j = q^T W k_j   (keys = W k, precomputed)
      scores = keys.matmul(query.unsqueeze(2)).squeeze(2);
      break;
    case AttentionKind::ScaledDot:
      // e_j = q^T k_j / sqrt(d)
      scores = keys.matmul(query.unsqueeze(2)).squeeze(2) / std::sqrt(static_cast<double>(key_size_));
      break;
    case AttentionKind::Location: {
      // (alpha^, beta^, kappa^) = W q + b; alpha = exp(alpha^), beta = exp(beta^), kappa_t = kappa_{t-1} + exp(kappa^)
      auto params = window_->forward(query).chunk(3, 1);  // 3 x (B, K)
      auto log_alpha = params[0], beta = torch::exp(params[1]);
      next_state = state + torch::exp(params[2]);
      // phi(u) = sum_k alpha_k exp(-beta_k (kappa_k - u)^2), kept in log space: log phi(u) =
      // logsumexp_k(alpha^_k - beta_k (kappa_k - u)^2). Graves' phi is unnormalised; normalising
      // it over the real positions (softmax of log phi) makes it a distribution like the others.
      auto positions = (torch::ones_like(mask, query.options()).cumsum(1) - 1).unsqueeze(1);                 // (B, 1, S): u
      auto exponent = log_alpha.unsqueeze(2) - beta.unsqueeze(2) * (next_state.unsqueeze(2) - positions).pow(2);  // (B, K, S)
      scores = torch::logsumexp(exponent, 1);                                                                  // (B, S)
      break;
    }
  }
  // a_j = softmax_j(e_j) over real tokens
  auto weights = masked_softmax(scores, mask);
  // c = sum_j a_j h_j
  auto context = steps ? steps->memory.weighted_sum(weights) : weighted_sum(weights, memory);  // (B, Dk)
  return {context, weights, next_state};
}

}  // namespace zoo::nn
