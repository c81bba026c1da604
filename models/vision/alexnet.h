// AlexNet (Krizhevsky et al., 2012) in torchvision's single-GPU form ("One weird trick",
// Krizhevsky 2014): 64-192-384-256-256 filters and no local response normalisation, where the
// seeds' original has 96-256-384-384-256 with LRN. Names and counts match torchvision.alexnet.
#pragma once
#include "models/vision/classifier.h"

namespace zoo::models {

class AlexNetImpl : public ImageClassifierImpl {
 public:
  AlexNetImpl(int64_t num_classes, double dropout);
  torch::Tensor forward(torch::Tensor x) override;

  torch::nn::Sequential features{nullptr};
  torch::nn::AdaptiveAvgPool2d avgpool{nullptr};
  torch::nn::Sequential classifier{nullptr};
};
TORCH_MODULE(AlexNet);

}  // namespace zoo::models
