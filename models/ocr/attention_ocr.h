// Attention decoding of text lines: one of the CTC recognizers' encoders (CRNN's CNN and
// bidirectional LSTMs, or the CTC Transformer's stem and self-attention blocks) turns the line
// into a row of column vectors h_1..h_T, and a recurrent decoder reads it one character at a time
// with the soft attention of the translate task's Bahdanau-style decoders (lib/nn/attention):
// content-based ("bahdanau") or Graves' location-based Gaussian window ("location", which can only
// move forward: the monotone alignment of a line).
//   s_0 = tanh(W_s mean_j h_j)
//   a_ij = softmax_j(e(s_{i-1}, h_j));   c_i = sum_j a_ij h_j
//   s_i = Cell([E y_{i-1}; c_i], s_{i-1});   p(y_i | y_<i, x) = softmax(W_o [s_i; c_i; E y_{i-1}] + b_o)
// Label 0 is the start symbol y_0 and the end symbol; a reading stops when it is the most probable
// (or, in beam search, when the hypothesis ending in it ranks among the best).
#pragma once
#include "lib/core/option_schema.h"
#include "lib/nn/attention.h"
#include "lib/nn/dropout.h"
#include "lib/nn/recurrent_cell.h"
#include "models/ocr/recognizer.h"

namespace zoo::models {

struct AttentionOcrConfig {
  int64_t num_classes = 37;  // the start/end symbol and the labels; set from the alphabet when training
  int64_t channels = 1;
  std::string encoder = "crnn";
  int64_t base_width = 64;       // the encoder's first convolution
  int64_t encoder_hidden = 256;  // crnn: each LSTM direction's width
  int64_t encoder_layers = 4, heads = 4, ffn = 1024;  // transformer
  int64_t memory = 256;          // h_j's width (the encoder's output layer)
  std::string attention = "bahdanau";
  int64_t attention_hidden = 256, mixtures = 5;
  std::string cell = "gru";
  int64_t embedding = 64, hidden = 256;
  double dropout = 0.1;
  static const OptionSchema<AttentionOcrConfig>& options();
};

class AttentionOcrImpl : public AttentionRecognizerImpl {
 public:
  explicit AttentionOcrImpl(const AttentionOcrConfig& config);

  // State: memory (B, T, D), keys (B, T, *), mask (B, T) bool, s (B, H), the LSTM's cell (B, H)
  // or (B, 0), the location window's centres (B, K) or (B, 0).
  std::vector<torch::Tensor> encode(const torch::Tensor& images, const torch::Tensor& widths) override;
  nn::DecodeStep decode_step(const torch::Tensor& labels, const std::vector<torch::Tensor>& state) override;
  torch::Tensor forward(const torch::Tensor& images, const torch::Tensor& widths, const torch::Tensor& labels_in) override;
  torch::Tensor output_lengths(const torch::Tensor& widths) const override { return encoder->output_lengths(widths); }
  std::vector<std::string> head_prefixes() const override { return {"embedding.", "output."}; }

  std::shared_ptr<CtcRecognizerImpl> encoder;  // its output layer gives the memory width, not labels
  torch::nn::Embedding embedding{nullptr};
  nn::RecurrentCell decoder{nullptr};
  nn::Attention attention{nullptr};
  torch::nn::Linear bridge{nullptr}, output{nullptr};
  nn::Dropout dropout{nullptr};

 private:
  // One step after the embedding (its share of W_ih given): the output features [s_i; c_i; E y]
  // and the attention; updates the state in place.
  std::pair<torch::Tensor, torch::Tensor> step(const torch::Tensor& embedded, const torch::Tensor& projected, std::vector<torch::Tensor>& state);
  AttentionOcrConfig config_;
  nn::CellKind cell_kind_;
};
TORCH_MODULE(AttentionOcr);

}  // namespace zoo::models
