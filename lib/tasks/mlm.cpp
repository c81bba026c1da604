#include "lib/tasks/mlm.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "data/mlm_masking.h"
#include "lib/core/distributed.h"
#include "lib/core/error.h"
#include "lib/core/random.h"
#include "lib/core/registry.h"
#include "lib/export/torchscript.h"
#include "lib/nn/cross_entropy.h"
#include "lib/tasks/bert_text.h"
#include "lib/tasks/builtin.h"

namespace zoo {

namespace {

constexpr int64_t kShownMasks = 12;  // the masked pieces of the first validation window shown in TensorBoard

}  // namespace

data::TextCorpus MlmTask::load_split(const std::string& path, const std::string& split) const {
  return data::load_text(path, split, data_.value("val_fraction", 0.1), data_.value("synth_size", int64_t{2048}), data_.value("seed", uint64_t{0}));
}

void MlmTask::setup_training(const Options& config, torch::Device device) {
  setup_common(config, device);
  train_corpus_ = load_split(data_path(), "train");
  val_corpus_ = load_split(data_path(), "val");
  const auto in = inputs();
  // The vocabulary from the training part only; the model's word embeddings follow it.
  tokenizer_ = bert_tokenizer(in, train_corpus_.lines);
  if (!in.vocab_file.empty()) model_options_["vocab_file"] = std::filesystem::absolute(in.vocab_file).string();
  model_options_["vocab"] = tokenizer_->size();
  if (in.seq_len > model_options_.at("max_positions").get<int64_t>())
    throw UsageError("--set seq_len=" + std::to_string(in.seq_len) + " is longer than the model's " + model_options_.at("max_positions").dump() +
                     " positions (--set max_positions)");
  train_ids_ = encode_corpus(train_corpus_, &train_line_starts_);
  val_ids_ = encode_corpus(*val_corpus_);
  if (train_ids_.empty()) throw Error(data_path() + ": the training text holds no word piece");
  if (val_ids_.empty()) throw Error(data_path() + ": the validation text holds no word piece");
  build_model();
  int64_t unknown = std::count(train_ids_.begin(), train_ids_.end(), tokenizer_->unk());
  std::fprintf(stderr, "mlm: %zu training pieces (%zu lines), %zu validation pieces; vocabulary %lld (%s), %.2f%% [UNK]\n", train_ids_.size(),
               train_corpus_.lines.size(), val_ids_.size(), (long long)tokenizer_->size(), in.vocab_file.empty() ? "learnt" : in.vocab_file.c_str(),
               100.0 * static_cast<double>(unknown) / static_cast<double>(train_ids_.size()));
}

void MlmTask::read_meta(const Json& meta) {
  tokenizer_ = text::wordpiece_from_json(meta.at("tokenizer"));
}

void MlmTask::build_model() { model_ = build_model_as<models::BertForMaskedLmImpl>("a BERT masked language model"); }

Json MlmTask::meta() const {
  Json meta = common_meta();
  meta["tokenizer"] = text::wordpiece_to_json(*tokenizer_);
  return meta;
}

void MlmTask::set_inference_options(const Options& o) {
  if (o.has("top_k") && o.get_int("top_k") > 0) top_k_ = o.get_int("top_k");
  if (o.has("layer")) visualize_layer_ = static_cast<int>(o.get_int("layer"));
}

std::vector<int64_t> MlmTask::encode_corpus(const data::TextCorpus& corpus, std::vector<int64_t>* line_starts) const {
  std::vector<int64_t> ids;
  for (size_t i = 0; i < corpus.lines.size(); ++i) {
    if (line_starts) line_starts->push_back(static_cast<int64_t>(ids.size()));
    try {
      for (int64_t id : tokenizer_->encode(corpus.lines[i])) ids.push_back(id);
    } catch (const Error& e) {
      throw Error(corpus.origin(i) + ": " + e.what());
    }
  }
  return ids;
}

std::vector<int64_t> MlmTask::tokenize(const std::string& text) const { return tokenizer_->encode(text); }

int64_t MlmTask::window() const {
  const int64_t body = inputs().seq_len - 2;
  return train_ids_.empty() ? body : std::min<int64_t>(body, static_cast<int64_t>(train_ids_.size()));
}

int64_t MlmTask::batches_per_epoch() const {
  // An epoch reads about every training piece once.
  return std::max<int64_t>(1, static_cast<int64_t>(train_ids_.size()) / (batch_size_ * window()));
}

std::string MlmTask::describe_sample(int64_t id) const {
  // id: the training-stream position where a window starts.
  auto it = std::upper_bound(train_line_starts_.begin(), train_line_starts_.end(), id);
  const auto line = static_cast<size_t>(std::max<std::ptrdiff_t>(0, (it - train_line_starts_.begin()) - 1));
  return train_corpus_.origin(line) + " (piece " + std::to_string(id) + ")";
}

std::pair<std::vector<int64_t>, std::vector<int64_t>> MlmTask::masked_window(const std::vector<int64_t>& ids, int64_t start, int64_t length,
                                                                             uint64_t seed) const {
  std::vector<int64_t> sequence{tokenizer_->cls()};
  sequence.insert(sequence.end(), ids.begin() + start, ids.begin() + start + length);
  sequence.push_back(tokenizer_->sep());
  std::vector<bool> maskable(sequence.size(), true), continues(sequence.size(), false);
  maskable.front() = maskable.back() = false;
  for (size_t i = 1; i + 1 < sequence.size(); ++i) continues[i] = tokenizer_->continues_word(sequence[i]);
  const auto in = inputs();
  data::MaskingOptions masking;
  masking.probability = in.mask_prob, masking.whole_word = in.whole_word;
  std::mt19937_64 rng(seed);
  auto masked = data::mask_pieces(sequence, maskable, continues, tokenizer_->mask(), tokenizer_->size(), masking, rng);
  return {std::move(masked.input), std::move(masked.labels)};
}

std::unique_ptr<BatchStream> MlmTask::train_batches(int64_t epoch, int64_t first_batch) {
  const int64_t length = window(), rows = batch_size_;
  const auto n = static_cast<int64_t>(train_ids_.size());
  // B windows at uniformly random offsets (a function of seed, epoch and batch), each masked
  // afresh with its own seed: the same pieces whatever the shard or the loader's threads.
  return micro_batch_stream(first_batch, [this, length, rows, n, epoch](int64_t k, int64_t micro) {
    const uint64_t batch_seed = mix_seed(mix_seed(seed_, 71, static_cast<uint64_t>(epoch)), static_cast<uint64_t>(k));
    Rng rng(batch_seed);
    std::vector<int64_t> starts;
    for (int64_t r = 0; r < rows; ++r) starts.push_back(rng.randint(0, n - length + 1));
    const auto [begin, end] = shard_.micro_batch(rows, micro);
    if (begin == end) return Batch{};
    std::vector<std::vector<int64_t>> inputs, labels;
    for (int64_t r = begin; r < end; ++r) {
      auto [input, label] = masked_window(train_ids_, starts[static_cast<size_t>(r)], length, mix_seed(batch_seed, 72, static_cast<uint64_t>(r)));
      inputs.push_back(std::move(input)), labels.push_back(std::move(label));
    }
    return Batch{{pad_rows(inputs), pad_rows(labels, -1)}, end - begin, std::vector<int64_t>(starts.begin() + begin, starts.begin() + end)};
  });
}

torch::Tensor MlmTask::scores_at(const torch::Tensor& input, const torch::Tensor& selected) {
  const auto tokens = input.to(device_), where = selected.to(device_);
  if (scripted_) {
    // The export's forward(tokens (B, T)) -> scores (B, T, V) at every position.
    auto scores = scripted_->get_method("forward")({tokens}).toTensor();
    return scores.flatten(0, 1).index({where.flatten()});
  }
  // Only the selected positions go through the head: (N, H) -> (N, V).
  const auto states = model_->forward(tokens);
  return model_->predict_tokens(states.flatten(0, 1).index({where.flatten()}));
}

double MlmTask::loss_weight(const Batch& batch) const { return static_cast<double>(batch.tensors.at(1).ge(0).sum().item<int64_t>()); }

torch::Tensor MlmTask::loss(const Batch& batch) {
  const auto& labels = batch.tensors.at(1);
  const auto selected = labels.ge(0);
  const auto scores = scores_at(batch.tensors.at(0), selected);
  // -log p(x_t | x_masked), averaged over the masked pieces of the batch
  return zoo::nn::cross_entropy(
      scores, labels.flatten().index({selected.flatten()}).to(device_),
      torch::nn::functional::CrossEntropyFuncOptions().label_smoothing(label_smoothing_));
}

Json MlmTask::evaluate(const std::string& split, const std::string& data) {
  const bool own_val = data.empty() && split == "val" && val_corpus_;
  const std::vector<int64_t> ids = own_val && !val_ids_.empty() ? val_ids_ : encode_corpus(load_split(data_for(data), split));
  if (ids.empty()) throw Error("the " + split + " text holds no word piece");
  if (model_) model_->eval();
  torch::NoGradGuard no_grad;
  // Consecutive windows (the last one shorter), window w masked with seed w: every checkpoint
  // is scored on the same masked pieces. A data-parallel run's ranks take a part of them each.
  const int64_t length = inputs().seq_len - 2, n = static_cast<int64_t>(ids.size());
  const int64_t windows = (n + length - 1) / length;
  const auto [begin, end] = shard_.eval_part(windows);
  double nll = 0, correct = 0, predicted = 0;
  for (int64_t b = begin; b < end; b += batch_size_) {
    std::vector<std::vector<int64_t>> inputs, labels;
    for (int64_t w = b; w < std::min(end, b + batch_size_); ++w) {
      auto [input, label] = masked_window(ids, w * length, std::min(length, n - w * length), mix_seed(73, static_cast<uint64_t>(w)));
      inputs.push_back(std::move(input)), labels.push_back(std::move(label));
    }
    const auto label_rows = pad_rows(labels, -1), selected = label_rows.ge(0);
    const auto scores = scores_at(pad_rows(inputs), selected).to(torch::kCPU, torch::kFloat32);
    const auto target = label_rows.flatten().index({selected.flatten()});
    nll += zoo::nn::cross_entropy(scores, target, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum)).item<double>();
    correct += scores.argmax(1).eq(target).sum().item<double>();
    predicted += static_cast<double>(target.numel());
  }
  const auto sums = sum_over_ranks(shard_.group, {nll, correct, predicted});
  if (sums[2] == 0) throw Error("the " + split + " text gave no piece to predict");
  const double loss = sums[0] / sums[2];
  return {{"examples", static_cast<int64_t>(sums[2])}, {"metrics", {{"loss", loss}, {"ppl", std::exp(loss)}, {"accuracy", 100.0 * sums[1] / sums[2]}}}};
}

