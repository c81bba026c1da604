// Contrastive image-text pre-training (CLIP): captioned images (COCO captions, a TSV of
// image<TAB>caption, synth:scenes), the symmetric contrastive loss over each batch (optionally
// with gradient caching, so a large batch fits in memory), retrieval recall both ways, zero-shot
// classification of an image folder by its class names with prompt ensembles, and the
// image-text similarity matrix as a figure. The tokenizer (CLIP's BPE, or words learnt from the
// training captions) travels in the checkpoint.
#pragma once
#include <memory>
#include <optional>

#include "data/captions.h"
#include "data/datasets.h"
#include "data/image.h"
#include "lib/tasks/task.h"
#include "lib/text/clip_bpe.h"
#include "lib/text/vocab.h"
#include "models/clip/clip.h"

namespace zoo {

// Captions as the text tower's rows: <|startoftext|> ids <|endoftext|>, zero-padded to the
// context; longer ones cut with <|endoftext|> last (openai/CLIP's tokenize(truncate=True)).
class ClipTokens {
 public:
  ClipTokens() = default;
  explicit ClipTokens(text::ClipBpe bpe) : bpe_(std::move(bpe)) {}
  explicit ClipTokens(text::Vocab words) : words_(std::move(words)) {}
  std::vector<int64_t> ids(const std::string& caption) const;  // without the start and end tokens
  int64_t vocab_size() const { return bpe_ ? bpe_->vocab_size() : words_.size(); }
  int64_t start_token() const { return bpe_ ? bpe_->start_token() : text::Vocab::kBos; }
  int64_t end_token() const { return bpe_ ? bpe_->end_token() : text::Vocab::kEos; }
  // One caption's row before padding; `cut`, when given, counts it when it was cut.
  std::vector<int64_t> sequence(const std::string& caption, int64_t context, int64_t* cut = nullptr) const;
  // Such sequences zero-padded into (N, context) int64.
  static torch::Tensor pack(const std::vector<const std::vector<int64_t>*>& sequences, int64_t context);
  // Captions as (N, context) int64 rows; `cut`, when given, counts the captions that were cut.
  torch::Tensor rows(const std::vector<std::string>& captions, int64_t context, int64_t* cut = nullptr) const;
  Json to_json() const;
  static ClipTokens from_json(const Json& j);

 private:
  std::optional<text::ClipBpe> bpe_;
  text::Vocab words_;
};

// The prompt templates of zero-shot classification, "{}" standing for the class name: a file of
// one template per line, or the name of a built-in list ("cifar10": CLIP's 18 for CIFAR-10;
// "scenes": synth:scenes' caption grammar, "a {}" and "a picture of a {}").
std::vector<std::string> clip_templates(const std::string& name_or_file);

// Retrieval ranks: scores (Q, N) of each query against every candidate; truth[q] the candidates
// that count as a hit for query q (an image's captions: any of them). Rank = how many candidates
// score strictly higher than the best-scoring true one (0: a hit at 1).
std::vector<int64_t> retrieval_ranks(const torch::Tensor& scores, const std::vector<std::vector<int64_t>>& truth);
// R@K in percent: the share of ranks below k.
double recall_at(const std::vector<int64_t>& ranks, int64_t k);

class ClipTask : public TaskBase {
 public:
  ClipTask();
  void check_options(const Options& config) const override;
  void setup_training(const Options& config, torch::Device device) override;
  // --bad-samples; eval's --zero-shot and --templates; predict's --labels.
  void set_inference_options(const Options& options) override;
  void use_torchscript(torch::jit::Module module) override { scripted_ = std::move(module); }

