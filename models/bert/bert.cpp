#include "models/bert/bert.h"

#include <cmath>
#include <limits>

#include "lib/core/error.h"
#include "lib/nn/fused_attention.h"
#include "lib/nn/init.h"

namespace zoo::models {

namespace {

// BERT's initialisation (initializer_range 0.02): every linear and embedding weight N(0, 0.02^2),
// biases zero, LayerNorm 1 and 0, the [PAD] embedding zero. PyTorch's defaults (N(0, 1)
// embeddings) would start the tied masked-LM head at a loss far above log V.
void init_bert_module(torch::nn::Module& m) {
  if (auto* linear = dynamic_cast<torch::nn::LinearImpl*>(&m)) {
    linear->weight.normal_(0.0, 0.02);
    if (linear->bias.defined()) linear->bias.zero_();
  } else if (auto* embedding = dynamic_cast<torch::nn::EmbeddingImpl*>(&m)) {
    embedding->weight.normal_(0.0, 0.02);
    if (embedding->options.padding_idx()) embedding->weight[*embedding->options.padding_idx()].zero_();
  } else if (auto* norm = dynamic_cast<torch::nn::LayerNormImpl*>(&m)) {
    norm->weight.fill_(1.0);
    norm->bias.zero_();
  }
}

// The module and everything under it (callable from a constructor: it never needs the module's shared_ptr).
void init_bert_weights(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  init_bert_module(module);
  for (auto& m : module.modules(/*include_self=*/false)) init_bert_module(*m);
}

}  // namespace

BertEmbeddingsImpl::BertEmbeddingsImpl(const BertConfig& c) {
  word_embeddings = register_module("word_embeddings", torch::nn::Embedding(torch::nn::EmbeddingOptions(c.vocab, c.width).padding_idx(0)));
  position_embeddings = register_module("position_embeddings", torch::nn::Embedding(c.max_positions, c.width));
  token_type_embeddings = register_module("token_type_embeddings", torch::nn::Embedding(c.type_vocab, c.width));
  LayerNorm = register_module("LayerNorm", nn::layer_norm(c.width, 1e-12));  // eps: the published configs' layer_norm_eps
  dropout = register_module("dropout", nn::Dropout(c.dropout));
}

torch::Tensor BertEmbeddingsImpl::forward(const torch::Tensor& tokens, const torch::Tensor& token_types) {
  // Positions 0..T-1 from the tokens, not their sizes, so a traced export takes any length.
  const auto positions = torch::ones_like(tokens).cumsum(1) - 1;
  const auto types = token_types.defined() ? token_types : torch::zeros_like(tokens);
  // h_0 = LN(E_word[x] + E_pos[t] + E_type[s])
  return dropout(LayerNorm(word_embeddings(tokens) + position_embeddings(positions) + token_type_embeddings(types)));
}

BertSelfAttentionImpl::BertSelfAttentionImpl(const BertConfig& c) : heads_(c.heads) {
  query = register_module("query", torch::nn::Linear(c.width, c.width));
  key = register_module("key", torch::nn::Linear(c.width, c.width));
  value = register_module("value", torch::nn::Linear(c.width, c.width));
  dropout = register_module("dropout", nn::Dropout(c.dropout));
}

torch::Tensor BertSelfAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& padding) {
  const int64_t head_dim = x.size(2) / heads_;
  auto split = [&](const torch::Tensor& t) { return t.unflatten(2, {heads_, head_dim}).transpose(1, 2); };  // (B, heads, T, d)
  const auto q = split(query(x)), k = split(key(x)), v = split(value(x));
  if (!keep_weights && nn::fused_attention_applies(q, k, v, padding))
    // The same attention in one kernel (lib/nn/fused_attention.h): (B, T, heads, d) -> (B, T, H)
    return nn::fused_attention(q, k, v, 1.0 / std::sqrt(static_cast<double>(head_dim)), -1, padding,
                               dropout->is_training() ? dropout->p() : 0.0)
        .flatten(2);
  // softmax(Q K^T / sqrt(d) + mask) V; padding keys get -inf for every query (no causal mask)
  auto scores = torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(static_cast<double>(head_dim));
  if (padding.defined()) scores = scores.masked_fill(padding.unsqueeze(1).unsqueeze(2), -std::numeric_limits<double>::infinity());
  const auto weights = torch::softmax(scores, -1);
  if (keep_weights) last_weights = weights.detach();
  return torch::matmul(dropout(weights), v).transpose(1, 2).flatten(2);  // (B, T, H)
}

BertSublayerOutputImpl::BertSublayerOutputImpl(int64_t in, int64_t width, double p) {
  dense = register_module("dense", torch::nn::Linear(in, width));
  LayerNorm = register_module("LayerNorm", nn::layer_norm(width, 1e-12));
  dropout = register_module("dropout", nn::Dropout(p));
}

torch::Tensor BertSublayerOutputImpl::forward(const torch::Tensor& x, const torch::Tensor& residual) {
  // LN(residual + Dropout(W x + b)): post-norm, as the paper and the published checkpoints
  return LayerNorm(residual + dropout(dense(x)));
}

BertAttentionImpl::BertAttentionImpl(const BertConfig& c) {
  self = register_module("self", BertSelfAttention(c));
  output = register_module("output", BertSublayerOutput(c.width, c.width, c.dropout));
}