Json MlmTask::predict(const std::vector<std::string>& inputs, const Options& options) {
  if (model_) model_->eval();
  torch::NoGradGuard no_grad;
  Json predictions = Json::array();
  for (const auto& text : inputs) {
    const auto ids = bert_sequence(*tokenizer_, encode_with_masks(*tokenizer_, text), model_options_.at("max_positions").get<int64_t>());
    std::vector<int64_t> masks;
    for (size_t i = 0; i < ids.size(); ++i)
      if (ids[i] == tokenizer_->mask()) masks.push_back(static_cast<int64_t>(i));
    if (masks.empty()) throw UsageError("--input '" + text + "' has no [MASK] to fill");
    const auto tokens = torch::tensor(ids, torch::kInt64).unsqueeze(0);
    const auto selected = tokens.eq(tokenizer_->mask());
    const auto probabilities = torch::softmax(scores_at(tokens, selected).to(torch::kCPU, torch::kFloat32), 1);
    const auto [top_p, top_id] = probabilities.topk(std::min(top_k_, probabilities.size(1)), 1);
    std::vector<int64_t> filled(ids.begin() + 1, ids.end() - 1);
    Json masked = Json::array();
    for (size_t m = 0; m < masks.size(); ++m) {
      Json candidates = Json::array();
      for (int64_t j = 0; j < top_id.size(1); ++j) {
        const int64_t id = top_id[static_cast<int64_t>(m)][j].item<int64_t>();
        candidates.push_back({{"piece", tokenizer_->piece(id)}, {"id", id}, {"probability", top_p[static_cast<int64_t>(m)][j].item<double>()}});
      }
      filled[static_cast<size_t>(masks[m] - 1)] = top_id[static_cast<int64_t>(m)][0].item<int64_t>();
      masked.push_back({{"position", masks[m] - 1}, {"candidates", candidates}});
    }
    predictions.push_back({{"input", text}, {"output", tokenizer_->decode(filled)}, {"masks", masked}});
  }
  return {{"task", name()}, {"model", model_name_}, {"top_k", top_k_}, {"predictions", predictions}};
}

