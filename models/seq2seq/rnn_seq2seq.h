// RNN encoder-decoders for translation, from the seeds' story of seq2seq and attention.
//
//  seq2seq       Sutskever et al. 2014: the final encoder state is the decoder's initial state and
//                the only thing it knows of the source (optionally read reversed); with
//                context=every_step, Cho et al. 2014: that context c is also fed to every step and
//                to the output layer.
//  seq2seq_attn  a context vector per step, c_i = sum_j a_ij h_j. Bahdanau-style decoders
//                (bahdanau, location) attend with the previous state s_{i-1} and feed c_i into the
//                cell; Luong-style ones (luong_dot, luong_general, luong_concat, scaled_dot) attend
//                with the new state s_i, predict from h~_i = tanh(W_c [c_i; s_i]) and, with input
//                feeding, give h~_i to the next step's input.
#pragma once
#include <string>

#include "lib/nn/attention.h"
#include "lib/nn/dropout.h"
#include "lib/nn/recurrent_cell.h"
#include "models/seq2seq/translation_model.h"

namespace zoo::models {

// The vocabularies follow the data (the translate task's text options cap them); the rest are
// the model's options. seq2seq leaves out the attention options, seq2seq_attn context and
// reverse_source.
struct RnnSeq2SeqConfig {
  int64_t src_vocab = 8000, tgt_vocab = 6000;
  int64_t embedding = 256;
  int64_t encoder_hidden = 256;  // per direction
  int64_t hidden = 512;          // decoder state
  int64_t layers = 1;
  bool bidirectional = true;
  std::string cell = "gru";
  double dropout = 0.3;
  std::string attention = "bahdanau";
  int64_t attention_hidden = 512;
  int64_t mixtures = 5;
  bool input_feeding = true;
  std::string context = "final";
  bool reverse_source = false;
  double teacher_forcing = 1.0;
  static const OptionSchema<RnnSeq2SeqConfig>& options();
};

inline const OptionSchema<RnnSeq2SeqConfig>& RnnSeq2SeqConfig::options() {
  static const auto schema = [] {
    std::vector<std::string> attentions{"none"};
    for (const auto& name : nn::attention_names()) attentions.push_back(name);
    return OptionSchema<RnnSeq2SeqConfig>("RNN encoder-decoder")
        .option("cell", &RnnSeq2SeqConfig::cell, one_of({"gru", "lstm", "rnn"}),
                "the recurrent cell of encoder and decoder (the decoder's written from the equations in lib/nn/recurrent_cell.cpp)")
        .option("embedding", &RnnSeq2SeqConfig::embedding, at_least(1), "token embedding width")
        .option("encoder_hidden", &RnnSeq2SeqConfig::encoder_hidden, at_least(1), "encoder state per direction")
        .option("hidden", &RnnSeq2SeqConfig::hidden, at_least(1), "decoder state")
        .option("layers", &RnnSeq2SeqConfig::layers, at_least(1), "stacked layers in encoder and decoder")
        .option("bidirectional", &RnnSeq2SeqConfig::bidirectional, "the encoder reads both ways; the memory is [h_fwd; h_bwd]")
        .option("dropout", &RnnSeq2SeqConfig::dropout, fraction(), "on embeddings, between layers and before the output layer")
        .option("teacher_forcing", &RnnSeq2SeqConfig::teacher_forcing, probability(),
                "probability of feeding the true previous token in training (below 1: scheduled sampling, step by step)")
        .option("context", &RnnSeq2SeqConfig::context, one_of({"final", "every_step"}),
                "seq2seq: final = the encoder's last state only initialises the decoder (Sutskever); every_step = it is also fed to "
                "every step and the output layer (Cho)")
        .option("reverse_source", &RnnSeq2SeqConfig::reverse_source, "seq2seq: read each source reversed (Sutskever's trick)")
        .option("attention", &RnnSeq2SeqConfig::attention, one_of(attentions),
                "bahdanau e = v^T tanh(W s_{i-1} + U h_j); luong_dot q^T k; luong_general q^T W k; luong_concat v^T tanh(W [q; k]); "
                "scaled_dot q^T k / sqrt(d); location: Graves' Gaussian-mixture window; none: no attention (seq2seq)")
        .option("attention_hidden", &RnnSeq2SeqConfig::attention_hidden, at_least(1), "width of the additive scores (bahdanau, luong_concat)")
        .option("mixtures", &RnnSeq2SeqConfig::mixtures, at_least(1), "Gaussians of location")
        .option("input_feeding", &RnnSeq2SeqConfig::input_feeding, "Luong-style decoders feed h~_{i-1} into the next step")
        .rule([](const RnnSeq2SeqConfig& c) {
          // The dot scores compare the decoder state with the encoder output directly.
          const int64_t memory = c.encoder_hidden * (c.bidirectional ? 2 : 1);
          if ((c.attention == "luong_dot" || c.attention == "scaled_dot") && c.hidden != memory)
            throw UsageError("attention " + c.attention + " needs the decoder state (" + std::to_string(c.hidden) +
                             ") as wide as the encoder output (" + std::to_string(memory) + "); use luong_general or change hidden sizes");
        });
  }();
  return schema;
}

class RnnSeq2SeqImpl : public TranslationModel {
 public:
  explicit RnnSeq2SeqImpl(RnnSeq2SeqConfig config);

