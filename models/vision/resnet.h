// ResNet (He et al., 2015, "Deep Residual Learning for Image Recognition"), torchvision layout:
// parameter names and counts match torchvision.models.resnet*, so its state_dicts load by name.
#pragma once
#include "lib/core/options.h"
#include "models/vision/classifier.h"

namespace zoo::models {

// Two 3x3 convolutions; the input is added back: y = relu(F(x) + x).   (resnet18, resnet34)
class BasicBlockImpl : public torch::nn::Module {
 public:
  static constexpr int64_t expansion = 1;
  BasicBlockImpl(int64_t inplanes, int64_t planes, int64_t stride, torch::nn::Sequential downsample);
  torch::Tensor forward(torch::Tensor x);

  // Declared (so registered) in torchvision's order.
  torch::nn::Conv2d conv1{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr};
  torch::nn::Conv2d conv2{nullptr};
  torch::nn::BatchNorm2d bn2{nullptr};
  torch::nn::Sequential downsample{nullptr};
};
TORCH_MODULE(BasicBlock);

// 1x1 reduce, 3x3, 1x1 expand (x4), with the stride on the 3x3 as torchvision ("ResNet v1.5").
class BottleneckImpl : public torch::nn::Module {
 public:
  static constexpr int64_t expansion = 4;
  BottleneckImpl(int64_t inplanes, int64_t planes, int64_t stride, torch::nn::Sequential downsample);
  torch::Tensor forward(torch::Tensor x);

  torch::nn::Conv2d conv1{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr};
  torch::nn::Conv2d conv2{nullptr};
  torch::nn::BatchNorm2d bn2{nullptr};
  torch::nn::Conv2d conv3{nullptr};
  torch::nn::BatchNorm2d bn3{nullptr};
  torch::nn::Sequential downsample{nullptr};
};
TORCH_MODULE(Bottleneck);

struct ResNetConfig {
  bool bottleneck = false;
  std::vector<int64_t> layers{2, 2, 2, 2};  // blocks per stage
  int64_t num_classes = 1000;
  bool small_input = false;  // CIFAR stem: 3x3 stride-1 conv1 and no max-pool, for 32x32 images
  bool zero_init_residual = false;
};

class ResNetImpl : public ImageClassifierImpl {
 public:
  explicit ResNetImpl(const ResNetConfig& config);
  torch::Tensor forward(torch::Tensor x) override;

  torch::nn::Conv2d conv1{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr};
  torch::nn::MaxPool2d maxpool{nullptr};
  torch::nn::Sequential layer1{nullptr}, layer2{nullptr}, layer3{nullptr}, layer4{nullptr};
  torch::nn::Linear fc{nullptr};

 private:
  torch::nn::Sequential make_layer(int64_t planes, int64_t blocks, int64_t stride);
  ResNetConfig config_;
  int64_t inplanes_ = 64;
};
TORCH_MODULE(ResNet);

}  // namespace zoo::models
