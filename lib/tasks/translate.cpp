#include "lib/tasks/translate.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numeric>

#include "data/loader.h"
#include "lib/core/error.h"
#include "lib/core/registry.h"
#include "lib/core/runtime.h"
#include "lib/export/torchscript.h"
#include "lib/nn/cross_entropy.h"
#include "lib/tasks/builtin.h"
#include "lib/tasks/scripted_decoder.h"
#include "lib/text/bleu.h"
#include "lib/text/sentencepiece.h"
#include "lib/viz/figure.h"

namespace fs = std::filesystem;

namespace zoo {

namespace {

constexpr int64_t kBucketBatches = 64;  // batches whose sentences are sorted by length together

std::string option_string(const Options& o, const std::string& key) { return o.has(key) ? o.get_string(key) : ""; }

std::vector<std::vector<std::string>> tokenize_all(const text::Tokenizer& tokenizer, const std::vector<std::string>& sentences,
                                                   const std::vector<std::string>& origins) {
  std::vector<std::vector<std::string>> out;
  out.reserve(sentences.size());
  for (size_t i = 0; i < sentences.size(); ++i) {
    try {
      out.push_back(tokenizer.tokenize(sentences[i]));
    } catch (const Error& e) {
      throw Error((i < origins.size() ? origins[i] + ": " : "") + e.what());
    }
  }
  return out;
}

std::vector<int64_t> with_eos(std::vector<int64_t> ids) {
  ids.push_back(text::Vocab::kEos);
  return ids;
}

}  // namespace

void TranslateTask::check_options(const Options& config) const {
  TaskBase::check_options(config);
  if (config.has("max_len") && config.get_int("max_len") < 0)
    throw UsageError("invalid --max-len " + std::to_string(config.get_int("max_len")) + ": expected 0 (no limit) or a positive token count");
}

void TranslateTask::setup_training(const Options& config, torch::Device device) {
  setup_common(config, device);
  const int64_t max_len = config.has("max_len") ? config.get_int("max_len") : 0;
  set_inference_options(config);
  data_["src"] = option_string(config, "src"), data_["tgt"] = option_string(config, "tgt"), data_["max_len"] = max_len;
  const std::string path = data_path();
  const data::SentencePairs train = load_split(path, "train");
  val_pairs_ = load_split(path, "val");
  if (train.size() == 0) throw Error("no training sentence pairs in " + path);

  // The tokenizers and vocabularies come from the training split only.
  const auto tokenizing = text::TokenizerConfig::options().read(model_options_, {});
  const auto caps = models::TranslationVocabConfig::options().read(model_options_, {});
  std::string kind = tokenizing.tokenizer;
  if (kind == "auto") kind = synthetic_data() ? "char" : "word";
  model_options_["tokenizer"] = kind;
  const bool lowercase = tokenizing.lowercase;
  const int64_t min_freq = kind == "bpe" || kind == "unigram" ? 1 : tokenizing.min_freq;
  const int64_t src_cap = caps.src_vocab, tgt_cap = caps.tgt_vocab;
  // share_embeddings (the Transformer's): one tokenizer and one vocabulary, learnt from both
  // sides (a joint SentencePiece model for bpe/unigram), capped at src_vocab.
  const bool joint = model_options_.value("share_embeddings", false);
  if (joint) {
    std::vector<std::string> both = train.source;
    both.insert(both.end(), train.target.begin(), train.target.end());
    src_tokenizer_ = text::make_tokenizer(kind, lowercase, both, src_cap);
    tgt_tokenizer_ = text::tokenizer_from_json(src_tokenizer_->to_json());
  } else {
    src_tokenizer_ = text::make_tokenizer(kind, lowercase, train.source, src_cap);
    tgt_tokenizer_ = text::make_tokenizer(kind, lowercase, train.target, tgt_cap);
  }
  const auto src_tokens = tokenize_all(*src_tokenizer_, train.source, train.origin);
  const auto tgt_tokens = tokenize_all(*tgt_tokenizer_, train.target, train.origin);
  if (joint) {
    std::vector<std::vector<std::string>> both = src_tokens;
    both.insert(both.end(), tgt_tokens.begin(), tgt_tokens.end());
    src_vocab_ = tgt_vocab_ = text::Vocab::build(both, min_freq, src_cap);
  } else {
    src_vocab_ = text::Vocab::build(src_tokens, min_freq, src_cap);
    tgt_vocab_ = text::Vocab::build(tgt_tokens, min_freq, tgt_cap);
  }
  // The embedding and output layers follow the vocabularies (src_vocab/tgt_vocab are caps).
  model_options_["src_vocab"] = src_vocab_.size();
  model_options_["tgt_vocab"] = tgt_vocab_.size();

  int64_t too_long = 0;
  for (size_t i = 0; i < src_tokens.size(); ++i) {
    if (max_len > 0 && (static_cast<int64_t>(src_tokens[i].size()) > max_len || static_cast<int64_t>(tgt_tokens[i].size()) > max_len)) {
      ++too_long;
      continue;
    }
    train_source_.push_back(with_eos(src_vocab_.encode(src_tokens[i])));
    train_target_.push_back(with_eos(tgt_vocab_.encode(tgt_tokens[i])));
    train_origin_.push_back(i < train.origin.size() ? train.origin[i] : "pair " + std::to_string(i + 1));
  }
  if (train_source_.empty()) throw UsageError("every training pair is longer than --max-len " + std::to_string(max_len) + " tokens");
  std::fprintf(stderr, "translate: %zu training pairs (%lld longer than --max-len, %lld with an empty side skipped), %lld validation; "
               "%s tokens, vocabularies %lld (source) and %lld (target)\n",
               train_source_.size(), (long long)too_long, (long long)train.skipped_empty, (long long)val_pairs_->size(), kind.c_str(),
               (long long)src_vocab_.size(), (long long)tgt_vocab_.size());
  build_model();
}

void TranslateTask::read_meta(const Json& meta) {
  src_tokenizer_ = text::tokenizer_from_json(meta.at("tokenizers").at("source"));
  tgt_tokenizer_ = text::tokenizer_from_json(meta.at("tokenizers").at("target"));
  src_vocab_ = text::Vocab::from_json(meta.at("vocabularies").at("source"));
  tgt_vocab_ = text::Vocab::from_json(meta.at("vocabularies").at("target"));
  if (meta.contains("search")) {
    const Json& s = meta.at("search");
    search_.length_penalty = s.at("length_penalty").get<double>();
    search_.max_len_ratio = s.at("max_len_ratio").get<double>();
  }
}

void TranslateTask::set_inference_options(const Options& o) {
  if (o.has("beam")) search_.beam = o.get_int("beam");
  if (o.has("length_penalty")) search_.length_penalty = o.get_double("length_penalty");
  if (o.has("max_len_ratio")) search_.max_len_ratio = o.get_double("max_len_ratio");
  if (search_.beam < 1) throw UsageError("invalid --beam " + std::to_string(search_.beam) + ": expected 1 or more");
  if (!(search_.max_len_ratio > 0)) throw UsageError("invalid --max-len-ratio: expected a positive number");
  if (!std::isfinite(search_.length_penalty)) throw UsageError("invalid --length-penalty: expected a finite number");
  search_.bos = text::Vocab::kBos, search_.eos = text::Vocab::kEos;
}

void TranslateTask::build_model() { model_ = build_model_as<models::TranslationModel>("a translation model"); }

void TranslateTask::use_torchscript(torch::jit::Module module) { scripted_ = std::move(module); }

Json TranslateTask::meta() const {
  Json meta = common_meta();
  meta["tokenizers"] = {{"source", src_tokenizer_->to_json()}, {"target", tgt_tokenizer_->to_json()}};
  meta["vocabularies"] = {{"source", src_vocab_.to_json()}, {"target", tgt_vocab_.to_json()}};
  meta["search"] = {{"length_penalty", search_.length_penalty}, {"max_len_ratio", search_.max_len_ratio}};
  return meta;
}

data::SentencePairs TranslateTask::load_split(const std::string& path, const std::string& split) const {
  return data::load_pairs(path, split, data_.value("src", ""), data_.value("tgt", ""), data_.value("val_fraction", 0.1),
                          data_.value("synth_size", int64_t{2048}), data_.value("seed", uint64_t{0}));
}

std::vector<int64_t> TranslateTask::encode_source(const std::string& sentence) const {
  return with_eos(src_vocab_.encode(src_tokenizer_->tokenize(sentence)));
}

Batch TranslateTask::collate(const std::vector<int64_t>& indices, const std::vector<std::vector<int64_t>>& source,
                             const std::vector<std::vector<int64_t>>& target) const {
  const auto n = static_cast<int64_t>(indices.size());
  int64_t s = 1;
  for (int64_t i : indices) s = std::max<int64_t>(s, static_cast<int64_t>(source[i].size()));
  auto src = torch::zeros({n, s}, torch::kInt64), lengths = torch::zeros({n}, torch::kInt64);
  auto src_a = src.accessor<int64_t, 2>();
  auto len_a = lengths.accessor<int64_t, 1>();
  std::vector<const std::vector<int64_t>*> targets;
  for (int64_t b = 0; b < n; ++b) {
    const auto& x = source[indices[b]];
    for (size_t j = 0; j < x.size(); ++j) src_a[b][static_cast<int64_t>(j)] = x[j];
    len_a[b] = static_cast<int64_t>(x.size());
    if (!target.empty()) targets.push_back(&target[indices[b]]);
  }
  // tgt_in = <bos> y_1 .. y_n, tgt_out = y_1 .. y_n <eos>; without targets (inference) one empty column
  auto [tgt_in, tgt_out] = target.empty() ? std::make_pair(torch::zeros({n, 1}, torch::kInt64), torch::zeros({n, 1}, torch::kInt64))
                                          : data::shifted_targets(targets, text::Vocab::kBos);
  return Batch{{src, lengths, tgt_in, tgt_out, torch::tensor(indices, torch::kInt64)}, n, indices};
}

int64_t TranslateTask::batches_per_epoch() const {
  return (static_cast<int64_t>(train_source_.size()) + batch_size_ - 1) / batch_size_;
}

std::unique_ptr<BatchStream> TranslateTask::train_batches(int64_t epoch, int64_t first_batch) {
  // Shuffle, sort buckets of kBucketBatches batches by source length (little padding), cut into
  // batches, shuffle the batches: all a function of (seed, epoch), so --resume finds its place.
  const auto n = static_cast<int64_t>(train_source_.size());
  auto order = data::epoch_order(n, seed_, epoch);
  const int64_t bucket = batch_size_ * kBucketBatches;
  for (int64_t start = 0; start < n; start += bucket) {
    auto end = order.begin() + std::min(n, start + bucket);
    std::stable_sort(order.begin() + start, end, [&](int64_t a, int64_t b) { return train_source_[a].size() < train_source_[b].size(); });
  }
  auto batches = std::make_shared<std::vector<std::vector<int64_t>>>();
  for (int64_t start = 0; start < n; start += batch_size_)
    batches->emplace_back(order.begin() + start, order.begin() + std::min(n, start + batch_size_));
  const auto batch_order = data::epoch_order(static_cast<int64_t>(batches->size()), mix_seed(seed_, 31), epoch);
  auto make_batch = [this, batches, batch_order](int64_t b, int64_t micro) {
    // This rank's micro-batch of global batch b: a contiguous part of its sentences.
    const auto& sentences = (*batches)[static_cast<size_t>(batch_order[static_cast<size_t>(b)])];
    const auto [begin, end] = shard_.micro_batch(static_cast<int64_t>(sentences.size()), micro);
    if (begin == end) return Batch{};
    return collate(std::vector<int64_t>(sentences.begin() + begin, sentences.begin() + end), train_source_, train_target_);
  };
  return micro_batch_stream(first_batch, make_batch);
}

torch::Tensor TranslateTask::loss(const Batch& batch) {
  auto src = batch.tensors.at(0).to(device_), tgt_in = batch.tensors.at(2).to(device_), tgt_out = batch.tensors.at(3).to(device_);
  auto logits = model_->forward(src, batch.tensors.at(1), tgt_in);  // (B, T, V)
  auto options = torch::nn::functional::CrossEntropyFuncOptions().ignore_index(text::Vocab::kPad).label_smoothing(label_smoothing_);
  return zoo::nn::cross_entropy(logits.flatten(0, 1), tgt_out.flatten(), options);
}

double TranslateTask::loss_weight(const Batch& batch) const {
  // The loss averages over the target tokens that are not padding.
  return batch.size == 0 ? 0.0 : static_cast<double>(batch.tensors.at(3).ne(text::Vocab::kPad).sum().item<int64_t>());
}

std::vector<torch::Tensor> TranslateTask::encode(const torch::Tensor& src, const torch::Tensor& lengths) {
  if (!scripted_) return model_->encode(src.to(device_), lengths);
  return scripted_encode(*scripted_, {src.to(device_), lengths.to(device_)});
}

nn::DecodeStep TranslateTask::decode_step(const torch::Tensor& tokens, const std::vector<torch::Tensor>& state) {
  if (!scripted_) return model_->decode_step(tokens, state);
  return scripted_decode_step(*scripted_, tokens, state);
}

std::vector<TranslateTask::Translation> TranslateTask::translate(const std::vector<std::string>& sentences) {
  if (model_) model_->eval();
  torch::NoGradGuard no_grad;
  std::vector<std::vector<int64_t>> source;
  std::vector<std::vector<std::string>> source_tokens;
  for (const auto& s : sentences) {
    auto tokens = src_tokenizer_->tokenize(s);
    source.push_back(with_eos(src_vocab_.encode(tokens)));
    tokens.push_back("<eos>");
    source_tokens.push_back(std::move(tokens));
  }
  std::vector<int64_t> order(sentences.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return source[a].size() < source[b].size(); });
  std::vector<Translation> out(sentences.size());
  const nn::StepFunction step = [this](const torch::Tensor& tokens, const std::vector<torch::Tensor>& state) { return decode_step(tokens, state); };
  for (size_t start = 0; start < order.size(); start += static_cast<size_t>(batch_size_)) {
    std::vector<int64_t> indices(order.begin() + static_cast<std::ptrdiff_t>(start),
                                 order.begin() + static_cast<std::ptrdiff_t>(std::min(order.size(), start + static_cast<size_t>(batch_size_))));
    Batch batch = collate(indices, source, {});
    std::vector<int64_t> lengths(batch.tensors[1].data_ptr<int64_t>(), batch.tensors[1].data_ptr<int64_t>() + batch.size);
    auto hypotheses = nn::search(step, encode(batch.tensors[0], batch.tensors[1]), lengths, search_);
    for (size_t b = 0; b < indices.size(); ++b) {
      Translation& t = out[indices[b]];
      for (int64_t id : hypotheses[b].tokens) t.tokens.push_back(tgt_vocab_.token(id));
      t.text = tgt_tokenizer_->detokenize(t.tokens);
      t.source_tokens = source_tokens[indices[b]];
      t.log_prob = hypotheses[b].log_prob, t.score = hypotheses[b].score;
      // Attention rows cover the padded source; keep this sentence's columns.
      if (hypotheses[b].attention.defined()) t.attention = hypotheses[b].attention.narrow(1, 0, lengths[b]);
    }
  }
  return out;
}

