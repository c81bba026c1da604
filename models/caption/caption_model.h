// What the caption task needs from a captioner, and what every captioner shares: an image
// encoder that is a zoo classifier's convolutional trunk, giving the annotation vectors a_i
// (Xu et al.'s name) of the L locations of its feature map.
#pragma once
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "lib/core/option_schema.h"
#include "lib/nn/search.h"
#include "models/vision/classifier.h"

namespace zoo::models {

// The encoder: which classifier's trunk, where it is cut, the grid of locations it is pooled to,
// and whether it trains.
struct CaptionEncoderConfig {
  std::string encoder = "resnet101";
  int64_t encoder_stage = 4;
  int64_t encoder_grid = 14;
  std::string encoder_init;
  bool freeze_encoder = false;
  int64_t fine_tune_from = 1;  // 1-based epoch from which the trunk trains
  double encoder_lr = 0;       // the trunk's peak learning rate; 0: the run's --lr
  static const OptionSchema<CaptionEncoderConfig>& options();
};

// The image the captioner sees: resized (squeezed, not cropped, so every object stays in view and
// boxes keep their place) to input_size x input_size and normalised.
struct CaptionImageConfig {
  int64_t input_size = 224;
  std::vector<double> mean{0.485, 0.456, 0.406};
  std::vector<double> std{0.229, 0.224, 0.225};
  static const OptionSchema<CaptionImageConfig>& options();
};

// The words: a vocabulary of the training captions' words seen at least min_count times, at most
// `vocab` entries with <pad> <unk> <bos> <eos>; the model's output layer follows it.
struct CaptionVocabConfig {
  int64_t vocab = 10000;
  int64_t min_count = 5;
  static const OptionSchema<CaptionVocabConfig>& options();
};

inline const std::vector<std::string>& caption_encoders() {
  static const std::vector<std::string> names{"resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnet18_cifar",
                                              "vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"};
  return names;
}

inline const OptionSchema<CaptionEncoderConfig>& CaptionEncoderConfig::options() {
  static const auto schema =
      OptionSchema<CaptionEncoderConfig>("caption encoder")
          .option("encoder", &CaptionEncoderConfig::encoder, one_of(caption_encoders()),
                  "the zoo classifier whose convolutional trunk encodes the image")
          .option("encoder_stage", &CaptionEncoderConfig::encoder_stage, in_range(1, 5, "[]"),
                  "where the trunk is cut: ResNet after layer1..layer4 (1-4; 3 gives 14x14 at 224 pixels); VGG 5 (conv5, before its last pool)")
          .option("encoder_grid", &CaptionEncoderConfig::encoder_grid, at_least(0),
                  "average-pool the feature map to GxG locations (L = G^2) for attention; 0: as the trunk gives it")
          .option("encoder_init", &CaptionEncoderConfig::encoder_init, anything(),
                  "a zoo classifier checkpoint (e.g. from zoo import --from torchvision) whose trunk weights the encoder starts from; "
                  "empty: random weights. Read when training starts")
          .option("freeze_encoder", &CaptionEncoderConfig::freeze_encoder,
                  "keep the trunk's weights and BatchNorm statistics fixed (no gradients through it)")
          .option("fine_tune_from", &CaptionEncoderConfig::fine_tune_from, at_least(1),
                  "the epoch (1-based) from which the trunk trains; before it the trunk is frozen as with freeze_encoder")
          .option("encoder_lr", &CaptionEncoderConfig::encoder_lr, at_least(0.0),
                  "the trunk's peak learning rate, following --sched like the decoder's; 0: --lr")
          .rule([](const CaptionEncoderConfig& c) {
            if (c.freeze_encoder && (c.fine_tune_from > 1 || c.encoder_lr > 0))
              throw UsageError("freeze_encoder=true keeps the trunk fixed for the whole run: drop fine_tune_from and encoder_lr, or set freeze_encoder=false");
            const bool vgg = c.encoder.rfind("vgg", 0) == 0;
            if (vgg && c.encoder_stage != 5)
              throw UsageError("invalid encoder_stage=" + std::to_string(c.encoder_stage) + " for " + c.encoder + ": a VGG trunk is cut at 5 (conv5)");
            if (!vgg && c.encoder_stage > 4)
              throw UsageError("invalid encoder_stage=" + std::to_string(c.encoder_stage) + " for " + c.encoder + ": a ResNet trunk is cut at 1-4");
          });
  return schema;
}

inline const OptionSchema<CaptionImageConfig>& CaptionImageConfig::options() {
  static const auto schema =
      OptionSchema<CaptionImageConfig>("caption image")
          .option("input_size", &CaptionImageConfig::input_size, at_least(16), "side of the square the image is resized to (not cropped)")
          .option("mean", &CaptionImageConfig::mean, anything(), "per-channel mean subtracted (RGB, of pixels in [0, 1])")
          .option("std", &CaptionImageConfig::std, positive(), "per-channel standard deviation divided by (RGB)")
          .rule([](const CaptionImageConfig& c) {
            if (c.mean.size() != 3 || c.std.size() != 3) throw UsageError("invalid mean/std: expected 3 numbers each (R,G,B)");
          });
  return schema;
}

inline const OptionSchema<CaptionVocabConfig>& CaptionVocabConfig::options() {
  static const auto schema =
      OptionSchema<CaptionVocabConfig>("caption vocabulary")
          .option("vocab", &CaptionVocabConfig::vocab, at_least(5),
                  "vocabulary cap including <pad> <unk> <bos> <eos>; the output layer follows the training captions' vocabulary")
          .option("min_count", &CaptionVocabConfig::min_count, at_least(1), "words seen fewer times in the training captions become <unk>");
  return schema;
}

// A teacher-forced pass: logits (B, T, V) for tokens_in (B, T) = <bos> w_1 ... w_{T-1}, and the
// attention (B, T, L) over the image's locations at each step (undefined for a model without).
struct CaptionOutput {
  torch::Tensor logits;
  torch::Tensor attention;
};

class CaptionModel : public torch::nn::Module {
 public:
  // `trunk`: a freshly built classifier named config.encoder, cut here to its trunk.
  CaptionModel(const CaptionEncoderConfig& config, std::shared_ptr<ImageClassifierImpl> trunk);

