#include "lib/tasks/detect.h"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <numeric>

#include "data/image.h"
#include "data/loader.h"
#include "lib/core/error.h"
#include "lib/core/registry.h"
#include "lib/detect/boxes.h"
#include "lib/detect/coco_eval.h"
#include "lib/export/torchscript.h"
#include "lib/viz/boxes.h"
#include "lib/viz/figure.h"
#include "lib/viz/heatmap.h"
#include "models/detect/set_criterion.h"

namespace fs = std::filesystem;

namespace zoo {

namespace {

// The split's ground truth and ids, as COCOeval reads them from the annotation file.
struct Truth {
  std::vector<int64_t> image_ids, category_ids;
  std::vector<detect::GroundTruthBox> boxes;
};

Truth truth_of(const data::DetectionSet& set, const std::vector<int64_t>& images) {
  Truth t;
  for (const auto& c : set.categories) t.category_ids.push_back(c.id);
  for (int64_t i : images) {
    const auto& image = set.images[static_cast<size_t>(i)];
    t.image_ids.push_back(image.image_id);
    for (const auto& o : image.objects) t.boxes.push_back({image.image_id, o.category_id, o.box, o.area, o.crowd});
  }
  return t;
}

Json stats_json(const std::array<double, 12>& stats) {
  Json metrics = Json::object();
  for (size_t k = 0; k < stats.size(); ++k) metrics[detect::coco_stat_keys()[k]] = stats[k];
  return metrics;
}

// COCO 2017's category names by id (1..90, 80 of them; the others "N/A" as DETR's CLASSES).
const std::vector<std::string>& coco_names_by_id() {
  static const std::vector<std::string> names{
      "N/A", "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light", "fire hydrant", "N/A",
      "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "N/A",
      "backpack", "umbrella", "N/A", "N/A", "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
      "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle", "N/A", "wine glass", "cup", "fork", "knife",
      "spoon", "bowl", "banana", "apple", "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
      "potted plant", "bed", "N/A", "dining table", "N/A", "N/A", "toilet", "N/A", "tv", "laptop", "mouse", "remote", "keyboard",
      "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "N/A", "book", "clock", "vase", "scissors", "teddy bear",
      "hair drier", "toothbrush"};
  return names;
}

}  // namespace

DetectTask::DetectTask() : TaskBase("detect") {}

void DetectTask::setup_training(const Options& config, torch::Device device) {
  setup_common(config, device);
  set_inference_options(config);
  image_ = models::DetrImageConfig::options().read(model_options_, {});
  loss_config_ = models::DetrLossConfig::options().read(model_options_, {});
  train_set_ = open_split(data_path(), "train");
  val_set_ = open_split(data_path(), "val");
  for (auto* set : {&*train_set_, &*val_set_})
    for (const auto& line : set->skipped) bad_samples_->record(line, "bad annotation");
  // The labels: the training data's categories in id order.
  set_categories(train_set_->categories);
  model_options_["num_classes"] = static_cast<int64_t>(categories_.size());
  int64_t crowd = 0;
  for (const auto& image : train_set_->images)
    for (const auto& o : image.objects) crowd += o.crowd;
  std::fprintf(stderr, "detect: %lld training images with %lld objects (%lld crowd regions, kept out of training), %lld validation images; "
               "%zu categories%s\n",
               (long long)train_set_->size(), (long long)train_set_->object_count(), (long long)crowd, (long long)val_set_->size(), categories_.size(),
               train_set_->skipped.empty() ? "" : (", " + std::to_string(train_set_->skipped.size()) + " bad annotations left out").c_str());
  build_model();
  const auto& detr = model_->config();
  if (detr.frozen_bn && detr.backbone_init.empty() && !(config.has("init") && !config.get_string("init").empty()))
    std::fprintf(stderr, "detect: warning: %s's backbone has frozen BatchNorm and starts from random weights; give it pretrained ones "
                 "(--set backbone_init=CKPT from zoo import --from torchvision, or --init) or let its BatchNorm train (--set frozen_bn=false)\n",
                 model_name_.c_str());
  if (!detr.backbone_init.empty()) {
    model_options_["backbone_init"] = fs::absolute(detr.backbone_init).lexically_normal().string();
    model_->init_backbone(model_options_["backbone_init"].get<std::string>());
    model_->to(device_);
  }
}

void DetectTask::set_inference_options(const Options& o) {
  if (o.has("bad_samples")) bad_samples_ = data::bad_samples_policy(o.get_string("bad_samples"));
  if (o.has("threshold")) threshold_ = o.get_double("threshold");
  if (!(threshold_ >= 0 && threshold_ <= 1)) throw UsageError("invalid --threshold: expected a probability in [0, 1]");
  if (o.has("query") && !o.get_string("query").empty()) query_ = viz::parse_query(o.get_string("query"), "the input image");
}

void DetectTask::set_categories(std::vector<data::DetectionCategory> categories) {
  categories_ = std::move(categories);
  label_of_.clear();
  for (size_t k = 0; k < categories_.size(); ++k) label_of_[categories_[k].id] = static_cast<int64_t>(k);
}

void DetectTask::read_meta(const Json& meta) {
  std::vector<data::DetectionCategory> categories;
  for (const auto& c : meta.at("categories")) categories.push_back({c.at("id").get<int64_t>(), c.at("name").get<std::string>()});
  set_categories(std::move(categories));
  image_ = models::DetrImageConfig::options().read(model_options_, {});
  loss_config_ = models::DetrLossConfig::options().read(model_options_, {});
}

void DetectTask::build_model() {
  model_ = build_model_as<models::DetrImpl>("a detector");
  if (static_cast<int64_t>(categories_.size()) != model_->config().num_classes)
    throw Error("the checkpoint lists " + std::to_string(categories_.size()) + " categories for a model of num_classes=" +
                std::to_string(model_->config().num_classes));
}

Json DetectTask::meta() const {
  Json meta = common_meta();
  Json categories = Json::array();
  for (const auto& c : categories_) categories.push_back({{"id", c.id}, {"name", c.name}});
  meta["categories"] = categories;
  return meta;
}

std::vector<ParameterGroup> DetectTask::parameter_groups() const {
  const double backbone_lr = model_->config().backbone_lr;
  auto backbone = model_->backbone_parameters(), rest = model_->head_parameters();
  if (backbone_lr == 0 || backbone.empty()) {
    rest.insert(rest.end(), backbone.begin(), backbone.end());
    return {{"model", rest}};
  }
  return {{"transformer and heads", rest}, {"backbone", backbone, backbone_lr}};
}

data::DetectionSet DetectTask::open_split(const std::string& path, const std::string& split) const {
  if (own_synthetic(path))
    return data::synth_boxes_split(data_.value("synth_size", int64_t{2048}), static_cast<int>(image_.image_size), data_.value("seed", uint64_t{0}), split);
  return data::load_detection_split(path, split, data_.value("val_fraction", 0.1), bad_samples_->skip());
}

data::DetectionAugment DetectTask::augment() const {
  data::DetectionAugment a;
  a.size = static_cast<int>(image_.image_size), a.max_size = static_cast<int>(image_.max_size);
  a.flip = image_.flip, a.multi_scale = image_.multi_scale, a.crop = image_.random_crop;
  return a;
}

data::BoxedImage DetectTask::boxed(const data::DetectionSet& set, int64_t index, const cv::Mat& image) const {
  data::BoxedImage out{image, {}, {}};
  for (const auto& o : set.images[static_cast<size_t>(index)].objects) {
    if (o.crowd) continue;  // DETR trains on single objects only
    auto label = label_of_.find(o.category_id);
    if (label == label_of_.end()) throw Error(set.describe(index) + ": category " + std::to_string(o.category_id) + " is not one the model was trained on");
    // Clipped to the image as read (the file may disagree with the annotation's width and height).
    const double x0 = std::clamp(o.box[0], 0.0, double(image.cols)), y0 = std::clamp(o.box[1], 0.0, double(image.rows));
    const double x1 = std::clamp(o.box[0] + o.box[2], 0.0, double(image.cols)), y1 = std::clamp(o.box[1] + o.box[3], 0.0, double(image.rows));
    if (x1 <= x0 || y1 <= y0) continue;
    out.boxes.push_back({x0, y0, x1, y1});
    out.labels.push_back(label->second);
  }
  return out;
}

int64_t DetectTask::batches_per_epoch() const { return std::max<int64_t>(1, train_set_->size() / batch_size_); }

std::unique_ptr<BatchStream> DetectTask::train_batches(int64_t epoch, int64_t first_batch) {
  const int64_t n = train_set_->size();
  auto order = std::make_shared<std::vector<int64_t>>(data::epoch_order(n, seed_, epoch));
  const int64_t batch_size = std::min<int64_t>(batch_size_, n);
  const auto transform = augment();
  auto make_batch = [this, order, batch_size, epoch, transform](int64_t b, int64_t micro) {
    const auto [begin, end] = shard_.micro_batch(batch_size, micro);
    if (begin == end) return Batch{};
    std::vector<data::DetectionSample> samples;
    std::vector<int64_t> ids;
    for (int64_t i = b * batch_size + begin; i < b * batch_size + end; ++i) {
      const auto [index, image] = data::next_readable(
          *order, i, [&](int64_t e) { return train_set_->image(e); }, [&](int64_t e) { return train_set_->describe(e); }, *bad_samples_);
      Rng rng(mix_seed(seed_, static_cast<uint64_t>(epoch), static_cast<uint64_t>(index)));
      samples.push_back(data::to_detection_sample(transform.train(boxed(*train_set_, index, image), rng), image_.mean, image_.std));
      ids.push_back(index);
    }
    return Batch{data::collate_detection(samples), end - begin, ids};
  };
  return micro_batch_stream(first_batch, make_batch);
}

torch::Tensor DetectTask::loss(const Batch& batch) {
  const auto& t = batch.tensors;  // images, mask, boxes, labels, counts
  models::DetectionTargets targets{t.at(2).to(device_), t.at(3).to(device_), {}};
  const auto counts = t.at(4).contiguous();
  targets.counts.assign(counts.data_ptr<int64_t>(), counts.data_ptr<int64_t>() + counts.numel());
  const auto output = model_->forward(t.at(0).to(device_), t.at(1).to(device_));
  return models::detr_loss(output, targets, loss_config_, model_->config().num_classes);
}

std::vector<DetectTask::Detections> DetectTask::detect(const std::vector<cv::Mat>& images, bool attention) {
  if (model_) model_->eval();
  torch::NoGradGuard no_grad;
  const auto transform = augment();
  std::vector<Detections> out;
  for (size_t start = 0; start < images.size(); start += static_cast<size_t>(std::max<int64_t>(1, batch_size_))) {
    const size_t end = std::min(images.size(), start + static_cast<size_t>(std::max<int64_t>(1, batch_size_)));
    std::vector<data::DetectionSample> samples;
    for (size_t i = start; i < end; ++i) samples.push_back(data::to_detection_sample(transform.eval({images[i], {}, {}}), image_.mean, image_.std));
    const auto batch = data::collate_detection(samples);
    torch::Tensor logits, boxes;
    models::DetrOutput output;
    if (scripted_) {
      // The export has no padding mask: one image at a time when sizes differ.
      if (end - start > 1 && batch.at(1).any().item<bool>()) {
        for (size_t i = start; i < end; ++i) {
          auto one = detect({images[i]}, false);
          out.push_back(std::move(one.at(0)));
        }
        continue;
      }
      auto result = scripted_->forward({batch.at(0).to(device_)}).toTuple();
      logits = result->elements().at(0).toTensor(), boxes = result->elements().at(1).toTensor();
    } else {
      output = model_->forward(batch.at(0).to(device_), batch.at(1).to(device_), attention);
      logits = output.logits.select(0, -1), boxes = output.boxes.select(0, -1);
    }
    // DETR's PostProcess: each query's most probable class but "no object", and its box in the
    // original image's pixels.
    auto probabilities = logits.to(torch::kCPU, torch::kFloat32).softmax(-1);
    auto [scores, labels] = probabilities.narrow(-1, 0, probabilities.size(-1) - 1).max(-1);  // (B, N)
    auto corners = detect::cxcywh_to_xyxy(boxes.to(torch::kCPU, torch::kFloat32));          // (B, N, 4) in [0, 1]
    for (size_t i = start; i < end; ++i) {
      const auto b = static_cast<int64_t>(i - start);
      const double w = images[i].cols, h = images[i].rows;
      Detections d;
      d.scores = scores[b], d.labels = labels[b];
      d.boxes = corners[b] * torch::tensor({w, h, w, h}, torch::kFloat32);
      if (output.cross_attention.defined()) d.cross_attention = output.cross_attention[b].to(torch::kCPU);
      if (output.encoder_attention.defined()) d.encoder_attention = output.encoder_attention[b].to(torch::kCPU);
      out.push_back(std::move(d));
    }
  }
  return out;
}

Json DetectTask::evaluate(const std::string& split, const std::string& data) {
  if (data.empty() && data_path().empty()) throw UsageError("this checkpoint names no data of its own (it was imported): give --data, a COCO root");
  const data::DetectionSet set = (data.empty() && split == "val" && val_set_) ? *val_set_ : open_split(data_for(data), split);
  // This rank's images; the detections are gathered, since AP ranks them over the whole split.
  const auto [first, end] = shard_.eval_part(set.size());
  std::vector<int64_t> evaluated;
  Json mine = Json::array();
  const int64_t chunk = std::max<int64_t>(batch_size_, 1) * 4;
  for (int64_t start = first; start < end; start += chunk) {
    std::vector<cv::Mat> images;
    std::vector<int64_t> indices;
    for (int64_t i = start; i < std::min(end, start + chunk); ++i) {
      auto image = data::read_or_skip([&] { return set.image(i); }, [&] { return set.describe(i); }, *bad_samples_);
      if (!image) continue;  // left out of the evaluation, its objects too
      images.push_back(*image);
      indices.push_back(i);
    }
    const auto found = detect(images);
    for (size_t k = 0; k < found.size(); ++k) {
      const int64_t image_id = set.images[static_cast<size_t>(indices[k])].image_id;
      evaluated.push_back(indices[k]);
      const auto scores = found[k].scores.accessor<float, 1>();
      const auto labels = found[k].labels.accessor<int64_t, 1>();
      const auto boxes = found[k].boxes.accessor<float, 2>();
      for (int64_t q = 0; q < scores.size(0); ++q)
        mine.push_back({image_id, categories_[static_cast<size_t>(labels[q])].id, boxes[q][0], boxes[q][1], boxes[q][2] - boxes[q][0],
                        boxes[q][3] - boxes[q][1], scores[q]});
    }
  }
  std::vector<Json> parts{mine};
  if (shard_.group) {
    parts.clear();
    Json indices = evaluated;
    for (const auto& part : gather_text(*shard_.group, Json{{"d", mine}, {"i", indices}}.dump())) {
      const Json p = Json::parse(part);
      parts.push_back(p.at("d"));
      for (const auto& i : p.at("i")) evaluated.push_back(i.get<int64_t>());
    }
    std::sort(evaluated.begin(), evaluated.end());
    evaluated.erase(std::unique(evaluated.begin(), evaluated.end()), evaluated.end());
  }
  std::vector<detect::DetectionBox> detections;
  for (const auto& part : parts)
    for (const auto& d : part)
      detections.push_back({d[0].get<int64_t>(), d[1].get<int64_t>(), {d[2].get<double>(), d[3].get<double>(), d[4].get<double>(), d[5].get<double>()},
                            d[6].get<double>()});
  if (evaluated.empty()) throw Error("no image of the " + split + " split can be read");
  const Truth truth = truth_of(set, evaluated);
  return {{"examples", static_cast<int64_t>(evaluated.size())},
          {"metrics", stats_json(detect::coco_evaluate(truth.image_ids, truth.category_ids, truth.boxes, detections))}};
}

Json DetectTask::predict(const std::vector<std::string>& inputs, const Options& options) {
  std::vector<cv::Mat> images;
  for (const auto& path : inputs) images.push_back(data::read_image(path));
  const auto found = detect(images);
  Json predictions = Json::array(), results = Json::array();
  for (size_t i = 0; i < inputs.size(); ++i) {
    // COCO names images by number: a file named 000000391895.jpg is image 391895; others by position.
    int64_t image_id = static_cast<int64_t>(i);
    const std::string stem = fs::path(inputs[i]).stem().string();
    if (!stem.empty() && stem.size() < 18 && std::all_of(stem.begin(), stem.end(), ::isdigit)) image_id = std::stoll(stem);
    Json detections = Json::array();
    const auto& d = found[i];
    for (int64_t q = 0; q < d.scores.size(0); ++q) {
      const double score = d.scores[q].item<double>();
      if (score < threshold_) continue;
      const auto& category = categories_.at(static_cast<size_t>(d.labels[q].item<int64_t>()));
      auto b = d.boxes[q];
      const double x0 = b[0].item<double>(), y0 = b[1].item<double>(), x1 = b[2].item<double>(), y1 = b[3].item<double>();
      Json bbox = {x0, y0, x1 - x0, y1 - y0};
      detections.push_back({{"category_id", category.id}, {"category", category.name}, {"bbox", bbox}, {"score", score}});
      results.push_back({{"image_id", image_id}, {"category_id", category.id}, {"bbox", bbox}, {"score", score}});
    }
    std::sort(detections.begin(), detections.end(), [](const Json& a, const Json& b) { return a.at("score").get<double>() > b.at("score").get<double>(); });
    predictions.push_back({{"input", inputs[i]}, {"image_id", image_id}, {"detections", detections}});
  }
  if (options.has("results") && !options.get_string("results").empty()) write_file_atomic(options.get_string("results"), results.dump());
  // --out: each image with its detections drawn (several: FILE_1.png, FILE_2.png, ...).
  if (options.has("out") && !options.get_string("out").empty()) {
    const fs::path out(options.get_string("out"));
    for (size_t i = 0; i < inputs.size(); ++i) {
      std::vector<viz::LabelledBox> drawn;
      for (const auto& d : predictions[i].at("detections")) {
        const auto& b = d.at("bbox");
        char label[96];
        std::snprintf(label, sizeof(label), "%s %.2f", d.at("category").get<std::string>().c_str(), d.at("score").get<double>());
        drawn.push_back({{b[0].get<double>(), b[1].get<double>(), b[2].get<double>(), b[3].get<double>()}, label});
      }
      const std::string path = inputs.size() == 1 ? out.string() : ((out.parent_path() / out.stem()).string() + "_" + std::to_string(i + 1) + ".png");
      cv::Mat bgr;
      cv::cvtColor(viz::draw_boxes(images[i], drawn), bgr, cv::COLOR_RGB2BGR);
      viz::write_png(bgr, path);
      predictions[i]["drawn"] = path;
    }
  }
  return {{"task", name()}, {"model", model_name_}, {"threshold", threshold_}, {"predictions", predictions}};
}

std::vector<std::string> DetectTask::visualize_validation_example(const std::string& out_png) {
  return visualize_first_image(val_set_, out_png);
}

std::vector<std::string> DetectTask::visualize(const std::string& input, const std::string& out_png) {
  const cv::Mat image = data::read_image(input);
  const Detections d = detect({image}, true).at(0);
  if (!d.cross_attention.defined()) throw UsageError("visualize needs the model, not an export: give --checkpoint");
  // Drawn at most 320 pixels on the longer side (one tile per object), small images enlarged to
  // at least 256 on the shorter side so that labels stay readable.
  const int longer = std::max(image.cols, image.rows), shorter = std::min(image.cols, image.rows);
  const double shrink = longer > 320 ? 320.0 / longer : shorter < 256 ? std::min(320.0 / longer, 256.0 / shorter) : 1.0;
  const cv::Mat shown = shrink != 1.0 ? data::resize_exact(image, std::max(1, int(std::lround(image.rows * shrink))), std::max(1, int(std::lround(image.cols * shrink))))
                                      : image;
  // The detections scoring at least --threshold, best first; with none, the three best.
  std::vector<int64_t> order(static_cast<size_t>(d.scores.size(0)));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return d.scores[a].item<double>() > d.scores[b].item<double>(); });
  std::vector<int64_t> kept;
  for (int64_t q : order)
    if (d.scores[q].item<double>() >= threshold_) kept.push_back(q);
  const bool none = kept.empty();
  if (none) kept.assign(order.begin(), order.begin() + std::min<int64_t>(3, static_cast<int64_t>(order.size())));

  viz::Figure objects;
  std::vector<viz::LabelledBox> drawn;
  for (int64_t q : kept) {
    auto b = d.boxes[q] * shrink;
    const cv::Rect2d box(b[0].item<double>(), b[1].item<double>(), (b[2] - b[0]).item<double>(), (b[3] - b[1]).item<double>());
    char label[128];
    std::snprintf(label, sizeof(label), "%s %.2f (query %lld)", categories_.at(static_cast<size_t>(d.labels[q].item<int64_t>())).name.c_str(),
                  d.scores[q].item<double>(), static_cast<long long>(q));
    objects.maps.push_back(d.cross_attention[q]);
    objects.labels.push_back(label);
    objects.boxes.push_back(box);
    drawn.push_back({box, label});
  }
  objects.columns = static_cast<int>(std::min<size_t>(4, kept.size()));
  objects.title = model_name_ + ": where each detected object's query looks (last decoder layer, heads averaged)" +
                  (none ? "; none reaches --threshold, the 3 best shown" : "");
  // The encoder's self-attention of one position of the feature map (default: the centre).
  const int64_t h = d.encoder_attention.size(1), w = d.encoder_attention.size(2);
  const cv::Point at = query_.value_or(cv::Point(image.cols / 2, image.rows / 2));
  if (at.x >= image.cols || at.y >= image.rows)
    throw UsageError("invalid --query " + std::to_string(at.x) + "," + std::to_string(at.y) + ": the image is " + std::to_string(image.cols) + "x" +
                     std::to_string(image.rows));
  const int64_t cell = std::min<int64_t>(at.y * h / image.rows, h - 1) * w + std::min<int64_t>(at.x * w / image.cols, w - 1);
  viz::Figure encoder;
  encoder.suffix = "encoder";
  encoder.maps = {d.encoder_attention[cell]};
  encoder.labels = {viz::with_peak("last encoder layer", d.encoder_attention[cell])};
  encoder.marker = cv::Point(static_cast<int>(at.x * shrink), static_cast<int>(at.y * shrink));
  encoder.title = model_name_ + ": the encoder's self-attention of the marked position";
  auto paths = viz::write_figures({objects, encoder}, {shown, {}}, out_png);
  const fs::path out(out_png);
  const std::string boxes_png = (out.parent_path() / out.stem()).string() + "_boxes.png";
  cv::Mat bgr;
  cv::cvtColor(viz::draw_boxes(shown, drawn), bgr, cv::COLOR_RGB2BGR);
  viz::write_png(bgr, boxes_png);
  paths.push_back(boxes_png);
  return paths;
}