Json TranslateTask::evaluate(const std::string& split, const std::string& data) {
  const data::SentencePairs pairs =
      (data.empty() && split == "val" && val_pairs_) ? *val_pairs_
      : load_split(data_for(data), split);
  if (pairs.size() == 0) throw Error("no sentence pairs in the " + split + " split");
  model_->eval();
  torch::NoGradGuard no_grad;

  // Perplexity: teacher-forced cross-entropy per target token (<eos> included).
  std::vector<std::vector<int64_t>> source, target;
  const auto src_tokens = tokenize_all(*src_tokenizer_, pairs.source, pairs.origin);
  const auto tgt_tokens = tokenize_all(*tgt_tokenizer_, pairs.target, pairs.origin);
  for (size_t i = 0; i < src_tokens.size(); ++i) {
    source.push_back(with_eos(src_vocab_.encode(src_tokens[i])));
    target.push_back(with_eos(tgt_vocab_.encode(tgt_tokens[i])));
  }
  // This rank's sentences: every world_size-th (all of them in one process).
  std::vector<int64_t> order;
  for (auto i = shard_.rank; i < static_cast<int64_t>(source.size()); i += shard_.world_size) order.push_back(i);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return source[a].size() < source[b].size(); });
  double nll = 0;
  int64_t tokens = 0;
  for (size_t start = 0; start < order.size(); start += static_cast<size_t>(batch_size_)) {
    std::vector<int64_t> indices(order.begin() + static_cast<std::ptrdiff_t>(start),
                                 order.begin() + static_cast<std::ptrdiff_t>(std::min(order.size(), start + static_cast<size_t>(batch_size_))));
    Batch batch = collate(indices, source, target);
    auto logits = model_->forward(batch.tensors[0].to(device_), batch.tensors[1], batch.tensors[2].to(device_)).to(torch::kCPU, torch::kFloat32);
    auto options = torch::nn::functional::CrossEntropyFuncOptions().ignore_index(text::Vocab::kPad).reduction(torch::kSum);
    nll += zoo::nn::cross_entropy(logits.flatten(0, 1), batch.tensors[3].flatten(), options).item<double>();
    tokens += batch.tensors[3].ne(text::Vocab::kPad).sum().item<int64_t>();
  }

  // BLEU on detokenized output against the raw references (lowercased when the tokenizer
  // lowercases: sacreBLEU's --lowercase).
  // BLEU's statistics add over sentences, so ranks add theirs and score the sum.
  std::vector<std::string> sentences;
  std::vector<size_t> mine;
  for (size_t i = static_cast<size_t>(shard_.rank); i < pairs.size(); i += static_cast<size_t>(shard_.world_size)) {
    sentences.push_back(pairs.source[i]);
    mine.push_back(i);
  }
  const auto translations = translate(sentences);
  std::vector<std::vector<std::string>> shown;
  for (size_t k = 0; k < std::min<size_t>(translations.size(), 5); ++k)
    shown.push_back({pairs.source[mine[k]], translations[k].text, pairs.target[mine[k]]});
  samples_ = markdown_table({"source", "translation", "reference"}, shown);
  text::BleuStats stats;
  int64_t exact = 0;
  for (size_t k = 0; k < translations.size(); ++k) {
    const size_t i = mine[k];
    const std::string reference = tgt_tokenizer_->lowercases() ? text::lowercase(pairs.target[i]) : pairs.target[i];
    stats += text::sentence_stats(translations[k].text, {reference});
    exact += translations[k].text == reference;
  }
  std::vector<double> sums = {nll, static_cast<double>(tokens), static_cast<double>(exact), static_cast<double>(stats.hypothesis_length),
                              static_cast<double>(stats.reference_length)};
  for (int n = 0; n < 4; ++n) sums.push_back(static_cast<double>(stats.matches[n])), sums.push_back(static_cast<double>(stats.totals[n]));
  sums = sum_over_ranks(shard_.group, sums);
  nll = sums[0], tokens = std::llround(sums[1]), exact = std::llround(sums[2]);
  stats.hypothesis_length = std::llround(sums[3]), stats.reference_length = std::llround(sums[4]);
  for (int n = 0; n < 4; ++n) stats.matches[n] = std::llround(sums[5 + 2 * n]), stats.totals[n] = std::llround(sums[6 + 2 * n]);
  const text::BleuScore bleu = text::bleu_from_stats(stats);
  const double loss = nll / std::max<int64_t>(1, tokens);
  return {{"examples", pairs.size()},
          {"metrics", {{"bleu", bleu.score}, {"ppl", std::exp(loss)}, {"loss", loss}, {"exact", 100.0 * exact / pairs.size()}}},
          {"bleu_signature", std::string("nrefs:1|case:") + (tgt_tokenizer_->lowercases() ? "lc" : "mixed") +
                                 "|eff:no|tok:13a|smooth:exp|beam:" + std::to_string(search_.beam)}};
}

