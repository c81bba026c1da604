// Translation: token-level cross-entropy training of an encoder-decoder on sentence pairs;
// evaluation by corpus BLEU (sacreBLEU's default computation, on detokenized output), perplexity
// and exact-match rate; greedy or beam search for prediction. Tokenizers and vocabularies are
// learned from the training split and travel in the checkpoint.
#pragma once
#include <memory>

#include "data/text_pairs.h"
#include "lib/nn/search.h"
#include "lib/tasks/task.h"
#include "lib/text/tokenizer.h"
#include "lib/text/vocab.h"
#include "models/seq2seq/translation_model.h"

namespace zoo {

class TranslateTask : public TaskBase {
 public:
  // The source side's ids, <eos> last (zoo data tokenize --checkpoint).
  std::vector<int64_t> tokenize(const std::string& text) const override { return encode_source(text); }
  TranslateTask() : TaskBase("translate") {}
  void check_options(const Options& config) const override;  // and --max-len
  void setup_training(const Options& config, torch::Device device) override;
  void set_inference_options(const Options& options) override;
  void use_torchscript(torch::jit::Module module) override;

  Json meta() const override;

  int64_t batches_per_epoch() const override;
  double loss_weight(const Batch& batch) const override;
  int64_t examples_per_epoch() const override { return static_cast<int64_t>(train_source_.size()); }
  std::string describe_sample(int64_t id) const override { return train_origin_.at(static_cast<size_t>(id)); }
  std::unique_ptr<BatchStream> train_batches(int64_t epoch, int64_t first_batch) override;
  torch::Tensor loss(const Batch& batch) override;
  Json evaluate(const std::string& split, const std::string& data = "") override;
  std::string main_metric() const override { return "bleu"; }

  Json predict(const std::vector<std::string>& inputs, const Options& options) override;
  void export_torchscript(const std::string& path) override;
  std::vector<std::string> visualize(const std::string& input, const std::string& out_png) override;
  std::vector<std::string> visualize_validation_example(const std::string& out_png) override;
  std::string sample_outputs() override { return samples_; }
  // zoo data synth --kind dates: synth:dates's train, val and test splits as parallel files.
  static std::string write_synthetic(const SynthRequest& request);

  struct Translation {
    std::string text;                             // detokenized
    std::vector<std::string> source_tokens, tokens;  // source pieces (with <eos>), output pieces
    double log_prob = 0, score = 0;
    torch::Tensor attention;                      // (tokens + 1, source tokens + 1), or undefined
  };
  // Translates sentences in batches (sorted by length, returned in input order).
  std::vector<Translation> translate(const std::vector<std::string>& sentences);
  const nn::SearchOptions& search_options() const { return search_; }

 private:
  void read_meta(const Json& meta) override;
  void build_model() override;
  std::vector<int64_t> encode_source(const std::string& sentence) const;  // ids + <eos>
  Batch collate(const std::vector<int64_t>& indices, const std::vector<std::vector<int64_t>>& source,
                const std::vector<std::vector<int64_t>>& target) const;
  data::SentencePairs load_split(const std::string& data, const std::string& split) const;
  // encode / decode_step through the C++ model or the TorchScript export.
  std::vector<torch::Tensor> encode(const torch::Tensor& src, const torch::Tensor& lengths);
  nn::DecodeStep decode_step(const torch::Tensor& tokens, const std::vector<torch::Tensor>& state);

  // data_ adds "src", "tgt" and "max_len" to the common keys.
  std::unique_ptr<text::Tokenizer> src_tokenizer_, tgt_tokenizer_;
  text::Vocab src_vocab_, tgt_vocab_;
  nn::SearchOptions search_;
  std::shared_ptr<models::TranslationModel> model_;
  std::optional<torch::jit::Module> scripted_;
  std::vector<std::vector<int64_t>> train_source_, train_target_;  // ids, <eos>-terminated
  std::vector<std::string> train_origin_;                            // "FILE:LINE" of each pair
  std::optional<data::SentencePairs> val_pairs_;
  std::string samples_;  // the last evaluation's first translations (Markdown)
};

}  // namespace zoo
