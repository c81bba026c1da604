#include "models/seq2seq/rnn_seq2seq.h"

#include <optional>

#include "lib/core/error.h"
#include "lib/nn/step_gradient.h"

namespace zoo::models {

// The decoder state between steps, unpacked: per-layer states as lists.
struct RnnSeq2SeqImpl::Decoding {
  torch::Tensor memory, keys, mask;  // (B, S, Dk), (B, S, *), (B, S)
  std::vector<torch::Tensor> h, c;   // per layer (B, H); c for LSTM only
  torch::Tensor feed, kappa, context;
  // Over a whole teacher-forced sequence: each layer's W_hh h and layer 0's W_ih share for the
  // attention context (or fed state) as products whose weight gradient is formed once for all
  // steps (lib/nn/step_gradient.h), not per step. Empty: plain per-step products (decoding).
  std::vector<nn::StepProduct> recurrent, extra_input;
  // The memory and keys, their gradients likewise formed once (lib/nn/attention.h's StepSource).
  std::optional<nn::StepSource> source;
};

namespace {

// (B, 0): an empty slot in the state that still follows the batch (and its reorderings).
torch::Tensor empty_like_batch(const torch::Tensor& like) { return torch::zeros_like(like.narrow(1, 0, 0)); }

// Positions 0, 1, ... of each row of `tokens` (B, S), computed from the tensor so a traced
// export works for any source length.
torch::Tensor positions_of(const torch::Tensor& tokens) { return torch::ones_like(tokens).cumsum(1) - 1; }

// Reverses each row's first `lengths` tokens in place, leaving the padding where it is:
// index j -> len - 1 - j for j < len. (B, S, ...) along dim 1. Its own inverse.
torch::Tensor reverse_within_length(const torch::Tensor& x, const torch::Tensor& positions, const torch::Tensor& lengths) {
  auto len = lengths.unsqueeze(1);
  auto index = torch::where(positions < len, len - 1 - positions, positions);  // (B, S)
  if (x.dim() == 2) return x.gather(1, index);
  return x.gather(1, index.unsqueeze(2).expand_as(x));
}

}  // namespace

RnnSeq2SeqImpl::RnnSeq2SeqImpl(RnnSeq2SeqConfig config) : config_(std::move(config)) {
  const auto& c = config_;
  RnnSeq2SeqConfig::options().check(c);
  if (c.src_vocab < 1 || c.tgt_vocab < 1) throw UsageError("invalid vocabulary sizes " + std::to_string(c.src_vocab) + ", " + std::to_string(c.tgt_vocab));
  cell_kind_ = nn::parse_cell(c.cell);
  nn::AttentionKind attention_kind{};
  if (c.attention == "none") {
    style_ = c.context == "every_step" ? Style::EveryStep : Style::Final;
  } else {
    attention_kind = nn::parse_attention(c.attention);
    style_ = (attention_kind == nn::AttentionKind::Bahdanau || attention_kind == nn::AttentionKind::Location) ? Style::AttendBefore
                                                                                                                : Style::AttendAfter;
  }
  const int64_t directions = c.bidirectional ? 2 : 1;
  memory_size_ = c.encoder_hidden * directions;

  src_embedding_ = register_module("src_embedding", torch::nn::Embedding(torch::nn::EmbeddingOptions(c.src_vocab, c.embedding).padding_idx(0)));
  tgt_embedding_ = register_module("tgt_embedding", torch::nn::Embedding(torch::nn::EmbeddingOptions(c.tgt_vocab, c.embedding).padding_idx(0)));
  // The encoder runs each layer and direction as its own one-layer RNN: the backward direction
  // reads each sentence reversed within its length, so padding never enters a real state (what
  // packed sequences do, in a form a traced export keeps for any length).
  auto encoder = register_module("encoder", torch::nn::ModuleList());
  for (int64_t layer = 0; layer < c.layers; ++layer) {
    const int64_t input = layer == 0 ? c.embedding : memory_size_;
    for (int64_t d = 0; d < directions; ++d) {
      switch (cell_kind_) {
        case nn::CellKind::Gru: encoder->push_back(torch::nn::GRU(torch::nn::GRUOptions(input, c.encoder_hidden).batch_first(true))); break;
        case nn::CellKind::Lstm: encoder->push_back(torch::nn::LSTM(torch::nn::LSTMOptions(input, c.encoder_hidden).batch_first(true))); break;
        case nn::CellKind::Rnn: encoder->push_back(torch::nn::RNN(torch::nn::RNNOptions(input, c.encoder_hidden).batch_first(true))); break;
      }
    }
  }
  encoder_ = encoder;
  // s_0 = tanh(W_s [h_fwd_last; h_bwd_first]) per layer (Bahdanau's initialisation).
  bridge_ = register_module("bridge", torch::nn::Linear(memory_size_, c.hidden));
  if (cell_kind_ == nn::CellKind::Lstm) bridge_cell_ = register_module("bridge_cell", torch::nn::Linear(memory_size_, c.hidden));

  int64_t extra_input = 0;  // what layer 0 reads besides emb(y_{i-1})
  if (style_ == Style::AttendBefore || style_ == Style::EveryStep) extra_input = memory_size_;
  if (style_ == Style::AttendAfter && c.input_feeding) extra_input = c.hidden;
  decoder_cells_ = register_module("decoder", torch::nn::ModuleList());
  for (int64_t layer = 0; layer < c.layers; ++layer)
    decoder_cells_->push_back(nn::RecurrentCell(cell_kind_, layer == 0 ? c.embedding + extra_input : c.hidden, c.hidden));

  int64_t features = c.hidden;
  if (style_ == Style::AttendBefore || style_ == Style::EveryStep) features = c.hidden + memory_size_ + c.embedding;
  if (c.attention != "none")
    attention_ = register_module("attention", nn::Attention(attention_kind, c.hidden, memory_size_, c.attention_hidden, c.mixtures));
  if (style_ == Style::AttendAfter)
    combine_ = register_module("combine", torch::nn::Linear(torch::nn::LinearOptions(memory_size_ + c.hidden, c.hidden).bias(false)));
  output_ = register_module("output", torch::nn::Linear(features, c.tgt_vocab));
  dropout_ = register_module("dropout", nn::Dropout(c.dropout));
}

std::vector<torch::Tensor> RnnSeq2SeqImpl::encode(const torch::Tensor& src, const torch::Tensor& src_lengths) {
  const auto& c = config_;
  // to(src), not to(src.device()): a trace records the latter's device as a constant, and the
  // exported encode would then move the lengths to the CPU on any device.
  auto lengths = src_lengths.to(src);
  auto mask = src.ne(0);                  // (B, S): real tokens (id 0 is <pad>)
  auto positions = positions_of(src);     // (B, S)
  auto tokens = c.reverse_source ? reverse_within_length(src, positions, lengths) : src;
  auto x = dropout_->forward(src_embedding_->forward(tokens));  // (B, S, E)
  auto last = (lengths - 1).view({-1, 1, 1});                   // where each forward run ends

  auto run = [&](size_t index, const torch::Tensor& input) -> torch::Tensor {
    // An explicit zero initial state (1, B, He) built from the input, not from its sizes, so the
    // traced export keeps the batch dynamic.
    auto h0 = torch::zeros_like(input.narrow(2, 0, 1).select(1, 0)).expand({-1, c.encoder_hidden}).unsqueeze(0).contiguous();
    auto module = encoder_->ptr(index);
    if (auto gru = std::dynamic_pointer_cast<torch::nn::GRUImpl>(module)) return std::get<0>(gru->forward(input, h0));
    if (auto lstm = std::dynamic_pointer_cast<torch::nn::LSTMImpl>(module))
      return std::get<0>(lstm->forward(input, std::make_tuple(h0, h0)));
    return std::get<0>(std::dynamic_pointer_cast<torch::nn::RNNImpl>(module)->forward(input, h0));
  };
  const int64_t directions = c.bidirectional ? 2 : 1;
  std::vector<torch::Tensor> finals;  // per layer (B, Dk): [h_fwd at len-1; h_bwd at 0]
  for (int64_t layer = 0; layer < c.layers; ++layer) {
    if (layer > 0) x = dropout_->forward(x);
    std::vector<torch::Tensor> outputs, ends;
    for (int64_t d = 0; d < directions; ++d) {
      auto input = d == 0 ? x : reverse_within_length(x, positions, lengths);
      auto out = run(static_cast<size_t>(layer * directions + d), input);                     // (B, S, He)
      ends.push_back(out.gather(1, last.expand({-1, 1, out.size(2)})).squeeze(1));            // state after the last real token
      outputs.push_back(d == 0 ? out : reverse_within_length(out, positions, lengths));
    }
    x = directions == 1 ? outputs[0] : torch::cat(outputs, 2);  // (B, S, Dk)
    finals.push_back(directions == 1 ? ends[0] : torch::cat(ends, 1));
  }
  auto memory = x.masked_fill(mask.unsqueeze(2).logical_not(), 0.0);
  auto final_states = torch::stack(finals, 1);  // (B, L, Dk)

  Decoding d;
  d.memory = memory;
  d.mask = mask;
  d.keys = attention_ ? attention_->precompute(memory) : empty_like_batch(memory.select(2, 0));
  // s_0 = tanh(W_s h_final)
  auto hidden = torch::tanh(bridge_->forward(final_states));  // (B, L, H)
  auto cell = bridge_cell_ ? bridge_cell_->forward(final_states) : torch::Tensor();
  for (int64_t layer = 0; layer < c.layers; ++layer) {
    d.h.push_back(hidden.select(1, layer));
    if (cell.defined()) d.c.push_back(cell.select(1, layer));
  }
  auto top = final_states.select(1, c.layers - 1);  // (B, Dk)
  d.feed = style_ == Style::AttendAfter && c.input_feeding ? torch::zeros_like(d.h[0]) : empty_like_batch(top);
  d.kappa = attention_ ? attention_->initial_state(top) : empty_like_batch(top);
  d.context = style_ == Style::EveryStep ? top : empty_like_batch(top);
  return pack(d);
}

std::vector<torch::Tensor> RnnSeq2SeqImpl::pack(const Decoding& d) const {
  auto hidden = torch::stack(d.h, 1);
  auto cell = d.c.empty() ? hidden.narrow(2, 0, 0) : torch::stack(d.c, 1);
  return {d.memory, d.keys, d.mask, hidden, cell, d.feed, d.kappa, d.context};
}

RnnSeq2SeqImpl::Decoding RnnSeq2SeqImpl::unpack(const std::vector<torch::Tensor>& state) const {
  if (state.size() != 8) throw Error("seq2seq decoder state: expected 8 tensors, got " + std::to_string(state.size()));
  Decoding d;
  d.memory = state[0], d.keys = state[1], d.mask = state[2];
  for (int64_t layer = 0; layer < config_.layers; ++layer) {
    d.h.push_back(state[3].select(1, layer));
    if (cell_kind_ == nn::CellKind::Lstm) d.c.push_back(state[4].select(1, layer));
  }
  d.feed = state[5], d.kappa = state[6], d.context = state[7];
  return d;
}

std::pair<torch::Tensor, torch::Tensor> RnnSeq2SeqImpl::step(const torch::Tensor& embedded, const torch::Tensor& embedded_projection,
                                                              Decoding& d) {
  const auto& c = config_;
  auto first = decoder_cells_->ptr<nn::RecurrentCellImpl>(0);
  const int64_t e = c.embedding;
  torch::Tensor weights, context;
  // Layer 0's input is [emb(y_{i-1}); extra]: W_ih of the embedding part arrives precomputed.
  auto input = embedded_projection;
  // + W_ih,extra extra: per step, or as a product over the whole sequence.
  auto add_extra_input = [&](const torch::Tensor& extra) {
    return d.extra_input.empty() ? input + first->project_input(extra, e, false) : d.extra_input[0].addmm(input, extra);
  };
  if (style_ == Style::AttendBefore) {
    // c_i = sum_j a_ij h_j with a_ij from s_{i-1} (Bahdanau)
    auto att = attention_->forward(d.h.back(), d.memory, d.keys, d.mask, d.kappa, d.source ? &*d.source : nullptr);
    context = att.context, weights = att.weights, d.kappa = att.state;
    input = add_extra_input(context);
  } else if (style_ == Style::AttendAfter && c.input_feeding) {
    input = add_extra_input(d.feed);  // Luong's input feeding: h~_{i-1}
  } else if (style_ == Style::EveryStep) {
    input = add_extra_input(d.context);  // Cho: c at every step
  }
  for (int64_t layer = 0; layer < c.layers; ++layer) {
    auto cell = decoder_cells_->ptr<nn::RecurrentCellImpl>(layer);
    auto projected = layer == 0 ? input : cell->project_input(dropout_->forward(d.h[layer - 1]));
    const nn::CellState state{d.h[layer], d.c.empty() ? torch::Tensor() : d.c[layer]};
    // W_hh h_{t-1} + b_hh, then the cell's gates
    auto next = d.recurrent.empty() ? cell->step(projected, state)
                                    : nn::cell_update(cell_kind_, projected, d.recurrent[layer].addmm(cell->bias_hh, d.h[layer]), state);
    d.h[layer] = next.h;
    if (next.c.defined()) d.c[layer] = next.c;
  }
  auto top = d.h.back();  // s_i, (B, H)
  switch (style_) {
    case Style::Final: return {top, weights};
    case Style::EveryStep: return {torch::cat({top, d.context, embedded}, 1), weights};
    // Bahdanau's output layer reads [s_i; c_i; emb(y_{i-1})] (without the maxout).
    case Style::AttendBefore: return {torch::cat({top, context, embedded}, 1), weights};
    case Style::AttendAfter: {
      // c_i from s_i (Luong); h~_i = tanh(W_c [c_i; s_i])
      auto att = attention_->forward(top, d.memory, d.keys, d.mask, d.kappa, d.source ? &*d.source : nullptr);
      d.kappa = att.state;
      auto attentional = torch::tanh(combine_->forward(torch::cat({att.context, top}, 1)));
      if (c.input_feeding) d.feed = attentional;
      return {attentional, att.weights};
    }
  }
  return {};
}

nn::DecodeStep RnnSeq2SeqImpl::decode_step(const torch::Tensor& tokens, const std::vector<torch::Tensor>& state) {
  Decoding d = unpack(state);
  auto embedded = dropout_->forward(tgt_embedding_->forward(tokens));  // (B, E)
  auto projection = decoder_cells_->ptr<nn::RecurrentCellImpl>(0)->project_input(embedded);
  auto [features, weights] = step(embedded, projection, d);
  auto log_probs = torch::log_softmax(output_->forward(dropout_->forward(features)), 1);  // (B, V)
  return {log_probs, pack(d), weights};
}

torch::Tensor RnnSeq2SeqImpl::forward(const torch::Tensor& src, const torch::Tensor& src_lengths, const torch::Tensor& tgt_in) {
  Decoding d = unpack(encode(src, src_lengths));
  const int64_t steps = tgt_in.size(1);
  if (is_training() && config_.teacher_forcing < 1.0) {
    // Scheduled sampling: each example feeds the true previous token with probability
    // teacher_forcing, else the model's own best guess; so steps run one by one.
    std::vector<torch::Tensor> logits;
    auto tokens = tgt_in.select(1, 0);
    for (int64_t t = 0; t < steps; ++t) {
      auto embedded = dropout_->forward(tgt_embedding_->forward(tokens));
      auto [features, weights] = step(embedded, decoder_cells_->ptr<nn::RecurrentCellImpl>(0)->project_input(embedded), d);
      logits.push_back(output_->forward(dropout_->forward(features)));
      if (t + 1 < steps) {
        auto teacher = torch::rand({tokens.size(0)}, torch::TensorOptions().device(tokens.device())) < config_.teacher_forcing;
        tokens = torch::where(teacher, tgt_in.select(1, t + 1), logits.back().argmax(1).detach());
      }
    }
    return torch::stack(logits, 1);
  }
  // Teacher forcing: the embeddings and their share of W_ih for all steps in one product each,
  // and one output projection over all steps; only the recurrence runs step by step.
  auto embedded = dropout_->forward(tgt_embedding_->forward(tgt_in));                        // (B, T, E)
  auto first = decoder_cells_->ptr<nn::RecurrentCellImpl>(0);
  auto projection = first->project_input(embedded);  // (B, T, G*H)
  for (int64_t layer = 0; layer < config_.layers; ++layer)
    d.recurrent.emplace_back(decoder_cells_->ptr<nn::RecurrentCellImpl>(layer)->weight_hh.t());
  // Layer 0's input beyond the embedding (context or fed state), where the decoder has one.
  const int64_t extra = first->weight_ih.size(1) - config_.embedding;
  if (extra > 0) d.extra_input.emplace_back(first->weight_ih.narrow(1, config_.embedding, extra).t());
  if (attention_) d.source.emplace(d.memory, d.keys);
  // unbind, not select(1, t): select's backward writes each step's gradient into a zeroed
  // (B, T, ...) tensor and autograd adds the T of them, O(T^2) work; unbind's stacks them once.
  const auto embedded_steps = embedded.unbind(1), projection_steps = projection.unbind(1);
  std::vector<torch::Tensor> features;
  for (int64_t t = 0; t < steps; ++t) features.push_back(step(embedded_steps[t], projection_steps[t], d).first);
  return output_->forward(dropout_->forward(torch::stack(features, 1)));  // (B, T, V)
}

std::vector<viz::Figure> RnnSeq2SeqImpl::look(const torch::Tensor& src, const torch::Tensor& tgt_in, const viz::LookOptions& options) {
  if (config_.attention == "none")
    throw UsageError("model " + options.model + " has no attention to show: its decoder sees one context vector (train seq2seq_attn)");
  return {};
}

}  // namespace zoo::models
