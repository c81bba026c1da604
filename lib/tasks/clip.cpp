#include "lib/tasks/clip.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "data/loader.h"
#include "lib/core/error.h"
#include "lib/core/registry.h"
#include "lib/export/torchscript.h"
#include "lib/tasks/builtin.h"
#include "lib/text/tokenizer.h"
#include "lib/viz/figure.h"
#include "lib/viz/heatmap.h"
#include "models/vision/vit.h"

namespace fs = std::filesystem;

namespace zoo {

namespace {

// CLIP's prompts for CIFAR-10 (openai/CLIP, data/prompts.md).
const std::vector<std::string>& cifar10_templates() {
  static const std::vector<std::string> templates{
      "a photo of a {}.",           "a blurry photo of a {}.",      "a black and white photo of a {}.", "a low contrast photo of a {}.",
      "a high contrast photo of a {}.", "a bad photo of a {}.",     "a good photo of a {}.",            "a photo of a small {}.",
      "a photo of a big {}.",       "a photo of the {}.",           "a blurry photo of the {}.",        "a black and white photo of the {}.",
      "a low contrast photo of the {}.", "a high contrast photo of the {}.", "a bad photo of the {}.",  "a good photo of the {}.",
      "a photo of the small {}.",   "a photo of the big {}."};
  return templates;
}

std::string fill(const std::string& templ, const std::string& name) {
  const size_t at = templ.find("{}");
  return at == std::string::npos ? templ : templ.substr(0, at) + name + templ.substr(at + 2);
}

}  // namespace

std::vector<int64_t> retrieval_ranks(const torch::Tensor& scores, const std::vector<std::vector<int64_t>>& truth) {
  std::vector<int64_t> ranks;
  const auto cpu = scores.to(torch::kCPU, torch::kFloat32).contiguous();
  const float* s = cpu.data_ptr<float>();
  const int64_t n = cpu.size(1);
  for (size_t q = 0; q < truth.size(); ++q) {
    const float* row = s + static_cast<int64_t>(q) * n;
    float best = -INFINITY;
    for (int64_t t : truth[q]) best = std::max(best, row[t]);
    ranks.push_back(std::count_if(row, row + n, [&](float v) { return v > best; }));
  }
  return ranks;
}

double recall_at(const std::vector<int64_t>& ranks, int64_t k) {
  const auto hits = std::count_if(ranks.begin(), ranks.end(), [&](int64_t r) { return r < k; });
  return 100.0 * static_cast<double>(hits) / static_cast<double>(std::max<size_t>(ranks.size(), 1));
}

namespace {

// Image file extensions a TSV or caption set may name, to tell visualize's image from a data set.
bool is_single_image(const std::string& input) { return fs::is_regular_file(input) && data::is_image_file(input); }

// synth:scenes as a zero-shot set: the scenes of a split holding a single shape, labelled by its
// colour and kind, 36 classes named as the captions name them ("red circle", "blue star", ...).
class SingleShapeScenes : public data::ImageDataset {
 public:
  explicit SingleShapeScenes(data::CaptionSet scenes) : scenes_(std::move(scenes)) {
    const auto& shapes = data::SynthShapes::shape_names();
    const auto& colours = data::scene_colour_names();
    for (const auto& colour : colours)
      for (const auto& shape : shapes) classes_.push_back(colour + " " + shape);
    for (int64_t i = 0; i < scenes_.size(); ++i) {
      const auto& entry = scenes_.images[static_cast<size_t>(i)];
      if (entry.objects.size() != 1 || entry.captions.empty()) continue;
      // The colour is the caption's word before the shape's ("a red circle").
      const auto words = text::WordTokenizer().tokenize(entry.captions.front());
      const auto shape = std::find(shapes.begin(), shapes.end(), entry.objects[0].name) - shapes.begin();
      for (size_t w = 0; w < words.size(); ++w) {
        const auto colour = std::find(colours.begin(), colours.end(), words[w]) - colours.begin();
        if (colour == static_cast<int64_t>(colours.size()) || w + 1 >= words.size() || words[w + 1] != entry.objects[0].name) continue;
        indices_.push_back(i);
        labels_.push_back(colour * static_cast<int64_t>(shapes.size()) + shape);
        break;
      }
    }
  }
  int64_t size() const override { return static_cast<int64_t>(indices_.size()); }
  int64_t label(int64_t i) const override { return labels_.at(static_cast<size_t>(i)); }
  cv::Mat image(int64_t i) const override { return scenes_.image(indices_.at(static_cast<size_t>(i))); }
  const std::vector<std::string>& classes() const override { return classes_; }
  std::string describe(int64_t i) const override { return scenes_.describe(indices_.at(static_cast<size_t>(i))); }

