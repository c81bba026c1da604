// Show and Tell (Vinyals et al., 2015, "Show and Tell: A Neural Image Caption Generator"): the
// image, encoded once, is the LSTM's first input; the words follow.
//   x_{-1} = W_I CNN(I),  x_t = W_e S_t,  p_{t+1} = LSTM(x_t)
#pragma once
#include "lib/nn/dropout.h"
#include "lib/nn/recurrent_cell.h"
#include "models/caption/caption_model.h"

namespace zoo::models {

struct ShowTellConfig {
  int64_t embed = 512;   // word and image embedding width
  int64_t hidden = 512;  // LSTM width
  double dropout = 0.5;  // on the LSTM's output, before the word classifier
  int64_t vocab = 10000;  // set from the data (CaptionVocabConfig)
  static const OptionSchema<ShowTellConfig>& options();
};

inline const OptionSchema<ShowTellConfig>& ShowTellConfig::options() {
  static const auto schema = OptionSchema<ShowTellConfig>("Show and Tell")
                                 .option("embed", &ShowTellConfig::embed, at_least(1), "word and image embedding width")
                                 .option("hidden", &ShowTellConfig::hidden, at_least(1), "LSTM width")
                                 .option("dropout", &ShowTellConfig::dropout, fraction(), "on the LSTM output before the word classifier");
  return schema;
}

class ShowTellImpl : public CaptionModel {
 public:
  ShowTellImpl(const ShowTellConfig& config, const CaptionEncoderConfig& encoder_config, std::shared_ptr<ImageClassifierImpl> trunk);
  // State: {h, c} after the LSTM has read the image.
  std::vector<torch::Tensor> encode(const torch::Tensor& images) override;
  nn::DecodeStep decode_step(const torch::Tensor& tokens, const std::vector<torch::Tensor>& state) override;
  CaptionOutput forward(const torch::Tensor& images, const torch::Tensor& tokens_in) override;
  torch::Tensor loss(const torch::Tensor& images, const torch::Tensor& tokens_in, const torch::Tensor& tokens_out,
                     double label_smoothing) override;

  torch::nn::Linear image_embed{nullptr};  // W_I
  torch::nn::Embedding embed{nullptr};     // W_e
  nn::RecurrentCell lstm{nullptr};
  nn::Dropout dropout{nullptr};
  torch::nn::Linear classifier{nullptr};  // h_t -> word logits

 private:
  // (h, c) -> logits (B, V) and the next (h, c) after reading x (B, E).
  std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> step(const torch::Tensor& x, const torch::Tensor& h, const torch::Tensor& c);
};
TORCH_MODULE(ShowTell);

}  // namespace zoo::models
