// A Transformer encoder over the columns of a line image, trained with CTC: a small convolutional
// stem turns a 32-pixel line into a row of column features W/4 wide (each column a 4-pixel slice of
// the line with what its convolutions see around it), a linear map makes them d_model wide,
// sinusoidal positions are added, pre-norm self-attention blocks let every column look at the whole
// line, and a linear layer scores every label and the blank per column (the seeds' CTC: "hard to
// beat on tasks with monotonous alignments").
//   f_1..f_T = Stem(x)                     (T = ceil(W / 4) columns)
//   z_t = W_p f_t + p(t);   z = Encoder(z)  (padding columns masked as keys)
//   y_t = W LN(z_t) + b                     (p(. | column t) = softmax(y_t))
#pragma once
#include "lib/core/option_schema.h"
#include "models/ocr/recognizer.h"
#include "models/seq2seq/transformer.h"

namespace zoo::models {

struct CtcTransformerConfig {
  int64_t num_classes = 37;  // the blank and the labels; set from the alphabet when training
  int64_t channels = 1;
  int64_t base_width = 64;  // the stem's first convolution; then 2x, 4x, 4x
  int64_t width = 256, layers = 4, heads = 4, ffn = 1024;
  double dropout = 0.1;
  int64_t max_columns = 1024;  // the longest row of columns the positions cover (W <= 4 x this)
  static const OptionSchema<CtcTransformerConfig>& options() {
    static const auto schema =
        OptionSchema<CtcTransformerConfig>("CTC Transformer")
            .option("num_classes", &CtcTransformerConfig::num_classes, at_least(2), "the blank and the labels (the alphabet); set from the data when training")
            .option("channels", &CtcTransformerConfig::channels, in_range(1, 3, "[]"), "input channels: 1 grey or 3 RGB")
            .option("base_width", &CtcTransformerConfig::base_width, at_least(1),
                    "channels of the stem's first convolution; its other three have 2, 4 and 4 times as many")
            .option("width", &CtcTransformerConfig::width, at_least(1), "d_model of the encoder")
            .option("layers", &CtcTransformerConfig::layers, at_least(1), "Transformer encoder blocks (pre-norm, GELU)")
            .option("heads", &CtcTransformerConfig::heads, at_least(1), "attention heads (d_k = width / heads)")
            .option("ffn", &CtcTransformerConfig::ffn, at_least(1), "hidden width of each block's feed-forward layer")
            .option("dropout", &CtcTransformerConfig::dropout, fraction(), "on the column embeddings, sublayer outputs and attention weights")
            .option("max_columns", &CtcTransformerConfig::max_columns, at_least(1), "the longest row of columns the sinusoidal positions cover")
            .rule([](const CtcTransformerConfig& c) {
              if (c.width % c.heads != 0)
                throw UsageError("invalid heads " + std::to_string(c.heads) + ": the width " + std::to_string(c.width) + " must be a multiple of it");
            });
    return schema;
  }
};

class CtcTransformerImpl : public CtcRecognizerImpl {
 public:
  explicit CtcTransformerImpl(const CtcTransformerConfig& config);
  torch::Tensor forward(torch::Tensor images, torch::Tensor widths) override;
  // T_b = ceil(w_b / 4): the stem's two 2x2 poolings round up.
  torch::Tensor output_lengths(const torch::Tensor& widths) const override;
  std::vector<std::string> head_prefixes() const override { return {"head."}; }

  torch::nn::Sequential stem{nullptr};
  torch::nn::Linear proj{nullptr}, head{nullptr};
  torch::nn::ModuleList layers{nullptr};
  torch::nn::LayerNorm norm{nullptr};
  nn::Dropout dropout{nullptr};

 private:
  CtcTransformerConfig config_;
  torch::Tensor sinusoids_;  // (max_columns, width), a buffer
};
TORCH_MODULE(CtcTransformer);

}  // namespace zoo::models