  // State layout (all batch-first): memory (B, S, Dk), keys (B, S, *), mask (B, S) bool,
  // hidden (B, L, H), cell (B, L, H) for LSTM else (B, L, 0), feed (B, H) with input feeding
  // else (B, 0), kappa (B, K) for location else (B, 0), context (B, Dk) for every_step else (B, 0).
  std::vector<torch::Tensor> encode(const torch::Tensor& src, const torch::Tensor& src_lengths) override;
  nn::DecodeStep decode_step(const torch::Tensor& tokens, const std::vector<torch::Tensor>& state) override;
  torch::Tensor forward(const torch::Tensor& src, const torch::Tensor& src_lengths, const torch::Tensor& tgt_in) override;
  // Nothing beside the alignment; without attention, not even that (a UsageError says so).
  std::vector<viz::Figure> look(const torch::Tensor& src, const torch::Tensor& tgt_in, const viz::LookOptions& options) override;

  const RnnSeq2SeqConfig& config() const { return config_; }

 private:
  enum class Style { Final, EveryStep, AttendBefore, AttendAfter };
  struct Decoding;  // the unpacked state
  Decoding unpack(const std::vector<torch::Tensor>& state) const;
  std::vector<torch::Tensor> pack(const Decoding& d) const;
  // One decoder step after the embedding: returns the output features (B, F) and attention.
  std::pair<torch::Tensor, torch::Tensor> step(const torch::Tensor& embedded, const torch::Tensor& embedded_projection, Decoding& d);

  RnnSeq2SeqConfig config_;
  Style style_;
  nn::CellKind cell_kind_;
  int64_t memory_size_;  // Dk = encoder_hidden * directions
  torch::nn::Embedding src_embedding_{nullptr}, tgt_embedding_{nullptr};
  torch::nn::ModuleList encoder_{nullptr};  // layer-major: [layer 0 forward, layer 0 backward, layer 1 ...]
  torch::nn::Linear bridge_{nullptr}, bridge_cell_{nullptr};
  torch::nn::ModuleList decoder_cells_{nullptr};
  nn::Attention attention_{nullptr};
  torch::nn::Linear combine_{nullptr};  // W_c of the Luong-style decoders
  torch::nn::Linear output_{nullptr};
  nn::Dropout dropout_{nullptr};
};
TORCH_MODULE(RnnSeq2Seq);

}  // namespace zoo::models
