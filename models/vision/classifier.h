// What every image classifier of the zoo offers the classify task.
#pragma once
#include <torch/torch.h>

#include <utility>
#include <vector>

namespace zoo::models {

class ImageClassifierImpl : public torch::nn::Module {
 public:
  // (B, 3, H, W) normalised images -> (B, num_classes) logits.
  virtual torch::Tensor forward(torch::Tensor images) = 0;

  // Training outputs: the main logits first, then any auxiliary heads, each with the weight
  // of its loss term (GoogLeNet's side classifiers count 0.3).
  virtual std::vector<std::pair<torch::Tensor, double>> forward_train(torch::Tensor images) {
    return {{forward(images), 1.0}};
  }
};

}  // namespace zoo::models
