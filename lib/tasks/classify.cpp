#include "lib/tasks/classify.h"

#include <filesystem>
#include <sstream>

#include "data/loader.h"
#include "lib/core/checkpoint.h"
#include "lib/core/error.h"
#include "lib/core/registry.h"
#include "lib/export/torchscript.h"
#include "lib/nn/cross_entropy.h"
#include "lib/tasks/builtin.h"
#include "lib/viz/figure.h"
#include "models/vision/vit.h"

namespace fs = std::filesystem;

namespace zoo {

void ClassifyTask::setup_training(const Options& config, torch::Device device) {
  setup_common(config, device);
  preprocess_ = data::Preprocess::from_json(model_options_);
  auto number = [&](const char* key, double fallback) { return config.has(key) ? config.get_double(key) : fallback; };
  mix_.mixup_alpha = number("mixup", 0.0), mix_.cutmix_alpha = number("cutmix", 0.0);
  mix_.prob = number("mixup_prob", 1.0), mix_.switch_prob = number("mixup_switch_prob", 0.5);
  mix_.label_smoothing = label_smoothing_;
  channels_last_ = config.has("channels_last") && config.get_bool("channels_last");
  bad_samples_ = data::bad_samples_policy(config.has("bad_samples") ? config.get_string("bad_samples") : "fail");

  train_set_ = open_split(data_path(), "train");
  val_set_ = open_split(data_path(), "val");
  classes_ = train_set_->classes();

  fit_num_classes(static_cast<int64_t>(classes_.size()));
  build_model();
  if (model_options_.contains("teacher") && !model_options_.at("teacher").get<std::string>().empty()) {
    model_options_["teacher"] = fs::absolute(model_options_.at("teacher").get<std::string>()).lexically_normal().string();
    load_teacher(model_options_.at("teacher").get<std::string>());
  }
}

void ClassifyTask::load_teacher(const std::string& path) {
  if (!fs::exists(path)) throw Error("--set teacher=" + path + ": no such checkpoint");
  CheckpointReader reader(path);
  if (reader.meta().value("task", "") != "classify")
    throw Error("--set teacher=" + path + ": not a classifier checkpoint (task " + reader.meta().value("task", "?") + ")");
  teacher_ = std::make_unique<ClassifyTask>();
  teacher_->setup_from_meta(reader.meta(), device_);
  load_state_dict(*teacher_->model_, reader.weights(), path);
  if (teacher_->classes_ != classes_)
    throw Error("--set teacher=" + path + ": its " + std::to_string(teacher_->classes_.size()) +
                     " classes differ from the data's " + std::to_string(classes_.size()));
  teacher_->model_->eval();
  for (auto& p : teacher_->model_->parameters()) p.set_requires_grad(false);
}

torch::Tensor ClassifyTask::teacher_logits(const torch::Tensor& images) {
  torch::NoGradGuard no_grad;
  // The same images as the teacher would have seen them: undo this model's normalisation, apply
  // the teacher's, and resize when it was made for another size: (B, 3, H, W) -> (B, 3, H', W').
  const auto& own = preprocess_;
  const auto& theirs = teacher_->preprocess_;
  auto column = [&](const std::vector<double>& v) { return torch::tensor(v, images.options()).view({1, 3, 1, 1}); };
  auto x = images;
  if (own.mean != theirs.mean || own.std != theirs.std)
    x = (images * column(own.std) + column(own.mean) - column(theirs.mean)) / column(theirs.std);
  if (theirs.input_size != own.input_size)
    x = torch::nn::functional::interpolate(x, torch::nn::functional::InterpolateFuncOptions()
                                                  .size(std::vector<int64_t>{theirs.input_size, theirs.input_size})
                                                  .mode(torch::kBilinear)
                                                  .align_corners(false));
  return teacher_->model_->forward(x);
}

void read_classifier_inference_options(const Options& options, std::shared_ptr<data::BadSamples>& bad_samples, int& visualize_layer,
                                       std::optional<cv::Point>& visualize_query) {
  if (options.has("bad_samples")) bad_samples = data::bad_samples_policy(options.get_string("bad_samples"));
  if (options.has("layer")) visualize_layer = static_cast<int>(options.get_int("layer"));
  if (options.has("query") && !options.get_string("query").empty()) visualize_query = viz::parse_query(options.get_string("query"));
}

void ClassifyTask::set_inference_options(const Options& options) {
  read_classifier_inference_options(options, bad_samples_, visualize_layer_, visualize_query_);
}

void ClassifyTask::read_meta(const Json& meta) {
  classes_ = meta.at("classes").get<std::vector<std::string>>();
  preprocess_ = data::Preprocess::from_json(meta.at("preprocess"));
}

void ClassifyTask::build_model() {
  model_ = build_model_as<models::ImageClassifierImpl>("an image classifier");
  freeze_backbone_ = model_options_.value("freeze_backbone", false);
  model_->set_frozen_backbone(freeze_backbone_);
  if (channels_last_) models::to_channels_last(*model_);
}

void ClassifyTask::use_torchscript(torch::jit::Module module) {
  // Only predicted and evaluated with (zoo bench classify_r50_ts measures it: docs/PERFORMANCE.md).
  scripted_ = optimize_for_inference(module);
}

Json ClassifyTask::meta() const {
  Json meta = common_meta();
  meta["classes"] = classes_;
  meta["preprocess"] = preprocess_.to_json();
  return meta;
}

std::vector<std::string> ClassifyTask::head_prefixes() const { return model_->head_prefixes(); }

std::shared_ptr<data::ImageDataset> open_image_split(const std::string& path, const std::string& split, bool synthetic, const Json& data,
                                                     int64_t input_size, const std::vector<std::string>& classes) {
  if (split != "train" && split != "val" && split != "test")
    throw UsageError("invalid --split '" + split + "': expected train, val or test");
  if (synthetic)
    return data::synth_shapes_split(data.value("synth_size", int64_t{2048}), static_cast<int>(input_size), data.value("seed", uint64_t{0}), split);
  auto dataset = data::open_image_folder_split(path, split, data.value("val_fraction", 0.1));
  if (!classes.empty() && dataset->classes() != classes)
    throw Error("the classes of " + path + " (" + split + ") differ from the model's " + std::to_string(classes.size()) + " classes");
  return dataset;
}

std::shared_ptr<data::ImageDataset> ClassifyTask::open_split(const std::string& path, const std::string& split) const {
  return open_image_split(path, split, own_synthetic(path), data_, preprocess_.input_size, classes_);
}

int64_t ClassifyTask::batches_per_epoch() const {
  // Drop the last partial batch in training (BatchNorm needs more than one example), unless
  // the whole set is smaller than one batch.
  return std::max<int64_t>(1, train_set_->size() / batch_size_);
}

std::unique_ptr<BatchStream> ClassifyTask::train_batches(int64_t epoch, int64_t first_batch) {
  auto order = std::make_shared<std::vector<int64_t>>(data::epoch_order(train_set_->size(), seed_, epoch));
  auto dataset = train_set_;
  const int64_t batch_size = std::min<int64_t>(batch_size_, dataset->size());
  const auto preprocess = preprocess_;
  const uint64_t seed = seed_;
  auto bad_samples = bad_samples_;
  const auto mix = mix_;
  const auto classes = static_cast<int64_t>(classes_.size());
  const DataShard shard = shard_;
  auto make_batch = [order, dataset, batch_size, preprocess, seed, epoch, bad_samples, mix, classes, shard](int64_t b, int64_t micro) {
    // This rank's micro-batch `micro` of global batch b: positions [begin, end) of it.
    const auto [begin, end] = shard.micro_batch(batch_size, micro);
    std::vector<torch::Tensor> images;
    std::vector<int64_t> labels, ids;
    for (int64_t i = b * batch_size + begin; i < b * batch_size + end; ++i) {
      const auto [index, image] = data::next_readable(
          *order, i, [&](int64_t e) { return dataset->image(e); }, [&](int64_t e) { return dataset->describe(e); }, *bad_samples);
      // Each sample's augmentation is seeded by (seed, epoch, index): any worker draws the same.
      Rng rng(mix_seed(seed, static_cast<uint64_t>(epoch), static_cast<uint64_t>(index)));
      images.push_back(preprocess.train(image, rng));
      labels.push_back(dataset->label(index));
      ids.push_back(index);
    }
    if (images.empty()) return Batch{};
    const auto size = static_cast<int64_t>(images.size());
    auto stacked = data::stack_samples(images);
    auto label_tensor = torch::tensor(labels, torch::kInt64);
    if (!mix.enabled()) return Batch{{stacked, label_tensor}, size, ids};
    // Mixup/CutMix: the batch's draw is seeded by (seed, epoch, batch), whichever worker makes it;
    // a micro-batch mixes within itself, with its own draw (as each rank does under DDP).
    const int64_t part = shard.rank * shard.accum_steps + micro;
    uint64_t mix_key = mix_seed(seed, static_cast<uint64_t>(epoch), 0x6d6978ULL + static_cast<uint64_t>(b));
    if (part > 0) mix_key = mix_seed(mix_key, static_cast<uint64_t>(part));
    Rng rng(mix_key);
    auto mixed = data::mix_batch(stacked, label_tensor, classes, mix, rng);
    return Batch{{mixed.images, label_tensor, mixed.targets}, size, ids};
  };
  return micro_batch_stream(first_batch, make_batch);
}

void ClassifyTask::adapt_init_weights(const Json& meta, NamedTensors& tensors) const {
  if (meta.contains("backbone_prefix") && meta.at("backbone_prefix").is_string()) {
    const std::string prefix = meta.at("backbone_prefix").get<std::string>();
    const std::string from = meta.value("model", std::string("?"));
    if (from != model_name_)
      throw UsageError("--init: the checkpoint's backbone is " + from + ", not " + model_name_ + " (give --model " + from + ")");
    NamedTensors backbone;
    for (const auto& [name, tensor] : tensors)
      if (name.rfind(prefix, 0) == 0) backbone[name.substr(prefix.size())] = tensor;
    if (backbone.empty()) throw Error("--init: the checkpoint holds no tensor under " + prefix);
    // The head is this model's own, new one.
    for (const auto& [name, tensor] : state_dict(*model_))
      if (!backbone.count(name)) backbone[name] = tensor.detach().clone();
    tensors = std::move(backbone);
  }
  adapt_weights(tensors);
}

std::vector<ParameterGroup> ClassifyTask::parameter_groups() const {
  if (!freeze_backbone_) return TaskBase::parameter_groups();
  ParameterGroup head{"head", {}};
  const auto prefixes = model_->head_prefixes();
  for (auto& item : model_->named_parameters()) {
    const bool in_head = std::any_of(prefixes.begin(), prefixes.end(), [&](const std::string& p) { return item.key().rfind(p, 0) == 0; });
    if (in_head) head.parameters.push_back(item.value());
    else item.value().set_requires_grad(false);
  }
  return {head};
}

torch::Tensor ClassifyTask::loss(const Batch& batch) {
  auto images = batch.tensors.at(0).to(device_), labels = batch.tensors.at(1).to(device_);
  if (channels_last_) images = images.contiguous(at::MemoryFormat::ChannelsLast);
  auto outputs = model_->forward_train(images);
  torch::Tensor from_teacher;
  if (teacher_) from_teacher = teacher_logits(images);
  // Mixed batches carry soft targets with the smoothing already in them.
  if (batch.tensors.size() > 2) return classification_loss(outputs, batch.tensors[2].to(device_), from_teacher, 0.0);
  return classification_loss(outputs, labels, from_teacher, label_smoothing_);
}

torch::Tensor classification_loss(const std::vector<models::TrainOutput>& outputs, const torch::Tensor& targets,
                                  const torch::Tensor& teacher_logits, double label_smoothing) {
  namespace F = torch::nn::functional;
  torch::Tensor total;
  for (const auto& output : outputs) {
    // L_distill = CE(head_dist, argmax_c teacher(x)_c)
    auto term = output.distillation && teacher_logits.defined()
                    ? zoo::nn::cross_entropy(output.logits, teacher_logits.argmax(1))
                    : zoo::nn::cross_entropy(output.logits, targets, F::CrossEntropyFuncOptions().label_smoothing(label_smoothing));
    term = output.weight * term;
    total = total.defined() ? total + term : term;
  }
  return total;
}

torch::Tensor ClassifyTask::logits(const torch::Tensor& images) {
  if (scripted_) return scripted_->forward({images.to(device_)}).toTensor();
  auto input = images.to(device_);
  if (channels_last_) input = input.contiguous(at::MemoryFormat::ChannelsLast);
  return model_->forward(input);
}

Json ClassifyTask::evaluate(const std::string& split, const std::string& data) {
  auto dataset = (data.empty() && split == "val" && val_set_) ? val_set_
                 : open_split(data_for(data), split);
  if (model_) model_->eval();
  torch::NoGradGuard no_grad;
  const auto preprocess = preprocess_;
  auto bad_samples = bad_samples_;
  return evaluate_classifier(
      dataset->size(), [=](int64_t i) -> std::optional<torch::Tensor> {
        auto image = data::image_or_skip(*dataset, i, *bad_samples);
        if (!image) return std::nullopt;  // left out of the metrics
        return preprocess.eval(*image);
      },
      [dataset](int64_t i) { return dataset->label(i); }, [this](const torch::Tensor& x) { return logits(x); }, batch_size_, workers_, shard_,
      "no image of the " + split + " split can be read");
}

Json evaluate_classifier(int64_t size, const std::function<std::optional<torch::Tensor>(int64_t)>& read, const std::function<int64_t(int64_t)>& label,
                         const std::function<torch::Tensor(const torch::Tensor&)>& logits, int64_t batch_size, int workers, const DataShard& shard,
                         const std::string& none_read) {
  // This rank's part of the split (all of it in one process).
  const auto [first, end] = shard.eval_part(size);
  const int64_t n = end - first, batches = (n + batch_size - 1) / batch_size;
  auto make_batch = [&, n, first = first](int64_t b) {
    std::vector<torch::Tensor> inputs;
    std::vector<int64_t> labels;
    for (int64_t i = first + b * batch_size; i < first + std::min(n, (b + 1) * batch_size); ++i) {
      auto input = read(i);
      if (!input) continue;
      inputs.push_back(*input);
      labels.push_back(label(i));
    }
    if (inputs.empty()) return Batch{};
    return Batch{{data::stack_samples(inputs), torch::tensor(labels, torch::kInt64)}, static_cast<int64_t>(labels.size())};
  };
  data::PrefetchLoader loader(0, batches, make_batch, workers);
  ClassificationTally tally;
  while (auto batch = loader.next()) {
    if (batch->size == 0) continue;
    tally.add(logits(batch->tensors[0]), batch->tensors[1]);
  }
  return tally.result(shard, none_read);
}

void ClassificationTally::add(const torch::Tensor& logits, const torch::Tensor& labels) {
  auto out = logits.to(torch::kCPU).to(torch::kFloat32);  // (B, C)
  const int64_t k = std::min<int64_t>(5, out.size(1));
  examples += out.size(0);
  loss_sum += zoo::nn::cross_entropy(out, labels, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum)).item<double>();
  auto best = std::get<1>(out.topk(k, 1));  // (B, k)
  auto hit = best.eq(labels.unsqueeze(1));  // (B, k)
  top1 += hit.select(1, 0).sum().item<int64_t>();
  topk += hit.any(1).sum().item<int64_t>();
}