void MlmTask::export_torchscript(const std::string& path) {
  // forward(tokens (B, T)) -> scores (B, T, V) over the word pieces at every position; tokens are
  // [CLS] ... [SEP] rows padded with [PAD] (0), T up to max_positions.
  model_->to(torch::kCPU);
  model_->eval();
  torch::NoGradGuard no_grad;
  auto scripted = mirror_module(*model_, model_name_);
  const std::vector<int64_t> rows{tokenizer_->cls(), 7, tokenizer_->mask(), 9, tokenizer_->sep(), tokenizer_->cls(), 8, tokenizer_->sep(), 0, 0};
  const auto example = torch::tensor(rows, torch::kInt64).view({2, 5}).clamp_max(tokenizer_->size() - 1);
  add_traced_method(
      scripted, "forward", [&](const std::vector<torch::Tensor>& in) { return std::vector<torch::Tensor>{model_->predict_tokens(model_->forward(in[0]))}; },
      {example});
  save_torchscript(scripted, path, meta());
  model_->to(device_);
}

std::vector<std::string> MlmTask::visualize(const std::string& input, const std::string& out_png) {
  const auto ids = bert_sequence(*tokenizer_, encode_with_masks(*tokenizer_, input), inputs().seq_len);
  if (ids.size() <= 2) throw UsageError("--input is empty: give a text to look at");
  const viz::LookOptions look{model_name_, visualize_layer_, std::nullopt, {}, "h"};
  return write_bert_attention(*model_, *tokenizer_, ids, look, out_png, device_);
}

