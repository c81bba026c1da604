#include "models/vision/alexnet.h"

namespace zoo::models {

using namespace torch::nn;

AlexNetImpl::AlexNetImpl(const AlexNetConfig& config) {
  AlexNetConfig::options().check(config);
  const int64_t num_classes = config.num_classes;
  const double dropout = config.dropout;
  // Indices in the Sequentials are part of the parameter names (features.0.weight, ...).
  features = register_module("features", Sequential(
      Conv2d(Conv2dOptions(3, 64, 11).stride(4).padding(2)), ReLU(ReLUOptions(true)),  // CONV1 (B, 64, 55, 55)
      MaxPool2d(MaxPool2dOptions(3).stride(2)),                                         // POOL1 (B, 64, 27, 27)
      Conv2d(Conv2dOptions(64, 192, 5).padding(2)), ReLU(ReLUOptions(true)),             // CONV2 (B, 192, 27, 27)
      MaxPool2d(MaxPool2dOptions(3).stride(2)),                                         // POOL2 (B, 192, 13, 13)
      Conv2d(Conv2dOptions(192, 384, 3).padding(1)), ReLU(ReLUOptions(true)),            // CONV3 (B, 384, 13, 13)
      Conv2d(Conv2dOptions(384, 256, 3).padding(1)), ReLU(ReLUOptions(true)),            // CONV4 (B, 256, 13, 13)
      Conv2d(Conv2dOptions(256, 256, 3).padding(1)), ReLU(ReLUOptions(true)),            // CONV5 (B, 256, 13, 13)
      MaxPool2d(MaxPool2dOptions(3).stride(2))));                                       // POOL3 (B, 256, 6, 6)
  avgpool = register_module("avgpool", AdaptiveAvgPool2d(AdaptiveAvgPool2dOptions({6, 6})));
  classifier = register_module("classifier", Sequential(
      Dropout(dropout), Linear(256 * 6 * 6, 4096), ReLU(ReLUOptions(true)),  // FC6
      Dropout(dropout), Linear(4096, 4096), ReLU(ReLUOptions(true)),         // FC7
      Linear(4096, num_classes)));                                          // FC8: class scores
}

torch::Tensor AlexNetImpl::forward(torch::Tensor x) {
  x = features->forward(x);          // (B, 256, 6, 6) at 224x224
  x = avgpool(x).flatten(1);         // (B, 9216) at any input size
  return classifier->forward(x);     // (B, num_classes)
}

torch::Tensor AlexNetImpl::embed(const torch::Tensor& images) {
  return torch::adaptive_avg_pool2d(features->forward(images), {1, 1}).flatten(1);  // (B, 256)
}

int64_t AlexNetImpl::embedding_dim() const { return 256; }

void AlexNetImpl::drop_head() { unregister_module("classifier"), classifier = nullptr; }

std::vector<std::string> AlexNetImpl::head_prefixes() const { return {"classifier."}; }

}  // namespace zoo::models