Json ClassificationTally::result(const DataShard& shard, const std::string& what) const {
  // Counts add over ranks; the metrics are computed from the sums, as in one process.
  const auto sums = sum_over_ranks(shard.group, {loss_sum, static_cast<double>(top1), static_cast<double>(topk), static_cast<double>(examples)});
  const double n = sums[3];
  if (std::llround(n) == 0) throw Error(what);
  return {{"examples", std::llround(n)},
          {"metrics", {{"loss", sums[0] / n}, {"top1", 100.0 * std::llround(sums[1]) / n}, {"top5", 100.0 * std::llround(sums[2]) / n}}}};
}

std::vector<Json> top_classes(const torch::Tensor& probs, const std::vector<std::string>& classes, int64_t k) {
  auto [p, idx] = probs.topk(k, 1);
  std::vector<Json> rows;
  for (int64_t i = 0; i < probs.size(0); ++i) {
    Json top = Json::array();
    for (int64_t j = 0; j < k; ++j) {
      const int64_t c = idx[i][j].item<int64_t>();
      top.push_back({{"class", classes.at(static_cast<size_t>(c))}, {"index", c}, {"prob", p[i][j].item<double>()}});
    }
    rows.push_back(top);
  }
  return rows;
}

Json ClassifyTask::predict(const std::vector<std::string>& inputs, const Options& options) {
  const int64_t k = std::min<int64_t>(options.get_int("topk"), static_cast<int64_t>(classes_.size()));
  if (k <= 0) throw UsageError("invalid --topk: expected a positive integer");
  if (model_) model_->eval();
  torch::NoGradGuard no_grad;
  Json predictions = Json::array();
  for (size_t start = 0; start < inputs.size(); start += static_cast<size_t>(batch_size_)) {
    const size_t end = std::min(inputs.size(), start + static_cast<size_t>(batch_size_));
    std::vector<torch::Tensor> images;
    for (size_t i = start; i < end; ++i) images.push_back(preprocess_.eval(data::read_image(inputs[i])));
    auto probs = torch::softmax(logits(data::stack_samples(images)).to(torch::kCPU).to(torch::kFloat32), 1);  // (B, C)
    const auto tops = top_classes(probs, classes_, k);
    for (size_t i = start; i < end; ++i) predictions.push_back({{"input", inputs[i]}, {"top", tops[i - start]}});
  }
  return {{"task", name()}, {"model", model_name_}, {"predictions", predictions}};
}