 private:
  data::CaptionSet scenes_;
  std::vector<std::string> classes_;
  std::vector<int64_t> indices_, labels_;
};

}  // namespace

std::vector<int64_t> ClipTokens::ids(const std::string& caption) const {
  if (bpe_) return bpe_->encode(caption);
  // Words: the lower-cased words of the training captions.
  return words_.encode(text::WordTokenizer(/*lowercase=*/true).tokenize(caption));
}

std::vector<int64_t> ClipTokens::sequence(const std::string& caption, int64_t context, int64_t* cut) const {
  std::vector<int64_t> ids{start_token()};
  for (int64_t id : this->ids(caption)) ids.push_back(id);
  ids.push_back(end_token());
  if (static_cast<int64_t>(ids.size()) > context) {
    ids.resize(static_cast<size_t>(context));
    ids.back() = end_token();
    if (cut) ++*cut;
  }
  return ids;
}

torch::Tensor ClipTokens::pack(const std::vector<const std::vector<int64_t>*>& sequences, int64_t context) {
  auto out = torch::zeros({static_cast<int64_t>(sequences.size()), context}, torch::kInt64);
  auto* row = out.data_ptr<int64_t>();
  for (const auto* ids : sequences) {
    std::copy(ids->begin(), ids->end(), row);
    row += context;
  }
  return out;
}

torch::Tensor ClipTokens::rows(const std::vector<std::string>& captions, int64_t context, int64_t* cut) const {
  std::vector<std::vector<int64_t>> sequences;
  for (const auto& caption : captions) sequences.push_back(sequence(caption, context, cut));
  std::vector<const std::vector<int64_t>*> pointers;
  for (const auto& ids : sequences) pointers.push_back(&ids);
  return pack(pointers, context);
}

Json ClipTokens::to_json() const {
  if (bpe_) return bpe_->to_json();
  return {{"kind", "word"}, {"vocabulary", words_.to_json()}};
}

ClipTokens ClipTokens::from_json(const Json& j) {
  if (!j.is_object() || !j.contains("kind")) throw Error("the checkpoint's tokenizer has no \"kind\"");
  if (j.at("kind") == "clip_bpe") return ClipTokens(text::ClipBpe::from_json(j));
  if (j.at("kind") == "word") return ClipTokens(text::Vocab::from_json(j.at("vocabulary")));
  throw Error("unknown CLIP tokenizer kind " + j.at("kind").dump());
}

std::vector<std::string> clip_templates(const std::string& name_or_file) {
  if (name_or_file == "cifar10") return cifar10_templates();
  // synth:scenes' caption grammar ("a red circle", "a picture of a red circle and ...").
  if (name_or_file == "scenes") return {"a {}", "a picture of a {}"};
  if (!fs::is_regular_file(name_or_file))
    throw UsageError("--templates " + name_or_file + ": no such file (or a built-in list: cifar10, scenes)");
  std::ifstream in(name_or_file);
  std::vector<std::string> templates;
  std::string line;
  int64_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    if (line.find("{}") == std::string::npos)
      throw UsageError(name_or_file + ":" + std::to_string(number) + ": a template needs {} where the class name goes: " + line.substr(0, 60));
    templates.push_back(line);
  }
  if (templates.empty()) throw UsageError("--templates " + name_or_file + " holds no template");
  return templates;
}

ClipTask::ClipTask() : TaskBase("clip") {}