void DetectTask::export_torchscript(const std::string& path) {
  // forward(images) -> (logits, boxes), traced on a batch of 2 at the evaluation size; the
  // batch and the image size stay free (every shape in the graph comes from the input's).
  model_->to(torch::kCPU);
  model_->eval();
  torch::NoGradGuard no_grad;
  auto scripted = mirror_module(*model_, model_name_);
  const int64_t side = image_.image_size;
  auto images = torch::randn({2, 3, side, side + 32});
  add_traced_method(
      scripted, "forward",
      [&](const std::vector<torch::Tensor>& in) {
        auto [logits, boxes] = model_->predict(in[0]);
        return std::vector<torch::Tensor>{logits, boxes};
      },
      {images});
  save_torchscript(scripted, path, meta());
  model_->to(device_);
}

Json DetectTask::import_meta(const std::string& model, Json options, const NamedTensors& tensors) const {
  for (const char* key : {"class_embed.weight", "query_embed.weight", "input_proj.weight"})
    if (!tensors.count(key)) throw Error("the state dict has no " + std::string(key) + ": not a DETR state dict (facebookresearch/detr's names)");
  options["num_classes"] = tensors.at("class_embed.weight").size(0) - 1;
  options["num_queries"] = tensors.at("query_embed.weight").size(0);
  options["hidden_dim"] = tensors.at("query_embed.weight").size(1);
  const int64_t classes = options["num_classes"].get<int64_t>();
  // DETR trains on COCO's ids as labels: label k is category k.
  Json categories = Json::array();
  for (int64_t k = 0; k < classes; ++k)
    categories.push_back({{"id", k}, {"name", classes == 91 ? coco_names_by_id()[static_cast<size_t>(k)] : "class " + std::to_string(k)}});
  return {{"task", name()}, {"model", model}, {"model_options", options}, {"categories", categories},
          {"data", {{"path", ""}, {"seed", 0}, {"synth_size", 0}, {"val_fraction", 0.1}}}};
}

