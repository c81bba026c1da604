// The pre-Transformer video baseline (Donahue et al. 2015, "Long-term Recurrent Convolutional
// Networks"; Ng et al. 2015, "Beyond Short Snippets"): an image classifier's trunk applied to
// every frame, its features read in order by an LSTM whose last state is classified; or, with
// temporal=mean, the frames' features averaged (order ignored: a single-frame model averaged over
// the clip, the control for whether order matters).
//   f_t = CNN(x_t);   h_t, c_t = LSTM(f_t, h_{t-1}, c_{t-1});   y = W h_T + b
#pragma once
#include "lib/nn/dropout.h"
#include "models/video/video_classifier.h"
#include "models/vision/classifier.h"

namespace zoo::models {

struct CnnLstmConfig {
  std::string backbone = "resnet18";  // any zoo image classifier (zoo models --task classify)
  std::string temporal = "lstm";
  int64_t hidden = 512;
  int64_t layers = 1;
  double dropout = 0.5;
  int64_t num_classes = 400;
  static const OptionSchema<CnnLstmConfig>& options() {
    static const auto schema =
        OptionSchema<CnnLstmConfig>("CNN+LSTM")
            .option("num_classes", &CnnLstmConfig::num_classes, at_least(1), "size of the output layer; set from the data when training")
            .option("backbone", &CnnLstmConfig::backbone, anything(),
                    "the image classifier applied to every frame, without its head (a name from zoo models --task classify)")
            .option("temporal", &CnnLstmConfig::temporal, one_of({"lstm", "mean"}),
                    "lstm: an LSTM reads the frames' features in order, its last state classified; mean: the features averaged")
            .option("hidden", &CnnLstmConfig::hidden, at_least(1), "the LSTM's state width")
            .option("layers", &CnnLstmConfig::layers, at_least(1), "stacked LSTM layers")
            .option("dropout", &CnnLstmConfig::dropout, fraction(), "dropout before the classifier (and between LSTM layers)");
    return schema;
  }
};

class CnnLstmImpl : public VideoClassifierImpl {
 public:
  // `backbone`: the image classifier built for the clip's frames, its head dropped here.
  CnnLstmImpl(const CnnLstmConfig& config, std::shared_ptr<ImageClassifierImpl> backbone);
  torch::Tensor forward(torch::Tensor clips) override;
  std::vector<std::string> head_prefixes() const override { return {"head."}; }
  // An image classifier checkpoint of the backbone: its trunk as backbone.*, the rest this model's.
  void adapt_image_weights(const std::string& image_model, NamedTensors& tensors) const override;

  std::shared_ptr<ImageClassifierImpl> backbone;
  torch::nn::LSTM lstm{nullptr};
  torch::nn::Linear head{nullptr};

 private:
  CnnLstmConfig config_;
  nn::Dropout dropout_{nullptr};
};
TORCH_MODULE(CnnLstm);

}  // namespace zoo::models