void ClipTask::check_options(const Options& config) const {
  TaskBase::check_options(config);
  const Json options = registry().model_options(config, name());
  auto c = models::ClipConfig::options().read(options, {});
  c.image_size = options.at("input_size").get<int64_t>();
  models::ClipConfig::options().check(c);  // the patch size against the input size
}

void ClipTask::setup_training(const Options& config, torch::Device device) {
  setup_common(config, device);
  set_inference_options(config);
  preprocess_ = data::Preprocess::options().read(model_options_, {});
  const auto text_config = models::ClipTextConfig::options().read(model_options_, {});
  const auto cache = models::ClipGradCacheConfig::options().read(model_options_, {});
  grad_cache_chunk_ = cache.grad_cache ? cache.grad_cache_chunk : 0;
  if (grad_cache_chunk_ > 0 && shard_.distributed())
    throw UsageError("grad_cache=true runs in one process: under torchrun each rank's loss is over its own part of the batch");
  train_set_ = open_split(data_path(), "train");
  val_set_ = open_split(data_path(), "val");

  // The tokenizer: CLIP's BPE from its merges file, or the training captions' words.
  if (text_config.tokenizer == "clip") {
    tokens_ = ClipTokens(text::ClipBpe::from_file(text::find_clip_merges_file(text_config.bpe)));
  } else {
    std::vector<std::vector<std::string>> words;
    const text::WordTokenizer tokenizer(/*lowercase=*/true);
    for (const auto& image : train_set_->images)
      for (const auto& caption : image.captions) words.push_back(tokenizer.tokenize(caption));
    tokens_ = ClipTokens(text::Vocab::build(words, text_config.min_count));
  }
  model_options_["vocab_size"] = tokens_.vocab_size();
  model_options_["eot_token"] = tokens_.end_token();
  context_ = model_options_.at("context_length").get<int64_t>();

  int64_t captions = 0, cut = 0;
  for (size_t i = 0; i < train_set_->images.size(); ++i) {
    const auto& image = train_set_->images[i];
    if (image.captions.empty()) continue;
    // Each caption tokenized once, here: the batches pack these rows.
    train_images_.push_back(static_cast<int64_t>(i));
    auto& sequences = train_tokens_.emplace_back();
    for (const auto& caption : image.captions) sequences.push_back(tokens_.sequence(caption, context_, &cut));
    captions += static_cast<int64_t>(image.captions.size());
  }
  if (train_images_.size() < 2) throw Error("clip needs at least two captioned training images in " + train_set_->source);
  std::fprintf(stderr, "clip: %zu training images with %lld captions (%lld cut to %lld tokens), %lld validation images; %s tokenizer, "
               "vocabulary %lld\n",
               train_images_.size(), (long long)captions, (long long)cut, (long long)context_, (long long)val_set_->size(),
               text_config.tokenizer.c_str(), (long long)tokens_.vocab_size());
  build_model();
}

void ClipTask::set_inference_options(const Options& o) {
  if (o.has("bad_samples")) bad_samples_ = data::bad_samples_policy(o.get_string("bad_samples"));
  if (o.has("zero_shot")) zero_shot_ = o.get_bool("zero_shot");
  if (o.has("templates") && !o.get_string("templates").empty()) {
    templates_ = o.get_string("templates");
    clip_templates(templates_);  // names a missing file or a bad line now
  }
  labels_.clear();
  if (o.has("labels")) {
    std::string all = o.get_string("labels"), label;
    for (size_t start = 0; start <= all.size();) {
      size_t comma = all.find(',', start);
      if (comma == std::string::npos) comma = all.size();
      label = all.substr(start, comma - start);
      label.erase(0, label.find_first_not_of(' '));
      label.erase(label.find_last_not_of(' ') + 1);
      if (!label.empty()) labels_.push_back(label);
      start = comma + 1;
    }
  }
}

void ClipTask::read_meta(const Json& meta) {
  tokens_ = ClipTokens::from_json(meta.at("tokenizer"));
  preprocess_ = data::Preprocess::options().read(model_options_, {});
  context_ = model_options_.at("context_length").get<int64_t>();
}

void ClipTask::build_model() { model_ = build_model_as<models::ClipImpl>("a CLIP model"); }

