// R(2+1)D-18 (Tran et al. 2018, "A Closer Look at Spatiotemporal Convolutions for Action
// Recognition"), the 3D-CNN baseline, as torchvision's r2plus1d_18 (its names and its 31,505,325
// parameters at 400 classes), so `zoo import --from torchvision` loads its weights. Each 3x3x3
// convolution is factored into a 1x3x3 spatial one into M_i channels and a 3x1x1 temporal one,
// M_i = floor(t d^2 N_{i-1} N_i / (d^2 N_{i-1} + t N_i)) chosen so the pair has the 3D kernel's
// parameters, with a BatchNorm and ReLU between them: twice the nonlinearities of a 3D ResNet.
#pragma once
#include "models/video/video_classifier.h"

namespace zoo::models {

struct R2plus1dConfig {
  std::vector<int64_t> layers{2, 2, 2, 2};
  int64_t num_classes = 400;
  static const OptionSchema<R2plus1dConfig>& options() {
    static const auto schema =
        OptionSchema<R2plus1dConfig>("R(2+1)D")
            .option("num_classes", &R2plus1dConfig::num_classes, at_least(1), "size of the output layer; set from the data when training")
            .option("layers", &R2plus1dConfig::layers, at_least(1), "basic blocks per stage (4 stages of 64, 128, 256, 512 channels)")
            .rule([](const R2plus1dConfig& c) {
              if (c.layers.size() != 4) throw UsageError("invalid R(2+1)D layers: expected 4 numbers (blocks per stage)");
            });
    return schema;
  }
};

// A residual block of two (2+1)D convolutions (torchvision's BasicBlock with Conv2Plus1D):
//   y = ReLU(x' + BN(Conv2+1D(ReLU(BN(Conv2+1D(x))))))   x' = x, or BN(Conv1x1x1_stride(x))
class R2plus1dBlockImpl : public torch::nn::Module {
 public:
  R2plus1dBlockImpl(int64_t in_planes, int64_t planes, int64_t stride);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Sequential conv1{nullptr}, conv2{nullptr}, downsample{nullptr};
};
TORCH_MODULE(R2plus1dBlock);

class R2plus1dImpl : public VideoClassifierImpl {
 public:
  explicit R2plus1dImpl(const R2plus1dConfig& config);
  torch::Tensor forward(torch::Tensor clips) override;  // (B, 3, T, H, W) -> (B, classes)
  std::vector<std::string> head_prefixes() const override { return {"fc."}; }

  torch::nn::Sequential stem{nullptr}, layer1{nullptr}, layer2{nullptr}, layer3{nullptr}, layer4{nullptr};
  torch::nn::Linear fc{nullptr};
};
TORCH_MODULE(R2plus1d);

}  // namespace zoo::models