void ClassifyTask::export_torchscript(const std::string& path) {
  model_->to(torch::kCPU);
  auto example = torch::randn({2, 3, preprocess_.input_size, preprocess_.input_size});
  auto scripted = trace_module(*model_, model_name_, [&](const std::vector<torch::Tensor>& in) { return model_->forward(in[0]); }, {example});
  save_torchscript(scripted, path, meta());
  model_->to(device_);
}

std::vector<std::string> ClassifyTask::visualize_validation_example(const std::string& out_png) {
  return visualize_first_image(val_set_, out_png);
}

std::vector<std::string> ClassifyTask::visualize(const std::string& input, const std::string& out_png) {
  // The image as the model sees it (resized and centre-cropped), for the background too.
  const cv::Mat shown = preprocess_.eval_image(data::read_image(input));
  const auto x = data::to_tensor(shown, preprocess_.mean, preprocess_.std).unsqueeze(0).to(device_);  // (1, 3, S, S)
  const auto look = square_look(model_name_, visualize_layer_, visualize_query_, static_cast<int>(preprocess_.input_size), "input is");
  model_->eval();
  auto figures = model_->look(x, look);
  torch::NoGradGuard no_grad;
  const std::string predicted = predicted_suffix(model_->forward(x), classes_);
  for (auto& figure : figures) figure.title += predicted;
  return viz::write_figures(figures, {shown, {}}, out_png);
}

