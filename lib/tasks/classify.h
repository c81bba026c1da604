// Image classification: cross-entropy training, top-1/top-5 evaluation, top-k prediction.
#pragma once
#include "data/datasets.h"
#include "data/image.h"
#include "data/mixup.h"
#include "lib/tasks/task.h"
#include "models/vision/classifier.h"

namespace zoo {

// The training loss of a classifier's outputs: the sum over outputs of weight x cross-entropy,
// with `targets` class indices (B) or class probabilities (B, C) (mixed images) and label
// smoothing on those. A distillation output is trained on the argmax of `teacher_logits` (B, C)
// (DeiT's hard distillation, no smoothing), or like the others when there is no teacher.
torch::Tensor classification_loss(const std::vector<models::TrainOutput>& outputs, const torch::Tensor& targets,
                                  const torch::Tensor& teacher_logits, double label_smoothing);

// The sums behind a classifier's metrics over a split, batch by batch: summed cross-entropy, top-1
// and top-k hits, examples. Shared by the image and video classifiers.
struct ClassificationTally {
  double loss_sum = 0;
  int64_t top1 = 0, topk = 0, examples = 0;
  // logits (B, C) against labels (B); k = min(5, C).
  void add(const torch::Tensor& logits, const torch::Tensor& labels);
  // The sums over the shard's ranks, as {"examples", "metrics": {loss, top1, top5}}; Error naming
  // `what` ("no image of the val split") when nothing was read.
  Json result(const DataShard& shard, const std::string& what) const;
};

// A classifier's metrics (ClassificationTally's result) over this rank's part of a split of `size`
// items: read(i) the model's input for item i, or nullopt to leave it out (a bad sample skipped);
// label(i) its class; logits(inputs) the model's (B, C) for a stacked batch. Loaded on `workers`
// threads in batches of batch_size. Error `none_read` when no item could be read.
Json evaluate_classifier(int64_t size, const std::function<std::optional<torch::Tensor>(int64_t)>& read, const std::function<int64_t(int64_t)>& label,
                         const std::function<torch::Tensor(const torch::Tensor&)>& logits, int64_t batch_size, int workers, const DataShard& shard,
                         const std::string& none_read);

// What evaluate, predict and visualize may change in a trained image or video classifier:
// --bad-samples, --layer, --query.
void read_classifier_inference_options(const Options& options, std::shared_ptr<data::BadSamples>& bad_samples, int& visualize_layer,
                                       std::optional<cv::Point>& visualize_query);

// The options of `zoo visualize` for a model whose input is `side` x `side` pixels: --layer, and
// --query (the centre when not given); UsageError when the query lies outside ("the model's
// `what` SIDExSIDE pixels", what = "input is").
viz::LookOptions square_look(const std::string& model, int layer, const std::optional<cv::Point>& query, int side, const std::string& what);
// "; predicted CLASS (P%)": a figure title's ending for the most probable class of logits (1, C).
std::string predicted_suffix(const torch::Tensor& logits, const std::vector<std::string>& classes);

// The k most probable classes of each row of probs (B, C) as predict's "top" lists.
std::vector<Json> top_classes(const torch::Tensor& probs, const std::vector<std::string>& classes, int64_t k);

// A split ("train", "val" or "test") of the images behind --data for the image-folder tasks
// (classify, ssl): synth:shapes (synthetic true; `data` holds its synth_size and seed) or an
// image-folder tree (val_fraction from `data`). Error when its classes differ from `classes`
// (unless that is empty); UsageError for another split name.
std::shared_ptr<data::ImageDataset> open_image_split(const std::string& path, const std::string& split, bool synthetic, const Json& data,
                                                     int64_t input_size, const std::vector<std::string>& classes);

class ClassifyTask : public TaskBase {
 public:
  ClassifyTask() : TaskBase("classify") {}
  void setup_training(const Options& config, torch::Device device) override;
  void use_torchscript(torch::jit::Module module) override;

  Json meta() const override;
  std::vector<std::string> head_prefixes() const override;
  void adapt_weights(NamedTensors& tensors) const override { model_->adapt_state_dict(tensors); }
  // An ssl checkpoint of this model (its meta's backbone_prefix): its evaluated backbone, with
  // this model's new head.
  void adapt_init_weights(const Json& meta, NamedTensors& tensors) const override;
  // With freeze_backbone, the head alone; the backbone's parameters stop taking gradients.
  std::vector<ParameterGroup> parameter_groups() const override;

  int64_t batches_per_epoch() const override;
  int64_t examples_per_epoch() const override { return train_set_->size(); }
  std::string describe_sample(int64_t id) const override { return train_set_->describe(id); }
  std::vector<std::string> take_notices() override { return bad_samples_->take_notices(); }
  void set_inference_options(const Options& options) override;
  std::unique_ptr<BatchStream> train_batches(int64_t epoch, int64_t first_batch) override;
  torch::Tensor loss(const Batch& batch) override;
  Json evaluate(const std::string& split, const std::string& data = "") override;
  std::string main_metric() const override { return "top1"; }

  Json predict(const std::vector<std::string>& inputs, const Options& options) override;
  void export_torchscript(const std::string& path) override;
  // The head's size and GoogLeNet's side classifiers follow the state_dict, as torchvision built it.
  Json import_meta(const std::string& model, Json options, const NamedTensors& tensors) const override;
  // timm's ViT/DeiT names (models::rename_timm_vit).
  void rename_published(NamedTensors& tensors) const override;
  // Attention over the image: ViT/DeiT the class token's heads in a layer and the rollout; Swin
  // one query token's window attention per stage; resnet*_sa one query position's attention.
  std::vector<std::string> visualize(const std::string& input, const std::string& out_png) override;
  std::vector<std::string> visualize_validation_example(const std::string& out_png) override;

  const std::vector<std::string>& classes() const { return classes_; }
  const data::Preprocess& preprocess() const { return preprocess_; }

  // The dataset behind --data and a split name: an image folder (tree, or train/val/test
  // trees), or synth:shapes. Public for the tests and `zoo bench`.
  std::shared_ptr<data::ImageDataset> open_split(const std::string& data, const std::string& split) const;
  // zoo data synth --kind shapes: synth:shapes's train and val splits as image-folder trees.
  static std::string write_synthetic(const SynthRequest& request);

 private:
  void read_meta(const Json& meta) override;
  void build_model() override;
  // DeiT's teacher (--set teacher=CKPT): a classifier checkpoint run frozen in eval mode.
  void load_teacher(const std::string& path);
  torch::Tensor teacher_logits(const torch::Tensor& images);  // (B, C)
  torch::Tensor logits(const torch::Tensor& images);  // through the C++ model or TorchScript

  data::Preprocess preprocess_;
  std::vector<std::string> classes_;
  data::MixConfig mix_;  // --mixup / --cutmix
  bool channels_last_ = false;  // NHWC weights and batches in training (oneDNN's preferred layout)
  bool freeze_backbone_ = false;  // a linear probe: the head trains, the backbone stays in eval mode
  std::shared_ptr<models::ImageClassifierImpl> model_;
  std::unique_ptr<ClassifyTask> teacher_;
  int visualize_layer_ = -1;                  // --layer: a ViT's layer (-1: the last)
  std::optional<cv::Point> visualize_query_;  // --query X,Y in input pixels (default: the centre)
  std::optional<torch::jit::Module> scripted_;
  std::shared_ptr<data::ImageDataset> train_set_, val_set_;
  std::shared_ptr<data::BadSamples> bad_samples_ = data::bad_samples_policy("fail");
};

}  // namespace zoo
