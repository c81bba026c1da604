// What every image classifier of the zoo offers the classify task.
#pragma once
#include <torch/torch.h>

#include <vector>

#include "lib/core/checkpoint.h"

namespace zoo::models {

// One training output: logits (B, classes) and the weight of its loss term. A distillation
// output (DeiT's second head) is trained on a teacher's predictions instead of the labels.
struct TrainOutput {
  torch::Tensor logits;
  double weight = 1.0;
  bool distillation = false;
};

class ImageClassifierImpl : public torch::nn::Module {
 public:
  // (B, 3, H, W) normalised images -> (B, num_classes) logits.
  virtual torch::Tensor forward(torch::Tensor images) = 0;

  // Training outputs: the main logits first, then any auxiliary heads (GoogLeNet's side
  // classifiers count 0.3; DeiT's distillation head 0.5 beside its class head's 0.5).
  virtual std::vector<TrainOutput> forward_train(torch::Tensor images) { return {{forward(images), 1.0}}; }

  // Fits a state_dict made for another configuration of this architecture before loading, where
  // that has a meaning (a ViT's position embeddings for another image size). Default: nothing.
  virtual void adapt_state_dict(NamedTensors& tensors) const {}
};

}  // namespace zoo::models