viz::LookOptions square_look(const std::string& model, int layer, const std::optional<cv::Point>& query, int side, const std::string& what) {
  viz::LookOptions look{model, layer, query.value_or(cv::Point(side / 2, side / 2))};
  if (look.query->x >= side || look.query->y >= side)
    throw UsageError("invalid --query " + std::to_string(look.query->x) + "," + std::to_string(look.query->y) + ": the model's " + what + " " +
                     std::to_string(side) + "x" + std::to_string(side) + " pixels");
  return look;
}

std::string predicted_suffix(const torch::Tensor& logits, const std::vector<std::string>& classes) {
  auto probs = torch::softmax(logits.detach().to(torch::kCPU, torch::kFloat32), 1)[0];
  const int64_t best = probs.argmax().item<int64_t>();
  char percent[32];
  std::snprintf(percent, sizeof(percent), "%.1f%%", 100.0 * probs[best].item<double>());
  return "; predicted " + classes.at(static_cast<size_t>(best)) + " (" + percent + ")";
}

std::string ClassifyTask::write_synthetic(const SynthRequest& r) {
  const auto train = data::synth_shapes_split(r.n, static_cast<int>(r.image_size), r.seed, "train");
  const auto val = data::synth_shapes_split(r.n, static_cast<int>(r.image_size), r.seed, "val");
  data::write_image_folder(*train, (fs::path(r.out) / "train").string());
  data::write_image_folder(*val, (fs::path(r.out) / "val").string());
  return "wrote " + std::to_string(train->size()) + " training and " + std::to_string(val->size()) + " validation images (shapes, " +
         std::to_string(r.image_size) + "x" + std::to_string(r.image_size) + ") to " + r.out + "/{train,val}/<class>/";
}

void ClassifyTask::rename_published(NamedTensors& tensors) const { models::rename_timm_vit(tensors); }

Json ClassifyTask::import_meta(const std::string& model, Json options, const NamedTensors& tensors) const {
  for (const char* head : {"fc.weight", "classifier.6.weight", "heads.head.weight", "head.weight"})
    if (tensors.count(head)) options["num_classes"] = tensors.at(head).size(0);
  if (options.contains("aux_logits") && tensors.count("aux1.fc2.weight")) options["aux_logits"] = true;
  std::vector<std::string> classes;
  for (int64_t i = 0; i < options.at("num_classes").get<int64_t>(); ++i) classes.push_back(std::to_string(i));
  return {{"task", name()}, {"model", model}, {"model_options", options}, {"classes", classes},
          {"preprocess", data::Preprocess::from_json(options).to_json()},
          {"data", {{"path", ""}, {"seed", 0}, {"synth_size", 0}, {"val_fraction", 0.1}}}};
}

}  // namespace zoo
