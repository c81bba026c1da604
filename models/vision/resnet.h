// ResNet (He et al., 2015, "Deep Residual Learning for Image Recognition"), torchvision layout:
// parameter names and counts match torchvision.models.resnet*, so its state_dicts load by name.
#pragma once
#include "lib/nn/sync_batch_norm.h"
#include "lib/core/options.h"
#include "models/vision/classifier.h"

namespace zoo::models {

// Two 3x3 convolutions; the input is added back: y = relu(F(x) + x).   (resnet18, resnet34)
class BasicBlockImpl : public torch::nn::Module {
 public:
  static constexpr int64_t expansion = 1;
  BasicBlockImpl(int64_t inplanes, int64_t planes, int64_t stride, torch::nn::Sequential downsample, bool frozen_bn = false);
  torch::Tensor forward(torch::Tensor x);

  // Declared (so registered) in torchvision's order.
  torch::nn::Conv2d conv1{nullptr};
  zoo::nn::BatchNorm2d bn1{nullptr};
  torch::nn::Conv2d conv2{nullptr};
  zoo::nn::BatchNorm2d bn2{nullptr};
  torch::nn::Sequential downsample{nullptr};
};
TORCH_MODULE(BasicBlock);

// 1x1 reduce, 3x3, 1x1 expand (x4), with the stride on the 3x3 as torchvision ("ResNet v1.5").
class BottleneckImpl : public torch::nn::Module {
 public:
  static constexpr int64_t expansion = 4;
  // dilation: of the 3x3 convolution (torchvision's replace_stride_with_dilation, DETR's DC5).
  BottleneckImpl(int64_t inplanes, int64_t planes, int64_t stride, torch::nn::Sequential downsample, int64_t dilation = 1, bool frozen_bn = false);
  torch::Tensor forward(torch::Tensor x);

  torch::nn::Conv2d conv1{nullptr};
  zoo::nn::BatchNorm2d bn1{nullptr};
  torch::nn::Conv2d conv2{nullptr};
  zoo::nn::BatchNorm2d bn2{nullptr};
  torch::nn::Conv2d conv3{nullptr};
  zoo::nn::BatchNorm2d bn3{nullptr};
  torch::nn::Sequential downsample{nullptr};
};
TORCH_MODULE(Bottleneck);

// Self-attention over the positions of a feature map (the seeds' "Idea #1: add self-attention
// blocks between existing ResNet blocks"; the block of Zhang et al. 2018, SAGAN): queries, keys
// and values are 1x1 convolutions, every position attends to every other,
//   a_ij = softmax_j(q_i . k_j / sqrt(d)),   o_i = W_o sum_j a_ij v_j,   y_i = x_i + gamma o_i
// with the residual gain gamma learned from 0, so the block starts as the identity and the
// network as the plain ResNet. (B, C, H, W) -> (B, C, H, W).
class SelfAttention2dImpl : public torch::nn::Module {
 public:
  explicit SelfAttention2dImpl(int64_t channels);
  torch::Tensor forward(const torch::Tensor& x);

  // With keep on, each call keeps its attention weights (B, HW, HW), detached (zoo visualize).
  void keep_weights(bool keep) { keep_weights_ = keep; }
  const torch::Tensor& last_weights() const { return last_weights_; }

  torch::nn::Conv2d query{nullptr}, key{nullptr}, value{nullptr}, out{nullptr};
  torch::Tensor gamma;  // (1), starts at 0

 private:
  bool keep_weights_ = false;
  torch::Tensor last_weights_;
};
TORCH_MODULE(SelfAttention2d);

// The variant (bottleneck, layers, small_input, self_attention) is the model's name; num_classes
// and zero_init_residual are its options.
struct ResNetConfig {
  bool bottleneck = false;
  std::vector<int64_t> layers{2, 2, 2, 2};  // blocks per stage
  int64_t num_classes = 1000;
  bool small_input = false;  // CIFAR stem: 3x3 stride-1 conv1 and no max-pool, for 32x32 images
  bool zero_init_residual = false;
  bool self_attention = false;  // a SelfAttention2d after layer2 (attention2) and after layer3 (attention3)
  // As a detector's backbone (models/detect): every BatchNorm frozen (nn::BatchNorm2d's frozen
  // mode), and layer4 dilated instead of strided (bottleneck only; DETR-DC5, stride 16).
  bool frozen_bn = false;
  bool dilate_last = false;
  static const OptionSchema<ResNetConfig>& options();
};

inline const OptionSchema<ResNetConfig>& ResNetConfig::options() {
  static const auto schema =
      OptionSchema<ResNetConfig>("ResNet")
          .option("num_classes", &ResNetConfig::num_classes, at_least(1), num_classes_help)
          .option("zero_init_residual", &ResNetConfig::zero_init_residual,
                  "start every residual branch's last BatchNorm at zero, so each block begins as the identity");
  return schema;
}

class ResNetImpl : public ImageClassifierImpl {
 public:
  explicit ResNetImpl(const ResNetConfig& config);
  torch::Tensor forward(torch::Tensor x) override;
  // resnet*_sa: the attention of the position under options.query over every position of each
  // attended feature map (after layer2 and layer3); the plain ResNets have none to show.
  std::vector<viz::Figure> look(const torch::Tensor& image, const viz::LookOptions& options) override;
  torch::Tensor feature_map(const torch::Tensor& images, int64_t stage) override;
  int64_t feature_channels(int64_t stage) const override;
  std::vector<int64_t> trunk_stages() const override { return {1, 2, 3, 4}; }
  void keep_trunk(int64_t stage) override;
  // The globally average-pooled layer4 map (B, 512e).
  torch::Tensor embed(const torch::Tensor& images) override;
  int64_t embedding_dim() const override;
  void drop_head() override;
  std::vector<std::string> head_prefixes() const override;

  torch::nn::Conv2d conv1{nullptr};
  zoo::nn::BatchNorm2d bn1{nullptr};
  torch::nn::MaxPool2d maxpool{nullptr};
  torch::nn::Sequential layer1{nullptr}, layer2{nullptr}, layer3{nullptr}, layer4{nullptr};
  torch::nn::Linear fc{nullptr};
  SelfAttention2d attention2{nullptr}, attention3{nullptr};  // self_attention only

 private:
  torch::nn::Sequential make_layer(int64_t planes, int64_t blocks, int64_t stride, bool dilate = false);
  ResNetConfig config_;
  int64_t inplanes_ = 64, dilation_ = 1;
};
TORCH_MODULE(ResNet);

}  // namespace zoo::models