  // The annotation vectors: images (B, 3, S, S) -> a (B, L, D), L = G x G locations in row-major
  // order, D the trunk's channels.
  torch::Tensor annotations(const torch::Tensor& images);
  int64_t annotation_size() const { return channels_; }
  // Loads the trunk's weights from a zoo classifier checkpoint (its head and the layers after
  // the cut are not needed); an Error names the file and the first missing or mis-shaped tensor.
  void init_encoder(const std::string& checkpoint);
  // A frozen trunk (freeze_encoder, or before fine_tune_from) stays in eval mode (fixed
  // BatchNorm statistics) when the model trains.
  void train(bool on = true) override;
  const CaptionEncoderConfig& encoder_config() const { return config_; }

  // images (B, 3, S, S) -> the state before the first decoding step, every tensor (B, ...).
  virtual std::vector<torch::Tensor> encode(const torch::Tensor& images) = 0;
  // One step: the previous words (B) -> log-probabilities (B, V), the next state, and the
  // attention (B, L) the step used (undefined for a model without attention).
  virtual nn::DecodeStep decode_step(const torch::Tensor& tokens, const std::vector<torch::Tensor>& state) = 0;
  virtual CaptionOutput forward(const torch::Tensor& images, const torch::Tensor& tokens_in) = 0;
  // The training objective of a batch, per target token: cross-entropy (with label smoothing,
  // <pad> ignored) plus the model's own terms (the doubly stochastic penalty, REINFORCE's).
  virtual torch::Tensor loss(const torch::Tensor& images, const torch::Tensor& tokens_in, const torch::Tensor& tokens_out,
                             double label_smoothing) = 0;
  // Whether decode_step's attention is a sampled location (hard attention) rather than weights.
  virtual bool samples_attention() const { return false; }

 protected:
  std::shared_ptr<ImageClassifierImpl> encoder;  // registered as "encoder": its parameters are encoder.*

 private:
  // Whether gradients reach the trunk now: the trainer freezes it before fine_tune_from.
  bool encoder_trains() const;
  CaptionEncoderConfig config_;
  int64_t channels_ = 0;
};

// The token-level cross-entropy summed over the targets that are not <pad> (0), and their count.
std::pair<torch::Tensor, torch::Tensor> caption_cross_entropy(const torch::Tensor& logits, const torch::Tensor& tokens_out,
                                                               double label_smoothing);

}  // namespace zoo::models