std::vector<std::string> MlmTask::visualize_validation_example(const std::string& out_png) {
  if (!val_corpus_ || val_corpus_->lines.empty()) return {};
  std::string text;
  for (const auto& line : val_corpus_->lines) {
    text += (text.empty() ? "" : " ") + line;
    if (text.size() >= 60) break;
  }
  return visualize(text.substr(0, std::min<size_t>(text.size(), 80)), out_png);
}

std::string MlmTask::sample_outputs() {
  // The first validation windows with their masked pieces restored greedily: piece (guess).
  if (val_ids_.empty()) return "";
  model_->eval();
  torch::NoGradGuard no_grad;
  const int64_t length = std::min<int64_t>(inputs().seq_len - 2, static_cast<int64_t>(val_ids_.size()));
  auto [input, label] = masked_window(val_ids_, 0, length, mix_seed(73, 0));
  const auto labels = torch::tensor(label, torch::kInt64).unsqueeze(0), selected = labels.ge(0);
  const auto guesses = scores_at(torch::tensor(input, torch::kInt64).unsqueeze(0), selected).argmax(1).to(torch::kCPU);
  std::vector<std::vector<std::string>> rows;
  int64_t m = 0;
  for (size_t i = 0; i < label.size() && m < guesses.size(0); ++i) {
    if (label[i] < 0) continue;
    if (static_cast<int64_t>(rows.size()) < kShownMasks)
      rows.push_back({tokenizer_->piece(label[i]), tokenizer_->piece(input[i]), tokenizer_->piece(guesses[m].item<int64_t>())});
    ++m;
  }
  return "The first validation window's masked pieces:\n\n" + markdown_table({"piece", "input", "restored"}, rows);
}

