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

// Loads the weights of a zoo classifier checkpoint of `model` into `trunk`, a module holding part
// of that classifier under the same names (a captioner's encoder, a detector's backbone): the
// tensors the trunk has, nothing else (not the head, not what a frozen BatchNorm lacks). Errors
// name `option` and the file: not a classifier checkpoint, another model, a missing tensor.
void load_classifier_trunk(torch::nn::Module& trunk, const std::string& checkpoint, const std::string& model, const std::string& option);

// A linear probe (--set freeze_backbone=true): only the classification head trains, on the
// features of a backbone held fixed in evaluation mode (BatchNorm on its running statistics), as
// self-supervised representations are evaluated (--init from an ssl checkpoint).
struct LinearProbeConfig {
  bool freeze_backbone = false;
  static const OptionSchema<LinearProbeConfig>& options() {
    static const auto schema = OptionSchema<LinearProbeConfig>("linear probe")
                                   .option("freeze_backbone", &LinearProbeConfig::freeze_backbone,
                                           "train only the head; the backbone stays fixed, in evaluation mode (a linear probe)");
    return schema;
  }
};

// Every 4-d parameter (a convolution's weight) of `module` in NHWC order, oneDNN's preferred
// layout for CNNs on the CPU (--channels-last); the inputs must follow.
void to_channels_last(torch::nn::Module& module);

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

  // The image's representation before the classification head, what self-supervised methods
  // train and k-NN compares (lib/tasks/ssl.cpp): (B, 3, H, W) -> (B, embedding_dim()). CNNs: the
  // globally average-pooled last feature map; ViT/DeiT: the class token's final state, LN(z_L^0);
  // Swin: its average-pooled, normalised tokens.
  virtual torch::Tensor embed(const torch::Tensor& images) = 0;
  virtual int64_t embedding_dim() const = 0;
  // Unregisters the classification head (and auxiliary heads), keeping what embed uses: a
  // backbone holds only the trunk's parameters.
  virtual void drop_head() = 0;
  // Parameter-name prefixes of the classification head(s), what a linear probe trains.
  virtual std::vector<std::string> head_prefixes() const = 0;
  // A linear probe (freeze_backbone): the classifier stays in evaluation mode when the trainer
  // asks for training, so the fixed backbone's BatchNorm keeps its running statistics.
  void set_frozen_backbone(bool frozen) { frozen_backbone_ = frozen; }
  void train(bool on = true) override { torch::nn::Module::train(on && !frozen_backbone_); }

  // The convolutional trunk as an image encoder (the captioners'): (B, 3, H, W) -> the feature
  // map (B, C, h, w) after stage `stage` (ResNet: layer1..layer4 = 1..4; VGG: 5, conv5 before
  // its last pool, the paper's 14x14 at 224 pixels), and C. Models without one say so.
  virtual torch::Tensor feature_map(const torch::Tensor& images, int64_t stage) { throw_no_trunk(); }
  virtual int64_t feature_channels(int64_t stage) const { throw_no_trunk(); }
  // The stages feature_map accepts.
  virtual std::vector<int64_t> trunk_stages() const { return {}; }
  // Unregisters every layer after `stage` (the head among them), so an encoder holds only the
  // trunk's parameters.
  virtual void keep_trunk(int64_t stage) { throw_no_trunk(); }

 private:
  bool frozen_backbone_ = false;
  [[noreturn]] void throw_no_trunk() const { throw UsageError("this classifier has no convolutional trunk to encode images with: use a resnet* or vgg*"); }
};

}  // namespace zoo::models
