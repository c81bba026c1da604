// Text classification with a BERT (BertForSequenceClassification): [CLS] text [SEP] through the
// encoder, a linear layer on the pooled [CLS] state, cross-entropy. Fine-tuning starts from a
// masked-LM checkpoint (--init), whose vocabulary it then reads with; without one it trains from
// scratch on a vocabulary of its own. Data: data/labelled_text.h (a TSV, speakers:PLAY.txt,
// synth:topics). Evaluation: accuracy, macro-F1, and the majority baseline: the accuracy of always
// answering the training data's most frequent class (scikit-learn's DummyClassifier
// "most_frequent"), the bar any model must clear.
#pragma once
#include <optional>

#include "data/bert_inputs.h"
#include "data/labelled_text.h"
#include "lib/tasks/task.h"
#include "lib/text/wordpiece.h"
#include "models/bert/bert.h"

namespace zoo {

class TextClassifyTask : public TaskBase {
 public:
  TextClassifyTask() : TaskBase("text_classify") {}
  void setup_training(const Options& config, torch::Device device) override;
  void set_inference_options(const Options& options) override;
  void use_torchscript(torch::jit::Module module) override { scripted_ = std::move(module); }

  Json meta() const override;
  std::vector<std::string> head_prefixes() const override { return {"classifier."}; }
  void adapt_init_weights(const Json& meta, NamedTensors& tensors) const override;

  int64_t batches_per_epoch() const override;
  int64_t examples_per_epoch() const override { return static_cast<int64_t>(train_ids_.size()); }
  std::string describe_sample(int64_t id) const override { return train_.origins.at(static_cast<size_t>(id)); }
  std::unique_ptr<BatchStream> train_batches(int64_t epoch, int64_t first_batch) override;
  torch::Tensor loss(const Batch& batch) override;
  Json evaluate(const std::string& split, const std::string& data = "") override;
  std::string main_metric() const override { return "accuracy"; }

  Json predict(const std::vector<std::string>& inputs, const Options& options) override;
  void export_torchscript(const std::string& path) override;
  std::vector<std::string> visualize(const std::string& input, const std::string& out_png) override;
  std::vector<std::string> visualize_validation_example(const std::string& out_png) override;
  std::vector<int64_t> tokenize(const std::string& text) const override { return tokenizer_->encode(text); }
  // zoo data synth --kind topics: synth:topics as train.tsv and val.tsv.
  static std::string write_synthetic(const SynthRequest& request);

 private:
  void read_meta(const Json& meta) override;
  void build_model() override;
  data::BertInputs inputs() const { return data::BertInputs::options().read(model_options_, {}); }
  // --data as stored: speakers:PLAY with the play's path made absolute, a path made absolute.
  std::string resolve_data(const std::string& data) const;
  data::LabelledText load_split(const std::string& data, const std::string& split) const;
  // Every text as [CLS] pieces [SEP] (cut to seq_len) and its class; a label the classes lack
  // is an error naming its line.
  void encode(const data::LabelledText& part, std::vector<std::vector<int64_t>>& ids, std::vector<int64_t>& labels) const;
  torch::Tensor logits(const torch::Tensor& tokens);  // (B, T) -> (B, classes), model or export

  std::optional<text::WordPieceTokenizer> tokenizer_;
  std::vector<std::string> classes_;
  std::shared_ptr<models::BertClassifierImpl> model_;
  std::optional<torch::jit::Module> scripted_;
  data::LabelledText train_, val_;
  std::vector<std::vector<int64_t>> train_ids_, val_ids_;
  std::vector<int64_t> train_labels_, val_labels_;
  int64_t majority_class_ = 0;  // the training data's most frequent class (ties: the first by name)
  int64_t top_k_ = 3;
  int visualize_layer_ = -1;
};

}  // namespace zoo
