#include "models/seq2seq/transformer.h"

#include <cmath>

#include "lib/core/error.h"
#include "lib/nn/positional.h"
#include "lib/nn/init.h"

namespace zoo::models {

namespace {

nn::MultiheadAttention attention(const TransformerConfig& c) {
  nn::MultiheadAttentionOptions options;
  options.embed_dim = c.width, options.heads = c.heads, options.dropout = c.dropout;
  return nn::MultiheadAttention(options);
}

// FFN(x) = max(0, x W_1 + b_1) W_2 + b_2 (or GELU), dropout on the hidden layer as PyTorch's
// nn.TransformerEncoderLayer has it: (B, T, E) -> (B, T, F) -> (B, T, E)
torch::Tensor feed_forward(torch::nn::Linear& linear1, torch::nn::Linear& linear2, nn::Dropout& dropout, const torch::Tensor& x, bool gelu) {
  auto hidden = linear1(x);
  return linear2(dropout(gelu ? torch::gelu(hidden) : torch::relu(hidden)));
}

void check(const TransformerConfig& c) {
  TransformerConfig::options().check(c);
  if (c.share_embeddings && c.src_vocab != c.tgt_vocab)
    throw UsageError("share_embeddings needs one vocabulary for both sides (" + std::to_string(c.src_vocab) + " != " + std::to_string(c.tgt_vocab) + ")");
}

}  // namespace

TransformerEncoderLayerImpl::TransformerEncoderLayerImpl(const TransformerConfig& c) : pre_norm_(c.norm == "pre"), gelu_(c.activation == "gelu") {
  self_attn = register_module("self_attn", attention(c));
  linear1 = register_module("linear1", torch::nn::Linear(c.width, c.ffn));
  linear2 = register_module("linear2", torch::nn::Linear(c.ffn, c.width));
  norm1 = register_module("norm1", nn::layer_norm(c.width, 1e-5));
  norm2 = register_module("norm2", nn::layer_norm(c.width, 1e-5));
  dropout = register_module("dropout", nn::Dropout(c.dropout));
}

torch::Tensor TransformerEncoderLayerImpl::forward(const torch::Tensor& x_in, const torch::Tensor& padding) {
  auto self_attention = [&](const torch::Tensor& x) { return self_attn(x, /*causal=*/false, nullptr, nullptr, padding); };
  auto ffn = [&](const torch::Tensor& x) { return feed_forward(linear1, linear2, dropout, x, gelu_); };
  torch::Tensor x = x_in;
  if (pre_norm_) {
    // x = x + Sublayer(LN(x))
    x = x + dropout(self_attention(norm1(x)));
    return x + dropout(ffn(norm2(x)));
  }
  // x = LN(x + Sublayer(x)), the paper's order
  x = norm1(x + dropout(self_attention(x)));
  return norm2(x + dropout(ffn(x)));
}

TransformerDecoderLayerImpl::TransformerDecoderLayerImpl(const TransformerConfig& c) : pre_norm_(c.norm == "pre"), gelu_(c.activation == "gelu") {
  self_attn = register_module("self_attn", attention(c));
  multihead_attn = register_module("multihead_attn", attention(c));
  linear1 = register_module("linear1", torch::nn::Linear(c.width, c.ffn));
  linear2 = register_module("linear2", torch::nn::Linear(c.ffn, c.width));
  norm1 = register_module("norm1", nn::layer_norm(c.width, 1e-5));
  norm2 = register_module("norm2", nn::layer_norm(c.width, 1e-5));
  norm3 = register_module("norm3", nn::layer_norm(c.width, 1e-5));
  dropout = register_module("dropout", nn::Dropout(c.dropout));
}

torch::Tensor TransformerDecoderLayerImpl::forward(const torch::Tensor& y_in, const nn::KeyValueCache& memory, const torch::Tensor& padding,
                                                   nn::KeyValueCache* cache, torch::Tensor* cross_weights) {
  // Masked self-attention: position t sees the target positions <= t. With a cache, y is the one
  // new position and everything cached is earlier, so there is nothing to mask (and no mask whose
  // offset a traced decoding step would freeze).
  auto masked_self_attention = [&](const torch::Tensor& y) { return self_attn(y, /*causal=*/cache == nullptr, cache); };
  // Cross-attention: queries from the decoder, keys and values from the encoder's output.
  auto cross_attention = [&](const torch::Tensor& y) { return multihead_attn->attend_memory(y, memory, padding, cross_weights); };
  auto ffn = [&](const torch::Tensor& y) { return feed_forward(linear1, linear2, dropout, y, gelu_); };
  torch::Tensor y = y_in;
  if (pre_norm_) {
    y = y + dropout(masked_self_attention(norm1(y)));
    y = y + dropout(cross_attention(norm2(y)));
    return y + dropout(ffn(norm3(y)));
  }
  y = norm1(y + dropout(masked_self_attention(y)));
  y = norm2(y + dropout(cross_attention(y)));
  return norm3(y + dropout(ffn(y)));
}

TransformerImpl::TransformerImpl(const TransformerConfig& c) : config_(c), learned_positions_(c.positions == "learned") {
  check(c);
  src_embed = register_module("src_embed", torch::nn::Embedding(torch::nn::EmbeddingOptions(c.src_vocab, c.width).padding_idx(0)));
  tgt_embed = c.share_embeddings
                  ? src_embed
                  : register_module("tgt_embed", torch::nn::Embedding(torch::nn::EmbeddingOptions(c.tgt_vocab, c.width).padding_idx(0)));
  if (learned_positions_) {
    src_pos = register_module("src_pos", torch::nn::Embedding(c.max_positions, c.width));
    tgt_pos = register_module("tgt_pos", torch::nn::Embedding(c.max_positions, c.width));
  } else {
    // A buffer: it moves with the model, and an exported graph reads it as an attribute instead
    // of baking in the device it was traced on.
    sinusoids_ = register_buffer("sinusoids", nn::sinusoidal_table(c.max_positions, c.width));
  }
  encoder = register_module("encoder", torch::nn::ModuleDict());
  decoder = register_module("decoder", torch::nn::ModuleDict());
  encoder_layers = torch::nn::ModuleList(), decoder_layers = torch::nn::ModuleList();
  for (int64_t i = 0; i < c.encoder_layers; ++i) encoder_layers->push_back(TransformerEncoderLayer(c));
  for (int64_t i = 0; i < c.decoder_layers; ++i) decoder_layers->push_back(TransformerDecoderLayer(c));
  encoder->update({{"layers", encoder_layers.ptr()}});
  decoder->update({{"layers", decoder_layers.ptr()}});
  if (c.norm == "pre") {
    // Pre-norm leaves the residual stream unnormalised: one LayerNorm at the end of each stack.
    encoder_norm = nn::layer_norm(c.width, 1e-5), decoder_norm = nn::layer_norm(c.width, 1e-5);
    encoder->update({{"norm", encoder_norm.ptr()}});
    decoder->update({{"norm", decoder_norm.ptr()}});
  }
  if (c.tie_output) {
    generator_bias = register_parameter("generator_bias", torch::zeros({c.tgt_vocab}));
  } else {
    generator = register_module("generator", torch::nn::Linear(c.width, c.tgt_vocab));
  }
  dropout = register_module("dropout", nn::Dropout(c.dropout));

  // Initialisation: Xavier-uniform matrices and zero biases (PyTorch's nn.Transformer);
  // embeddings N(0, 1/d_model) (fairseq), so that after the sqrt(d_model) scale they have unit
  // variance, padding row zero; LayerNorms at identity.
  torch::NoGradGuard no_grad;
  for (auto& item : named_parameters()) {
    const std::string& name = item.key();
    torch::Tensor& p = item.value();
    if (name.find("norm") != std::string::npos) continue;
    if (name.find("_embed") != std::string::npos || name.find("_pos") != std::string::npos) {
      p.normal_(0.0, 1.0 / std::sqrt(static_cast<double>(c.width)));
      if (name.find("_embed") != std::string::npos) p[0].zero_();
    } else if (p.dim() > 1) {
      torch::nn::init::xavier_uniform_(p);
    } else {
      p.zero_();
    }
  }
}

torch::Tensor TransformerImpl::embed(const torch::Tensor& tokens, const torch::Tensor& positions, bool source) {
  if (tokens.size(-1) > config_.max_positions)
    throw Error("transformer: a sequence of " + std::to_string(tokens.size(-1)) + " tokens exceeds max_positions " +
                std::to_string(config_.max_positions));
  // x = sqrt(d_model) * E[token] + p(t): (B, T) -> (B, T, E)
  auto x = (source ? src_embed : tgt_embed)(tokens) * std::sqrt(static_cast<double>(config_.width));
  // p(t): the seeds' sinusoids p(t)_{2i} = sin(t / 10000^{2i/d}), p(t)_{2i+1} = cos(...), or learned.
  // Looked up with embedding() so any index shape, (T) or (B, 1), works in a traced graph too.
  auto p = learned_positions_ ? (source ? src_pos : tgt_pos)(positions) : torch::embedding(sinusoids_, positions);
  return dropout(x + p);
}

std::pair<torch::Tensor, torch::Tensor> TransformerImpl::run_encoder(const torch::Tensor& src) {
  // Padding (token id 0) is derived from the tokens: (B, S) bool, true where a query may not look.
  auto padding = src.eq(0);
  auto positions = torch::ones_like(src.select(0, 0)).cumsum(0) - 1;  // 0 .. S-1
  auto x = embed(src, positions, /*source=*/true);                    // (B, S, E)
  for (const auto& layer : *encoder_layers) x = layer->as<TransformerEncoderLayerImpl>()->forward(x, padding);
  if (encoder_norm) x = encoder_norm(x);
  return {x, padding};
}

torch::Tensor TransformerImpl::logits(const torch::Tensor& y) {
  // logits = y W_emb^T + b (tied) or the generator's own weights: (B, T, E) -> (B, T, V)
  return config_.tie_output ? torch::nn::functional::linear(y, tgt_embed->weight, generator_bias) : generator(y);
}

std::vector<torch::Tensor> TransformerImpl::encode(const torch::Tensor& src, const torch::Tensor& /*src_lengths*/) {
  auto [memory, padding] = run_encoder(src);
  std::vector<torch::Tensor> state{padding};
  for (const auto& layer : *decoder_layers) {
    // Each layer's cross-attention keys and values, projected once for the whole search.
    auto kv = layer->as<TransformerDecoderLayerImpl>()->multihead_attn->project_memory(memory);  // 2 x (B, H, S, D)
    auto empty = kv.key.narrow(2, 0, 0);                                                            // (B, H, 0, D)
    state.insert(state.end(), {kv.key, kv.value, empty, empty});
  }
  return state;
}

nn::DecodeStep TransformerImpl::decode_step(const torch::Tensor& tokens, const std::vector<torch::Tensor>& state) {
  const auto& padding = state.at(0);
  if (state.at(3).size(2) >= config_.max_positions)
    throw Error("transformer: decoding past max_positions " + std::to_string(config_.max_positions) + " target tokens");
  // This step's position = tokens decoded so far = the self-attention cache's length, counted
  // from a tensor (B, T_past) so that a traced step takes any cache length: (B) -> (B, 1)
  auto positions = torch::ones_like(state.at(3).select(1, 0).select(-1, 0), torch::kLong).sum(1).unsqueeze(1);
  auto y = embed(tokens.unsqueeze(1), positions, /*source=*/false);  // (B, 1, E)
  std::vector<torch::Tensor> next{padding};
  torch::Tensor cross;
  for (size_t i = 0; i < decoder_layers->size(); ++i) {
    const nn::KeyValueCache memory{state.at(1 + 4 * i), state.at(2 + 4 * i)};
    nn::KeyValueCache cache{state.at(3 + 4 * i), state.at(4 + 4 * i)};
    // Only the last layer's weights are the alignment: the others take the fused attention.
    const bool last = i + 1 == decoder_layers->size();
    y = decoder_layers[i]->as<TransformerDecoderLayerImpl>()->forward(y, memory, padding, &cache, last ? &cross : nullptr);
    next.insert(next.end(), {memory.key, memory.value, cache.key, cache.value});
  }
  if (decoder_norm) y = decoder_norm(y);
  auto log_probs = torch::log_softmax(logits(y).select(1, 0), -1);  // (B, V)
  // The alignment: the last layer's cross-attention averaged over heads, (B, H, 1, S) -> (B, S)
  return {log_probs, next, cross.mean(1).select(1, 0)};
}

torch::Tensor TransformerImpl::forward(const torch::Tensor& src, const torch::Tensor& /*src_lengths*/, const torch::Tensor& tgt_in) {
  auto [memory, padding] = run_encoder(src);
  auto positions = torch::ones_like(tgt_in.select(0, 0)).cumsum(0) - 1;
  auto y = embed(tgt_in, positions, /*source=*/false);  // (B, T, E)
  for (const auto& layer : *decoder_layers) {
    auto* decoder_layer = layer->as<TransformerDecoderLayerImpl>();
    y = decoder_layer->forward(y, decoder_layer->multihead_attn->project_memory(memory), padding, nullptr);
  }
  if (decoder_norm) y = decoder_norm(y);
  return logits(y);  // (B, T, V)
}

void TransformerImpl::keep_attention(bool keep) {
  for (const auto& layer : *encoder_layers) layer->as<TransformerEncoderLayerImpl>()->self_attn->keep_weights(keep);
  for (const auto& layer : *decoder_layers) {
    layer->as<TransformerDecoderLayerImpl>()->self_attn->keep_weights(keep);
    layer->as<TransformerDecoderLayerImpl>()->multihead_attn->keep_weights(keep);
  }
}

TransformerAttention TransformerImpl::attention() const {
  TransformerAttention maps;
  for (const auto& layer : *encoder_layers) maps.encoder_self.push_back(layer->as<TransformerEncoderLayerImpl>()->self_attn->last_weights());
  for (const auto& layer : *decoder_layers) {
    maps.decoder_self.push_back(layer->as<TransformerDecoderLayerImpl>()->self_attn->last_weights());
    maps.cross.push_back(layer->as<TransformerDecoderLayerImpl>()->multihead_attn->last_weights());
  }
  return maps;
}

std::vector<viz::Figure> TransformerImpl::look(const torch::Tensor& src, const torch::Tensor& tgt_in, const viz::LookOptions& options) {
  torch::NoGradGuard no_grad;
  keep_attention(true);
  forward(src, torch::tensor({src.size(1)}), tgt_in);
  keep_attention(false);
  const TransformerAttention maps = attention();
  auto figure = [&](const std::vector<torch::Tensor>& per_layer, viz::Axis rows, viz::Axis cols, const std::string& what, const char* suffix) {
    viz::Figure f;
    f.kind = viz::Figure::Kind::Attention;
    for (const auto& m : per_layer) f.maps.push_back(m.select(0, 0).to(torch::kCPU));  // (heads, queries, keys)
    f.rows = rows, f.cols = cols, f.title = options.model + ": " + what, f.suffix = suffix;
    return f;
  };
  using viz::Axis;
  return {figure(maps.encoder_self, Axis::Source, Axis::Source, "encoder self-attention", "encoder"),
          figure(maps.decoder_self, Axis::TargetInput, Axis::TargetInput, "decoder masked self-attention", "decoder"),
          figure(maps.cross, Axis::Target, Axis::Source, "cross-attention, target rows attend to source columns", "cross")};
}

}  // namespace zoo::models
