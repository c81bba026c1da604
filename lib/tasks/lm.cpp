#include "lib/tasks/lm.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <sstream>

#include "lib/core/error.h"
#include "lib/core/registry.h"
#include "lib/export/torchscript.h"
#include "lib/nn/cross_entropy.h"
#include "lib/nn/positional.h"
#include "lib/nn/recurrent_cell.h"
#include "lib/tasks/builtin.h"
#include "lib/viz/figure.h"
#include "models/lm/gpt.h"

namespace fs = std::filesystem;

namespace zoo {

namespace {

constexpr const char* kNewline = "\n";
constexpr const char* kAdditions = "synth:additions";
constexpr int64_t kAdditionChecks = 200;
constexpr int64_t kDefaultSubwords = 2000;  // bpe / unigram pieces when --set vocab=0

torch::Tensor ids_tensor(const std::vector<int64_t>& ids) { return torch::tensor(ids, torch::kInt64); }

// Rows r = 0..B-1 of a (B, len) slice out of `ids`: row r starts at starts[r] + shift.
torch::Tensor gather_rows(const std::vector<int64_t>& ids, const std::vector<int64_t>& starts, int64_t shift, int64_t len) {
  auto out = torch::empty({static_cast<int64_t>(starts.size()), len}, torch::kInt64);
  auto a = out.accessor<int64_t, 2>();
  for (size_t r = 0; r < starts.size(); ++r)
    for (int64_t j = 0; j < len; ++j) a[static_cast<int64_t>(r)][j] = ids[static_cast<size_t>(starts[r] + shift + j)];
  return out;
}

}  // namespace

void LmTask::setup_training(const Options& config, torch::Device device) {
  setup_common(config, device);
  train_corpus_ = load_split(data_path(), "train");
  val_corpus_ = load_split(data_path(), "val");

  // Tokenizer and vocabulary from the training part only; "\n" is a token of every kind.
  const auto tokenizing = text::TokenizerConfig::options().read(model_options_, {});
  std::string kind = tokenizing.tokenizer == "auto" ? "char" : tokenizing.tokenizer;
  model_options_["tokenizer"] = kind;
  const bool subwords = kind == "bpe" || kind == "unigram";
  const int64_t cap = models::LmVocabConfig::options().read(model_options_, {}).vocab, min_freq = tokenizing.min_freq;
  tokenizer_ = text::make_tokenizer(kind, tokenizing.lowercase, train_corpus_.lines, cap > 0 ? cap : kDefaultSubwords);
  std::vector<std::vector<std::string>> tokens;
  tokens.reserve(train_corpus_.lines.size());
  for (size_t i = 0; i < train_corpus_.lines.size(); ++i) {
    try {
      tokens.push_back(tokenizer_->tokenize(train_corpus_.lines[i]));
    } catch (const Error& e) {
      throw Error(train_corpus_.origin(i) + ": " + e.what());
    }
    tokens.back().push_back(kNewline);
  }
  vocab_ = text::Vocab::build(tokens, subwords ? 1 : min_freq, cap);
  newline_ = vocab_.id(kNewline);
  model_options_["vocab"] = vocab_.size();  // the embedding and output layers follow the data
  for (const auto& line : tokens) {
    train_line_starts_.push_back(static_cast<int64_t>(train_ids_.size()));
    for (const auto& token : line) train_ids_.push_back(vocab_.id(token));
  }
  tokens.clear();
  val_ids_ = encode_corpus(*val_corpus_);
  build_model();

  const auto n = static_cast<int64_t>(train_ids_.size());
  if (is_recurrent() && stream_length() < 1)
    throw UsageError("the training text (" + std::to_string(n) + " tokens) is too short for " + std::to_string(batch_size_) +
                     " streams of bptt " + std::to_string(sequence_length()) + ": lower --batch-size or --set bptt");
  if (!is_recurrent() && n <= sequence_length())
    throw UsageError("the training text (" + std::to_string(n) + " tokens) is shorter than the context + 1 (" +
                     std::to_string(sequence_length() + 1) + "): lower --set context");
  std::fprintf(stderr, "lm: %lld training tokens (%zu lines), %zu validation tokens; %s tokens, vocabulary %lld\n", (long long)n,
               train_corpus_.lines.size(), val_ids_.size(), kind.c_str(), (long long)vocab_.size());
}

void LmTask::read_meta(const Json& meta) {
  tokenizer_ = text::tokenizer_from_json(meta.at("tokenizer"));
  vocab_ = text::Vocab::from_json(meta.at("vocabulary"));
  newline_ = vocab_.id(kNewline);
}

void LmTask::set_inference_options(const Options& o) {
  if (o.has("temperature")) sampling_.temperature = o.get_double("temperature");
  if (o.has("top_k")) sampling_.top_k = o.get_int("top_k");
  if (o.has("top_p")) sampling_.top_p = o.get_double("top_p");
  nn::check_sampling(sampling_);
  if (o.has("max_new_tokens")) max_new_tokens_ = o.get_int("max_new_tokens");
  if (max_new_tokens_ < 0) throw UsageError("invalid --max-new-tokens " + std::to_string(max_new_tokens_) + ": expected 0 or more");
  if (o.has("layer")) visualize_layer_ = static_cast<int>(o.get_int("layer"));
  if (o.has("signal")) visualize_signal_ = o.get_string("signal");
  if (o.has("units") && !o.get_string("units").empty()) {
    visualize_units_.clear();
    std::stringstream list(o.get_string("units"));
    for (std::string item; std::getline(list, item, ',');) {
      try {
        size_t used = 0;
        visualize_units_.push_back(std::stoll(item, &used));
        if (used != item.size() || visualize_units_.back() < 0) throw std::invalid_argument(item);
      } catch (const std::exception&) {
        throw UsageError("invalid --units '" + o.get_string("units") + "': expected unit numbers such as 0,5,17");
      }
    }
  }
}

void LmTask::build_model() { model_ = build_model_as<models::LanguageModel>("a language model"); }

Json LmTask::meta() const {
  Json meta = common_meta();
  meta["tokenizer"] = tokenizer_->to_json();
  meta["vocabulary"] = vocab_.to_json();
  return meta;
}

data::TextCorpus LmTask::load_split(const std::string& path, const std::string& split) const {
  return data::load_text(path, split, data_.value("val_fraction", 0.1), data_.value("synth_size", int64_t{2048}), data_.value("seed", uint64_t{0}));
}

std::vector<int64_t> LmTask::encode_corpus(const data::TextCorpus& corpus, std::vector<int64_t>* line_starts) const {
  std::vector<int64_t> ids;
  for (size_t i = 0; i < corpus.lines.size(); ++i) {
    if (line_starts) line_starts->push_back(static_cast<int64_t>(ids.size()));
    try {
      for (const auto& token : tokenizer_->tokenize(corpus.lines[i])) ids.push_back(vocab_.id(token));
    } catch (const Error& e) {
      throw Error(corpus.origin(i) + ": " + e.what());
    }
    ids.push_back(newline_);
  }
  return ids;
}

std::vector<int64_t> LmTask::encode(const std::string& text) const {
  std::vector<int64_t> ids;
  size_t start = 0;
  while (true) {
    const size_t end = text.find('\n', start);
    for (const auto& token : tokenizer_->tokenize(std::string_view(text).substr(start, end - start))) ids.push_back(vocab_.id(token));
    if (end == std::string::npos) break;
    ids.push_back(newline_);
    start = end + 1;
  }
  return ids;
}

std::string LmTask::decode(const std::vector<int64_t>& ids) const {
  std::string out;
  std::vector<std::string> line;
  auto flush = [&] {
    out += tokenizer_->detokenize(line);
    line.clear();
  };
  for (int64_t id : ids) {
    if (id == newline_) {
      flush();
      out += kNewline;
    } else if (id == text::Vocab::kUnk) {
      line.push_back("\uFFFD");
    } else if (id > text::Vocab::kEos && id < vocab_.size()) {
      line.push_back(vocab_.token(id));
    }
  }
  flush();
  return out;
}

bool LmTask::is_recurrent() const { return model_ ? model_->recurrent() : model_options_.contains("bptt"); }

int64_t LmTask::sequence_length() const {
  return is_recurrent() ? model_options_.at("bptt").get<int64_t>() : model_options_.at("context").get<int64_t>();
}

int64_t LmTask::context_limit() const { return is_recurrent() ? 0 : model_options_.at("context").get<int64_t>(); }

int64_t LmTask::stream_length() const {
  // Room for a shift of up to bptt - 1 tokens per epoch and the one-token-later targets.
  return (static_cast<int64_t>(train_ids_.size()) - sequence_length()) / batch_size_;
}

int64_t LmTask::batches_per_epoch() const {
  const int64_t length = sequence_length();
  if (is_recurrent()) return (stream_length() + length - 1) / length;
  return std::max<int64_t>(1, (static_cast<int64_t>(train_ids_.size()) - 1) / (batch_size_ * length));
}

int64_t LmTask::examples_per_epoch() const {
  return is_recurrent() ? batch_size_ * stream_length() : batches_per_epoch() * batch_size_ * sequence_length();
}

std::string LmTask::describe_sample(int64_t id) const {
  // id: the training-stream position where a batch row starts.
  auto it = std::upper_bound(train_line_starts_.begin(), train_line_starts_.end(), id);
  const auto line = static_cast<size_t>(std::max<std::ptrdiff_t>(0, (it - train_line_starts_.begin()) - 1));
  return train_corpus_.origin(line) + " (token " + std::to_string(id) + ")";
}

std::unique_ptr<BatchStream> LmTask::train_batches(int64_t epoch, int64_t first_batch) {
  const int64_t length = sequence_length(), rows = batch_size_;
  const auto n = static_cast<int64_t>(train_ids_.size());
  std::function<Batch(int64_t, int64_t)> make_batch;  // (chunk k, micro-batch)
  if (is_recurrent()) {
    // Row r reads the stream from shift + r * L onwards, chunk k at k * bptt; the shift (< bptt)
    // moves the chunk boundaries from epoch to epoch.
    const int64_t stream = stream_length();
    const int64_t shift = Rng(mix_seed(seed_, 51, static_cast<uint64_t>(epoch))).randint(0, length);
    // This rank's micro-batch reads rows [begin, end) of the B streams; its state is its own.
    make_batch = [this, stream, shift, length, rows](int64_t k, int64_t micro) {
      const auto [begin, end] = shard_.micro_batch(rows, micro);
      if (begin == end) return Batch{};
      std::vector<int64_t> starts;
      for (int64_t r = begin; r < end; ++r) starts.push_back(shift + r * stream + k * length);
      const int64_t len = std::min(length, stream - k * length);
      return Batch{{gather_rows(train_ids_, starts, 0, len), gather_rows(train_ids_, starts, 1, len), torch::full({}, k == 0 ? 1 : 0, torch::kInt64),
                    torch::full({}, micro, torch::kInt64)},
                   end - begin, starts};
    };
  } else {
    // nanoGPT's get_batch: B windows of the context length at uniformly random offsets; this
    // rank's micro-batch takes rows [begin, end) of them.
    make_batch = [this, length, rows, n, epoch](int64_t k, int64_t micro) {
      Rng rng(mix_seed(mix_seed(seed_, 52), static_cast<uint64_t>(epoch), static_cast<uint64_t>(k)));
      std::vector<int64_t> starts;
      for (int64_t r = 0; r < rows; ++r) starts.push_back(rng.randint(0, n - length));
      const auto [begin, end] = shard_.micro_batch(rows, micro);
      if (begin == end) return Batch{};
      starts = std::vector<int64_t>(starts.begin() + begin, starts.begin() + end);
      return Batch{{gather_rows(train_ids_, starts, 0, length), gather_rows(train_ids_, starts, 1, length)}, end - begin, starts};
    };
  }
  return micro_batch_stream(first_batch, make_batch);
}

torch::Tensor LmTask::loss(const Batch& batch) {
  auto input = batch.tensors.at(0).to(device_), target = batch.tensors.at(1).to(device_);
  std::vector<torch::Tensor> state;
  // Truncated BPTT: the state the previous chunk of these rows ended with (already detached, so
  // gradients stop at the chunk boundary), unless this is an epoch's first chunk.
  const auto micro = static_cast<size_t>(is_recurrent() ? batch.tensors.at(3).item<int64_t>() : 0);
  if (carried_.size() <= micro) carried_.resize(micro + 1);
  auto& carried = carried_[micro];
  const bool continues = is_recurrent() && batch.tensors.at(2).item<int64_t>() == 0 && !carried.empty() && carried[0].size(1) == input.size(0);
  if (continues) state = carried;
  auto out = model_->forward(input, state);
  if (is_recurrent()) {
    carried.clear();
    for (const auto& s : out.state) carried.push_back(s.detach());
  }
  // -log p(x_{t+1} | x_{<=t}), averaged over the batch's B x T positions
  return zoo::nn::cross_entropy(out.logits.flatten(0, 1), target.flatten());
}

std::map<std::string, torch::Tensor> LmTask::training_state() const {
  // The state of all B rows, as one process holds it (dim 1 is the row): the micro-batches'
  // parts in order, and in a data-parallel run every rank's, gathered by a sum over zero-filled
  // copies. A checkpoint so resumes with any number of processes.
  std::map<std::string, torch::Tensor> state;
  if (carried_.empty() || carried_[0].empty()) return state;
  for (size_t i = 0; i < carried_[0].size(); ++i) {
    std::vector<torch::Tensor> parts;
    for (const auto& micro : carried_) parts.push_back(micro.at(i));
    auto rows = torch::cat(parts, 1);
    if (shard_.group) {
      const int64_t begin = shard_.micro_batch(batch_size_, 0).first;  // this rank's first row
      auto sizes = rows.sizes().vec();
      sizes[1] = batch_size_;
      std::vector<torch::Tensor> full{torch::zeros(sizes, rows.options().device(torch::kCPU))};
      full[0].narrow(1, begin, rows.size(1)).copy_(rows);
      shard_.group->all_reduce_sum(full);
      rows = full[0];
    }
    state["carried_state." + std::to_string(i)] = rows;
  }
  return state;
}

void LmTask::restore_training_state(const std::map<std::string, torch::Tensor>& state) {
  // Each micro-batch of this rank takes its rows back.
  carried_.assign(static_cast<size_t>(shard_.accum_steps), {});
  for (size_t i = 0; state.count("carried_state." + std::to_string(i)); ++i) {
    const auto rows = state.at("carried_state." + std::to_string(i)).to(device_);
    for (int64_t micro = 0; micro < shard_.accum_steps; ++micro) {
      const auto [begin, end] = shard_.micro_batch(rows.size(1), micro);
      carried_[static_cast<size_t>(micro)].push_back(rows.narrow(1, begin, end - begin));
    }
  }
}

models::LmOutput LmTask::run(const torch::Tensor& tokens, const std::vector<torch::Tensor>& state) {
  if (!scripted_) return model_->forward(tokens.to(device_), state);
  if (is_recurrent()) {
    // The export's step(tokens (B), *state) -> (logits (B, V), *state), once per position.
    std::vector<torch::Tensor> current = state;
    if (current.empty()) {
      const int64_t layers = model_options_.at("layers").get<int64_t>(), hidden = model_options_.at("hidden").get<int64_t>();
      auto zeros = torch::zeros({layers, tokens.size(0), hidden}, torch::TensorOptions().device(device_));
      current = {zeros};
      if (model_options_.at("cell").get<std::string>() == "lstm") current.push_back(zeros.clone());
    }
    std::vector<torch::Tensor> logits;
    for (int64_t t = 0; t < tokens.size(1); ++t) {
      std::vector<c10::IValue> inputs{tokens.select(1, t).to(device_)};
      for (const auto& s : current) inputs.emplace_back(s);
      auto out = scripted_->get_method("step")(inputs).toTuple()->elements();
      logits.push_back(out[0].toTensor());
      current.clear();
      for (size_t i = 1; i < out.size(); ++i) current.push_back(out[i].toTensor());
    }
    return {torch::stack(logits, 1), current};
  }
  // The export's forward(tokens (B, T)) has no cache: the state is the tokens seen so far.
  auto all = state.empty() ? tokens.to(device_) : torch::cat({state[0], tokens.to(device_)}, 1);
  auto logits = scripted_->get_method("forward")({all}).toTensor();
  return {logits.narrow(1, all.size(1) - tokens.size(1), tokens.size(1)), {all}};
}

std::vector<int64_t> LmTask::generate(const std::vector<int64_t>& prompt, int64_t max_new, const nn::SamplingOptions& sampling, Rng& rng,
                                      int64_t stop) {
  if (model_) model_->eval();
  // The C++ gpt samples into caches reserved for its whole context (no copy of the cache per token).
  LmStateMaker fresh_state;
  if (const auto gpt = std::dynamic_pointer_cast<models::GptImpl>(model_); gpt && !scripted_)
    fresh_state = [gpt] { return gpt->reserve_state(1); };
  return generate_tokens([this](const torch::Tensor& tokens, const std::vector<torch::Tensor>& state) { return run(tokens, state); },
                         prompt.empty() ? std::vector<int64_t>{newline_} : prompt, context_limit(), max_new, sampling, rng, stop, fresh_state);
}

std::vector<int64_t> generate_tokens(const LmRunner& run, std::vector<int64_t> ids, int64_t context, int64_t max_new,
                                     const nn::SamplingOptions& sampling, Rng& rng, int64_t stop, const LmStateMaker& fresh_state) {
  // Inference mode, not just no-grad: no version counters or view tracking on the cache tensors.
  c10::InferenceMode inference;
  const size_t prompt_size = ids.size();
  // What to feed next: the prompt (its last `context` tokens), then one token at a time.
  std::vector<int64_t> pending(ids.begin() + (context > 0 && static_cast<int64_t>(ids.size()) > context ? static_cast<int64_t>(ids.size()) - context : 0),
                               ids.end());
  auto start_state = [&] { return fresh_state ? fresh_state() : std::vector<torch::Tensor>{}; };
  std::vector<torch::Tensor> state = start_state();
  int64_t fed = 0;  // tokens the state holds
  for (int64_t i = 0; i < max_new; ++i) {
    auto out = run(ids_tensor(pending).unsqueeze(0), state);
    state = out.state;
    fed += static_cast<int64_t>(pending.size());
    auto last = out.logits.select(1, -1).select(0, 0).to(torch::kCPU, torch::kFloat32).contiguous();
    const int64_t next = nn::sample_token(std::vector<float>(last.data_ptr<float>(), last.data_ptr<float>() + last.numel()), sampling, rng);
    ids.push_back(next);
    if (next == stop) break;
    if (context > 0 && fed + 1 > context) {
      // The window is full: start again from its last `context` tokens (positions restart, as
      // in nanoGPT's generate, which crops to the block size).
      state = start_state();
      fed = 0;
      pending.assign(ids.end() - context, ids.end());
    } else {
      pending = {next};
    }
  }
  return std::vector<int64_t>(ids.begin() + static_cast<std::ptrdiff_t>(prompt_size), ids.end());
}

double LmTask::addition_accuracy(const data::TextCorpus& corpus) {
  const nn::SamplingOptions greedy{0.0, 0, 1.0};
  Rng rng(0);
  int64_t checked = 0, correct = 0;
  int64_t considered = 0;  // sums checked by every rank; a data-parallel run's ranks take turns
  for (size_t i = 0; i < corpus.lines.size() && considered < kAdditionChecks; ++i) {
    const std::string& line = corpus.lines[i];
    const size_t equals = line.find('=');
    if (equals == std::string::npos) continue;
    if (considered++ % shard_.world_size != shard_.rank) continue;
    const std::string answer = line.substr(equals + 1);
    auto completion = decode(generate(encode(line.substr(0, equals + 1)), static_cast<int64_t>(answer.size()) + 2, greedy, rng, newline_));
    if (!completion.empty() && completion.back() == '\n') completion.pop_back();
    correct += completion == answer;
    ++checked;
  }
  const auto sums = sum_over_ranks(shard_.group, {static_cast<double>(correct), static_cast<double>(checked)});
  return sums[1] > 0 ? 100.0 * sums[0] / sums[1] : 0.0;
}

Json LmTask::evaluate(const std::string& split, const std::string& data) {
  const bool own_val = data.empty() && split == "val" && val_corpus_;
  const std::string path = data_for(data);
  const data::TextCorpus corpus = own_val ? *val_corpus_ : load_split(path, split);
  const std::vector<int64_t> ids = own_val && !val_ids_.empty() ? val_ids_ : encode_corpus(corpus);
  const auto n = static_cast<int64_t>(ids.size());
  if (n < 2) throw Error("the " + split + " text holds fewer than 2 tokens");
  if (model_) model_->eval();
  torch::NoGradGuard no_grad;
  const int64_t length = sequence_length();
  auto nll_of = [](const torch::Tensor& logits, const torch::Tensor& target) {
    auto options = torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum);
    return zoo::nn::cross_entropy(logits.to(torch::kCPU, torch::kFloat32).flatten(0, 1), target.flatten(), options).item<double>();
  };
  double nll = 0;
  int64_t predicted = 0;
  if (is_recurrent()) {
    // B contiguous streams read chunk by chunk with the state carried, as in training.
    // A data-parallel run's ranks take rows [begin, end) of the streams each.
    const int64_t rows = std::clamp<int64_t>(batch_size_, 1, n - 1), stream = (n - 1) / rows;
    const auto [begin, end] = shard_.eval_part(rows);
    std::vector<int64_t> starts;
    for (int64_t r = begin; r < end; ++r) starts.push_back(r * stream);
    std::vector<torch::Tensor> state;
    for (int64_t k = 0; k * length < stream && !starts.empty(); ++k) {
      const int64_t len = std::min(length, stream - k * length);
      auto out = run(gather_rows(ids, starts, k * length, len), state);
      state = out.state;
      nll += nll_of(out.logits, gather_rows(ids, starts, k * length + 1, len));
    }
    predicted = rows * stream;
  } else {
    // Consecutive windows of the context length (the last one shorter), B at a time: every
    // position is predicted once, from the window's earlier tokens.
    std::vector<int64_t> all;
    for (int64_t start = 0; start + length <= n - 1; start += length) all.push_back(start);
    // A data-parallel run's ranks take a part of the windows each; the last rank the tail.
    const auto [begin, end] = shard_.eval_part(static_cast<int64_t>(all.size()));
    const std::vector<int64_t> full(all.begin() + begin, all.begin() + end);
    for (size_t b = 0; b < full.size(); b += static_cast<size_t>(batch_size_)) {
      std::vector<int64_t> starts(full.begin() + static_cast<std::ptrdiff_t>(b),
                                  full.begin() + static_cast<std::ptrdiff_t>(std::min(full.size(), b + static_cast<size_t>(batch_size_))));
      nll += nll_of(run(gather_rows(ids, starts, 0, length), {}).logits, gather_rows(ids, starts, 1, length));
    }
    const int64_t tail_start = static_cast<int64_t>(all.size()) * length, tail = n - 1 - tail_start;
    if (tail > 0 && shard_.rank == shard_.world_size - 1) nll += nll_of(run(gather_rows(ids, {tail_start}, 0, tail), {}).logits, gather_rows(ids, {tail_start}, 1, tail));
    predicted = n - 1;
  }
  nll = sum_over_ranks(shard_.group, {nll})[0];
  const double loss = nll / static_cast<double>(predicted);
  // Bits per character: the same total over the characters the tokens spell (one per token
  // for character models).
  const double characters_per_token = static_cast<double>(corpus.characters()) / static_cast<double>(n);
  Json metrics = {{"loss", loss}, {"ppl", std::exp(loss)}, {"bpc", loss / std::log(2.0) / characters_per_token}};
  if (path == kAdditions) metrics["correct"] = addition_accuracy(corpus);
  return {{"examples", predicted}, {"metrics", metrics}};
}

