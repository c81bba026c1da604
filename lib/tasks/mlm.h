// Masked language modelling (BERT's pretraining, Devlin et al. 2018, without next-sentence
// prediction, as RoBERTa found best): the text is read as one stream of word pieces, cut into
// windows of --set seq_len with [CLS] before and [SEP] after (RoBERTa's FULL-SENTENCES packing);
// each batch draws B windows at random offsets and masks them afresh (RoBERTa's dynamic masking,
// BERT's 80/10/10 rule, whole words optionally). Loss: cross-entropy on the masked pieces only.
// Evaluation: consecutive windows of the validation text, masked the same way for every
// checkpoint; loss in nats per masked piece, its perplexity, and the share restored exactly.
// Predict fills each [MASK] of a text with its most likely pieces.
#pragma once
#include <optional>

#include "data/bert_inputs.h"
#include "data/text_corpus.h"
#include "lib/tasks/task.h"
#include "lib/text/wordpiece.h"
#include "models/bert/bert.h"

namespace zoo {

class MlmTask : public TaskBase {
 public:
  MlmTask() : TaskBase("mlm") {}
  void setup_training(const Options& config, torch::Device device) override;
  void set_inference_options(const Options& options) override;
  void use_torchscript(torch::jit::Module module) override { scripted_ = std::move(module); }

  Json meta() const override;
  std::vector<std::string> head_prefixes() const override { return {"cls."}; }

  int64_t batches_per_epoch() const override;
  int64_t examples_per_epoch() const override { return batches_per_epoch() * batch_size_; }
  std::string describe_sample(int64_t id) const override;
  std::unique_ptr<BatchStream> train_batches(int64_t epoch, int64_t first_batch) override;
  torch::Tensor loss(const Batch& batch) override;
  double loss_weight(const Batch& batch) const override;
  Json evaluate(const std::string& split, const std::string& data = "") override;
  std::string main_metric() const override { return "loss"; }
  bool higher_is_better() const override { return false; }

  Json predict(const std::vector<std::string>& inputs, const Options& options) override;
  void export_torchscript(const std::string& path) override;
  std::vector<std::string> visualize(const std::string& input, const std::string& out_png) override;
  std::vector<std::string> visualize_validation_example(const std::string& out_png) override;
  std::string sample_outputs() override;
  std::vector<int64_t> tokenize(const std::string& text) const override;

  // zoo import --from bert: Hugging Face's BertForMaskedLM / BertForPreTraining state dicts
  // (the `bert.` prefix dropped, the tied decoder and the next-sentence head left out, old
  // LayerNorm gamma/beta renamed); the sizes follow the tensors, the vocabulary --set vocab_file.
  void rename_published(NamedTensors& tensors) const override;
  Json import_meta(const std::string& model, Json options, const NamedTensors& tensors) const override;

  // A checkpoint's tokenizer (text_classify starts from it).
  const text::WordPieceTokenizer& tokenizer() const { return *tokenizer_; }

 private:
  void read_meta(const Json& meta) override;
  void build_model() override;
  data::BertInputs inputs() const { return data::BertInputs::options().read(model_options_, {}); }
  data::TextCorpus load_split(const std::string& data, const std::string& split) const;
  std::vector<int64_t> encode_corpus(const data::TextCorpus& corpus, std::vector<int64_t>* line_starts = nullptr) const;
  // [CLS] window [SEP], masked with `rng`: (input, labels) rows.
  std::pair<std::vector<int64_t>, std::vector<int64_t>> masked_window(const std::vector<int64_t>& ids, int64_t start, int64_t length,
                                                                      uint64_t seed) const;
  // Scores (N, V) over the pieces at the positions where `selected` (B, T) is true, through the
  // model or the export.
  torch::Tensor scores_at(const torch::Tensor& input, const torch::Tensor& selected);
  int64_t window() const;  // pieces per window between [CLS] and [SEP]

  std::optional<text::WordPieceTokenizer> tokenizer_;
  std::shared_ptr<models::BertForMaskedLmImpl> model_;
  std::optional<torch::jit::Module> scripted_;
  data::TextCorpus train_corpus_;
  std::optional<data::TextCorpus> val_corpus_;
  std::vector<int64_t> train_ids_, train_line_starts_, val_ids_;
  int64_t top_k_ = 5;
  int visualize_layer_ = -1;
};

}  // namespace zoo
