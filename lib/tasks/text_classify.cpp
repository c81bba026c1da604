#include "lib/tasks/text_classify.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <numeric>

#include "lib/core/checkpoint.h"
#include "lib/core/distributed.h"
#include "lib/core/error.h"
#include "lib/core/files.h"
#include "lib/core/random.h"
#include "lib/export/torchscript.h"
#include "lib/nn/cross_entropy.h"
#include "lib/tasks/bert_text.h"
#include "lib/tasks/builtin.h"

namespace fs = std::filesystem;

namespace zoo {

namespace {

constexpr const char* kSpeakers = "speakers:";

}  // namespace

std::string TextClassifyTask::resolve_data(const std::string& data) const {
  if (is_synthetic(data)) return data;
  if (data.rfind(kSpeakers, 0) == 0) return kSpeakers + fs::absolute(data.substr(std::string(kSpeakers).size())).lexically_normal().string();
  return fs::absolute(data).lexically_normal().string();
}

data::LabelledText TextClassifyTask::load_split(const std::string& data, const std::string& split) const {
  if (is_synthetic(data)) own_synthetic(data);
  return data::load_labelled_text(data, split, data_.value("val_fraction", 0.1), data_.value("synth_size", int64_t{2048}), data_.value("seed", uint64_t{0}));
}

void TextClassifyTask::encode(const data::LabelledText& part, std::vector<std::vector<int64_t>>& ids, std::vector<int64_t>& labels) const {
  std::map<std::string, int64_t> index;
  for (size_t c = 0; c < classes_.size(); ++c) index[classes_[c]] = static_cast<int64_t>(c);
  const int64_t seq_len = inputs().seq_len;
  ids.clear(), labels.clear();
  for (size_t i = 0; i < part.texts.size(); ++i) {
    const auto found = index.find(part.labels[i]);
    if (found == index.end()) throw Error(part.origins[i] + ": label '" + part.labels[i] + "' is not one of the model's " + std::to_string(classes_.size()) + " classes");
    try {
      ids.push_back(bert_sequence(*tokenizer_, tokenizer_->encode(part.texts[i]), seq_len));
    } catch (const Error& e) {
      throw Error(part.origins[i] + ": " + e.what());
    }
    labels.push_back(found->second);
  }
}

void TextClassifyTask::setup_training(const Options& config, torch::Device device) {
  setup_common(config, device);
  data_["path"] = resolve_data(config.has("data") ? config.get_string("data") : spec().synthetic);
  for (const char* key : {"mask_prob", "whole_word"})
    if (model_options_.at(key) != data::BertInputs::options().to_json({}).at(key))
      throw UsageError(std::string("--set ") + key + " is a masked-LM option; text_classify masks nothing");
  train_ = load_split(data_path(), "train");
  val_ = load_split(data_path(), "val");
  // The classes: the training labels, sorted (as ImageFolder sorts its folders).
  std::map<std::string, int64_t> counts;
  for (const auto& label : train_.labels) ++counts[label];
  if (counts.size() < 2) throw Error(data_path() + ": the training data has " + std::to_string(counts.size()) + " label; a classifier needs at least 2");
  classes_.clear();
  for (const auto& [label, count] : counts) classes_.push_back(label);
  const auto most = std::max_element(counts.begin(), counts.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
  majority_class_ = std::distance(counts.begin(), most);
  // The head follows the labels unless --set num_classes (default 2) says otherwise, which must then agree.
  const auto set_classes = model_options_.at("num_classes").get<int64_t>();
  if (set_classes != 2 && set_classes != static_cast<int64_t>(classes_.size()))
    throw UsageError("--set num_classes=" + std::to_string(set_classes) + " but the data has " + std::to_string(classes_.size()) + " labels");
  model_options_["num_classes"] = static_cast<int64_t>(classes_.size());
  // The vocabulary: the --init checkpoint's (its word embeddings then fit), else a vocab.txt or
  // one learnt from the training texts.
  const std::string init = config.has("init") ? config.get_string("init") : "";
  if (!init.empty()) {
    const CheckpointReader reader(init);
    if (!reader.meta().contains("tokenizer")) throw UsageError("--init " + init + " holds no BERT vocabulary: give a mlm or text_classify checkpoint");
    tokenizer_ = text::wordpiece_from_json(reader.meta().at("tokenizer"));
    for (const char* key : {"vocab_file", "lowercase"})
      if (reader.meta().at("model_options").contains(key)) model_options_[key] = reader.meta().at("model_options").at(key);
  } else {
    const auto in = inputs();
    tokenizer_ = bert_tokenizer(in, train_.texts);
    if (!in.vocab_file.empty()) model_options_["vocab_file"] = fs::absolute(in.vocab_file).string();
  }
  model_options_["vocab"] = tokenizer_->size();
  if (inputs().seq_len > model_options_.at("max_positions").get<int64_t>())
    throw UsageError("--set seq_len=" + std::to_string(inputs().seq_len) + " is longer than the model's " + model_options_.at("max_positions").dump() + " positions");
  encode(train_, train_ids_, train_labels_);
  encode(val_, val_ids_, val_labels_);
  build_model();
  std::fprintf(stderr, "text_classify: %zu training and %zu validation texts, %zu classes (majority: %s), vocabulary %lld\n", train_ids_.size(),
               val_ids_.size(), classes_.size(), most->first.c_str(), (long long)tokenizer_->size());
}

void TextClassifyTask::read_meta(const Json& meta) {
  tokenizer_ = text::wordpiece_from_json(meta.at("tokenizer"));
  classes_ = meta.at("classes").get<std::vector<std::string>>();
  majority_class_ = meta.at("majority_class").get<int64_t>();
}

void TextClassifyTask::build_model() { model_ = build_model_as<models::BertClassifierImpl>("a BERT text classifier"); }

Json TextClassifyTask::meta() const {
  Json meta = common_meta();
  meta["tokenizer"] = text::wordpiece_to_json(*tokenizer_);
  meta["classes"] = classes_;
  meta["majority_class"] = majority_class_;
  return meta;
}

void TextClassifyTask::set_inference_options(const Options& o) {
  if (o.has("top_k") && o.get_int("top_k") > 0) top_k_ = o.get_int("top_k");
  if (o.has("layer")) visualize_layer_ = static_cast<int>(o.get_int("layer"));
}

void TextClassifyTask::adapt_init_weights(const Json& meta, NamedTensors& tensors) const {
  const std::string task = meta.value("task", std::string()), from = meta.value("model", std::string());
  if (task != "mlm" && task != "text_classify") throw UsageError("--init: a " + task + " checkpoint; text_classify starts from a mlm or text_classify one");
  if (from != model_name_) throw UsageError("--init: the checkpoint's model is " + from + ", not " + model_name_ + " (give --model " + from + ")");
  // The masked-LM head is left behind; a new classifier starts where the model has it.
  for (auto it = tensors.begin(); it != tensors.end();) it = it->first.rfind("cls.", 0) == 0 ? tensors.erase(it) : std::next(it);
  for (const auto& [name, tensor] : state_dict(*model_))
    if (name.rfind("classifier.", 0) == 0 && !tensors.count(name)) tensors[name] = tensor.detach().clone();
}

int64_t TextClassifyTask::batches_per_epoch() const {
  return std::max<int64_t>(1, static_cast<int64_t>(train_ids_.size()) / batch_size_);
}

std::unique_ptr<BatchStream> TextClassifyTask::train_batches(int64_t epoch, int64_t first_batch) {
  // A seeded permutation per epoch; global batch k holds its B texts, this rank's micro-batch
  // a contiguous part of them, padded to its longest.
  std::vector<int64_t> order(train_ids_.size());
  std::iota(order.begin(), order.end(), 0);
  Rng rng(mix_seed(seed_, 95, static_cast<uint64_t>(epoch)));
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[static_cast<size_t>(rng.randint(0, static_cast<int64_t>(i)))]);
  return micro_batch_stream(first_batch, [this, order = std::move(order)](int64_t k, int64_t micro) {
    const auto [begin, end] = shard_.micro_batch(batch_size_, micro);
    if (begin == end) return Batch{};
    std::vector<std::vector<int64_t>> rows;
    std::vector<int64_t> labels, ids;
    for (int64_t r = begin; r < end; ++r) {
      const int64_t i = order[static_cast<size_t>(k * batch_size_ + r)];
      rows.push_back(train_ids_[static_cast<size_t>(i)]), labels.push_back(train_labels_[static_cast<size_t>(i)]), ids.push_back(i);
    }
    return Batch{{pad_rows(rows), torch::tensor(labels, torch::kInt64)}, end - begin, ids};
  });
}

torch::Tensor TextClassifyTask::logits(const torch::Tensor& tokens) {
  if (scripted_) return scripted_->get_method("forward")({tokens.to(device_)}).toTensor();
  return model_->classify(tokens.to(device_));
}

torch::Tensor TextClassifyTask::loss(const Batch& batch) {
  return zoo::nn::cross_entropy(logits(batch.tensors.at(0)), batch.tensors.at(1).to(device_),
                                              torch::nn::functional::CrossEntropyFuncOptions().label_smoothing(label_smoothing_));
}

Json TextClassifyTask::evaluate(const std::string& split, const std::string& data) {
  std::vector<std::vector<int64_t>> ids;
  std::vector<int64_t> labels;
  if (data.empty() && split == "val" && !val_ids_.empty()) {
    ids = val_ids_, labels = val_labels_;
  } else {
    encode(load_split(data.empty() ? data_path() : resolve_data(data), split), ids, labels);
  }
  if (model_) model_->eval();
  torch::NoGradGuard no_grad;
  const auto classes = static_cast<int64_t>(classes_.size());
  // Per class: true positives, predicted, actual (macro-F1); the loss summed; a rank's part each.
  std::vector<double> sums(static_cast<size_t>(3 * classes + 1), 0.0);  // ..., nll
  const auto [begin, end] = shard_.eval_part(static_cast<int64_t>(ids.size()));
  for (int64_t b = begin; b < end; b += batch_size_) {
    const int64_t stop = std::min(end, b + batch_size_);
    const std::vector<std::vector<int64_t>> rows(ids.begin() + b, ids.begin() + stop);
    const auto target = torch::tensor(std::vector<int64_t>(labels.begin() + b, labels.begin() + stop), torch::kInt64);
    const auto scores = logits(pad_rows(rows)).to(torch::kCPU, torch::kFloat32);
    sums[static_cast<size_t>(3 * classes)] +=
        zoo::nn::cross_entropy(scores, target, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum)).item<double>();
    const auto predicted = scores.argmax(1);
    for (int64_t i = 0; i < target.size(0); ++i) {
      const int64_t p = predicted[i].item<int64_t>(), t = target[i].item<int64_t>();
      sums[static_cast<size_t>(3 * p + 1)] += 1, sums[static_cast<size_t>(3 * t + 2)] += 1;
      if (p == t) sums[static_cast<size_t>(3 * t)] += 1;
    }
  }
  sums = sum_over_ranks(shard_.group, sums);
  const double n = static_cast<double>(ids.size());
  double correct = 0, f1 = 0;
  for (int64_t c = 0; c < classes; ++c) {
    const double tp = sums[static_cast<size_t>(3 * c)], predicted = sums[static_cast<size_t>(3 * c + 1)], actual = sums[static_cast<size_t>(3 * c + 2)];
    correct += tp;
    // F1 = 2 TP / (predicted + actual); a class neither predicted nor present counts 0, as scikit-learn's zero_division=0
    f1 += predicted + actual > 0 ? 2 * tp / (predicted + actual) : 0.0;
  }
  return {{"examples", ids.size()},
          {"metrics",
           {{"accuracy", 100.0 * correct / n}, {"macro_f1", 100.0 * f1 / static_cast<double>(classes)}, {"loss", sums[static_cast<size_t>(3 * classes)] / n},
            {"majority", 100.0 * sums[static_cast<size_t>(3 * majority_class_ + 2)] / n}}}};
}

