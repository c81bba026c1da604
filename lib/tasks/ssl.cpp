#include "lib/tasks/ssl.h"

#include <cmath>
#include <filesystem>

#include "data/loader.h"
#include "lib/core/error.h"
#include "lib/core/registry.h"
#include "lib/export/torchscript.h"
#include "lib/tasks/classify.h"
#include "lib/viz/figure.h"
#include "models/vision/vit.h"

namespace fs = std::filesystem;

namespace zoo {

namespace {

// Below this fraction of a spread-out representation's std (1/sqrt(dim)), the log warns of collapse.
constexpr double kCollapseRatio = 0.1;

}  // namespace

KnnVote knn_vote(const torch::Tensor& memory, const torch::Tensor& memory_labels, const torch::Tensor& queries, int64_t k, double temperature,
                 int64_t classes) {
  const int64_t m = queries.size(0), neighbours = std::min<int64_t>(k, memory.size(0));
  auto [similarity, index] = torch::mm(queries, memory.t()).topk(neighbours, 1);  // (m, N) cosines of unit rows -> (m, k)
  auto votes = torch::zeros({m, classes}, similarity.options());
  // Each neighbour adds exp(s / T) to its class.
  votes.scatter_add_(1, memory_labels.index_select(0, index.flatten()).view({m, neighbours}), (similarity / temperature).exp());
  return {votes, similarity, index};
}

double knn_top1(const torch::Tensor& memory, const torch::Tensor& memory_labels, const torch::Tensor& queries, const torch::Tensor& query_labels,
                int64_t k, double temperature, int64_t classes) {
  int64_t correct = 0;
  // Queries in chunks, so the (chunk, N) similarities stay small.
  for (int64_t start = 0; start < queries.size(0); start += 256) {
    const int64_t m = std::min<int64_t>(256, queries.size(0) - start);
    const auto vote = knn_vote(memory, memory_labels, queries.narrow(0, start, m), k, temperature, classes);
    correct += vote.votes.argmax(1).eq(query_labels.narrow(0, start, m)).sum().item<int64_t>();
  }
  return queries.size(0) == 0 ? 0.0 : 100.0 * static_cast<double>(correct) / static_cast<double>(queries.size(0));
}

torch::Tensor keep_mass(const torch::Tensor& attention, double mass) {
  // Sort ascending, normalise, accumulate: the values past 1 - mass of the running sum are the
  // largest ones that hold `mass` together (DINO's visualize_attention.py); back to their places.
  auto [sorted, order] = attention.sort(1);
  auto cumulative = (sorted / sorted.sum(1, /*keepdim=*/true)).cumsum(1);
  auto kept = cumulative.gt(1.0 - mass).to(attention.dtype());
  return torch::zeros_like(attention).scatter_(1, order, kept);
}

void SslTask::setup_training(const Options& config, torch::Device device) {
  setup_common(config, device);
  preprocess_ = data::Preprocess::from_json(model_options_);
  bad_samples_ = data::bad_samples_policy(config.has("bad_samples") ? config.get_string("bad_samples") : "fail");
  channels_last_ = config.has("channels_last") && config.get_bool("channels_last");
  train_set_ = open_split(data_path(), "train");
  val_set_ = open_split(data_path(), "val");
  classes_ = train_set_->classes();
  build_model();
}

std::shared_ptr<data::ImageDataset> SslTask::open_split(const std::string& path, const std::string& split) const {
  return open_image_split(path, split, own_synthetic(path), data_, preprocess_.input_size, classes_);
}

void SslTask::read_meta(const Json& meta) {
  classes_ = meta.at("classes").get<std::vector<std::string>>();
  preprocess_ = data::Preprocess::from_json(meta.at("preprocess"));
}

void SslTask::build_model() {
  model_ = build_model_as<models::SslModelImpl>("a self-supervised model");
  if (channels_last_) models::to_channels_last(*model_);
}

Json SslTask::meta() const {
  Json meta = common_meta();
  meta["classes"] = classes_;
  meta["preprocess"] = preprocess_.to_json();
  meta["backbone_prefix"] = models::ssl_backbone_prefix(model_options_.at("method").get<std::string>());
  return meta;
}

void SslTask::adapt_weights(NamedTensors& tensors) const {
  // A ViT's position embeddings, made for another image size, in both networks.
  for (const char* side : {"online.backbone.", "target.backbone.", "student.backbone.", "teacher.backbone."}) {
    NamedTensors part;
    for (const auto& [name, tensor] : tensors)
      if (name.rfind(side, 0) == 0) part[name.substr(std::string(side).size())] = tensor;
    if (part.empty()) continue;
    model_->online->backbone->adapt_state_dict(part);
    for (const auto& [name, tensor] : part) tensors[side + name] = tensor;
  }
}

std::vector<ParameterGroup> SslTask::parameter_groups() const {
  // The online network trains; the target only follows it (after_step). DINO's last layer waits
  // freeze_last_layer epochs, as DINO's cancel_gradients_last_layer.
  const auto frozen_first = model_->last_layer_parameters();
  ParameterGroup online{"online network", {}};
  for (const auto& p : model_->online->parameters()) {
    if (!p.requires_grad()) continue;
    const bool last = std::any_of(frozen_first.begin(), frozen_first.end(), [&](const torch::Tensor& q) { return q.is_same(p); });
    if (!last || model_->config().freeze_last_layer == 0) online.parameters.push_back(p);
  }
  std::vector<ParameterGroup> groups{online};
  if (!frozen_first.empty() && model_->config().freeze_last_layer > 0)
    groups.push_back({"head's last layer", frozen_first, 0.0, model_->config().freeze_last_layer});
  return groups;
}

int64_t SslTask::batches_per_epoch() const {
  // Drop the last partial batch (BatchNorm needs more than one example), unless the set is smaller.
  return std::max<int64_t>(1, train_set_->size() / batch_size_);
}

std::vector<data::ViewAugment> SslTask::views() const {
  const auto& c = model_->config();
  const int size = static_cast<int>(preprocess_.input_size);
  if (c.method == "byol") return data::byol_views(size);
  // DINO's 96 px local crops of 224 px globals: 3/7 of the side, up to a multiple of 8.
  const int local = c.local_crop_size > 0 ? static_cast<int>(c.local_crop_size) : (size * 3 / 7 + 7) / 8 * 8;
  return data::dino_views(size, local, static_cast<int>(c.local_crops));
}

std::unique_ptr<BatchStream> SslTask::train_batches(int64_t epoch, int64_t first_batch) {
  auto order = std::make_shared<std::vector<int64_t>>(data::epoch_order(train_set_->size(), seed_, epoch));
  auto dataset = train_set_;
  const int64_t batch_size = std::min<int64_t>(batch_size_, dataset->size());
  const auto preprocess = preprocess_;
  const auto view_specs = views();
  const uint64_t seed = seed_;
  auto bad_samples = bad_samples_;
  auto make_batch = [=](int64_t b, int64_t) {
    std::vector<std::vector<torch::Tensor>> by_view(view_specs.size());
    std::vector<int64_t> labels, ids;
    for (int64_t i = b * batch_size; i < (b + 1) * batch_size; ++i) {
      const auto [index, image] = data::next_readable(
          *order, i, [&](int64_t e) { return dataset->image(e); }, [&](int64_t e) { return dataset->describe(e); }, *bad_samples);
      // Each sample's views are seeded by (seed, epoch, index): any worker draws the same.
      Rng rng(mix_seed(seed, static_cast<uint64_t>(epoch), static_cast<uint64_t>(index)));
      for (size_t v = 0; v < view_specs.size(); ++v)
        by_view[v].push_back(data::to_tensor(data::augment_view(image, view_specs[v], rng), preprocess.mean, preprocess.std));
      labels.push_back(dataset->label(index));
      ids.push_back(index);
    }
    Batch batch;
    for (const auto& samples : by_view) batch.tensors.push_back(data::stack_samples(samples));  // each (B, 3, s, s)
    batch.tensors.push_back(torch::tensor(labels, torch::kInt64));
    batch.size = static_cast<int64_t>(labels.size()), batch.ids = ids;
    return batch;
  };
  return micro_batch_stream(first_batch, make_batch);
}

void SslTask::before_step(int64_t step, int64_t total_steps, double epoch) {
  momentum_ = model_->momentum_at(step, total_steps);
  model_->set_teacher_temp(model_->teacher_temp_at(epoch));
}

torch::Tensor SslTask::loss(const Batch& batch) {
  std::vector<torch::Tensor> views;
  for (size_t v = 0; v + 1 < batch.tensors.size(); ++v)
    views.push_back(channels_last_ ? batch.tensors[v].to(device_).contiguous(at::MemoryFormat::ChannelsLast) : batch.tensors[v].to(device_));
  auto result = model_->loss(views);
  std_sum_ += result.embedding_std, ++std_count_;
  return result.loss;
}

void SslTask::after_step() { model_->update_target(momentum_); }

std::vector<std::string> SslTask::take_notices() {
  auto out = bad_samples_->take_notices();
  out.insert(out.end(), notices_.begin(), notices_.end());
  notices_.clear();
  return out;
}

void SslTask::set_inference_options(const Options& options) {
  if (options.has("bad_samples")) bad_samples_ = data::bad_samples_policy(options.get_string("bad_samples"));
}

std::pair<torch::Tensor, torch::Tensor> SslTask::embed_all(const data::ImageDataset& dataset, double* watched) {
  if (model_) model_->eval();
  torch::NoGradGuard no_grad;
  const int64_t n = dataset.size(), batches = (n + batch_size_ - 1) / batch_size_, batch_size = batch_size_;
  const auto preprocess = preprocess_;
  auto bad_samples = bad_samples_;
  auto make_batch = [&dataset, preprocess, batch_size, n, bad_samples](int64_t b) {
    std::vector<torch::Tensor> images;
    std::vector<int64_t> labels;
    for (int64_t i = b * batch_size; i < std::min(n, (b + 1) * batch_size); ++i) {
      auto image = data::image_or_skip(dataset, i, *bad_samples);
      if (!image) continue;  // left out of the memory and the metrics
      images.push_back(preprocess.eval(*image));
      labels.push_back(dataset.label(i));
    }
    if (images.empty()) return Batch{};
    return Batch{{data::stack_samples(images), torch::tensor(labels, torch::kInt64)}, static_cast<int64_t>(labels.size())};
  };
  data::PrefetchLoader loader(0, batches, make_batch, workers_);
  std::vector<torch::Tensor> features, labels, projections;
  while (auto batch = loader.next()) {
    if (batch->size == 0) continue;
    torch::Tensor z;
    features.push_back(embed_images(batch->tensors[0], watched ? &z : nullptr));
    if (z.defined()) projections.push_back(z);
    labels.push_back(batch->tensors[1]);
  }
  if (features.empty()) throw Error("no image of " + dataset.describe(0) + "'s split can be read");
  if (watched) *watched = projections.empty() ? std::nan("") : models::normalised_std(torch::cat(projections, 0));
  return {torch::cat(features, 0), torch::cat(labels, 0)};
}

torch::Tensor SslTask::embed_images(const torch::Tensor& images, torch::Tensor* watched) {
  auto x = images.to(device_);
  torch::Tensor y;
  if (scripted_) {
    y = scripted_->forward({x}).toTensor();
  } else {
    auto& network = model_->eval_network();
    y = network.backbone->embed(x);  // (B, D)
    if (watched) {
      network.project_embedding(y, watched);
      *watched = watched->to(torch::kCPU);
    }
  }
  return torch::nn::functional::normalize(y.to(torch::kCPU).to(torch::kFloat32), torch::nn::functional::NormalizeFuncOptions().dim(1));
}

Json SslTask::evaluate(const std::string& split, const std::string& data) {
  // The training split is the memory: its own images would find themselves.
  if (split == "train") throw UsageError("invalid --split train for task ssl: k-NN looks up the val or test images among the training images");
  const std::string path = data_for(data);
  auto memory_set = (data.empty() && train_set_) ? train_set_ : open_split(path, "train");
  auto query_set = (data.empty() && split == "val" && val_set_) ? val_set_ : open_split(path, split);
  const auto [memory, memory_labels] = embed_all(*memory_set);
  double watched = 0;
  const auto [queries, query_labels] = embed_all(*query_set, &watched);
  const double temperature = model_ ? model_->config().knn_temperature : models::SslConfig{}.knn_temperature;
  const auto classes = static_cast<int64_t>(classes_.size());
  Json metrics = {{"knn_top1_k20", knn_top1(memory, memory_labels, queries, query_labels, 20, temperature, classes)},
                  {"knn_top1_k200", knn_top1(memory, memory_labels, queries, query_labels, 200, temperature, classes)}};
  if (std::isfinite(watched)) {
    // The collapse watch: a spread-out representation of width d has a std near 1/sqrt(d).
    metrics["embedding_std"] = watched;
    const double width = static_cast<double>(model_->config().method == "dino" ? model_->config().head_bottleneck : model_->config().projector_dim);
    if (watched * std::sqrt(width) < kCollapseRatio)
      notices_.push_back("warning: the representation may be collapsing: the std of the normalised projections is " + format_value(watched) +
                         ", under " + format_value(kCollapseRatio) + " / sqrt(" + format_value(width) +
                         ") (lower the lr, raise the EMA momentum, or for DINO the teacher temperature's warm-up)");
  }
  return {{"examples", queries.size(0)}, {"metrics", metrics}};
}

Json SslTask::predict(const std::vector<std::string>& inputs, const Options& options) {
  auto memory_set = open_split(data_path(), "train");
  const auto [memory, memory_labels] = embed_all(*memory_set);
  if (model_) model_->eval();
  torch::NoGradGuard no_grad;
  const double temperature = model_ ? model_->config().knn_temperature : models::SslConfig{}.knn_temperature;
  const auto classes = static_cast<int64_t>(classes_.size());
  const int64_t shown = std::min<int64_t>(options.has("topk") ? options.get_int("topk") : 5, classes);
  if (shown <= 0) throw UsageError("invalid --topk: expected a positive integer");
  Json predictions = Json::array();
  for (size_t start = 0; start < inputs.size(); start += static_cast<size_t>(batch_size_)) {
    const size_t end = std::min(inputs.size(), start + static_cast<size_t>(batch_size_));
    std::vector<torch::Tensor> images;
    for (size_t i = start; i < end; ++i) images.push_back(preprocess_.eval(data::read_image(inputs[i])));
    const auto vote = knn_vote(memory, memory_labels, embed_images(data::stack_samples(images)), 20, temperature, classes);
    // The classes by their share of the neighbours' votes.
    auto [share, best] = (vote.votes / vote.votes.sum(1, /*keepdim=*/true)).topk(shown, 1);  // (B, shown)
    for (size_t i = start; i < end; ++i) {
      const auto row = static_cast<int64_t>(i - start);
      Json top = Json::array(), neighbours = Json::array();
      for (int64_t j = 0; j < shown; ++j) {
        const int64_t c = best[row][j].item<int64_t>();
        top.push_back({{"class", classes_.at(static_cast<size_t>(c))}, {"index", c}, {"prob", share[row][j].item<double>()}});
      }
      for (int64_t j = 0; j < std::min<int64_t>(5, vote.index.size(1)); ++j) {
        const int64_t m = vote.index[row][j].item<int64_t>();
        neighbours.push_back({{"file", memory_set->describe(m)}, {"class", classes_.at(static_cast<size_t>(memory_labels[m].item<int64_t>()))},
                              {"similarity", vote.similarity[row][j].item<double>()}});
      }
      predictions.push_back({{"input", inputs[i]}, {"top", top}, {"neighbours", neighbours}});
    }
  }
  return {{"task", name()}, {"model", model_name_}, {"predictions", predictions}};
}

void SslTask::export_torchscript(const std::string& path) {
  model_->to(torch::kCPU);
  model_->eval();
  auto& backbone = *model_->eval_network().backbone;
  auto example = torch::randn({2, 3, preprocess_.input_size, preprocess_.input_size});
  auto scripted = trace_module(backbone, model_name_, [&](const std::vector<torch::Tensor>& in) { return backbone.embed(in[0]); }, {example});
  save_torchscript(scripted, path, meta());
  model_->to(device_);
}

std::vector<std::string> SslTask::visualize_validation_example(const std::string& out_png) {
  return visualize_first_image(val_set_, out_png);
}

std::vector<std::string> SslTask::visualize(const std::string& input, const std::string& out_png) {
  const cv::Mat shown = preprocess_.eval_image(data::read_image(input));
  const auto x = data::to_tensor(shown, preprocess_.mean, preprocess_.std).unsqueeze(0).to(device_);  // (1, 3, S, S)
  model_->eval();
  auto& backbone = model_->eval_network().backbone;
  const int side = static_cast<int>(preprocess_.input_size);
  auto* vit = dynamic_cast<models::VisionTransformerImpl*>(backbone.get());
  if (!vit) {
    viz::LookOptions look{model_name_, -1, cv::Point(side / 2, side / 2)};
    return viz::write_figures(backbone->look(x, look), {shown, {}}, out_png);
  }
  torch::NoGradGuard no_grad;
  vit->keep_attention(true);
  vit->embed(x);
  vit->keep_attention(false);
  const auto layers = vit->attention_maps();  // each (1, heads, T, T)
  const int64_t prefix = vit->prefix_tokens(), grid = side / vit->config().patch_size;
  // The last layer's class-token attention over the patches, per head: (heads, grid * grid)
  auto cls = layers.back()[0].select(1, 0).narrow(1, prefix, grid * grid).to(torch::kCPU).to(torch::kFloat32);
  auto masks = keep_mass(cls, 0.6);
  viz::Figure figure;
  for (int64_t h = 0; h < cls.size(0); ++h) {
    figure.maps.push_back(cls[h].view({grid, grid}));
    figure.labels.push_back(viz::with_peak("head " + std::to_string(h), cls[h]));
  }
  for (int64_t h = 0; h < cls.size(0); ++h) {
    figure.maps.push_back(masks[h].view({grid, grid}));
    figure.labels.push_back("head " + std::to_string(h) + ": 60% of the mass");
  }
  figure.columns = static_cast<int>(cls.size(0));
  figure.title = model_name_ + " (" + model_->config().method + "): the last layer's class-token attention per head, and the patches holding 60% of it";
  return viz::write_figures({figure}, {shown, {}}, out_png);
}

}  // namespace zoo