Json ClipTask::meta() const {
  Json meta = common_meta();
  meta["tokenizer"] = tokens_.to_json();
  return meta;
}

std::vector<ParameterGroup> ClipTask::parameter_groups() const {
  ParameterGroup decay{"weights", {}}, no_decay{"gains, biases, embeddings of positions, temperature", {}};
  no_decay.weight_decay = 0;
  for (const auto& item : model_->named_parameters()) {
    if (!item.value().requires_grad()) continue;
    (models::clip_weight_decayed(item.key(), item.value()) ? decay : no_decay).parameters.push_back(item.value());
  }
  return {decay, no_decay};
}

data::CaptionSet ClipTask::open_split(const std::string& path, const std::string& split) const {
  if (own_synthetic(path)) {
    if (split != "train" && split != "val" && split != "test") throw UsageError("invalid --split '" + split + "': expected train, val or test");
    return data::synth_scenes_split(data_.value("synth_size", int64_t{2048}), static_cast<int>(preprocess_.input_size),
                                    data_.value("seed", uint64_t{0}), split);
  }
  return data::load_caption_split(path, split, data_.value("val_fraction", 0.1));
}

int64_t ClipTask::batches_per_epoch() const {
  // The last partial batch is dropped (a contrastive batch of one has nothing to contrast).
  return std::max<int64_t>(1, static_cast<int64_t>(train_images_.size()) / batch_size_);
}

std::unique_ptr<BatchStream> ClipTask::train_batches(int64_t epoch, int64_t first_batch) {
  // Each image once per epoch with one of its captions, drawn by (seed, epoch, image).
  const auto n = static_cast<int64_t>(train_images_.size());
  auto order = std::make_shared<std::vector<int64_t>>(data::epoch_order(n, seed_, epoch));
  const int64_t batch_size = std::min<int64_t>(batch_size_, n);
  auto make_batch = [this, order, batch_size, epoch](int64_t b, int64_t micro) {
    const auto [begin, end] = shard_.micro_batch(batch_size, micro);
    if (begin == end) return Batch{};
    std::vector<torch::Tensor> images;
    std::vector<const std::vector<int64_t>*> captions;
    std::vector<int64_t> ids;
    for (int64_t i = b * batch_size + begin; i < b * batch_size + end; ++i) {
      auto example = data::captioned_example(
          *train_set_, train_images_, [&](int64_t slot) { return train_tokens_[static_cast<size_t>(slot)].size(); }, *order, i, seed_,
          epoch, *bad_samples_);
      captions.push_back(&train_tokens_[example.slot][example.caption]);
      images.push_back(preprocess_.train(example.image, example.rng));
      ids.push_back(example.index);
    }
    return Batch{{data::stack_samples(images), ClipTokens::pack(captions, context_)}, end - begin, ids};
  };
  return micro_batch_stream(first_batch, make_batch);
}

torch::Tensor ClipTask::loss(const Batch& batch) {
  const auto out = model_->forward(batch.tensors.at(0).to(device_), batch.tensors.at(1).to(device_));
  return models::clip_contrastive_loss(out.image_embeddings, out.text_embeddings, out.logit_scale);
}

std::optional<torch::Tensor> ClipTask::loss_with_backward(const Batch& batch, double gradient_scale) {
  if (grad_cache_chunk_ <= 0) return std::nullopt;
  return models::clip_grad_cache_backward(*model_, batch.tensors.at(0).to(device_), batch.tensors.at(1).to(device_), grad_cache_chunk_,
                                          gradient_scale);
}

torch::Tensor ClipTask::encode_images(const torch::Tensor& images) {
  if (scripted_) return scripted_->get_method("encode_image")({images.to(device_)}).toTensor();
  return model_->encode_image(images.to(device_));
}

torch::Tensor ClipTask::encode_texts(const torch::Tensor& tokens) {
  if (scripted_) return scripted_->get_method("encode_text")({tokens.to(device_)}).toTensor();
  return model_->encode_text(tokens.to(device_));
}