Json TranslateTask::predict(const std::vector<std::string>& inputs, const Options& options) {
  const auto translations = translate(inputs);
  Json predictions = Json::array();
  for (size_t i = 0; i < inputs.size(); ++i)
    predictions.push_back({{"input", inputs[i]}, {"output", translations[i].text}, {"tokens", translations[i].tokens},
                           {"log_prob", translations[i].log_prob}, {"score", translations[i].score}});
  return {{"task", name()}, {"model", model_name_}, {"beam", search_.beam}, {"predictions", predictions}};
}

void TranslateTask::export_torchscript(const std::string& path) {
  // Two methods over the same weights: encode(src, src_lengths) -> state (8 tensors) and
  // decode_step(tokens, *state) -> (log_probs, *state, attention). Traced on a batch of 3 with
  // different lengths; the graphs take their sizes from the inputs, so any batch and length work.
  model_->to(torch::kCPU);
  model_->eval();
  torch::NoGradGuard no_grad;
  auto scripted = mirror_module(*model_, model_name_);
  auto src = torch::tensor({{5, 6, 7, 8, 3}, {9, 10, 3, 0, 0}, {11, 3, 0, 0, 0}}, torch::kInt64).clamp_max(src_vocab_.size() - 1);
  auto lengths = torch::tensor({5, 3, 2}, torch::kInt64);
  add_traced_method(scripted, "encode", [&](const std::vector<torch::Tensor>& in) { return model_->encode(in[0], in[1]); }, {src, lengths});
  // Models without attention report zeros over the source (state[2] is (B, S)).
  add_decode_step_method(
      scripted, [&](const torch::Tensor& t, const std::vector<torch::Tensor>& s) { return model_->decode_step(t, s); },
      torch::full({3}, text::Vocab::kBos, torch::kInt64), model_->encode(src, lengths),
      [](const std::vector<torch::Tensor>& in) { return torch::zeros_like(in[3], torch::kFloat32); });
  // The vocabularies also as plain files (one token per line, line number = id) for other tools.
  auto lines = [](const text::Vocab& vocab) {
    std::string text;
    for (int64_t i = 0; i < vocab.size(); ++i) text += vocab.token(i) + "\n";
    return text;
  };
  save_torchscript(scripted, path, meta(), {{"source_vocab.txt", lines(src_vocab_)}, {"target_vocab.txt", lines(tgt_vocab_)}});
  model_->to(device_);
}
std::vector<std::string> TranslateTask::visualize_validation_example(const std::string& out_png) {
  if (!val_pairs_ || val_pairs_->size() == 0) return {};
  return visualize(val_pairs_->source.front(), out_png);
}

