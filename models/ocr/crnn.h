// CRNN (Shi, Bai and Yao, 2015, "An End-to-End Trainable Neural Network for Image-based Sequence
// Recognition"): a VGG-style CNN reduces a 32-pixel-high line image to one row of 512-channel
// columns (each column a slice of the image, read left to right), two bidirectional LSTMs read the
// columns, and a linear layer scores every label and the blank per column, trained with CTC.
//   f_1..f_T = CNN(x)                 (T = floor(W / 4) + 1 columns)
//   h_t = BiLSTM_2(Linear(BiLSTM_1(f)))_t;   y_t = W h_t + b    (p(. | column t) = softmax(y_t))
// Module names are those of the widely used PyTorch port (meijieru/crnn.pytorch: cnn.conv0 ..
// cnn.conv6, cnn.batchnorm2/4/6, rnn.0.rnn, rnn.0.embedding, rnn.1.*), whose released weights
// (grey images, 37 labels) import with `zoo import --from crnn`.
#pragma once
#include "lib/core/option_schema.h"
#include "models/ocr/recognizer.h"

namespace zoo::models {

struct CrnnConfig {
  int64_t num_classes = 37;  // the blank and the labels; set from the alphabet when training
  int64_t channels = 1;      // 1: grey images, as the paper; 3: RGB
  int64_t hidden = 256;      // each LSTM direction's width
  int64_t base_width = 64;   // the first convolution's channels; the others 2x, 4x, 4x, 8x, 8x, 8x
  static const OptionSchema<CrnnConfig>& options() {
    static const auto schema = OptionSchema<CrnnConfig>("CRNN")
                                   .option("num_classes", &CrnnConfig::num_classes, at_least(2),
                                           "the blank and the labels (the alphabet); set from the data when training")
                                   .option("channels", &CrnnConfig::channels, in_range(1, 3, "[]"), "input channels: 1 grey (as the paper) or 3 RGB")
                                   .option("hidden", &CrnnConfig::hidden, at_least(1), "width of each LSTM direction")
                                   .option("base_width", &CrnnConfig::base_width, at_least(1),
                                           "channels of the first convolution (the paper's 64); the next six have 2, 4, 4, 8, 8 and 8 times as many");
    return schema;
  }
};

// One of CRNN's two recurrent layers: a bidirectional LSTM, then a linear map of its 2 x hidden
// outputs (the port's "BidirectionalLSTM": rnn, embedding).
class BidirectionalLstmImpl : public torch::nn::Module {
 public:
  BidirectionalLstmImpl(int64_t in, int64_t hidden, int64_t out);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& lengths);  // (T, B, in) -> (T, B, out)
  torch::nn::LSTM rnn{nullptr};
  torch::nn::Linear embedding{nullptr};
};
TORCH_MODULE(BidirectionalLstm);

class CrnnImpl : public CtcRecognizerImpl {
 public:
  explicit CrnnImpl(const CrnnConfig& config);
  torch::Tensor forward(torch::Tensor images, torch::Tensor widths) override;
  torch::Tensor output_lengths(const torch::Tensor& widths) const override;
  std::vector<std::string> head_prefixes() const override { return {"rnn.1.embedding."}; }

  torch::nn::Sequential cnn{nullptr};
  torch::nn::ModuleList rnn{nullptr};

 private:
  CrnnConfig config_;
};
TORCH_MODULE(Crnn);

}  // namespace zoo::models
