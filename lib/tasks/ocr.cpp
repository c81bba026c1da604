#include "lib/tasks/ocr.h"

#include <filesystem>

#include "data/image.h"
#include "data/loader.h"
#include "lib/core/error.h"
#include "lib/export/torchscript.h"
#include "lib/nn/ctc.h"
#include "lib/tasks/builtin.h"
#include "lib/tasks/scripted_decoder.h"
#include "lib/text/recognition_metrics.h"
#include "lib/viz/heatmap.h"

namespace fs = std::filesystem;

namespace zoo {

void OcrTask::setup_training(const Options& config, torch::Device device) {
  setup_common(config, device);
  preprocess_ = data::LinePreprocess::options().read(model_options_, data::LinePreprocess{});
  bad_samples_ = data::bad_samples_policy(config.has("bad_samples") ? config.get_string("bad_samples") : "fail");
  train_set_ = open_split(data_path(), "train");
  val_set_ = open_split(data_path(), "val");
  if (synthetic_data()) {
    alphabet_ = data::LineAlphabet(data::SynthLines::alphabet());
  } else {
    std::vector<std::string> texts;
    for (int64_t i = 0; i < train_set_->size(); ++i) texts.push_back(train_set_->text(i));
    alphabet_ = data::LineAlphabet::of_texts(texts);
    if (alphabet_.num_labels() < 2) throw Error("the training lines of " + data_path() + " hold no character");
  }
  fit_num_classes(alphabet_.num_labels());
  build_model();
}

void OcrTask::set_inference_options(const Options& options) {
  if (options.has("bad_samples")) bad_samples_ = data::bad_samples_policy(options.get_string("bad_samples"));
  if (options.has("beam")) beam_ = options.get_int("beam");
  if (beam_ < 1) throw UsageError("invalid --beam " + std::to_string(beam_) + ": 1 (best path, or greedy) or more (beam search)");
}

void OcrTask::read_meta(const Json& meta) {
  alphabet_ = data::LineAlphabet(meta.at("alphabet").get<std::string>());
  preprocess_ = data::LinePreprocess::options().read(model_options_, data::LinePreprocess{});
}

void OcrTask::build_model() {
  auto module = build_model_as<torch::nn::Module>("a text-line recognizer");
  ctc_model_ = std::dynamic_pointer_cast<models::CtcRecognizerImpl>(module);
  attention_model_ = std::dynamic_pointer_cast<models::AttentionRecognizerImpl>(module);
  if (!ctc_model_ && !attention_model_) throw Error("model " + model_name_ + " is not a text-line recognizer");
}

Json OcrTask::meta() const {
  Json meta = common_meta();
  meta["alphabet"] = alphabet_.chars();
  return meta;
}

std::shared_ptr<data::LineDataset> OcrTask::open_split(const std::string& path, const std::string& split) const {
  if (split != "train" && split != "val" && split != "test") throw UsageError("invalid --split '" + split + "': expected train, val or test");
  if (own_synthetic(path)) return data::synth_lines_split(data_.value("synth_size", int64_t{4096}), 32, data_.value("seed", uint64_t{0}), split);
  return data::open_line_folder_split(path, split, data_.value("val_fraction", 0.1));
}

namespace {

// Label sequences as CTC takes them: (B, longest) padded with 0 (the blank, never a label), and
// their lengths (B).
std::pair<torch::Tensor, torch::Tensor> pad_targets(const std::vector<std::vector<int64_t>>& targets) {
  size_t longest = 1;
  for (const auto& t : targets) longest = std::max(longest, t.size());
  auto padded = torch::zeros({static_cast<int64_t>(targets.size()), static_cast<int64_t>(longest)}, torch::kInt64);
  std::vector<int64_t> lengths;
  for (size_t k = 0; k < targets.size(); ++k) {
    lengths.push_back(static_cast<int64_t>(targets[k].size()));
    if (!targets[k].empty()) padded[static_cast<int64_t>(k)].narrow(0, 0, lengths.back()).copy_(torch::tensor(targets[k], torch::kInt64));
  }
  return {padded, torch::tensor(lengths, torch::kInt64)};
}

// Each line's -log p(y | x) divided by its length (B): training's loss (averaged) and
// evaluation's (summed). p(y | x) = sum over the alignments a with B(a) = y of prod_t p(a_t | x),
// CTC's forward-backward; a line that cannot be aligned counts 0.
torch::Tensor ctc_loss_per_character(const torch::Tensor& log_probs, const torch::Tensor& targets, const torch::Tensor& lengths,
                                     const torch::Tensor& target_lengths) {
  const auto per_line = nn::ctc_loss(log_probs, targets, lengths, target_lengths, /*blank=*/0, /*zero_infinity=*/true);
  return per_line / target_lengths.clamp_min(1).to(per_line.dtype());
}

// The attention decoder's teacher-forced inputs and outputs for labels (B, L) of lengths (B): in
// (B, L + 1) = 0 y_1 .. y_L (0 the start symbol; what follows a line's end is never scored), out
// (B, L + 1) = y_1 .. y_n 0 (0 the end symbol), -1 after it.
std::pair<torch::Tensor, torch::Tensor> attention_targets(const torch::Tensor& labels, const torch::Tensor& lengths) {
  const auto zero = torch::zeros_like(labels.narrow(1, 0, 1));
  const auto in = torch::cat({zero, labels}, 1), out = torch::cat({labels, zero}, 1);
  const auto i = torch::ones_like(out).cumsum(1) - 1;
  return {in, out.masked_fill(i > lengths.to(out.device()).unsqueeze(1), -1)};
}

// Each line's -log p(y_1 .. y_n, end | x) divided by n + 1, from log-probabilities (B, L + 1,
// labels) and attention_targets' out (B, L + 1): training's loss (averaged) and evaluation's (summed).
torch::Tensor attention_loss_per_character(const torch::Tensor& log_probs, const torch::Tensor& out, const torch::Tensor& lengths) {
  const auto scored = out.ge(0);
  const auto picked = log_probs.gather(2, out.clamp_min(0).unsqueeze(2)).squeeze(2) * scored.to(log_probs.dtype());  // (B, L + 1)
  return -picked.sum(1) / (lengths.to(log_probs.device(), log_probs.scalar_type()) + 1);
}

}  // namespace

std::unique_ptr<BatchStream> OcrTask::train_batches(int64_t epoch, int64_t first_batch) {
  auto order = std::make_shared<std::vector<int64_t>>(data::epoch_order(train_set_->size(), seed_, epoch));
  auto dataset = train_set_;
  const int64_t batch_size = std::min<int64_t>(batch_size_, dataset->size());
  auto bad_samples = bad_samples_;
  const DataShard shard = shard_;
  auto make_batch = [this, order, dataset, batch_size, bad_samples, shard](int64_t b, int64_t micro) {
    const auto [begin, end] = shard.micro_batch(batch_size, micro);
    std::vector<torch::Tensor> lines;
    std::vector<std::vector<int64_t>> targets;
    std::vector<int64_t> ids;
    for (int64_t i = b * batch_size + begin; i < b * batch_size + end; ++i) {
      auto read = [&](int64_t e) { return preprocess_.to_tensor(dataset->image(e), channels()); };
      const auto [index, line] = data::next_readable(*order, i, read, [&](int64_t e) { return dataset->describe(e); }, *bad_samples);
      lines.push_back(line);
      targets.push_back(alphabet_.encode(dataset->text(index)));
      ids.push_back(index);
    }
    if (lines.empty()) return Batch{};
    const auto [images, widths] = data::pad_lines(lines);
    const auto [padded, lengths] = pad_targets(targets);
    return Batch{{images, widths, padded, lengths}, static_cast<int64_t>(lines.size()), ids};
  };
  return micro_batch_stream(first_batch, make_batch);
}

std::pair<torch::Tensor, torch::Tensor> OcrTask::scores(const torch::Tensor& images, const torch::Tensor& widths) {
  if (scripted_) {
    auto out = scripted_->forward({images.to(device_), widths.to(device_)}).toTensor();
    return {out, scripted_->run_method("output_lengths", widths.to(device_)).toTensor()};
  }
  return {ctc_model_->forward(images.to(device_), widths.to(device_)), ctc_model_->output_lengths(widths.to(device_))};
}

torch::Tensor OcrTask::loss(const Batch& batch) {
  if (attention_model_) {
    const auto lengths = batch.tensors.at(3).to(device_);
    const auto [in, out] = attention_targets(batch.tensors.at(2).to(device_), lengths);
    const auto logits = attention_model_->forward(batch.tensors.at(0).to(device_), batch.tensors.at(1).to(device_), in);  // (B, L + 1, labels)
    return attention_loss_per_character(torch::log_softmax(logits.to(torch::kFloat32), 2), out, lengths).mean();
  }
  const auto [out, lengths] = scores(batch.tensors.at(0), batch.tensors.at(1));
  const auto log_probs = torch::log_softmax(out.to(torch::kFloat32), 2);  // (T, B, labels)
  return ctc_loss_per_character(log_probs, batch.tensors.at(2).to(device_), lengths, batch.tensors.at(3).to(device_)).mean();
}

std::string OcrTask::decode(const torch::Tensor& log_probs, int64_t length) const {
  if (beam_ <= 1) return alphabet_.decode(nn::ctc_best_path(log_probs, length));
  return alphabet_.decode(nn::ctc_prefix_beam_search(log_probs, length, beam_).at(0).labels);
}

std::vector<torch::Tensor> OcrTask::attention_encode(const torch::Tensor& images, const torch::Tensor& widths) {
  if (scripted_) return scripted_encode(*scripted_, {images.to(device_), widths.to(device_)});
  return attention_model_->encode(images.to(device_), widths.to(device_));
}

nn::DecodeStep OcrTask::attention_step(const torch::Tensor& labels, const std::vector<torch::Tensor>& state) {
  return scripted_ ? scripted_decode_step(*scripted_, labels, state) : attention_model_->decode_step(labels, state);
}

std::vector<nn::Hypothesis> OcrTask::attention_readings(const torch::Tensor& images, const torch::Tensor& widths) {
  const auto state = attention_encode(images, widths);
  const auto lengths = scripted_ ? scripted_->run_method("output_lengths", widths.to(device_)).toTensor()
                                 : attention_model_->output_lengths(widths.to(device_));
  // Label 0 starts and ends a reading; at most one character per column, plus the end. The beam
  // ranks by log p alone, as CTC's prefix beam search does.
  nn::SearchOptions options;
  options.beam = beam_, options.bos = 0, options.eos = 0;
  options.length_penalty = 0.0, options.max_len_ratio = 1.0, options.max_len_extra = 1;
  const auto columns = lengths.to(torch::kCPU);
  return nn::search([this](const torch::Tensor& labels, const std::vector<torch::Tensor>& s) { return attention_step(labels, s); }, state,
                    std::vector<int64_t>(columns.data_ptr<int64_t>(), columns.data_ptr<int64_t>() + columns.numel()), options);
}

torch::Tensor OcrTask::attention_log_probs(const torch::Tensor& images, const torch::Tensor& widths, const torch::Tensor& targets) {
  auto state = attention_encode(images, widths);
  std::vector<torch::Tensor> steps;
  const auto in = torch::cat({torch::zeros_like(targets.narrow(1, 0, 1)), targets}, 1).to(device_);
  for (int64_t i = 0; i < in.size(1); ++i) {
    auto result = attention_step(in.select(1, i), state);
    steps.push_back(result.log_probs.to(torch::kCPU, torch::kFloat32));
    state = std::move(result.state);
  }
  return torch::stack(steps, 1);  // (B, L + 1, labels)
}

std::pair<std::vector<std::string>, double> OcrTask::read_batch(const torch::Tensor& images, const torch::Tensor& widths,
                                                                const std::vector<std::vector<int64_t>>* targets) {
  std::vector<std::string> texts;
  double loss_sum = 0;
  if (attention_decoder()) {
    for (const auto& reading : attention_readings(images, widths)) texts.push_back(alphabet_.decode(reading.tokens));
    if (targets) {
      const auto [padded, lengths] = pad_targets(*targets);
      const auto out = attention_targets(padded, lengths).second;
      loss_sum = attention_loss_per_character(attention_log_probs(images, widths, padded), out, lengths).sum().item<double>();
    }
    return {texts, loss_sum};
  }
  const auto [out, lengths] = scores(images, widths);
  const auto log_probs = torch::log_softmax(out.to(torch::kCPU, torch::kFloat32), 2);
  for (int64_t b = 0; b < log_probs.size(1); ++b) texts.push_back(decode(log_probs.select(1, b), lengths[b].item<int64_t>()));
  if (targets) {
    const auto [padded, target_lengths] = pad_targets(*targets);
    loss_sum = ctc_loss_per_character(log_probs, padded, lengths.to(torch::kCPU), target_lengths).sum().item<double>();
  }
  return {texts, loss_sum};
}

std::vector<std::string> OcrTask::read_lines(const std::vector<torch::Tensor>& lines) {
  const auto [images, widths] = data::pad_lines(lines);
  return read_batch(images, widths, nullptr).first;
}

Json OcrTask::evaluate(const std::string& split, const std::string& data) {
  auto dataset = (data.empty() && split == "val" && val_set_) ? val_set_ : open_split(data_for(data), split);
  if (!scripted_) module().eval();
  torch::NoGradGuard no_grad;
  const auto [first, end] = shard_.eval_part(dataset->size());
  const int64_t n = end - first, batch_size = batch_size_, batches = (n + batch_size - 1) / batch_size;
  auto bad_samples = bad_samples_;
  auto make_batch = [&, first = first](int64_t b) {
    std::vector<torch::Tensor> lines;
    std::vector<int64_t> ids;
    for (int64_t i = first + b * batch_size; i < first + std::min(n, (b + 1) * batch_size); ++i) {
      auto line = data::read_or_skip([&] { return preprocess_.to_tensor(dataset->image(i), channels()); }, [&] { return dataset->describe(i); }, *bad_samples);
      if (!line) continue;  // left out of the metrics
      lines.push_back(*line);
      ids.push_back(i);
    }
    if (lines.empty()) return Batch{};
    const auto [images, widths] = data::pad_lines(lines);
    return Batch{{images, widths}, static_cast<int64_t>(lines.size()), ids};
  };
  data::PrefetchLoader loader(0, batches, make_batch, workers_);
  text::RecognitionTally tally;
  double loss_sum = 0;
  samples_.clear();
  while (auto batch = loader.next()) {
    if (batch->size == 0) continue;
    std::vector<std::vector<int64_t>> targets;  // characters outside the alphabet left out of the loss
    for (int64_t id : batch->ids) targets.push_back(alphabet_.encode(dataset->text(id)));
    const auto [texts, batch_loss] = read_batch(batch->tensors[0], batch->tensors[1], &targets);
    for (int64_t b = 0; b < batch->size; ++b) {
      const auto& truth = dataset->text(batch->ids[static_cast<size_t>(b)]);
      tally.add(texts[static_cast<size_t>(b)], truth);
      if (samples_.size() < 8) samples_.emplace_back(truth, texts[static_cast<size_t>(b)]);
    }
    loss_sum += batch_loss;
  }
  // Counts add over ranks; the rates are computed from the sums, as in one process.
  const auto sums = sum_over_ranks(shard_.group, {static_cast<double>(tally.char_errors), static_cast<double>(tally.chars), static_cast<double>(tally.word_errors),
                                                  static_cast<double>(tally.words), static_cast<double>(tally.exact), static_cast<double>(tally.lines), loss_sum});
  text::RecognitionTally all;
  all.char_errors = std::llround(sums[0]), all.chars = std::llround(sums[1]), all.word_errors = std::llround(sums[2]);
  all.words = std::llround(sums[3]), all.exact = std::llround(sums[4]), all.lines = std::llround(sums[5]);
  if (all.lines == 0) throw Error("no line image of the " + split + " split can be read");
  return {{"examples", all.lines},
          {"metrics", {{"cer", 100.0 * all.cer()}, {"wer", 100.0 * all.wer()}, {"exact", 100.0 * all.exact_match()}, {"loss", sums[6] / static_cast<double>(all.lines)}}}};
}

std::string OcrTask::sample_outputs() {
  std::vector<std::vector<std::string>> rows;
  for (const auto& [truth, read] : samples_) rows.push_back({truth, read});
  return rows.empty() ? "" : markdown_table({"line", "read"}, rows);
}

Json OcrTask::predict(const std::vector<std::string>& inputs, const Options& options) {
  if (!scripted_) module().eval();
  torch::NoGradGuard no_grad;
  Json predictions = Json::array();
  for (size_t start = 0; start < inputs.size(); start += static_cast<size_t>(batch_size_)) {
    const size_t end = std::min(inputs.size(), start + static_cast<size_t>(batch_size_));
    std::vector<torch::Tensor> lines;
    for (size_t i = start; i < end; ++i) lines.push_back(preprocess_.to_tensor(data::read_image(inputs[i]), channels()));
    const auto texts = read_lines(lines);
    for (size_t i = start; i < end; ++i) predictions.push_back({{"input", inputs[i]}, {"text", texts[i - start]}});
  }
  return {{"task", name()}, {"model", model_name_}, {"beam", beam_}, {"predictions", predictions}};
}

std::vector<std::string> OcrTask::visualize(const std::string& input, const std::string& out_png) {
  const cv::Mat rgb = data::read_image(input);
  if (!scripted_) module().eval();
  torch::NoGradGuard no_grad;
  const auto line = preprocess_.to_tensor(rgb, channels());
  const auto images = line.unsqueeze(0), widths = torch::tensor({line.size(2)}, torch::kInt64);
  const std::string decoding = beam_ <= 1 ? (attention_decoder() ? "greedy" : "best path") : "beam " + std::to_string(beam_);
  auto printable = [](const std::string& c) { return c == " " ? std::string("space") : c; };
  if (attention_decoder()) {
    // One row per read character and the end: where in the line the decoder looked to read it.
    const auto reading = attention_readings(images, widths).at(0);
    const auto rows = reading.attention.to(torch::kCPU, torch::kFloat32);  // (characters + 1, T)
    std::vector<std::string> names;
    for (int64_t label : reading.tokens) names.push_back(printable(alphabet_.decode({label})));
    names.push_back("end");
    // Outlined: the character that looks hardest at each column.
    const auto strongest = rows.argmax(0);
    std::vector<int64_t> outlined(strongest.data_ptr<int64_t>(), strongest.data_ptr<int64_t>() + strongest.numel());
    const std::string title = model_name_ + ": read \"" + alphabet_.decode(reading.tokens) + "\" (" + decoding + "), attention over " +
                              std::to_string(rows.size(1)) + " columns";
    viz::write_png(viz::ctc_posteriors(preprocess_.scaled(rgb), rows, names, outlined, title), out_png);
    return {out_png};
  }
  const auto [out, lengths] = scores(images, widths);
  const int64_t columns = lengths[0].item<int64_t>();
  const auto log_probs = torch::log_softmax(out.to(torch::kCPU, torch::kFloat32), 2).select(1, 0).narrow(0, 0, columns);  // (T, labels)
  const auto probs = log_probs.exp();
  // The rows: the blank, then every label some column gives at least 0.05, in alphabet order.
  auto shown_mask = std::get<0>(probs.max(0)).ge(0.05);
  shown_mask[0] = true;
  std::vector<int64_t> shown;
  std::vector<std::string> names;
  for (int64_t label = 0; label < probs.size(1); ++label) {
    if (!shown_mask[label].item<bool>()) continue;
    shown.push_back(label);
    names.push_back(label == 0 ? "blank" : printable(alphabet_.decode({label})));
  }
  // The best path: each column's most probable label, as a row of the figure.
  const auto best = probs.argmax(1);
  std::vector<int64_t> path;
  for (int64_t t = 0; t < columns; ++t) {
    const auto at = std::find(shown.begin(), shown.end(), best[t].item<int64_t>());
    path.push_back(at == shown.end() ? -1 : static_cast<int64_t>(at - shown.begin()));
  }
  const auto rows = probs.index_select(1, torch::tensor(shown, torch::kInt64)).t();  // (shown, T)
  const std::string title = model_name_ + ": read \"" + decode(log_probs, columns) + "\" (" + decoding + "), " + std::to_string(columns) + " columns";
  viz::write_png(viz::ctc_posteriors(preprocess_.scaled(rgb), rows, names, path, title), out_png);
  return {out_png};
}

void OcrTask::export_torchscript(const std::string& path) {
  auto& model = module();
  model.to(torch::kCPU);
  model.eval();
  torch::NoGradGuard no_grad;
  // Two lines of different widths, so the trace keeps the padding logic of a mixed batch.
  const auto images = torch::randn({2, channels(), preprocess_.height, 100});
  const auto widths = torch::tensor({100, 64}, torch::kInt64);
  torch::jit::Module scripted;
  if (ctc_model_) {
    scripted = trace_module(model, model_name_, [&](const std::vector<torch::Tensor>& in) { return ctc_model_->forward(in[0], in[1]); }, {images, widths});
  } else {
    scripted = mirror_module(model, model_name_);
    add_traced_method(scripted, "encode", [&](const std::vector<torch::Tensor>& in) { return attention_model_->encode(in[0], in[1]); }, {images, widths});
    add_decode_step_method(
        scripted, [&](const torch::Tensor& t, const std::vector<torch::Tensor>& s) { return attention_model_->decode_step(t, s); },
        torch::zeros({2}, torch::kInt64), attention_model_->encode(images, widths),
        [](const std::vector<torch::Tensor>& in) { return torch::zeros_like(in[0].unsqueeze(1).narrow(1, 0, 0), torch::kFloat32); });
  }
  add_traced_method(scripted, "output_lengths",
                    [&](const std::vector<torch::Tensor>& in) {
                      return std::vector<torch::Tensor>{ctc_model_ ? ctc_model_->output_lengths(in[0]) : attention_model_->output_lengths(in[0])};
                    },
                    {widths});
  save_torchscript(scripted, path, meta());
  model.to(device_);
}

void OcrTask::rename_published(NamedTensors& tensors) const {
  NamedTensors renamed;
  for (auto& [name, tensor] : tensors) renamed[name.rfind("module.", 0) == 0 ? name.substr(7) : name] = tensor;
  tensors = std::move(renamed);
}

Json OcrTask::import_meta(const std::string& model, Json options, const NamedTensors& tensors) const {
  auto need = [&](const std::string& name) -> const torch::Tensor& {
    if (!tensors.count(name)) throw Error("not a CRNN state dict with crnn.pytorch's names: no tensor '" + name + "'");
    return tensors.at(name);
  };
  options["channels"] = need("cnn.conv0.weight").size(1);
  options["base_width"] = need("cnn.conv0.weight").size(0);
  options["hidden"] = need("rnn.0.rnn.weight_hh_l0").size(1);
  options["num_classes"] = need("rnn.1.embedding.weight").size(0);
  // crnn.pytorch's alphabet: the blank, then 0-9 and a-z (code-point order, as zoo's).
  const std::string port_alphabet = "0123456789abcdefghijklmnopqrstuvwxyz";
  if (options.at("num_classes").get<int64_t>() != static_cast<int64_t>(port_alphabet.size()) + 1)
    throw Error("this CRNN reads " + std::to_string(options.at("num_classes").get<int64_t>() - 1) +
                " characters, not crnn.pytorch's 36 (0-9, a-z): its alphabet is unknown, so it cannot be imported");
  return {{"task", name()}, {"model", model}, {"model_options", options}, {"alphabet", port_alphabet},
          {"data", {{"path", ""}, {"seed", 0}, {"synth_size", 0}, {"val_fraction", 0.1}}}};
}

std::string OcrTask::write_synthetic(const SynthRequest& r) {
  const auto train = data::synth_lines_split(r.n, 32, r.seed, "train");
  const auto val = data::synth_lines_split(r.n, 32, r.seed, "val");
  data::write_line_folder(*train, (fs::path(r.out) / "train").string());
  data::write_line_folder(*val, (fs::path(r.out) / "val").string());
  return "wrote " + std::to_string(train->size()) + " training and " + std::to_string(val->size()) + " validation lines (32 pixels high) to " + r.out +
         "/{train,val}/ with labels.tsv";
}

}  // namespace zoo
