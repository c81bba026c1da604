// Video classification: clips of T frames, cross-entropy training, top-1/top-5 evaluation on the
// middle clip of each video, top-k prediction, attention over space-time.
#pragma once
#include "data/datasets.h"
#include "data/image.h"
#include "data/video.h"
#include "lib/tasks/task.h"
#include "models/video/video_classifier.h"

namespace zoo {

class VideoTask : public TaskBase {
 public:
  VideoTask() : TaskBase("video") {}
  void setup_training(const Options& config, torch::Device device) override;
  void use_torchscript(torch::jit::Module module) override { scripted_ = std::move(module); }

  Json meta() const override;
  std::vector<std::string> head_prefixes() const override { return model_->head_prefixes(); }
  void adapt_weights(NamedTensors& tensors) const override { model_->adapt_state_dict(tensors); }
  // A classify checkpoint: its image model's weights as this video model's start (a ViT's into
  // TimeSformer, as the paper does; the backbone of cnn_lstm).
  void adapt_init_weights(const Json& meta, NamedTensors& tensors) const override;

  int64_t batches_per_epoch() const override { return std::max<int64_t>(1, train_set_->size() / batch_size_); }
  int64_t examples_per_epoch() const override { return train_set_->size(); }
  std::string describe_sample(int64_t id) const override { return train_set_->describe(id); }
  std::vector<std::string> take_notices() override { return bad_samples_->take_notices(); }
  void set_inference_options(const Options& options) override;
  std::unique_ptr<BatchStream> train_batches(int64_t epoch, int64_t first_batch) override;
  torch::Tensor loss(const Batch& batch) override;
  Json evaluate(const std::string& split, const std::string& data = "") override;
  std::string main_metric() const override { return "top1"; }

  // Inputs: video files or frame folders.
  Json predict(const std::vector<std::string>& inputs, const Options& options) override;
  void export_torchscript(const std::string& path) override;
  Json import_meta(const std::string& model, Json options, const NamedTensors& tensors) const override;
  // The authors' TimeSformer checkpoints: "model." dropped.
  void rename_published(NamedTensors& tensors) const override;
  std::vector<std::string> visualize(const std::string& input, const std::string& out_png) override;
  std::vector<std::string> visualize_validation_example(const std::string& out_png) override;

  // The clips behind --data and a split: a video class tree or synth:motion. Public for tests and zoo bench.
  std::shared_ptr<data::VideoDataset> open_split(const std::string& data, const std::string& split) const;
  // A clip as the model takes it (3, T, S, S): the evaluation's (the middle T frames, each resized
  // and centre-cropped), or training's (a random start; one crop and flip for all frames).
  torch::Tensor eval_clip(const std::vector<cv::Mat>& frames) const;
  torch::Tensor train_clip(const std::vector<cv::Mat>& frames, Rng& rng) const;
  data::FramePicker picker(Rng* rng) const;  // the clip's frames: centred (null) or from a random start
  // zoo data synth --kind motion: synth:motion's train and val splits as frame-folder trees.
  static std::string write_synthetic(const SynthRequest& request);

 private:
  void read_meta(const Json& meta) override;
  void build_model() override;
  torch::Tensor logits(const torch::Tensor& clips);  // through the C++ model or TorchScript
  std::vector<std::string> visualize_frames(const std::vector<cv::Mat>& frames, const std::string& out_png);

  data::Preprocess preprocess_;
  models::ClipSampling clip_;
  std::vector<std::string> classes_;
  std::shared_ptr<models::VideoClassifierImpl> model_;
  int visualize_layer_ = -1;
  std::optional<cv::Point> visualize_query_;
  std::optional<torch::jit::Module> scripted_;
  std::shared_ptr<data::VideoDataset> train_set_, val_set_;
  std::shared_ptr<data::BadSamples> bad_samples_ = data::bad_samples_policy("fail");
};

}  // namespace zoo