torch::Tensor ClipTask::image_embeddings(const std::vector<cv::Mat>& images) {
  if (model_) model_->eval();
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> parts;
  for (size_t start = 0; start < images.size(); start += static_cast<size_t>(batch_size_)) {
    std::vector<torch::Tensor> batch;
    for (size_t i = start; i < std::min(images.size(), start + static_cast<size_t>(batch_size_)); ++i) batch.push_back(image_tensor(images[i]));
    parts.push_back(encode_images(data::stack_samples(batch)).to(torch::kCPU, torch::kFloat32));
  }
  if (parts.empty()) return torch::zeros({0, 0});
  return torch::nn::functional::normalize(torch::cat(parts), torch::nn::functional::NormalizeFuncOptions().dim(-1));
}

torch::Tensor ClipTask::text_embeddings(const std::vector<std::string>& texts) {
  if (model_) model_->eval();
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> parts;
  for (size_t start = 0; start < texts.size(); start += static_cast<size_t>(batch_size_)) {
    const std::vector<std::string> batch(texts.begin() + static_cast<int64_t>(start),
                                         texts.begin() + static_cast<int64_t>(std::min(texts.size(), start + static_cast<size_t>(batch_size_))));
    parts.push_back(encode_texts(tokens_.rows(batch, context_)).to(torch::kCPU, torch::kFloat32));
  }
  if (parts.empty()) return torch::zeros({0, 0});
  return torch::nn::functional::normalize(torch::cat(parts), torch::nn::functional::NormalizeFuncOptions().dim(-1));
}

torch::Tensor ClipTask::class_embeddings(const std::vector<std::string>& classes, const std::vector<std::string>& templates) {
  std::vector<torch::Tensor> rows;
  for (const auto& name : classes) {
    std::vector<std::string> prompts;
    for (const auto& templ : templates) prompts.push_back(fill(templ, name));
    // Each prompt embedded, normalised, averaged, normalised again.
    rows.push_back(models::clip_prompt_ensemble(text_embeddings(prompts)));
  }
  return torch::stack(rows);
}

Json ClipTask::evaluate(const std::string& split, const std::string& data) {
  if (zero_shot_) return evaluate_zero_shot(split, data);
  const data::CaptionSet set = (data.empty() && split == "val" && val_set_) ? *val_set_ : open_split(data_for(data), split);
  // Every image and every caption embedded (every rank computes all of them: retrieval ranks
  // each query against the whole split).
  std::vector<cv::Mat> images;
  std::vector<std::string> captions;
  std::vector<std::vector<int64_t>> captions_of;  // image -> its captions' positions
  std::vector<std::vector<int64_t>> image_of;     // caption -> its image, as a one-element list
  for (int64_t i = 0; i < set.size(); ++i) {
    const auto& entry = set.images[static_cast<size_t>(i)];
    if (entry.captions.empty()) continue;
    auto image = data::read_or_skip([&] { return set.image(i); }, [&] { return set.describe(i); }, *bad_samples_);
    if (!image) continue;
    const auto row = static_cast<int64_t>(images.size());
    images.push_back(*image);
    captions_of.emplace_back();
    for (const auto& caption : entry.captions) {
      captions_of.back().push_back(static_cast<int64_t>(captions.size()));
      captions.push_back(caption);
      image_of.push_back({row});
    }
  }
  if (images.size() < 2) throw Error("retrieval needs at least two readable captioned images in the " + split + " split of " + set.source);
  const auto image_vectors = image_embeddings(images), text_vectors = text_embeddings(captions);
  const auto similarity = torch::matmul(image_vectors, text_vectors.t());  // (I, C)
  const auto image_ranks = retrieval_ranks(similarity, captions_of), text_ranks = retrieval_ranks(similarity.t(), image_of);
  Json metrics;
  double sum = 0;
  for (int64_t k : {1, 5, 10}) {
    const double i2t = recall_at(image_ranks, k), t2i = recall_at(text_ranks, k);
    metrics["image_to_text_r" + std::to_string(k)] = i2t;
    metrics["text_to_image_r" + std::to_string(k)] = t2i;
    sum += i2t + t2i;
  }
  metrics["mean_recall"] = sum / 6;
  return {{"examples", static_cast<int64_t>(images.size())}, {"captions", static_cast<int64_t>(captions.size())}, {"metrics", metrics}};
}

