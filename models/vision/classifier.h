// What every image classifier of the zoo offers the classify task.
#pragma once
#include <torch/torch.h>

#include <vector>

#include "lib/core/checkpoint.h"
#include "lib/core/option_schema.h"
#include "lib/viz/figure.h"

namespace zoo::models {

// num_classes in every classifier's options.
constexpr const char* num_classes_help = "size of the output layer; set from the data when training";

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

  // What the model attends to in one image (1, 3, S, S), normalised as it sees it, for `zoo
  // visualize`: figures of maps over the image (options.query is set, in input pixels). Default:
  // the model has no attention to show.
  virtual std::vector<viz::Figure> look(const torch::Tensor& image, const viz::LookOptions& options) {
    throw UsageError("visualize is not available for " + options.model + " (it has no attention): try a vit_*, deit_*, swin_* or resnet*_sa model");
  }
};

}  // namespace zoo::models