Json TextClassifyTask::predict(const std::vector<std::string>& inputs, const Options& options) {
  if (model_) model_->eval();
  torch::NoGradGuard no_grad;
  Json predictions = Json::array();
  const int64_t seq_len = this->inputs().seq_len;
  for (const auto& text : inputs) {
    const auto ids = bert_sequence(*tokenizer_, tokenizer_->encode(text), seq_len);
    const auto probabilities = torch::softmax(logits(torch::tensor(ids, torch::kInt64).unsqueeze(0)).to(torch::kCPU, torch::kFloat32), 1)[0];
    const auto [top_p, top_c] = probabilities.topk(std::min<int64_t>(top_k_, probabilities.size(0)));
    Json top = Json::array();
    for (int64_t j = 0; j < top_c.size(0); ++j)
      top.push_back({{"label", classes_[static_cast<size_t>(top_c[j].item<int64_t>())]}, {"probability", top_p[j].item<double>()}});
    predictions.push_back({{"input", text}, {"label", top.at(0).at("label")}, {"top", top}});
  }
  return {{"task", name()}, {"model", model_name_}, {"predictions", predictions}};
}

void TextClassifyTask::export_torchscript(const std::string& path) {
  // forward(tokens (B, T)) -> logits (B, classes); tokens are [CLS] ... [SEP] rows padded with [PAD] (0).
  model_->to(torch::kCPU);
  model_->eval();
  torch::NoGradGuard no_grad;
  auto scripted = mirror_module(*model_, model_name_);
  const std::vector<int64_t> rows{tokenizer_->cls(), 7, 8, 9, tokenizer_->sep(), tokenizer_->cls(), 8, tokenizer_->sep(), 0, 0};
  const auto example = torch::tensor(rows, torch::kInt64).view({2, 5}).clamp_max(tokenizer_->size() - 1);
  add_traced_method(
      scripted, "forward", [&](const std::vector<torch::Tensor>& in) { return std::vector<torch::Tensor>{model_->classify(in[0])}; }, {example});
  save_torchscript(scripted, path, meta());
  model_->to(device_);
}

