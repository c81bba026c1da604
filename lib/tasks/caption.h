// Image captioning: word-level cross-entropy training of an encoder-decoder on captioned images
// (with each model's own terms), greedy or beam search that stops at <end>, and the COCO caption
// evaluation's metrics (BLEU-1..4, CIDEr-D, ROUGE-L); on data with object boxes also the
// pointing accuracy of the attention. The vocabulary is learned from the training captions and
// travels in the checkpoint.
#pragma once
#include <memory>
#include <optional>

#include "data/captions.h"
#include "data/datasets.h"
#include "lib/nn/search.h"
#include "lib/tasks/task.h"
#include "lib/text/caption_metrics.h"
#include "lib/text/vocab.h"
#include "models/caption/caption_model.h"

namespace zoo {

class CaptionTask : public TaskBase {
 public:
  CaptionTask();
  void check_options(const Options& config) const override;  // and --max-len, --beam
  void setup_training(const Options& config, torch::Device device) override;
  void set_inference_options(const Options& options) override;
  void use_torchscript(torch::jit::Module module) override;

  Json meta() const override;
  std::vector<std::string> head_prefixes() const override { return {"embed.", "out.", "classifier."}; }

  // The decoder, and the encoder trunk on its own when it has its own learning rate
  // (encoder_lr) or trains only from a later epoch (fine_tune_from).
  std::vector<ParameterGroup> parameter_groups() const override;
  int64_t batches_per_epoch() const override;
  double loss_weight(const Batch& batch) const override;
  int64_t examples_per_epoch() const override { return static_cast<int64_t>(train_images_.size()); }
  std::string describe_sample(int64_t id) const override { return train_set_->describe(id); }
  std::vector<std::string> take_notices() override { return bad_samples_->take_notices(); }
  std::unique_ptr<BatchStream> train_batches(int64_t epoch, int64_t first_batch) override;
  torch::Tensor loss(const Batch& batch) override;
  // bleu_1..bleu_4, cider, rouge_l (and pointing, on data with boxes) of the captions the model
  // writes for the split's images against all their references.
  Json evaluate(const std::string& split, const std::string& data = "") override;
  std::string main_metric() const override { return "cider"; }

  Json predict(const std::vector<std::string>& inputs, const Options& options) override;
  // encode(images) -> state and decode_step(words, *state) -> (log_probs, *state, attention).
  void export_torchscript(const std::string& path) override;
  // The caption with each word's attention over the image: one panel per word.
  std::vector<std::string> visualize(const std::string& input, const std::string& out_png) override;
  std::vector<std::string> visualize_validation_example(const std::string& out_png) override;
  std::string sample_outputs() override { return samples_; }
  // zoo data synth --kind scenes: synth:scenes's train and val splits as a COCO root.
  static std::string write_synthetic(const SynthRequest& request);

  struct Caption {
    std::vector<std::string> words;  // without <bos> and <end>
    std::string text;                // the words joined by spaces
    double log_prob = 0, score = 0;
    torch::Tensor attention;  // (words + 1, L): each word's and <end>'s attention; undefined without
  };
  // Captions RGB images in batches of the loader's size.
  std::vector<Caption> caption(const std::vector<cv::Mat>& images);
  // The image as the model sees it: resized to input_size x input_size (RGB uint8).
  cv::Mat model_view(const cv::Mat& rgb) const;
  const text::Vocab& vocabulary() const { return vocab_; }
  // A caption's word ids as the model reads them: the COCO evaluation's words (zoo data tokenize).
  std::vector<int64_t> tokenize(const std::string& text) const override { return vocab_.encode(text::coco_tokens(text)); }
  const nn::SearchOptions& search_options() const { return search_; }

 private:
  void read_meta(const Json& meta) override;
  void build_model() override;
  data::CaptionSet open_split(const std::string& data, const std::string& split) const;
  torch::Tensor image_tensor(const cv::Mat& rgb) const;  // (3, S, S) normalised
  std::vector<torch::Tensor> encode(const torch::Tensor& images);
  nn::DecodeStep decode_step(const torch::Tensor& tokens, const std::vector<torch::Tensor>& state);

  models::CaptionImageConfig image_;
  text::Vocab vocab_;
  int64_t max_words_ = 50;  // the longest caption kept for training: decoding stops after it (+ <end>)
  nn::SearchOptions search_;
  std::shared_ptr<models::CaptionModel> model_;
  std::optional<torch::jit::Module> scripted_;
  std::optional<data::CaptionSet> train_set_, val_set_;
  std::string samples_;  // the last evaluation's first captions (Markdown)
  std::vector<int64_t> train_images_;                          // images of train_set_ with a caption kept
  std::vector<std::vector<std::vector<int64_t>>> train_words_;  // their kept captions as ids, <end>-terminated
  std::shared_ptr<data::BadSamples> bad_samples_ = data::bad_samples_policy("fail");
};

// `zoo eval --task caption --data D --captions FILE`: the COCO results file's captions scored
// against split `split` of D's references, the images it captions only (as COCOEvalCap does);
// an image id that D's split does not hold is an Error naming it.
Json score_caption_results(const std::string& data, const std::string& split, const std::string& results, double val_fraction);

}  // namespace zoo
