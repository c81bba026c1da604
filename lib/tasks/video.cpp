#include "lib/tasks/video.h"

#include <filesystem>

#include "data/loader.h"
#include "lib/core/error.h"
#include "lib/core/registry.h"
#include "lib/export/torchscript.h"
#include "lib/nn/cross_entropy.h"
#include "lib/tasks/builtin.h"
#include "lib/tasks/classify.h"
#include "lib/viz/figure.h"

namespace fs = std::filesystem;

namespace zoo {

void VideoTask::setup_training(const Options& config, torch::Device device) {
  setup_common(config, device);
  preprocess_ = data::Preprocess::from_json(model_options_);
  clip_ = models::ClipSampling::options().read(model_options_, models::ClipSampling{});
  bad_samples_ = data::bad_samples_policy(config.has("bad_samples") ? config.get_string("bad_samples") : "fail");
  train_set_ = open_split(data_path(), "train");
  val_set_ = open_split(data_path(), "val");
  classes_ = train_set_->classes();
  fit_num_classes(static_cast<int64_t>(classes_.size()));
  build_model();
}

void VideoTask::set_inference_options(const Options& options) {
  read_classifier_inference_options(options, bad_samples_, visualize_layer_, visualize_query_);
}

void VideoTask::read_meta(const Json& meta) {
  classes_ = meta.at("classes").get<std::vector<std::string>>();
  preprocess_ = data::Preprocess::from_json(meta.at("preprocess"));
  clip_ = models::ClipSampling::options().read(model_options_, models::ClipSampling{});
}

void VideoTask::build_model() { model_ = build_model_as<models::VideoClassifierImpl>("a video classifier"); }

Json VideoTask::meta() const {
  Json meta = common_meta();
  meta["classes"] = classes_;
  meta["preprocess"] = preprocess_.to_json();
  return meta;
}

void VideoTask::adapt_init_weights(const Json& meta, NamedTensors& tensors) const {
  if (meta.value("task", "") == "classify") return model_->adapt_image_weights(meta.value("model", std::string("?")), tensors);
  adapt_weights(tensors);
}

std::shared_ptr<data::VideoDataset> VideoTask::open_split(const std::string& path, const std::string& split) const {
  if (split != "train" && split != "val" && split != "test") throw UsageError("invalid --split '" + split + "': expected train, val or test");
  if (own_synthetic(path))
    return data::synth_motion_split(data_.value("synth_size", int64_t{2048}), static_cast<int>(preprocess_.input_size), data_.value("seed", uint64_t{0}), split);
  auto dataset = data::open_video_folder_split(path, split, data_.value("val_fraction", 0.1));
  if (!classes_.empty() && dataset->classes() != classes_)
    throw Error("the classes of " + path + " (" + split + ") differ from the model's " + std::to_string(classes_.size()) + " classes");
  return dataset;
}

data::FramePicker VideoTask::picker(Rng* rng) const {
  const auto clip = clip_;
  return [clip, rng](int64_t n) { return data::clip_frame_indices(n, clip.num_frames, clip.frame_stride, rng); };
}

namespace {

// T frames (3, S, S) each -> the clip (3, T, S, S).
torch::Tensor stack_frames(const std::vector<torch::Tensor>& frames) { return torch::stack(frames, 1); }

}  // namespace

torch::Tensor VideoTask::eval_clip(const std::vector<cv::Mat>& frames) const {
  std::vector<torch::Tensor> out;
  for (const auto& frame : frames) out.push_back(preprocess_.eval(frame));
  return stack_frames(out);
}

torch::Tensor VideoTask::train_clip(const std::vector<cv::Mat>& frames, Rng& rng) const {
  // Every frame gets the same crop, flip and RandAugment ops: each starts from the same RNG state.
  std::vector<torch::Tensor> out;
  const Rng start = rng;
  for (const auto& frame : frames) {
    Rng same = start;
    out.push_back(preprocess_.train(frame, same));
  }
  return stack_frames(out);
}

std::unique_ptr<BatchStream> VideoTask::train_batches(int64_t epoch, int64_t first_batch) {
  auto order = std::make_shared<std::vector<int64_t>>(data::epoch_order(train_set_->size(), seed_, epoch));
  auto dataset = train_set_;
  const int64_t batch_size = std::min<int64_t>(batch_size_, dataset->size());
  const uint64_t seed = seed_;
  auto bad_samples = bad_samples_;
  const DataShard shard = shard_;
  auto make_batch = [this, order, dataset, batch_size, seed, epoch, bad_samples, shard](int64_t b, int64_t micro) {
    const auto [begin, end] = shard.micro_batch(batch_size, micro);
    std::vector<torch::Tensor> clips;
    std::vector<int64_t> labels, ids;
    for (int64_t i = b * batch_size + begin; i < b * batch_size + end; ++i) {
      // Each clip's start and augmentation are seeded by (seed, epoch, index): any worker draws the same.
      auto read = [&](int64_t e) {
        Rng rng(mix_seed(seed, static_cast<uint64_t>(epoch), static_cast<uint64_t>(e)));
        const auto frames = dataset->clip(e, picker(&rng));
        return train_clip(frames, rng);
      };
      const auto [index, clip] = data::next_readable(*order, i, read, [&](int64_t e) { return dataset->describe(e); }, *bad_samples);
      clips.push_back(clip);
      labels.push_back(dataset->label(index));
      ids.push_back(index);
    }
    if (clips.empty()) return Batch{};
    return Batch{{data::stack_samples(clips), torch::tensor(labels, torch::kInt64)}, static_cast<int64_t>(clips.size()), ids};
  };
  return micro_batch_stream(first_batch, make_batch);
}

torch::Tensor VideoTask::loss(const Batch& batch) {
  auto clips = batch.tensors.at(0).to(device_), labels = batch.tensors.at(1).to(device_);
  return zoo::nn::cross_entropy(model_->forward(clips), labels,
                                              torch::nn::functional::CrossEntropyFuncOptions().label_smoothing(label_smoothing_));
}

torch::Tensor VideoTask::logits(const torch::Tensor& clips) {
  if (scripted_) return scripted_->forward({clips.to(device_)}).toTensor();
  return model_->forward(clips.to(device_));
}

Json VideoTask::evaluate(const std::string& split, const std::string& data) {
  auto dataset = (data.empty() && split == "val" && val_set_) ? val_set_ : open_split(data_for(data), split);
  if (model_) model_->eval();
  torch::NoGradGuard no_grad;
  auto bad_samples = bad_samples_;
  return evaluate_classifier(
      dataset->size(), [=](int64_t i) -> std::optional<torch::Tensor> {
        auto frames = data::read_or_skip([&] { return dataset->clip(i, picker(nullptr)); }, [&] { return dataset->describe(i); }, *bad_samples);
        if (!frames) return std::nullopt;  // left out of the metrics
        return eval_clip(*frames);
      },
      [dataset](int64_t i) { return dataset->label(i); }, [this](const torch::Tensor& x) { return logits(x); }, batch_size_, workers_, shard_,
      "no clip of the " + split + " split can be read");
}

Json VideoTask::predict(const std::vector<std::string>& inputs, const Options& options) {
  const int64_t k = std::min<int64_t>(options.get_int("topk"), static_cast<int64_t>(classes_.size()));
  if (k <= 0) throw UsageError("invalid --topk: expected a positive integer");
  if (model_) model_->eval();
  torch::NoGradGuard no_grad;
  Json predictions = Json::array();
  for (size_t start = 0; start < inputs.size(); start += static_cast<size_t>(batch_size_)) {
    const size_t end = std::min(inputs.size(), start + static_cast<size_t>(batch_size_));
    std::vector<torch::Tensor> clips;
    for (size_t i = start; i < end; ++i) clips.push_back(eval_clip(data::read_clip(inputs[i], picker(nullptr))));
    auto probs = torch::softmax(logits(data::stack_samples(clips)).to(torch::kCPU).to(torch::kFloat32), 1);  // (B, C)
    const auto tops = top_classes(probs, classes_, k);
    for (size_t i = start; i < end; ++i) predictions.push_back({{"input", inputs[i]}, {"top", tops[i - start]}});
  }
  return {{"task", name()}, {"model", model_name_}, {"predictions", predictions}};
}

void VideoTask::export_torchscript(const std::string& path) {
  model_->to(torch::kCPU);
  model_->eval();
  auto example = torch::randn({2, 3, clip_.num_frames, preprocess_.input_size, preprocess_.input_size});
  auto scripted = trace_module(*model_, model_name_, [&](const std::vector<torch::Tensor>& in) { return model_->forward(in[0]); }, {example});
  save_torchscript(scripted, path, meta());
  model_->to(device_);
}

void VideoTask::rename_published(NamedTensors& tensors) const {
  if (!tensors.count("model.cls_token")) return;
  NamedTensors inner;
  for (auto& [name, tensor] : tensors) inner[name.rfind("model.", 0) == 0 ? name.substr(6) : name] = tensor;
  tensors = std::move(inner);
}

Json VideoTask::import_meta(const std::string& model, Json options, const NamedTensors& tensors) const {
  for (const char* head : {"fc.weight", "head.weight", "head.1.weight"})  // R(2+1)D, TimeSformer, MViT
    if (tensors.count(head)) options["num_classes"] = tensors.at(head).size(0);
  std::vector<std::string> classes;
  for (int64_t i = 0; i < options.at("num_classes").get<int64_t>(); ++i) classes.push_back(std::to_string(i));
  return {{"task", name()}, {"model", model}, {"model_options", options}, {"classes", classes},
          {"preprocess", data::Preprocess::from_json(options).to_json()},
          {"data", {{"path", ""}, {"seed", 0}, {"synth_size", 0}, {"val_fraction", 0.1}}}};
}

std::vector<std::string> VideoTask::visualize(const std::string& input, const std::string& out_png) {
  return visualize_frames(data::read_clip(input, picker(nullptr)), out_png);
}

std::vector<std::string> VideoTask::visualize_validation_example(const std::string& out_png) {
  if (!val_set_ || val_set_->size() == 0) return {};
  return visualize_frames(val_set_->clip(0, picker(nullptr)), out_png);
}

std::vector<std::string> VideoTask::visualize_frames(const std::vector<cv::Mat>& frames, const std::string& out_png) {
  // The frames as the model sees them (resized and centre-cropped), for the backgrounds too.
  std::vector<cv::Mat> shown;
  std::vector<torch::Tensor> tensors;
  for (const auto& frame : frames) {
    shown.push_back(preprocess_.eval_image(frame));
    tensors.push_back(data::to_tensor(shown.back(), preprocess_.mean, preprocess_.std));
  }
  const auto clip = stack_frames(tensors).unsqueeze(0).to(device_);  // (1, 3, T, S, S)
  const auto look = square_look(model_name_, visualize_layer_, visualize_query_, static_cast<int>(preprocess_.input_size), "frames are");
  model_->eval();
  auto figures = model_->look(clip, look);
  torch::NoGradGuard no_grad;
  const std::string predicted = predicted_suffix(model_->forward(clip), classes_);
  std::vector<viz::Figure> drawn;
  for (auto& f : figures) {
    f.figure.title += predicted;
    for (int64_t t : f.frame_of_map) f.figure.frames.push_back(shown.at(static_cast<size_t>(t)));
    drawn.push_back(std::move(f.figure));
  }
  return viz::write_figures(drawn, {shown[shown.size() / 2], {}}, out_png);
}

std::string VideoTask::write_synthetic(const SynthRequest& r) {
  const auto train = data::synth_motion_split(r.n, static_cast<int>(r.image_size), r.seed, "train");
  const auto val = data::synth_motion_split(r.n, static_cast<int>(r.image_size), r.seed, "val");
  data::write_frame_folders(*train, (fs::path(r.out) / "train").string());
  data::write_frame_folders(*val, (fs::path(r.out) / "val").string());
  return "wrote " + std::to_string(train->size()) + " training and " + std::to_string(val->size()) + " validation clips (motion, " +
         std::to_string(data::SynthMotion::frames_per_clip) + " frames of " + std::to_string(r.image_size) + "x" + std::to_string(r.image_size) +
         ") to " + r.out + "/{train,val}/<class>/<clip>/<frame>.png";
}

}  // namespace zoo