Json ClipTask::evaluate_zero_shot(const std::string& split, const std::string& data) {
  const std::string source = data.empty() && synthetic_data() ? data_path() : data;
  if (source.empty()) throw UsageError("--zero-shot classifies an image folder: give it with --data DIR (or synth:scenes, synth:shapes)");
  std::shared_ptr<data::ImageDataset> folder;
  if (source == "synth:shapes") {
    folder = data::synth_shapes_split(data_.value("synth_size", int64_t{2048}), static_cast<int>(preprocess_.input_size), 0, split);
  } else if (source == "synth:scenes") {
    folder = std::make_shared<SingleShapeScenes>(open_split(source, split));
  } else {
    if (is_synthetic(source)) throw UsageError("--zero-shot reads an image folder, synth:scenes or synth:shapes, not " + source);
    folder = data::open_image_folder_split(fs::absolute(source).string(), split, data_.value("val_fraction", 0.1));
  }
  // Class names as people write them: folder names with _ and - as spaces.
  std::vector<std::string> names;
  for (auto name : folder->classes()) {
    std::replace(name.begin(), name.end(), '_', ' ');
    names.push_back(name);
  }
  // The templates: as given, else the set's own (synth:scenes' grammar), else CIFAR-10's.
  const std::string templates = !templates_.empty() ? templates_ : source == "synth:scenes" ? "scenes" : "cifar10";
  const auto classifier = class_embeddings(names, clip_templates(templates));  // (C, D)
  int64_t top1 = 0, top5 = 0, seen = 0;
  const int64_t chunk = std::max<int64_t>(batch_size_, 1) * 4;
  for (int64_t start = 0; start < folder->size(); start += chunk) {
    std::vector<cv::Mat> images;
    std::vector<int64_t> labels;
    for (int64_t i = start; i < std::min(folder->size(), start + chunk); ++i) {
      auto image = data::image_or_skip(*folder, i, *bad_samples_);
      if (!image) continue;
      images.push_back(*image);
      labels.push_back(folder->label(i));
    }
    if (images.empty()) continue;
    // logits = 100 cos(image, class): (N, C)
    const auto logits = 100.0 * torch::matmul(image_embeddings(images), classifier.t());
    const auto top = std::get<1>(logits.topk(std::min<int64_t>(5, logits.size(1)), 1));
    for (size_t k = 0; k < labels.size(); ++k) {
      const auto row = top[static_cast<int64_t>(k)];
      top1 += row[0].item<int64_t>() == labels[k];
      top5 += (row == labels[k]).any().item<bool>();
    }
    seen += static_cast<int64_t>(labels.size());
  }
  if (seen == 0) throw Error("no image of the " + split + " split of " + source + " can be read");
  const double n = static_cast<double>(seen);
  return {{"examples", seen},
          {"classes", static_cast<int64_t>(names.size())},
          {"metrics", {{"top1", 100.0 * static_cast<double>(top1) / n}, {"top5", 100.0 * static_cast<double>(top5) / n}}}};
}

Json ClipTask::predict(const std::vector<std::string>& inputs, const Options& options) {
  if (labels_.empty()) throw UsageError("clip predicts with --labels \"a dog,a cat,...\": the texts whose probabilities each image gets");
  std::vector<cv::Mat> images;
  for (const auto& path : inputs) images.push_back(data::read_image(path));
  const auto vectors = image_embeddings(images);
  Json predictions = Json::array();
  // softmax(100 cos(image, label)) over the labels, as openai/CLIP's example.
  const auto probabilities = torch::softmax(100.0 * torch::matmul(vectors, text_embeddings(labels_).t()), 1);
  for (size_t i = 0; i < inputs.size(); ++i) {
    Json ranked = Json::array();
    const auto row = probabilities[static_cast<int64_t>(i)];
    const auto order = row.argsort(0, /*descending=*/true);
    for (int64_t k = 0; k < order.size(0); ++k) {
      const int64_t label = order[k].item<int64_t>();
      ranked.push_back({{"class", labels_[static_cast<size_t>(label)]}, {"prob", row[label].item<double>()}});
    }
    predictions.push_back({{"input", inputs[i]}, {"top", ranked}});
  }
  return {{"task", name()}, {"model", model_name_}, {"predictions", predictions}};
}

