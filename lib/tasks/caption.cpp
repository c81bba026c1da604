#include "lib/tasks/caption.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>

#include "data/image.h"
#include "data/loader.h"
#include "lib/core/error.h"
#include "lib/core/registry.h"
#include "lib/export/torchscript.h"
#include "lib/tasks/builtin.h"
#include "lib/tasks/scripted_decoder.h"
#include "lib/text/caption_metrics.h"
#include "lib/viz/figure.h"

namespace fs = std::filesystem;

namespace zoo {

namespace {

std::string join(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : " ") + w;
  return out;
}

// Whether the peak of a word's attention (L = G x G weights over the model's square input)
// falls inside a box given in the pixels of the original width x height image.
bool peak_inside(const torch::Tensor& weights, const std::array<double, 4>& box, int width, int height) {
  const auto L = weights.size(0);
  const auto grid = static_cast<int64_t>(std::lround(std::sqrt(static_cast<double>(L))));
  const int64_t peak = weights.argmax().item<int64_t>();
  const double x = (static_cast<double>(peak % grid) + 0.5) / static_cast<double>(grid) * width;
  const double y = (static_cast<double>(peak / grid) + 0.5) / static_cast<double>(grid) * height;
  return x >= box[0] && x <= box[0] + box[2] && y >= box[1] && y <= box[1] + box[3];
}

}  // namespace

CaptionTask::CaptionTask() : TaskBase("caption") {
  // A caption is at most the longest training caption (max_words_) and <end>.
  search_.max_len_ratio = 1.0, search_.max_len_extra = 1;
  search_.bos = text::Vocab::kBos, search_.eos = text::Vocab::kEos;
}

void CaptionTask::check_options(const Options& config) const {
  TaskBase::check_options(config);
  if (config.has("max_len") && config.get_int("max_len") < 0)
    throw UsageError("invalid --max-len " + std::to_string(config.get_int("max_len")) + ": expected 0 (no limit) or a positive word count");
}

void CaptionTask::setup_training(const Options& config, torch::Device device) {
  setup_common(config, device);
  set_inference_options(config);
  image_ = models::CaptionImageConfig::options().read(model_options_, {});
  const int64_t max_len = config.has("max_len") ? config.get_int("max_len") : 0;
  data_["max_len"] = max_len;
  train_set_ = open_split(data_path(), "train");
  val_set_ = open_split(data_path(), "val");

  // The vocabulary: words of the training captions seen min_count times, at most `vocab`.
  const auto words_config = models::CaptionVocabConfig::options().read(model_options_, {});
  std::vector<std::vector<std::vector<std::string>>> words(train_set_->images.size());
  std::vector<std::vector<std::string>> all;
  for (size_t i = 0; i < train_set_->images.size(); ++i)
    for (const auto& caption : train_set_->images[i].captions) {
      // The COCO evaluation's tokenisation (lower-case, punctuation off), so what the model
      // learns to write is what the metrics compare.
      words[i].push_back(text::coco_tokens(caption));
      all.push_back(words[i].back());
    }
  vocab_ = text::Vocab::build(all, words_config.min_count, words_config.vocab);
  model_options_["vocab"] = vocab_.size();

  // Captions longer than --max-len words are left out of training (an image keeps the others).
  int64_t dropped = 0, kept = 0, empty = 0;
  max_words_ = 1;
  for (size_t i = 0; i < words.size(); ++i) {
    std::vector<std::vector<int64_t>> captions;
    for (const auto& caption : words[i]) {
      if (caption.empty()) {  // only punctuation: nothing to learn
        ++empty;
        continue;
      }
      if (max_len > 0 && static_cast<int64_t>(caption.size()) > max_len) {
        ++dropped;
        continue;
      }
      auto ids = vocab_.encode(caption);
      ids.push_back(text::Vocab::kEos);
      max_words_ = std::max<int64_t>(max_words_, static_cast<int64_t>(caption.size()));
      captions.push_back(std::move(ids));
      ++kept;
    }
    if (captions.empty()) continue;
    train_images_.push_back(static_cast<int64_t>(i));
    train_words_.push_back(std::move(captions));
  }
  if (train_images_.empty()) throw UsageError("every training caption is longer than --max-len " + std::to_string(max_len) + " words");
  std::fprintf(stderr, "caption: %zu training images with %lld captions (%lld longer than --max-len, %lld without a word left out), "
               "%lld validation images; vocabulary %lld words (seen at least %lld times)\n",
               train_images_.size(), (long long)kept, (long long)dropped, (long long)empty, (long long)val_set_->size(),
               (long long)vocab_.size(), (long long)words_config.min_count);
  build_model();
  const auto encoder = models::CaptionEncoderConfig::options().read(model_options_, {});
  if (!encoder.encoder_init.empty()) {
    model_options_["encoder_init"] = fs::absolute(encoder.encoder_init).lexically_normal().string();
    if (!fs::exists(model_options_["encoder_init"].get<std::string>())) throw Error("encoder_init=" + encoder.encoder_init + ": no such checkpoint");
    model_->init_encoder(model_options_["encoder_init"].get<std::string>());
    model_->to(device_);
  }
}