Json LmTask::predict(const std::vector<std::string>& inputs, const Options& options) {
  const uint64_t seed = options.has("seed") ? static_cast<uint64_t>(options.get_int("seed")) : 0;
  Rng rng(mix_seed(seed, 61));
  Json predictions = Json::array();
  for (const auto& prompt : inputs) {
    const auto generated = generate(encode(prompt), max_new_tokens_, sampling_, rng);
    const std::string text = decode(generated);
    predictions.push_back({{"input", prompt}, {"output", prompt + text}, {"generated", text}, {"tokens", generated.size()}});
  }
  return {{"task", name()},
          {"model", model_name_},
          {"sampling", {{"temperature", sampling_.temperature}, {"top_k", sampling_.top_k}, {"top_p", sampling_.top_p},
                        {"max_new_tokens", max_new_tokens_}, {"seed", seed}}},
          {"predictions", predictions}};
}

void LmTask::export_torchscript(const std::string& path) {
  // char_rnn: step(tokens (B), *state) -> (logits (B, V), *state), the state [h] or [h, c], each
  // (layers, B, hidden); gpt: forward(tokens (B, T)) -> logits (B, T, V) for T up to the context.
  model_->to(torch::kCPU);
  model_->eval();
  torch::NoGradGuard no_grad;
  auto scripted = mirror_module(*model_, model_name_);
  if (model_->recurrent()) {
    std::vector<torch::Tensor> inputs{torch::tensor({4, 5, 6}, torch::kInt64).clamp_max(vocab_.size() - 1)};
    for (auto& s : model_->initial_state(3, torch::kCPU)) inputs.push_back(s.normal_());
    add_traced_method(
        scripted, "step",
        [&](const std::vector<torch::Tensor>& in) {
          auto out = model_->forward(in[0].unsqueeze(1), std::vector<torch::Tensor>(in.begin() + 1, in.end()));
          std::vector<torch::Tensor> result{out.logits.select(1, 0)};
          result.insert(result.end(), out.state.begin(), out.state.end());
          return result;
        },
        inputs);
  } else {
    auto tokens = torch::tensor({{4, 5, 6, 7, 8}, {9, 10, 11, 12, 13}}, torch::kInt64).clamp_max(vocab_.size() - 1);
    add_traced_method(scripted, "forward", [&](const std::vector<torch::Tensor>& in) { return std::vector<torch::Tensor>{model_->forward(in[0], {}).logits}; },
                      {tokens.narrow(1, 0, std::min<int64_t>(5, context_limit()))});
  }
  save_torchscript(scripted, path, meta());
  model_->to(device_);
}

