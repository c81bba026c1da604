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

struct RnnSeq2SeqConfig {
  int64_t src_vocab = 8000, tgt_vocab = 6000;
  int64_t embedding = 256;
  int64_t encoder_hidden = 256;  // per direction
  int64_t hidden = 512;          // decoder state
  int64_t layers = 1;            // encoder and decoder each
  bool bidirectional = true;
  std::string cell = "gru";      // rnn | gru | lstm
  double dropout = 0.2;
  std::string attention = "bahdanau";  // or "none" (seq2seq)
  int64_t attention_hidden = 512;      // width of the additive scores (bahdanau, luong_concat)
  int64_t mixtures = 5;                // Gaussians of "location"
  bool input_feeding = true;           // Luong-style decoders
  std::string context = "final";       // no attention: final | every_step
  bool reverse_source = false;         // Sutskever's trick
  double teacher_forcing = 1.0;        // probability of feeding the true previous token in training
};

class RnnSeq2SeqImpl : public TranslationModel {
 public:
  explicit RnnSeq2SeqImpl(RnnSeq2SeqConfig config);

  // State layout (all batch-first): memory (B, S, Dk), keys (B, S, *), mask (B, S) bool,
  // hidden (B, L, H), cell (B, L, H) for LSTM else (B, L, 0), feed (B, H) with input feeding
  // else (B, 0), kappa (B, K) for location else (B, 0), context (B, Dk) for every_step else (B, 0).
  std::vector<torch::Tensor> encode(const torch::Tensor& src, const torch::Tensor& src_lengths) override;
  nn::DecodeStep decode_step(const torch::Tensor& tokens, const std::vector<torch::Tensor>& state) override;
  torch::Tensor forward(const torch::Tensor& src, const torch::Tensor& src_lengths, const torch::Tensor& tgt_in) override;

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