void CaptionTask::set_inference_options(const Options& o) {
  if (o.has("bad_samples")) bad_samples_ = data::bad_samples_policy(o.get_string("bad_samples"));
  if (o.has("beam")) search_.beam = o.get_int("beam");
  if (o.has("length_penalty")) search_.length_penalty = o.get_double("length_penalty");
  if (search_.beam < 1) throw UsageError("invalid --beam " + std::to_string(search_.beam) + ": expected 1 or more");
  if (!std::isfinite(search_.length_penalty)) throw UsageError("invalid --length-penalty: expected a finite number");
}

void CaptionTask::read_meta(const Json& meta) {
  vocab_ = text::Vocab::from_json(meta.at("vocabulary"));
  max_words_ = meta.at("max_words").get<int64_t>();
  search_.length_penalty = meta.at("search").at("length_penalty").get<double>();
  image_ = models::CaptionImageConfig::options().read(model_options_, {});
}

std::vector<ParameterGroup> CaptionTask::parameter_groups() const {
  const auto& encoder = model_->encoder_config();
  if (encoder.freeze_encoder || (encoder.fine_tune_from <= 1 && encoder.encoder_lr == 0)) return TaskBase::parameter_groups();
  ParameterGroup decoder{"decoder", {}}, trunk{"encoder", {}, encoder.encoder_lr, encoder.fine_tune_from - 1};
  for (const auto& item : model_->named_parameters())
    (item.key().rfind("encoder.", 0) == 0 ? trunk : decoder).parameters.push_back(item.value());
  return {decoder, trunk};
}

void CaptionTask::build_model() { model_ = build_model_as<models::CaptionModel>("a captioning model"); }

void CaptionTask::use_torchscript(torch::jit::Module module) { scripted_ = std::move(module); }

Json CaptionTask::meta() const {
  Json meta = common_meta();
  meta["vocabulary"] = vocab_.to_json();
  meta["max_words"] = max_words_;
  meta["search"] = {{"length_penalty", search_.length_penalty}};
  return meta;
}

data::CaptionSet CaptionTask::open_split(const std::string& path, const std::string& split) const {
  if (own_synthetic(path)) {
    if (split != "train" && split != "val" && split != "test") throw UsageError("invalid --split '" + split + "': expected train, val or test");
    return data::synth_scenes_split(data_.value("synth_size", int64_t{2048}), static_cast<int>(image_.input_size), data_.value("seed", uint64_t{0}),
                                    split);
  }
  return data::load_caption_split(path, split, data_.value("val_fraction", 0.1));
}

cv::Mat CaptionTask::model_view(const cv::Mat& rgb) const {
  const int side = static_cast<int>(image_.input_size);
  return rgb.rows == side && rgb.cols == side ? rgb : data::resize_exact(rgb, side, side);
}

torch::Tensor CaptionTask::image_tensor(const cv::Mat& rgb) const { return data::to_tensor(model_view(rgb), image_.mean, image_.std); }

int64_t CaptionTask::batches_per_epoch() const {
  // The last partial batch is dropped (BatchNorm in a trainable trunk), unless it is the only one.
  return std::max<int64_t>(1, static_cast<int64_t>(train_images_.size()) / batch_size_);
}