  Json meta() const override;
  // Weight decay on the matrices only: gains, biases, embeddings of positions and class, and the
  // temperature in a group without it (open_clip's exclusion).
  std::vector<ParameterGroup> parameter_groups() const override;
  int64_t batches_per_epoch() const override;
  int64_t examples_per_epoch() const override { return static_cast<int64_t>(train_images_.size()); }
  std::string describe_sample(int64_t id) const override { return train_set_->describe(id); }
  std::vector<std::string> take_notices() override { return bad_samples_->take_notices(); }
  std::unique_ptr<BatchStream> train_batches(int64_t epoch, int64_t first_batch) override;
  torch::Tensor loss(const Batch& batch) override;
  // With grad_cache: the batch in chunks of grad_cache_chunk pairs (models/clip/clip.h).
  std::optional<torch::Tensor> loss_with_backward(const Batch& batch, double gradient_scale) override;
  // Retrieval on captioned images: image_to_text_r1/r5/r10 (an image's hit: any of its captions
  // in the top K), text_to_image_r1/r5/r10, their mean (mean_recall), in percent. With
  // --zero-shot on an image folder: top1 and top5 (percent) of classifying it by its class names;
  // synth:scenes (the default for a model trained on it): its single-shape scenes by colour and
  // kind, 36 classes ("red circle", ...);
  // synth:shapes: synth:shapes' images.
  Json evaluate(const std::string& split, const std::string& data = "") override;
  std::string main_metric() const override { return zero_shot_ ? "top1" : "mean_recall"; }

  // Images with --labels: each label's probability (softmax of 100 cos), most likely first.
  Json predict(const std::vector<std::string>& inputs, const Options& options) override;
  // An image: the image tower's attention (ViT: class-token rollout and the last layer's heads;
  // ResNet: the pooling query's heads). Caption data (a COCO root, a TSV, synth:scenes): the
  // cosine similarity of its first 8 validation images with one caption each, as a labelled matrix.
  std::vector<std::string> visualize(const std::string& input, const std::string& out_png) override;
  std::vector<std::string> visualize_validation_example(const std::string& out_png) override;
  // encode_image(images) (B, 3, S, S) and encode_text(tokens) (B, context): unnormalised
  // projections, as openai/CLIP's methods of those names; any batch.
  void export_torchscript(const std::string& path) override;
  // import --from clip: the configuration the released state dict's shapes imply (image tower,
  // widths, layers, input size); CLIP's tokenizer.
  Json import_meta(const std::string& model, Json options, const NamedTensors& tensors) const override;
  // The released state dicts' extra entries (input_resolution, context_length, vocab_size) dropped.
  void adapt_weights(NamedTensors& tensors) const override {
    for (const char* key : {"input_resolution", "context_length", "vocab_size"}) tensors.erase(key);
  }
  // Token ids of a text under this model's tokenizer (zoo data tokenize --checkpoint).
  std::vector<int64_t> tokenize(const std::string& text) const override { return tokens_.ids(text); }

  // Unit-norm embeddings, in batches of the loader's size: images (N, D), texts (N, D).
  torch::Tensor image_embeddings(const std::vector<cv::Mat>& images);
  torch::Tensor text_embeddings(const std::vector<std::string>& texts);
  // The zero-shot classifier (C, D): per class, every template filled in, embedded, normalised,
  // averaged and normalised again.
  torch::Tensor class_embeddings(const std::vector<std::string>& classes, const std::vector<std::string>& templates);

 private:
  void read_meta(const Json& meta) override;
  void build_model() override;
  data::CaptionSet open_split(const std::string& path, const std::string& split) const;
  torch::Tensor image_tensor(const cv::Mat& rgb) const { return preprocess_.eval(rgb); }
  Json evaluate_zero_shot(const std::string& split, const std::string& data);
  torch::Tensor encode_images(const torch::Tensor& images);
  torch::Tensor encode_texts(const torch::Tensor& tokens);

  std::shared_ptr<models::ClipImpl> model_;
  std::optional<torch::jit::Module> scripted_;
  data::Preprocess preprocess_;
  int64_t context_ = 77;
  ClipTokens tokens_;
  std::optional<data::CaptionSet> train_set_, val_set_;
  std::vector<int64_t> train_images_;                 // images of train_set_ with a caption
  std::vector<std::vector<std::vector<int64_t>>> train_tokens_;  // their captions' rows, tokenized once
  int64_t grad_cache_chunk_ = 0;                      // 0: off
  std::shared_ptr<data::BadSamples> bad_samples_ = data::bad_samples_policy("fail");
  bool zero_shot_ = false;
  std::string templates_;  // --templates; empty: the zero-shot set's own list
  std::vector<std::string> labels_;  // predict --labels
};

}  // namespace zoo
