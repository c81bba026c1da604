// AlexNet (Krizhevsky et al., 2012) in torchvision's single-GPU form ("One weird trick",
// Krizhevsky 2014): 64-192-384-256-256 filters and no local response normalisation, where the
// seeds' original has 96-256-384-384-256 with LRN. Names and counts match torchvision.alexnet.
#pragma once
#include "models/vision/classifier.h"

namespace zoo::models {

struct AlexNetConfig {
  int64_t num_classes = 1000;
  double dropout = 0.5;
  static const OptionSchema<AlexNetConfig>& options();
};

inline const OptionSchema<AlexNetConfig>& AlexNetConfig::options() {
  static const auto schema = OptionSchema<AlexNetConfig>("AlexNet")
                                 .option("num_classes", &AlexNetConfig::num_classes, at_least(1), num_classes_help)
                                 .option("dropout", &AlexNetConfig::dropout, fraction(), "dropout before the fully connected layers");
  return schema;
}

class AlexNetImpl : public ImageClassifierImpl {
 public:
  explicit AlexNetImpl(const AlexNetConfig& config);
  torch::Tensor forward(torch::Tensor x) override;
  // The globally average-pooled POOL3 map (B, 256): the FC layers are the head.
  torch::Tensor embed(const torch::Tensor& images) override;
  int64_t embedding_dim() const override;
  void drop_head() override;
  std::vector<std::string> head_prefixes() const override;

  torch::nn::Sequential features{nullptr};
  torch::nn::AdaptiveAvgPool2d avgpool{nullptr};
  torch::nn::Sequential classifier{nullptr};
};
TORCH_MODULE(AlexNet);

}  // namespace zoo::models
