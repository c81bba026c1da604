#include "models/lm/gpt.h"

#include <algorithm>
#include <cmath>

#include "lib/core/error.h"
#include "lib/nn/init.h"

namespace zoo::models {

namespace {

torch::nn::LayerNorm gpt_layer_norm(int64_t width, bool bias) {
  // nanoGPT's LayerNorm with an optional bias; without one the shift stays at zero (frozen).
  auto norm = nn::layer_norm(width, 1e-5);
  if (!bias) norm->bias.set_requires_grad(false);
  return norm;
}

}  // namespace

GptMlpImpl::GptMlpImpl(int64_t width, bool bias) {
  c_fc = register_module("c_fc", torch::nn::Linear(torch::nn::LinearOptions(width, 4 * width).bias(bias)));
  c_proj = register_module("c_proj", torch::nn::Linear(torch::nn::LinearOptions(4 * width, width).bias(bias)));
}

torch::Tensor GptMlpImpl::forward(const torch::Tensor& x) {
  // MLP(x) = W_2 GELU(W_1 x + b_1) + b_2: (B, T, E) -> (B, T, 4E) -> (B, T, E)
  return c_proj(torch::gelu(c_fc(x)));
}

GptBlockImpl::GptBlockImpl(const GptConfig& c) {
  ln_1 = register_module("ln_1", gpt_layer_norm(c.width, c.bias));
  nn::MultiheadAttentionOptions options;
  options.embed_dim = c.width, options.heads = c.heads, options.dropout = c.dropout, options.bias = c.bias;
  options.in_proj_name = "c_attn", options.out_proj_name = "c_proj";
  attn = register_module("attn", nn::MultiheadAttention(options));
  ln_2 = register_module("ln_2", gpt_layer_norm(c.width, c.bias));
  mlp = register_module("mlp", GptMlp(c.width, c.bias));
  resid_dropout = register_module("resid_dropout", nn::Dropout(c.dropout));
}

torch::Tensor GptBlockImpl::forward(const torch::Tensor& x_in, nn::KeyValueCache* cache, const nn::RotaryTable* rotary) {
  // Pre-norm residual blocks (GPT-2): x = x + MaskedSelfAttention(LN(x)); x = x + MLP(LN(x))
  auto x = x_in + resid_dropout(attn(ln_1(x_in), /*causal=*/true, cache, rotary));
  return x + resid_dropout(mlp(ln_2(x)));
}

GptImpl::GptImpl(const GptConfig& c) : config_(c), positions_(nn::parse_positions(c.positions)) {
  GptConfig::options().check(c);
  transformer = register_module("transformer", torch::nn::ModuleDict());
  wte = torch::nn::Embedding(c.vocab, c.width);
  transformer->update({{"wte", wte.ptr()}});
  if (positions_ == nn::PositionKind::Learned) {
    wpe = torch::nn::Embedding(c.context, c.width);
    transformer->update({{"wpe", wpe.ptr()}});
  }
  drop = nn::Dropout(c.dropout);
  h = torch::nn::ModuleList();
  for (int64_t i = 0; i < c.layers; ++i) h->push_back(GptBlock(c));
  ln_f = gpt_layer_norm(c.width, c.bias);
  transformer->update({{"drop", drop.ptr()}, {"h", h.ptr()}, {"ln_f", ln_f.ptr()}});
  if (!c.tie_weights) lm_head = register_module("lm_head", torch::nn::Linear(torch::nn::LinearOptions(c.width, c.vocab).bias(false)));
  // The fixed tables are buffers, so they move with the model and an exported graph reads them
  // as attributes instead of baking in the device they were traced on.
  if (positions_ == nn::PositionKind::Sinusoidal) sinusoids_ = register_buffer("sinusoids", nn::sinusoidal_table(c.context, c.width));
  if (positions_ == nn::PositionKind::Rotary) {
    const auto table = nn::rotary_table(c.context, c.width / c.heads);
    rotary_ = {register_buffer("rotary_cos", table.cos), register_buffer("rotary_sin", table.sin)};
  }

  // nanoGPT's initialisation: N(0, 0.02) weights, zero biases, and the projections that write
  // into the residual stream scaled by 1/sqrt(2 * layers) (GPT-2).
  torch::NoGradGuard no_grad;
  for (auto& item : named_parameters()) {
    const std::string& name = item.key();
    torch::Tensor& p = item.value();
    if (name.find("ln_") != std::string::npos) continue;
    if (name.size() >= 5 && name.compare(name.size() - 5, 5, ".bias") == 0) {
      p.zero_();
    } else if (name.find("c_proj.weight") != std::string::npos) {
      p.normal_(0.0, 0.02 / std::sqrt(2.0 * c.layers));
    } else {
      p.normal_(0.0, 0.02);
    }
  }
}

LmOutput GptImpl::forward(const torch::Tensor& tokens, const std::vector<torch::Tensor>& state) {
  const bool cached = !state.empty();
  // reserve_state's caches carry one more entry, the marker that says so.
  const bool reserved = state.size() == static_cast<size_t>(2 * config_.layers + 1);
  std::vector<nn::KeyValueCache> caches(static_cast<size_t>(config_.layers));
  for (size_t i = 0; cached && i < caches.size(); ++i) caches[i] = {state.at(2 * i), state.at(2 * i + 1), reserved};
  const int64_t past = caches[0].length();
  if (past + tokens.size(1) > config_.context)
    throw Error("gpt: " + std::to_string(past + tokens.size(1)) + " tokens exceed the context of " + std::to_string(config_.context));
  // Positions past .. past + T - 1, derived from the tokens so a traced export takes any length.
  auto positions = torch::ones_like(tokens.select(0, 0)).cumsum(0) - 1 + past;  // (T)
  auto x = wte(tokens);  // (B, T, E)
  if (positions_ == nn::PositionKind::Learned) x = x + wpe(positions);
  if (positions_ == nn::PositionKind::Sinusoidal) x = x + sinusoids_.index_select(0, positions);
  nn::RotaryTable rotary;
  if (positions_ == nn::PositionKind::Rotary)
    rotary = {rotary_.cos.index_select(0, positions), rotary_.sin.index_select(0, positions)};
  x = drop(x);
  const bool keep_cache = cached || !is_training();
  for (size_t i = 0; i < h->size(); ++i)
    x = h[i]->as<GptBlockImpl>()->forward(x, keep_cache ? &caches[i] : nullptr, positions_ == nn::PositionKind::Rotary ? &rotary : nullptr);
  x = ln_f(x);
  // logits = LN(x) W_te^T (tied) : (B, T, E) -> (B, T, V)
  auto logits = config_.tie_weights ? torch::matmul(x, wte->weight.t()) : lm_head(x);
  std::vector<torch::Tensor> next;
  if (keep_cache)
    for (auto& c : caches) next.insert(next.end(), {c.key, c.value});
  if (reserved && std::all_of(caches.begin(), caches.end(), [](const nn::KeyValueCache& c) { return c.reserved; }))
    next.push_back(state.back());
  return {logits, next};
}

std::vector<torch::Tensor> GptImpl::reserve_state(int64_t batch) const {
  std::vector<torch::Tensor> state;
  for (int64_t i = 0; i < config_.layers; ++i) {
    auto cache = nn::reserve_cache(batch, config_.heads, config_.context, config_.width / config_.heads, wte->weight.options());
    state.insert(state.end(), {cache.key, cache.value});
  }
  state.push_back(torch::empty({0}));  // the marker
  return state;
}

void GptImpl::keep_attention(bool keep) {
  for (size_t i = 0; i < h->size(); ++i) h[i]->as<GptBlockImpl>()->attn->keep_weights(keep);
}

std::vector<torch::Tensor> GptImpl::attention_maps() const {
  std::vector<torch::Tensor> maps;
  for (const auto& block : h->children()) maps.push_back(block->as<GptBlockImpl>()->attn->last_weights());
  return maps;
}

std::vector<viz::Figure> GptImpl::look(const torch::Tensor& tokens, const viz::LookOptions& options) {
  torch::NoGradGuard no_grad;
  keep_attention(true);
  forward(tokens, {});
  keep_attention(false);
  viz::Figure figure;
  figure.kind = viz::Figure::Kind::Attention;
  for (const auto& m : attention_maps()) figure.maps.push_back(m.select(0, 0).to(torch::kCPU));  // (heads, T, T)
  figure.title = options.model + ": masked self-attention, rows attend to columns";
  return {figure};
}

}  // namespace zoo::models