std::vector<std::string> TranslateTask::visualize(const std::string& input, const std::string& out_png) {
  const Translation t = translate({input}).at(0);
  // The model's own figures, from one teacher-forced pass over the source and the translation.
  torch::NoGradGuard no_grad;
  std::vector<int64_t> target{text::Vocab::kBos};
  for (const auto& token : t.tokens) target.push_back(tgt_vocab_.id(token));
  auto src = torch::tensor(encode_source(input), torch::kInt64).unsqueeze(0).to(device_);
  auto tgt_in = torch::tensor(target, torch::kInt64).unsqueeze(0).to(device_);
  model_->eval();
  std::vector<viz::Figure> figures = model_->look(src, tgt_in, {model_name_});
  // First the alignment every decoding step reported (the Transformer's: its last layer's
  // cross-attention averaged over heads): the output tokens and <eos> down, the source across.
  viz::Figure alignment;
  alignment.kind = viz::Figure::Kind::Alignment;
  alignment.maps = {t.attention};
  alignment.rows = viz::Axis::Target, alignment.cols = viz::Axis::Source;
  alignment.title = input + "  \u2192  " + t.text;
  figures.insert(figures.begin(), alignment);
  std::vector<std::string> outputs = t.tokens, inputs{"<bos>"};
  outputs.push_back("<eos>");
  inputs.insert(inputs.end(), t.tokens.begin(), t.tokens.end());
  return viz::write_figures(
      figures, {cv::Mat(), {{viz::Axis::Source, t.source_tokens}, {viz::Axis::Target, outputs}, {viz::Axis::TargetInput, inputs}}}, out_png);
}

std::string TranslateTask::write_synthetic(const SynthRequest& r) {
  // The very pairs synth:dates gives each split in memory for this seed.
  std::vector<int64_t> counts;
  for (const char* split : {"train", "val", "test"}) {
    const auto pairs = data::load_pairs("synth:dates", split, "", "", 0.1, r.n, r.seed);
    data::write_parallel_files(pairs, (fs::path(r.out) / split).string(), "human", "iso");
    counts.push_back(static_cast<int64_t>(pairs.size()));
  }
  return "wrote " + std::to_string(counts[0]) + " training, " + std::to_string(counts[1]) + " validation and " + std::to_string(counts[2]) +
         " test date pairs to " + r.out + "/{train,val,test}.{human,iso} (train with --data " + r.out + " --src human --tgt iso)";
}

}  // namespace zoo