void MlmTask::rename_published(NamedTensors& tensors) const {
  NamedTensors renamed;
  for (auto& [published, tensor] : tensors) {
    std::string name = published.rfind("bert.", 0) == 0 ? published.substr(5) : published;
    // The decoder is tied to the word embeddings (its bias is cls.predictions.bias); the
    // next-sentence head and the position-id buffer are not part of the model.
    if (name.rfind("cls.seq_relationship.", 0) == 0 || name.rfind("cls.predictions.decoder.", 0) == 0 || name == "embeddings.position_ids") continue;
    // The TensorFlow-converted checkpoints' LayerNorm.gamma / .beta
    for (const auto& [old_suffix, new_suffix] : {std::pair<std::string, std::string>{".gamma", ".weight"}, {".beta", ".bias"}})
      if (name.size() > old_suffix.size() && name.compare(name.size() - old_suffix.size(), old_suffix.size(), old_suffix) == 0 &&
          name.find("LayerNorm") != std::string::npos)
        name = name.substr(0, name.size() - old_suffix.size()) + new_suffix;
    renamed[name] = tensor;
  }
  tensors = std::move(renamed);
}

Json MlmTask::import_meta(const std::string& model, Json options, const NamedTensors& tensors) const {
  auto need = [&](const std::string& name) -> const torch::Tensor& {
    if (!tensors.count(name)) throw Error("not a BERT state dict with the published names: no tensor '" + name + "'");
    return tensors.at(name);
  };
  const auto& words = need("embeddings.word_embeddings.weight");
  need("cls.predictions.bias");
  int64_t layers = 0;
  while (tensors.count("encoder.layer." + std::to_string(layers) + ".attention.self.query.weight")) ++layers;
  options["vocab"] = words.size(0);
  options["width"] = words.size(1);
  options["layers"] = layers;
  options["max_positions"] = need("embeddings.position_embeddings.weight").size(0);
  options["type_vocab"] = need("embeddings.token_type_embeddings.weight").size(0);
  options["ffn"] = need("encoder.layer.0.intermediate.dense.weight").size(0);
  const auto in = data::BertInputs::options().read(options, {});
  if (in.vocab_file.empty())
    throw UsageError("--from bert needs the model's vocabulary: --set vocab_file=vocab.txt (and --set lowercase=false for a cased model)");
  const auto tokenizer = text::WordPieceTokenizer::from_file(in.vocab_file, in.lowercase);
  if (tokenizer.size() != words.size(0))
    throw Error(in.vocab_file + " holds " + std::to_string(tokenizer.size()) + " pieces, but the state dict's word embeddings " +
                std::to_string(words.size(0)));
  options["vocab_file"] = std::filesystem::absolute(in.vocab_file).string();
  // The sizes as the tensors have them, checked against the model's rules (heads divide the width).
  registry().model(model).options.resolve({}, "model " + model, options);
  return {{"task", name()}, {"model", model}, {"model_options", options}, {"tokenizer", text::wordpiece_to_json(tokenizer)},
          {"data", {{"path", ""}, {"seed", 0}, {"synth_size", 0}, {"val_fraction", 0.1}}}};
}

}  // namespace zoo