// The validation text's beginning: what the figure shows and the sample continues.
namespace {
std::string opening(const data::TextCorpus& corpus, size_t characters) {
  std::string text;
  for (const auto& line : corpus.lines) {
    text += line + "\n";
    if (text.size() >= characters) break;
  }
  return text.substr(0, std::min(text.size(), characters));
}
}  // namespace

std::vector<std::string> LmTask::visualize_validation_example(const std::string& out_png) {
  if (!val_corpus_ || val_corpus_->lines.empty()) return {};
  return visualize(opening(*val_corpus_, 64), out_png);
}

std::string LmTask::sample_outputs() {
  if (!val_corpus_ || val_corpus_->lines.empty()) return "";
  // Greedy, so the sample costs no random numbers and shows the model's most likely continuation.
  const nn::SamplingOptions greedy{0.0, 0, 1.0};
  Rng rng(0);
  const std::string prompt = opening(*val_corpus_, 40);
  const std::string text = decode(generate(encode(prompt), 120, greedy, rng));
  return "The validation text's first " + std::to_string(prompt.size()) + " bytes, continued greedily:\n\n```\n" + prompt + text + "\n```";
}

std::vector<std::string> LmTask::visualize(const std::string& input, const std::string& out_png) {
  auto ids = encode(input);
  if (ids.empty()) throw UsageError("--input is empty: give a text to look at");
  // A transformer sees at most its context: the text's last tokens.
  const int64_t context = context_limit();
  if (context > 0 && static_cast<int64_t>(ids.size()) > context) ids.erase(ids.begin(), ids.end() - context);
  model_->eval();
  const viz::LookOptions look{model_name_, visualize_layer_, std::nullopt, visualize_units_, visualize_signal_};
  const auto figures = model_->look(ids_tensor(ids).unsqueeze(0).to(device_), look);
  std::vector<std::string> tokens;
  for (int64_t id : ids) tokens.push_back(id == text::Vocab::kUnk ? "\uFFFD" : vocab_.token(id));
  return viz::write_figures(figures, {cv::Mat(), {{viz::Axis::Tokens, tokens}}}, out_png);
}

std::string LmTask::write_synthetic(const SynthRequest& r) {
  // One file that --val-fraction 0.2 splits back into the training and validation lines.
  const auto train = data::load_text(kAdditions, "train", 0.0, r.n, r.seed), val = data::load_text(kAdditions, "val", 0.0, r.n, r.seed);
  std::string text;
  for (const auto* part : {&train.lines, &val.lines})
    for (const auto& line : *part) text += line + "\n";
  fs::create_directories(r.out);
  write_file_atomic((fs::path(r.out) / "additions.txt").string(), text);
  return "wrote " + std::to_string(train.lines.size() + val.lines.size()) + " lines of sums to " + r.out + "/additions.txt: " + kAdditions +
         "'s " + std::to_string(train.lines.size()) + " training lines, then its " + std::to_string(val.lines.size()) +
         " validation lines (train with --data " + r.out + "/additions.txt --val-fraction 0.2)";
}

}  // namespace zoo