// The similarity matrix of the first validation images and their captions.
std::vector<std::string> ClipTask::visualize_validation_example(const std::string& out_png) { return visualize("val", out_png); }

std::vector<std::string> ClipTask::visualize(const std::string& input, const std::string& out_png) {
  if (!model_) throw UsageError("visualize needs a checkpoint");
  model_->eval();
  torch::NoGradGuard no_grad;
  if (!is_single_image(input)) {
    // The similarity matrix of a caption set's first validation images, one caption each.
    // The training run's own validation set when it is loaded (each evaluation's figure).
    const bool own = input == "val" && val_set_;
    std::optional<data::CaptionSet> loaded;
    if (!own) loaded = open_split(data_for(input == "val" ? "" : input), "val");
    const data::CaptionSet& set = own ? *val_set_ : *loaded;
    std::vector<cv::Mat> images;
    std::vector<std::string> captions;
    for (int64_t i = 0; i < set.size() && images.size() < 8; ++i) {
      if (set.images[static_cast<size_t>(i)].captions.empty()) continue;
      images.push_back(set.image(i));
      captions.push_back(set.images[static_cast<size_t>(i)].captions.front());
    }
    if (images.size() < 2) throw Error("the similarity matrix needs two captioned images in " + set.source);
    const auto similarity = torch::matmul(text_embeddings(captions), image_embeddings(images).t());  // (texts, images)
    viz::write_png(viz::similarity_matrix(images, captions, similarity,
                                          model_name_ + ": cosine similarity of captions (rows) and images (columns)"),
                   out_png);
    return {out_png};
  }
  const cv::Mat shown = preprocess_.eval_image(data::read_image(input));
  model_->keep_attention(true);
  model_->encode_image(image_tensor(shown).unsqueeze(0).to(device_));
  model_->keep_attention(false);
  const auto maps = model_->image_attention();
  viz::Figure figure;
  figure.kind = viz::Figure::Kind::OverImage;
  if (model_->visual_vit) {
    // The class token's attention to the patches in the last layer, per head, and the rollout.
    const int64_t grid = model_->visual_vit->grid;
    const auto last = maps.back()[0].select(1, 0).narrow(1, 1, grid * grid).view({-1, grid, grid}).to(torch::kCPU);
    for (int64_t h = 0; h < last.size(0); ++h) {
      figure.maps.push_back(last[h]);
      figure.labels.push_back(viz::with_peak("head " + std::to_string(h), last[h]));
    }
    const auto flow = models::attention_rollout(maps)[0].select(0, 0).narrow(0, 1, grid * grid).view({grid, grid}).to(torch::kCPU);
    figure.maps.push_back(flow);
    figure.labels.push_back(viz::with_peak("rollout", flow));
    figure.title = model_name_ + ": class token attention in the last layer by head, and rollout";
  } else {
    // The pooling query's attention over the final feature map, per head (the mean token left out).
    const auto weights = maps.front()[0].select(1, 0).to(torch::kCPU);  // (heads, 1 + HW)
    const int64_t grid = std::lround(std::sqrt(static_cast<double>(weights.size(1) - 1)));
    for (int64_t h = 0; h < weights.size(0); ++h) {
      const auto map = weights[h].narrow(0, 1, grid * grid).view({grid, grid});
      figure.maps.push_back(map);
      figure.labels.push_back(viz::with_peak("head " + std::to_string(h), map));
    }
    figure.title = model_name_ + ": attention pooling's query by head";
  }
  figure.columns = static_cast<int>(std::min<size_t>(figure.maps.size(), 7));
  return viz::write_figures({figure}, {shown, {}}, out_png);
}

