// VGG (Simonyan and Zisserman, 2014): only 3x3 convolutions (stride 1, pad 1) and 2x2 max-pools,
// stacked 11 to 19 layers deep; "_bn" variants add BatchNorm after each convolution.
// Names and counts match torchvision.models.vgg*.
#pragma once
#include "models/vision/classifier.h"

namespace zoo::models {

struct VggConfig {
  int depth = 16;  // 11, 13, 16 or 19 weight layers (the variant's name)
  bool batch_norm = false;
  int64_t num_classes = 1000;
  double dropout = 0.5;
  static const OptionSchema<VggConfig>& options();
};

inline const OptionSchema<VggConfig>& VggConfig::options() {
  static const auto schema = OptionSchema<VggConfig>("VGG")
                                 .option("num_classes", &VggConfig::num_classes, at_least(1), num_classes_help)
                                 .option("dropout", &VggConfig::dropout, fraction(), "dropout before the fully connected layers");
  return schema;
}

class VGGImpl : public ImageClassifierImpl {
 public:
  explicit VGGImpl(const VggConfig& config);
  torch::Tensor forward(torch::Tensor x) override;
  // The globally average-pooled last map (B, 512): the three FC layers are the head.
  torch::Tensor embed(const torch::Tensor& images) override;
  int64_t embedding_dim() const override;
  void drop_head() override;
  std::vector<std::string> head_prefixes() const override;
  torch::Tensor feature_map(const torch::Tensor& images, int64_t stage) override;
  int64_t feature_channels(int64_t stage) const override { return 512; }
  std::vector<int64_t> trunk_stages() const override { return {5}; }
  void keep_trunk(int64_t stage) override;

  torch::nn::Sequential features{nullptr};
  torch::nn::AdaptiveAvgPool2d avgpool{nullptr};
  torch::nn::Sequential classifier{nullptr};
};
TORCH_MODULE(VGG);

}  // namespace zoo::models