std::unique_ptr<BatchStream> CaptionTask::train_batches(int64_t epoch, int64_t first_batch) {
  // Each image once per epoch with one of its captions, drawn by (seed, epoch, image).
  const auto n = static_cast<int64_t>(train_images_.size());
  auto order = std::make_shared<std::vector<int64_t>>(data::epoch_order(n, seed_, epoch));
  const int64_t batch_size = std::min<int64_t>(batch_size_, n);
  auto make_batch = [this, order, batch_size, epoch](int64_t b, int64_t micro) {
    // This rank's micro-batch `micro` of global batch b: positions [begin, end) of it.
    const auto [begin, end] = shard_.micro_batch(batch_size, micro);
    if (begin == end) return Batch{};
    std::vector<torch::Tensor> images;
    std::vector<const std::vector<int64_t>*> captions;
    std::vector<int64_t> ids;
    for (int64_t i = b * batch_size + begin; i < b * batch_size + end; ++i) {
      // The order runs over slots of train_images_ (the images with a caption kept).
      const auto example = data::captioned_example(
          *train_set_, train_images_, [&](int64_t slot) { return train_words_[static_cast<size_t>(slot)].size(); }, *order, i, seed_, epoch,
          *bad_samples_);
      captions.push_back(&train_words_[example.slot][example.caption]);
      images.push_back(image_tensor(example.image));
      ids.push_back(example.index);
    }
    // tokens_in = <bos> w_1 .. w_n, tokens_out = w_1 .. w_n <end>
    auto [tokens_in, tokens_out] = data::shifted_targets(captions, text::Vocab::kBos);
    return Batch{{data::stack_samples(images), tokens_in, tokens_out}, end - begin, ids};
  };
  return micro_batch_stream(first_batch, make_batch);
}

double CaptionTask::loss_weight(const Batch& batch) const {
  // The models' losses average over the captions' words and <end> (the tokens that are not padding).
  return batch.size == 0 ? 0.0 : static_cast<double>(batch.tensors.at(2).ne(0).sum().item<int64_t>());
}

torch::Tensor CaptionTask::loss(const Batch& batch) {
  return model_->loss(batch.tensors.at(0).to(device_), batch.tensors.at(1).to(device_), batch.tensors.at(2).to(device_), label_smoothing_);
}

std::vector<torch::Tensor> CaptionTask::encode(const torch::Tensor& images) {
  if (!scripted_) return model_->encode(images.to(device_));
  return scripted_encode(*scripted_, {images.to(device_)});
}

nn::DecodeStep CaptionTask::decode_step(const torch::Tensor& tokens, const std::vector<torch::Tensor>& state) {
  if (!scripted_) return model_->decode_step(tokens, state);
  return scripted_decode_step(*scripted_, tokens, state);
}

std::vector<CaptionTask::Caption> CaptionTask::caption(const std::vector<cv::Mat>& images) {
  if (model_) model_->eval();
  torch::NoGradGuard no_grad;
  std::vector<Caption> out;
  const nn::StepFunction step = [this](const torch::Tensor& tokens, const std::vector<torch::Tensor>& state) { return decode_step(tokens, state); };
  for (size_t start = 0; start < images.size(); start += static_cast<size_t>(batch_size_)) {
    const size_t end = std::min(images.size(), start + static_cast<size_t>(batch_size_));
    std::vector<torch::Tensor> batch;
    for (size_t i = start; i < end; ++i) batch.push_back(image_tensor(images[i]));
    const std::vector<int64_t> limits(end - start, max_words_);
    for (auto& h : nn::search(step, encode(data::stack_samples(batch)), limits, search_)) {
      Caption c;
      c.words = vocab_.decode(h.tokens);
      c.text = join(c.words);
      c.log_prob = h.log_prob, c.score = h.score;
      if (h.attention.defined()) c.attention = h.attention.to(torch::kCPU, torch::kFloat32);
      out.push_back(std::move(c));
    }
  }
  return out;
}

