#include "models/vision/vgg.h"

#include <stdexcept>

#include "lib/nn/sync_batch_norm.h"

namespace zoo::models {

using namespace torch::nn;

namespace {
constexpr int M = 0;  // a 2x2 max-pool in the layer lists below
// Configurations A, B, D and E of the paper's Table 1: output channels of each 3x3 convolution.
const std::vector<int>& layers_for(int depth) {
  static const std::vector<int> a{64, M, 128, M, 256, 256, M, 512, 512, M, 512, 512, M};
  static const std::vector<int> b{64, 64, M, 128, 128, M, 256, 256, M, 512, 512, M, 512, 512, M};
  static const std::vector<int> d{64, 64, M, 128, 128, M, 256, 256, 256, M, 512, 512, 512, M, 512, 512, 512, M};
  static const std::vector<int> e{64, 64, M, 128, 128, M, 256, 256, 256, 256, M, 512, 512, 512, 512, M, 512, 512, 512, 512, M};
  switch (depth) {
    case 11: return a;
    case 13: return b;
    case 16: return d;
    case 19: return e;
  }
  throw std::invalid_argument("VGG depth must be 11, 13, 16 or 19");
}
}  // namespace

VGGImpl::VGGImpl(const VggConfig& config) {
  VggConfig::options().check(config);
  features = Sequential();
  int64_t channels = 3;
  for (int width : layers_for(config.depth)) {
    if (width == M) {
      features->push_back(MaxPool2d(MaxPool2dOptions(2).stride(2)));  // halves H and W
      continue;
    }
    features->push_back(Conv2d(Conv2dOptions(channels, width, 3).padding(1)));
    if (config.batch_norm) features->push_back(zoo::nn::BatchNorm2d(width));
    features->push_back(ReLU(ReLUOptions(true)));
    channels = width;
  }
  register_module("features", features);
  avgpool = register_module("avgpool", AdaptiveAvgPool2d(AdaptiveAvgPool2dOptions({7, 7})));
  classifier = register_module("classifier", Sequential(
      Linear(512 * 7 * 7, 4096), ReLU(ReLUOptions(true)), Dropout(config.dropout),
      Linear(4096, 4096), ReLU(ReLUOptions(true)), Dropout(config.dropout),
      Linear(4096, config.num_classes)));

  // torchvision's initialisation: He-normal (fan_out) convolutions, N(0, 0.01) linear layers.
  for (auto& module : modules(/*include_self=*/false)) {
    if (auto* conv = module->as<Conv2d>()) {
      init::kaiming_normal_(conv->weight, 0.0, torch::kFanOut, torch::kReLU);
      init::zeros_(conv->bias);
    } else if (auto* bn = module->as<zoo::nn::BatchNorm2d>()) {
      init::ones_(bn->weight);
      init::zeros_(bn->bias);
    } else if (auto* linear = module->as<Linear>()) {
      init::normal_(linear->weight, 0.0, 0.01);
      init::zeros_(linear->bias);
    }
  }
}

torch::Tensor VGGImpl::forward(torch::Tensor x) {
  x = features->forward(x);        // (B, 512, H/32, W/32)
  x = avgpool(x).flatten(1);       // (B, 25088)
  return classifier->forward(x);   // (B, num_classes)
}

torch::Tensor VGGImpl::feature_map(const torch::Tensor& images, int64_t stage) {
  // Every layer but the last max-pool: conv5's last ReLU, (B, 512, H/16, W/16).
  auto x = images;
  size_t index = 0;
  for (auto& layer : *features)
    if (++index < features->size()) x = layer.forward(x);
  return x;
}

torch::Tensor VGGImpl::embed(const torch::Tensor& images) {
  return torch::adaptive_avg_pool2d(features->forward(images), {1, 1}).flatten(1);  // (B, 512)
}

int64_t VGGImpl::embedding_dim() const { return 512; }

void VGGImpl::drop_head() { unregister_module("classifier"), classifier = nullptr; }

std::vector<std::string> VGGImpl::head_prefixes() const { return {"classifier."}; }

void VGGImpl::keep_trunk(int64_t stage) {
  unregister_module("avgpool");
  unregister_module("classifier");
  avgpool = nullptr;
  classifier = nullptr;
}

}  // namespace zoo::models