void ClipTask::export_torchscript(const std::string& path) {
  model_->to(torch::kCPU);
  model_->eval();
  torch::NoGradGuard no_grad;
  auto scripted = mirror_module(*model_, model_name_);
  const int64_t side = preprocess_.input_size;
  add_traced_method(
      scripted, "encode_image", [&](const std::vector<torch::Tensor>& in) { return std::vector<torch::Tensor>{model_->encode_image(in[0])}; },
      {torch::randn({2, 3, side, side})});
  add_traced_method(
      scripted, "encode_text", [&](const std::vector<torch::Tensor>& in) { return std::vector<torch::Tensor>{model_->encode_text(in[0])}; },
      {tokens_.rows({"a photo", "two words and more"}, context_)});
  save_torchscript(scripted, path, meta());
  model_->to(device_);
}

Json ClipTask::import_meta(const std::string& model, Json options, const NamedTensors& tensors) const {
  // openai/CLIP's build_model: every size from the state dict's shapes.
  for (const char* key : {"text_projection", "token_embedding.weight", "positional_embedding", "ln_final.weight"})
    if (!tensors.count(key)) throw Error("the state dict has no " + std::string(key) + ": not a CLIP state dict (openai/CLIP's names)");
  const bool vit = tensors.count("visual.proj") > 0;
  auto blocks = [&](const std::string& prefix) {
    int64_t n = 0;
    while (tensors.count(prefix + std::to_string(n) + ".ln_1.weight")) ++n;
    return n;
  };
  options["embed_dim"] = tensors.at("text_projection").size(1);
  options["context_length"] = tensors.at("positional_embedding").size(0);
  options["vocab_size"] = tensors.at("token_embedding.weight").size(0);
  options["text_width"] = tensors.at("ln_final.weight").size(0);
  options["text_heads"] = tensors.at("ln_final.weight").size(0) / 64;
  options["text_layers"] = blocks("transformer.resblocks.");
  options["eot_token"] = tensors.at("token_embedding.weight").size(0) - 1;
  if (vit) {
    const auto& conv = tensors.at("visual.conv1.weight");
    const int64_t patch = conv.size(-1), tokens = tensors.at("visual.positional_embedding").size(0);
    const auto grid = static_cast<int64_t>(std::lround(std::sqrt(static_cast<double>(tokens - 1))));
    options["vision"] = "vit";
    options["patch_size"] = patch;
    options["vision_width"] = conv.size(0);
    options["vision_layers"] = blocks("visual.transformer.resblocks.");
    options["vision_heads"] = 0;
    options["input_size"] = patch * grid;
  } else {
    if (!tensors.count("visual.attnpool.positional_embedding")) throw Error("the state dict has neither visual.proj nor visual.attnpool: not a CLIP state dict");
    std::vector<int64_t> stages;
    for (int s = 1; s <= 4; ++s) {
      int64_t n = 0;
      while (tensors.count("visual.layer" + std::to_string(s) + "." + std::to_string(n) + ".conv1.weight")) ++n;
      stages.push_back(n);
    }
    const int64_t spatial = std::lround(std::sqrt(static_cast<double>(tensors.at("visual.attnpool.positional_embedding").size(0) - 1)));
    options["vision"] = "resnet";
    options["resnet_blocks"] = stages;
    options["vision_width"] = tensors.at("visual.layer1.0.conv1.weight").size(0);
    options["vision_heads"] = 0;
    options["input_size"] = spatial * 32;
  }
  const auto text_config = models::ClipTextConfig::options().read(options, {});
  const auto bpe = text::ClipBpe::from_file(text::find_clip_merges_file(text_config.bpe));
  if (bpe.vocab_size() != options["vocab_size"].get<int64_t>())
    throw Error("the state dict's vocabulary has " + options["vocab_size"].dump() + " tokens; CLIP's BPE has " + std::to_string(bpe.vocab_size()));
  options["tokenizer"] = "clip";
  return {{"task", name()}, {"model", model}, {"model_options", options}, {"tokenizer", ClipTokens(bpe).to_json()},
          {"data", {{"path", ""}, {"seed", 0}, {"synth_size", 0}, {"val_fraction", 0.1}}}};
}

}  // namespace zoo
