#include "models/ocr/attention_ocr.h"

#include "lib/core/error.h"
#include "models/ocr/crnn.h"
#include "models/ocr/ctc_transformer.h"

namespace zoo::models {

const OptionSchema<AttentionOcrConfig>& AttentionOcrConfig::options() {
  static const auto schema =
      OptionSchema<AttentionOcrConfig>("attention OCR")
          .option("num_classes", &AttentionOcrConfig::num_classes, at_least(2), "the start/end symbol and the labels (the alphabet); set from the data when training")
          .option("channels", &AttentionOcrConfig::channels, in_range(1, 3, "[]"), "input channels: 1 grey or 3 RGB")
          .option("encoder", &AttentionOcrConfig::encoder, one_of({"crnn", "transformer"}),
                  "crnn: CRNN's CNN and two bidirectional LSTMs; transformer: ctc_transformer's stem and encoder blocks")
          .option("base_width", &AttentionOcrConfig::base_width, at_least(1), "channels of the encoder's first convolution (as crnn's and ctc_transformer's)")
          .option("encoder_hidden", &AttentionOcrConfig::encoder_hidden, at_least(1), "crnn encoder: width of each LSTM direction")
          .option("encoder_layers", &AttentionOcrConfig::encoder_layers, at_least(1), "transformer encoder: blocks")
          .option("heads", &AttentionOcrConfig::heads, at_least(1), "transformer encoder: attention heads")
          .option("ffn", &AttentionOcrConfig::ffn, at_least(1), "transformer encoder: feed-forward width")
          .option("memory", &AttentionOcrConfig::memory, at_least(1), "width of the encoder's column vectors h_j (the transformer's d_model)")
          .option("attention", &AttentionOcrConfig::attention, one_of({"bahdanau", "location"}),
                  "bahdanau: e_ij = v^T tanh(W s_{i-1} + U h_j); location: Graves' Gaussian-mixture window moving forward over the columns")
          .option("attention_hidden", &AttentionOcrConfig::attention_hidden, at_least(1), "width of bahdanau's tanh layer")
          .option("mixtures", &AttentionOcrConfig::mixtures, at_least(1), "Gaussians of location")
          .option("cell", &AttentionOcrConfig::cell, one_of({"gru", "lstm"}), "the decoder's recurrent cell")
          .option("embedding", &AttentionOcrConfig::embedding, at_least(1), "width of the previous label's embedding")
          .option("hidden", &AttentionOcrConfig::hidden, at_least(1), "the decoder state s_i")
          .option("dropout", &AttentionOcrConfig::dropout, fraction(), "on the embeddings and before the output layer (and in the transformer encoder)")
          .rule([](const AttentionOcrConfig& c) {
            if (c.encoder == "transformer" && c.memory % c.heads != 0)
              throw UsageError("invalid heads " + std::to_string(c.heads) + ": the memory width " + std::to_string(c.memory) + " must be a multiple of it");
          });
  return schema;
}

AttentionOcrImpl::AttentionOcrImpl(const AttentionOcrConfig& config) : config_(config), cell_kind_(nn::parse_cell(config.cell)) {
  AttentionOcrConfig::options().check(config);
  // The encoder is a CTC recognizer whose output layer makes `memory` features instead of labels.
  if (config.encoder == "crnn") {
    CrnnConfig c;
    c.num_classes = config.memory, c.channels = config.channels, c.hidden = config.encoder_hidden, c.base_width = config.base_width;
    encoder = register_module("encoder", std::make_shared<CrnnImpl>(c));
  } else {
    CtcTransformerConfig c;
    c.num_classes = config.memory, c.channels = config.channels, c.base_width = config.base_width, c.width = config.memory;
    c.layers = config.encoder_layers, c.heads = config.heads, c.ffn = config.ffn, c.dropout = config.dropout;
    encoder = register_module("encoder", std::make_shared<CtcTransformerImpl>(c));
  }
  embedding = register_module("embedding", torch::nn::Embedding(config.num_classes, config.embedding));
  decoder = register_module("decoder", nn::RecurrentCell(cell_kind_, config.embedding + config.memory, config.hidden));
  attention = register_module("attention", nn::Attention(nn::parse_attention(config.attention), config.hidden, config.memory, config.attention_hidden,
                                                        config.mixtures));
  bridge = register_module("bridge", torch::nn::Linear(config.memory, config.hidden));
  output = register_module("output", torch::nn::Linear(config.hidden + config.memory + config.embedding, config.num_classes));
  dropout = register_module("dropout", nn::Dropout(config.dropout));
}

std::vector<torch::Tensor> AttentionOcrImpl::encode(const torch::Tensor& images, const torch::Tensor& widths) {
  auto memory = encoder->forward(images, widths).transpose(0, 1);  // (B, T, D)
  // Column j of line b is real for j < T_b; a traced export keeps T and B free.
  const auto j = torch::ones_like(memory.select(2, 0), torch::kLong).cumsum(1) - 1;  // (B, T)
  const auto lengths = encoder->output_lengths(widths).to(memory.device());
  const auto mask = j < lengths.unsqueeze(1);
  memory = memory.masked_fill(mask.logical_not().unsqueeze(2), 0.0);
  // s_0 = tanh(W_s mean_j h_j) over the line's own columns
  const auto mean = memory.sum(1) / lengths.unsqueeze(1).to(memory.dtype());
  const auto s0 = torch::tanh(bridge(mean));  // (B, H)
  const auto cell = cell_kind_ == nn::CellKind::Lstm ? torch::zeros_like(s0) : s0.narrow(1, 0, 0);
  return {memory, attention->precompute(memory), mask, s0, cell, attention->initial_state(s0)};
}

std::pair<torch::Tensor, torch::Tensor> AttentionOcrImpl::step(const torch::Tensor& embedded, const torch::Tensor& projected,
                                                                std::vector<torch::Tensor>& state) {
  if (state.size() != 6) throw Error("attention OCR decoder state: expected 6 tensors, got " + std::to_string(state.size()));
  const auto& memory = state[0];
  // a_ij from s_{i-1}; c_i = sum_j a_ij h_j
  const auto att = attention->forward(state[3], memory, state[1], state[2], state[5]);
  // s_i = Cell([E y_{i-1}; c_i], s_{i-1}): the embedding's share of W_ih arrives precomputed.
  const auto input = projected + decoder->project_input(att.context, config_.embedding, false);
  const auto next = decoder->step(input, {state[3], cell_kind_ == nn::CellKind::Lstm ? state[4] : torch::Tensor()});
  state[3] = next.h;
  if (next.c.defined()) state[4] = next.c;
  state[5] = att.state;
  return {torch::cat({next.h, att.context, embedded}, 1), att.weights};  // [s_i; c_i; E y_{i-1}]
}

nn::DecodeStep AttentionOcrImpl::decode_step(const torch::Tensor& labels, const std::vector<torch::Tensor>& state) {
  auto next = state;
  const auto embedded = dropout(embedding(labels));  // (B, E)
  auto [features, weights] = step(embedded, decoder->project_input(embedded), next);
  return {torch::log_softmax(output(dropout(features)), 1), next, weights};  // (B, labels)
}

torch::Tensor AttentionOcrImpl::forward(const torch::Tensor& images, const torch::Tensor& widths, const torch::Tensor& labels_in) {
  auto state = encode(images, widths);
  // The embeddings and their share of W_ih for every step at once; only the recurrence steps.
  const auto embedded = dropout(embedding(labels_in));        // (B, L, E)
  const auto projected = decoder->project_input(embedded);    // (B, L, G*H)
  std::vector<torch::Tensor> features;
  for (int64_t i = 0; i < labels_in.size(1); ++i) features.push_back(step(embedded.select(1, i), projected.select(1, i), state).first);
  return output(dropout(torch::stack(features, 1)));  // (B, L, labels)
}

}  // namespace zoo::models