Json CaptionTask::evaluate(const std::string& split, const std::string& data) {
  const data::CaptionSet set = (data.empty() && split == "val" && val_set_) ? *val_set_
                               : open_split(data_for(data), split);
  // Images in loader-sized chunks: a COCO split does not fit in memory as pixels.
  // This rank's images (all of them in one process); the captions are gathered for CIDEr, whose
  // document frequencies span the whole split.
  const auto [first, end] = shard_.eval_part(set.size());
  std::vector<std::pair<int64_t, std::string>> written;  // (image, caption) of this rank
  int64_t pointed = 0, pointing_words = 0;
  const int64_t chunk = std::max<int64_t>(batch_size_, 1) * 4;
  for (int64_t start = first; start < end; start += chunk) {
    std::vector<cv::Mat> images;
    std::vector<int64_t> indices;
    for (int64_t i = start; i < std::min(end, start + chunk); ++i) {
      auto image = data::read_or_skip([&] { return set.image(i); }, [&] { return set.describe(i); }, *bad_samples_);
      if (!image) continue;  // left out of the metrics
      images.push_back(*image);
      indices.push_back(i);
    }
    const auto captions = caption(images);
    for (size_t k = 0; k < captions.size(); ++k) {
      const auto& entry = set.images[static_cast<size_t>(indices[k])];
      written.emplace_back(indices[k], captions[k].text);
      // Pointing: each written word that names an object of the image, with its attention's peak
      // inside that object's box (any object of that name).
      if (entry.objects.empty() || !captions[k].attention.defined()) continue;
      for (size_t w = 0; w < captions[k].words.size(); ++w) {
        bool named = false, inside = false;
        for (const auto& object : entry.objects) {
          if (object.name != captions[k].words[w]) continue;
          named = true;
          inside = inside || peak_inside(captions[k].attention[static_cast<int64_t>(w)], object.box, images[k].cols, images[k].rows);
        }
        pointing_words += named, pointed += inside;
      }
    }
  }
  if (shard_.group) {
    const auto sums = sum_over_ranks(shard_.group, {static_cast<double>(pointed), static_cast<double>(pointing_words)});
    pointed = std::llround(sums[0]), pointing_words = std::llround(sums[1]);
    Json mine = Json::array();
    for (const auto& [image, text] : written) mine.push_back({image, text});
    written.clear();
    for (const auto& part : gather_text(*shard_.group, mine.dump()))  // rank order: the images' order
      for (const auto& entry : Json::parse(part)) written.emplace_back(entry.at(0).get<int64_t>(), entry.at(1).get<std::string>());
  }
  std::vector<text::CaptionPair> pairs;
  for (const auto& [image, text] : written) pairs.push_back(text::coco_pair(text, set.images[static_cast<size_t>(image)].captions));
  std::vector<std::vector<std::string>> shown;
  for (size_t k = 0; k < std::min<size_t>(written.size(), 5); ++k) {
    const auto& references = set.images[static_cast<size_t>(written[k].first)].captions;
    shown.push_back({set.describe(written[k].first), written[k].second, references.empty() ? std::string() : references.front()});
  }
  samples_ = markdown_table({"image", "caption", "a reference"}, shown);
  if (pairs.empty()) throw Error("no image of the " + split + " split can be read");
  Json metrics = text::coco_caption_scores(pairs);  // bleu_1..bleu_4, cider, rouge_l
  if (pointing_words > 0) metrics["pointing"] = static_cast<double>(pointed) / static_cast<double>(pointing_words);
  return {{"examples", static_cast<int64_t>(pairs.size())}, {"metrics", metrics}};
}

Json CaptionTask::predict(const std::vector<std::string>& inputs, const Options& options) {
  std::vector<cv::Mat> images;
  for (const auto& path : inputs) images.push_back(data::read_image(path));
  const auto captions = caption(images);
  Json predictions = Json::array();
  for (size_t i = 0; i < inputs.size(); ++i)
    predictions.push_back({{"input", inputs[i]}, {"output", captions[i].text}, {"tokens", captions[i].words},
                           {"log_prob", captions[i].log_prob}, {"score", captions[i].score}});
  return {{"task", name()}, {"model", model_name_}, {"beam", search_.beam}, {"predictions", predictions}};
}

