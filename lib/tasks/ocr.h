// Text-line recognition: a recognizer of line images trained with CTC (crnn, ctc_transformer) or as
// an attention decoder (attention_ocr, cross-entropy of each next character); CER/WER/exact-match
// evaluation with best-path (--beam 1) or beam-search decoding (CTC's prefix beam search, or the
// decoder's beam search), predicted text per image.
#pragma once
#include "data/datasets.h"
#include "data/text_lines.h"
#include "lib/tasks/task.h"
#include "models/ocr/recognizer.h"

namespace zoo {

class OcrTask : public TaskBase {
 public:
  OcrTask() : TaskBase("ocr") {}
  void setup_training(const Options& config, torch::Device device) override;
  void use_torchscript(torch::jit::Module module) override { scripted_ = std::move(module); }

  Json meta() const override;
  std::vector<std::string> head_prefixes() const override { return ctc_model_ ? ctc_model_->head_prefixes() : attention_model_->head_prefixes(); }

  int64_t batches_per_epoch() const override { return std::max<int64_t>(1, train_set_->size() / batch_size_); }
  int64_t examples_per_epoch() const override { return train_set_->size(); }
  std::string describe_sample(int64_t id) const override { return train_set_->describe(id); }
  std::vector<std::string> take_notices() override { return bad_samples_->take_notices(); }
  // --beam (1: best path; more: prefix beam search), --bad-samples.
  void set_inference_options(const Options& options) override;
  std::unique_ptr<BatchStream> train_batches(int64_t epoch, int64_t first_batch) override;
  // The mean over the batch of -log p(text | image) divided by the text's length. CTC (PyTorch's
  // CTCLoss "mean"): a line the model cannot align (more characters than its columns allow)
  // counts 0 and gives no gradient. Attention: the text's characters and the end symbol, teacher
  // forced, divided by their number.
  torch::Tensor loss(const Batch& batch) override;
  // cer, wer, exact (match) in percent, loss; "cer" is the main metric (lower is better).
  Json evaluate(const std::string& split, const std::string& data = "") override;
  std::string main_metric() const override { return "cer"; }
  bool higher_is_better() const override { return false; }

  // Inputs: line images; each gets its text.
  Json predict(const std::vector<std::string>& inputs, const Options& options) override;
  // CTC: the line image with p(label | column) under it for the blank and every label that reaches
  // 0.05 in some column, the best path outlined (lib/viz/heatmap.h ctc_posteriors). Attention: the
  // line image with each read character's (and the end's) attention over the columns under it.
  std::vector<std::string> visualize(const std::string& input, const std::string& out_png) override;
  std::vector<std::string> visualize_validation_example(const std::string& out_png) override { return visualize_first_image(val_set_, out_png); }
  // CTC: forward(images (B, C, 32, W), widths (B)) -> scores (T, B, labels) and output_lengths;
  // attention: encode(images, widths) -> state, decode_step(labels, *state) -> (log_probs, *state,
  // attention) and output_lengths; at any batch and width.
  void export_torchscript(const std::string& path) override;
  std::string sample_outputs() override;
  // A CRNN state dict with crnn.pytorch's names: its sizes set channels, base_width, hidden and
  // num_classes; 37 labels are the port's alphabet (the blank, 0-9, a-z), any other count an error.
  Json import_meta(const std::string& model, Json options, const NamedTensors& tensors) const override;
  // A state dict saved from torch.nn.DataParallel: "module." dropped.
  void rename_published(NamedTensors& tensors) const override;

  // The lines behind --data and a split: a line folder or synth:lines. Public for tests and zoo bench.
  std::shared_ptr<data::LineDataset> open_split(const std::string& data, const std::string& split) const;
  const data::LineAlphabet& alphabet() const { return alphabet_; }
  // The recognizer's texts for line images (C, H, w_i) under the current decoding.
  std::vector<std::string> read_lines(const std::vector<torch::Tensor>& lines);
  // zoo data synth --kind lines: train/ and val/ line folders.
  static std::string write_synthetic(const SynthRequest& request);

 private:
  void read_meta(const Json& meta) override;
  void build_model() override;
  int64_t channels() const { return model_options_.value("channels", int64_t{1}); }
  // Whether the recognizer reads with an attention decoder (else CTC), C++ or TorchScript.
  bool attention_decoder() const { return scripted_ ? scripted_->find_method("decode_step").has_value() : attention_model_ != nullptr; }
  torch::nn::Module& module() { return ctc_model_ ? static_cast<torch::nn::Module&>(*ctc_model_) : *attention_model_; }
  // CTC: (T, B, labels) scores through the C++ model or TorchScript, and each example's T_b.
  std::pair<torch::Tensor, torch::Tensor> scores(const torch::Tensor& images, const torch::Tensor& widths);
  std::string decode(const torch::Tensor& log_probs, int64_t length) const;  // one example's (T, labels)
  // Attention: the decoder's initial state and one step, through the C++ model or TorchScript.
  std::vector<torch::Tensor> attention_encode(const torch::Tensor& images, const torch::Tensor& widths);
  nn::DecodeStep attention_step(const torch::Tensor& labels, const std::vector<torch::Tensor>& state);
  // Attention: the readings of a batch (greedy for --beam 1) with their attention over columns.
  std::vector<nn::Hypothesis> attention_readings(const torch::Tensor& images, const torch::Tensor& widths);
  // Attention: teacher-forced log-probabilities (B, L + 1, labels) of targets (B, L) through the
  // decoding steps (C++ or TorchScript).
  torch::Tensor attention_log_probs(const torch::Tensor& images, const torch::Tensor& widths, const torch::Tensor& targets);
  // A batch's texts and, given their labels, the sum of its lines' losses (as loss() has them).
  std::pair<std::vector<std::string>, double> read_batch(const torch::Tensor& images, const torch::Tensor& widths,
                                                         const std::vector<std::vector<int64_t>>* targets);

  data::LinePreprocess preprocess_;
  data::LineAlphabet alphabet_;
  int64_t beam_ = 1;
  std::shared_ptr<models::CtcRecognizerImpl> ctc_model_;              // one of these two
  std::shared_ptr<models::AttentionRecognizerImpl> attention_model_;
  std::optional<torch::jit::Module> scripted_;
  std::shared_ptr<data::LineDataset> train_set_, val_set_;
  std::shared_ptr<data::BadSamples> bad_samples_ = data::bad_samples_policy("fail");
  std::vector<std::pair<std::string, std::string>> samples_;  // the last evaluation's first (truth, read) pairs
};

}  // namespace zoo