std::vector<std::string> TextClassifyTask::visualize(const std::string& input, const std::string& out_png) {
  const auto ids = bert_sequence(*tokenizer_, tokenizer_->encode(input), inputs().seq_len);
  if (ids.size() <= 2) throw UsageError("--input is empty: give a text to look at");
  const viz::LookOptions look{model_name_, visualize_layer_, std::nullopt, {}, "h"};
  return write_bert_attention(*model_, *tokenizer_, ids, look, out_png, device_);
}

std::vector<std::string> TextClassifyTask::visualize_validation_example(const std::string& out_png) {
  if (val_.texts.empty()) return {};
  return visualize(val_.texts.front(), out_png);
}

std::string TextClassifyTask::write_synthetic(const SynthRequest& r) {
  fs::create_directories(r.out);
  int64_t written = 0;
  for (const char* split : {"train", "val"}) {
    const auto part = data::load_labelled_text("synth:topics", split, 0.1, r.n, r.seed);
    std::string text;
    for (size_t i = 0; i < part.texts.size(); ++i) text += part.texts[i] + "\t" + part.labels[i] + "\n";
    write_file_atomic((fs::path(r.out) / (std::string(split) + ".tsv")).string(), text);
    written += static_cast<int64_t>(part.texts.size());
  }
  return "wrote " + std::to_string(written) + " sentences of synth:topics to " + r.out + "/{train,val}.tsv (text<TAB>label)";
}

}  // namespace zoo
