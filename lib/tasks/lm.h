// Language modelling: next-token cross-entropy on a text stream; evaluation in nats per token,
// bits per character and perplexity (and, on synth:additions, the share of sums completed
// right); generation by greedy, temperature, top-k and top-p sampling; attention maps (gpt) and
// unit activations (char_rnn) for looking inside.
//
// Batches: a recurrent model reads the training text as B contiguous streams, chunk after chunk
// of --set bptt tokens, its hidden state carried from one chunk to the next and detached
// (truncated backpropagation through time); a transformer reads B windows of its context length
// at random offsets (nanoGPT's get_batch). Both are functions of (seed, epoch, batch).
#pragma once
#include <functional>
#include <memory>
#include <optional>

#include "data/text_corpus.h"
#include "lib/core/random.h"
#include "lib/nn/sampling.h"
#include "lib/tasks/task.h"
#include "lib/text/tokenizer.h"
#include "lib/text/vocab.h"
#include "models/lm/language_model.h"

namespace zoo {

// One call of a language model (the C++ module or its TorchScript export): tokens (B, T) and the
// state after the tokens before them -> logits (B, T, V) and the state after these.
using LmRunner = std::function<models::LmOutput(const torch::Tensor& tokens, const std::vector<torch::Tensor>& state)>;

// Up to `max_new` tokens continuing `ids` (stopping after `stop`, when >= 0), one call of `run`
// per token with the key/value cache or hidden state carried, sampled with `sampling` and `rng`.
// With a `context` (> 0; a transformer's), the prompt is cut to its last `context` tokens and a
// full window restarts from its last `context` tokens. `fresh_state`, when given, makes the state
// each window starts from (GptImpl::reserve_state; else an empty one). Shared by the lm task and
// zoo bench.
using LmStateMaker = std::function<std::vector<torch::Tensor>()>;
std::vector<int64_t> generate_tokens(const LmRunner& run, std::vector<int64_t> ids, int64_t context, int64_t max_new,
                                     const nn::SamplingOptions& sampling, Rng& rng, int64_t stop = -1, const LmStateMaker& fresh_state = {});

class LmTask : public TaskBase {
 public:
  LmTask() : TaskBase("lm") {}
  void setup_training(const Options& config, torch::Device device) override;
  void set_inference_options(const Options& options) override;
  void use_torchscript(torch::jit::Module module) override { scripted_ = std::move(module); }

  Json meta() const override;

  int64_t batches_per_epoch() const override;
  int64_t examples_per_epoch() const override;
  std::string describe_sample(int64_t id) const override;
  std::unique_ptr<BatchStream> train_batches(int64_t epoch, int64_t first_batch) override;
  torch::Tensor loss(const Batch& batch) override;
  std::map<std::string, torch::Tensor> training_state() const override;
  void restore_training_state(const std::map<std::string, torch::Tensor>& state) override;
  Json evaluate(const std::string& split, const std::string& data = "") override;
  std::string main_metric() const override { return "loss"; }
  bool higher_is_better() const override { return false; }

  Json predict(const std::vector<std::string>& inputs, const Options& options) override;
  void export_torchscript(const std::string& path) override;
  std::vector<std::string> visualize(const std::string& input, const std::string& out_png) override;
  std::vector<std::string> visualize_validation_example(const std::string& out_png) override;
  std::string sample_outputs() override;
  // zoo data synth --kind additions: synth:additions's training lines, then its validation lines.
  static std::string write_synthetic(const SynthRequest& request);

  // Text <-> ids with the checkpoint's tokenizer; a line break is the token "\n".
  std::vector<int64_t> encode(const std::string& text) const;
  std::vector<int64_t> tokenize(const std::string& text) const override { return encode(text); }
  std::string decode(const std::vector<int64_t>& ids) const;
  // Up to `max_new` tokens continuing `prompt` (stopping after `stop`, when >= 0), sampled with
  // `sampling` and `rng`; through the C++ model or the TorchScript export. A prompt longer than
  // a transformer's context is cut to its last tokens, as generation slides along.
  std::vector<int64_t> generate(const std::vector<int64_t>& prompt, int64_t max_new, const nn::SamplingOptions& sampling, Rng& rng,
                                int64_t stop = -1);
  // Logits (B, T, V) of `tokens` (B, T) and the state after them, through the model or the export.
  models::LmOutput run(const torch::Tensor& tokens, const std::vector<torch::Tensor>& state);

 private:
  void read_meta(const Json& meta) override;
  void build_model() override;
  // Every token of `corpus` ("\n" after each line), and where each line starts in them.
  std::vector<int64_t> encode_corpus(const data::TextCorpus& corpus, std::vector<int64_t>* line_starts = nullptr) const;
  int64_t sequence_length() const;  // bptt (recurrent) or context (transformer)
  int64_t stream_length() const;    // tokens per row per epoch (recurrent)
  bool is_recurrent() const;
  data::TextCorpus load_split(const std::string& data, const std::string& split) const;
  // The share (%) of the corpus's "a+b=c" lines (at most kAdditionChecks) whose greedy completion of "a+b=" is c.
  double addition_accuracy(const data::TextCorpus& corpus);
  int64_t context_limit() const;  // the model's context, also for an export

  std::unique_ptr<text::Tokenizer> tokenizer_;
  text::Vocab vocab_;
  int64_t newline_ = text::Vocab::kUnk;  // the id of "\n"
  nn::SamplingOptions sampling_;
  int64_t max_new_tokens_ = 200;
  int visualize_layer_ = -1;
  std::vector<int64_t> visualize_units_;
  std::string visualize_signal_ = "h";
  std::shared_ptr<models::LanguageModel> model_;
  std::optional<torch::jit::Module> scripted_;
  std::vector<int64_t> train_ids_, train_line_starts_, val_ids_;
  data::TextCorpus train_corpus_;
  std::optional<data::TextCorpus> val_corpus_;
  std::vector<std::vector<torch::Tensor>> carried_;  // per micro-batch: the recurrent state between training chunks
};

}  // namespace zoo