void CaptionTask::export_torchscript(const std::string& path) {
  // Two methods over the same weights, traced on a batch of 2: encode(images) -> state and
  // decode_step(words, *state) -> (log_probs, *state, attention); any batch size works.
  model_->to(torch::kCPU);
  model_->eval();
  torch::NoGradGuard no_grad;
  auto scripted = mirror_module(*model_, model_name_);
  auto images = torch::randn({2, 3, image_.input_size, image_.input_size});
  add_traced_method(scripted, "encode", [&](const std::vector<torch::Tensor>& in) { return model_->encode(in[0]); }, {images});
  // Show and Tell has no attention: an empty (B, 0), shaped from the batch.
  add_decode_step_method(
      scripted, [&](const torch::Tensor& t, const std::vector<torch::Tensor>& s) { return model_->decode_step(t, s); },
      torch::full({2}, text::Vocab::kBos, torch::kInt64), model_->encode(images),
      [](const std::vector<torch::Tensor>& in) { return torch::zeros_like(in[0].unsqueeze(1).narrow(1, 0, 0), torch::kFloat32); });
  std::string lines;
  for (int64_t i = 0; i < vocab_.size(); ++i) lines += vocab_.token(i) + "\n";
  save_torchscript(scripted, path, meta(), {{"vocab.txt", lines}});
  model_->to(device_);
}

std::vector<std::string> CaptionTask::visualize_validation_example(const std::string& out_png) {
  return visualize_first_image(val_set_, out_png);
}

std::vector<std::string> CaptionTask::visualize(const std::string& input, const std::string& out_png) {
  const cv::Mat shown = model_view(data::read_image(input));
  const Caption c = caption({shown}).at(0);
  if (!c.attention.defined())
    throw UsageError("visualize is not available for " + model_name_ + " (it has no attention): try show_attend_tell");
  // The paper's figure: one panel per word (and <end>), its attention upsampled over the image.
  viz::Figure figure;
  figure.kind = viz::Figure::Kind::OverImage;
  figure.title = c.text;
  const int64_t L = c.attention.size(1), grid = std::lround(std::sqrt(static_cast<double>(L)));
  for (int64_t w = 0; w < c.attention.size(0); ++w) {
    figure.maps.push_back(c.attention[w].reshape({grid, grid}));
    figure.labels.push_back(w < static_cast<int64_t>(c.words.size()) ? c.words[static_cast<size_t>(w)] : "<end>");
  }
  figure.columns = static_cast<int>(std::min<int64_t>(5, c.attention.size(0)));
  return viz::write_figures({figure}, {shown, {}}, out_png);
}

std::string CaptionTask::write_synthetic(const SynthRequest& r) {
  const auto train = data::synth_scenes_split(r.n, static_cast<int>(r.image_size), r.seed, "train");
  const auto val = data::synth_scenes_split(r.n, static_cast<int>(r.image_size), r.seed, "val");
  data::write_coco_captions(train, r.out, "train");
  data::write_coco_captions(val, r.out, "val");
  return "wrote " + std::to_string(train.size()) + " training and " + std::to_string(val.size()) + " validation scenes (" +
         std::to_string(r.image_size) + "x" + std::to_string(r.image_size) + ", 5 captions each, boxes in instances_*.json) to " + r.out +
         "/{train2017,val2017,annotations}";
}

Json score_caption_results(const std::string& data, const std::string& split, const std::string& results, double val_fraction) {
  if (is_synthetic(data))
    throw UsageError("--captions scores against references on disk; write " + data + " with zoo data synth --kind " + data.substr(6) +
                     " --out DIR and give --data DIR");
  const data::CaptionSet set = data::load_caption_split(data, split, val_fraction);
  std::map<int64_t, const data::CaptionedImage*> by_id;
  for (const auto& image : set.images) by_id[image.image_id] = &image;
  std::vector<text::CaptionPair> pairs;
  for (const auto& [id, caption] : data::read_caption_results(results)) {
    auto it = by_id.find(id);
    if (it == by_id.end()) throw Error(results + ": image_id " + std::to_string(id) + " is not in the " + split + " split of " + set.source);
    pairs.push_back(text::coco_pair(caption, it->second->captions));
  }
  if (pairs.empty()) throw Error(results + " holds no caption");
  return {{"examples", static_cast<int64_t>(pairs.size())}, {"metrics", text::coco_caption_scores(pairs)}};
}

}  // namespace zoo