std::string DetectTask::write_synthetic(const SynthRequest& r) {
  const auto train = data::synth_boxes_split(r.n, static_cast<int>(r.image_size), r.seed, "train");
  const auto val = data::synth_boxes_split(r.n, static_cast<int>(r.image_size), r.seed, "val");
  data::write_coco_instances(train, r.out, "train");
  data::write_coco_instances(val, r.out, "val");
  return "wrote " + std::to_string(train.size()) + " training and " + std::to_string(val.size()) + " validation images (" +
         std::to_string(r.image_size) + "x" + std::to_string(r.image_size) + ", " + std::to_string(train.object_count() + val.object_count()) +
         " boxes of 6 shapes) to " + r.out + "/{train2017,val2017,annotations}";
}

Json score_detection_results(const std::string& data, const std::string& split, const std::string& results, double val_fraction) {
  if (is_synthetic(data))
    throw UsageError("--detections scores against annotations on disk; write " + data + " with zoo data synth --kind " + data.substr(6) +
                     " --out DIR and give --data DIR");
  const data::DetectionSet set = data::load_detection_split(data, split, val_fraction, false);
  std::map<int64_t, bool> known;
  for (const auto& image : set.images) known[image.image_id] = true;
  const auto detections = data::read_detection_results(results);
  for (size_t i = 0; i < detections.size(); ++i)
    if (!known.count(detections[i].image_id))
      throw Error(results + ": [" + std::to_string(i) + "]: image_id " + std::to_string(detections[i].image_id) + " is not in the " + split +
                  " split of " + set.source);
  std::vector<int64_t> all(static_cast<size_t>(set.size()));
  for (int64_t i = 0; i < set.size(); ++i) all[static_cast<size_t>(i)] = i;
  const Truth truth = truth_of(set, all);
  return {{"examples", set.size()}, {"metrics", stats_json(detect::coco_evaluate(truth.image_ids, truth.category_ids, truth.boxes, detections))}};
}

}  // namespace zoo