BertLayerImpl::BertLayerImpl(const BertConfig& c) {
  attention = register_module("attention", BertAttention(c));
  intermediate = register_module("intermediate", torch::nn::ModuleDict());
  intermediate->update({{"dense", torch::nn::Linear(c.width, c.ffn).ptr()}});
  output = register_module("output", BertSublayerOutput(c.ffn, c.width, c.dropout));
}

torch::Tensor BertLayerImpl::forward(const torch::Tensor& x, const torch::Tensor& padding) {
  const auto a = attention(x, padding);  // a = LN(x + MultiHead(x))
  // LN(a + W_2 GELU(W_1 a + b_1) + b_2), GELU with erf as the published models
  return output(torch::gelu(intermediate["dense"]->as<torch::nn::Linear>()->forward(a)), a);
}

BertImpl::BertImpl(const BertConfig& config) : config_(config) {
  BertConfig::options().check(config);
  embeddings = register_module("embeddings", BertEmbeddings(config));
  layers = torch::nn::ModuleList();
  for (int64_t i = 0; i < config.layers; ++i) layers->push_back(BertLayer(config));
  encoder = register_module("encoder", torch::nn::ModuleDict());
  encoder->update({{"layer", layers.ptr()}});
  pooler = register_module("pooler", torch::nn::ModuleDict());
  pooler->update({{"dense", torch::nn::Linear(config.width, config.width).ptr()}});
  init_bert_weights(*this);
}

torch::Tensor BertImpl::forward(const torch::Tensor& tokens, const torch::Tensor& token_types) {
  if (tokens.dim() != 2) throw UsageError("BERT takes (B, T) token ids, got sizes " + c10::str(tokens.sizes()));
  if (tokens.size(1) > config_.max_positions)
    throw UsageError("a sequence of " + std::to_string(tokens.size(1)) + " word pieces is longer than this BERT's " +
                     std::to_string(config_.max_positions) + " positions");
  const auto padding = tokens.eq(0);  // [PAD] is id 0 in every BERT vocabulary
  auto h = embeddings(tokens, token_types);
  for (const auto& layer : *layers) h = layer->as<BertLayer>()->forward(h, padding);
  return h;  // (B, T, H)
}

torch::Tensor BertImpl::pool(const torch::Tensor& states) {
  // pooled = tanh(W_p h_[CLS])
  return torch::tanh(pooler["dense"]->as<torch::nn::Linear>()->forward(states.select(1, 0)));
}

void BertImpl::keep_attention(bool keep) {
  for (const auto& layer : *layers) {
    auto self = layer->as<BertLayer>()->attention->self;
    self->keep_weights = keep;
    if (!keep) self->last_weights = torch::Tensor();
  }
}

std::vector<torch::Tensor> BertImpl::attention_maps() const {
  std::vector<torch::Tensor> maps;
  for (const auto& layer : *layers) maps.push_back(layer->as<BertLayer>()->attention->self->last_weights);
  return maps;
}

std::vector<viz::Figure> BertImpl::look(const torch::Tensor& tokens, const viz::LookOptions& options) {
  torch::NoGradGuard no_grad;
  keep_attention(true);
  forward(tokens);
  viz::Figure figure;
  figure.kind = viz::Figure::Kind::Attention;
  for (const auto& m : attention_maps()) figure.maps.push_back(m.select(0, 0).to(torch::kCPU));  // (heads, T, T)
  keep_attention(false);
  figure.title = options.model + ": bidirectional self-attention, rows attend to columns";
  return {figure};
}

BertMlmHeadImpl::BertMlmHeadImpl(const BertConfig& c, torch::Tensor word_embeddings) : word_embeddings_(std::move(word_embeddings)) {
  transform = register_module("transform", torch::nn::ModuleDict());
  transform->update({{"dense", torch::nn::Linear(c.width, c.width).ptr()}, {"LayerNorm", nn::layer_norm(c.width, 1e-12).ptr()}});
  bias = register_parameter("bias", torch::zeros({c.vocab}));
}

torch::Tensor BertMlmHeadImpl::forward(const torch::Tensor& states) {
  // logits = E_word LN(GELU(W h + b)) + bias
  auto h = torch::gelu(transform["dense"]->as<torch::nn::Linear>()->forward(states));
  h = transform["LayerNorm"]->as<torch::nn::LayerNorm>()->forward(h);
  return torch::nn::functional::linear(h, word_embeddings_, bias);
}

BertForMaskedLmImpl::BertForMaskedLmImpl(const BertConfig& config) : BertImpl(config) {
  predictions = BertMlmHead(config, embeddings->word_embeddings->weight);
  cls = register_module("cls", torch::nn::ModuleDict());
  cls->update({{"predictions", predictions.ptr()}});
  init_bert_weights(*cls);
}

BertClassifierImpl::BertClassifierImpl(const BertConfig& config, int64_t num_classes) : BertImpl(config) {
  classifier = register_module("classifier", torch::nn::Linear(config.width, num_classes));
  dropout = register_module("dropout", nn::Dropout(config.dropout));
  init_bert_weights(*classifier);
}

torch::Tensor BertClassifierImpl::classify(const torch::Tensor& tokens, const torch::Tensor& token_types) {
  return classifier(dropout(pool(forward(tokens, token_types))));
}

}  // namespace zoo::models
