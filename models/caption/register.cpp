// The caption family's entries in the model registry. Parameter counts are at the defaults: a
// ResNet-101 trunk cut after layer4 (42,500,160 of them), a vocabulary of 10,000 words. In
// training the vocabulary follows the data (`vocab` caps it). Each model's options are the
// encoder's, the image's, the vocabulary's and its decoder's, declared beside their structs.
#include "models/caption/register.h"

#include "models/caption/show_attend_tell.h"
#include "models/caption/show_attend_tell_hard.h"
#include "models/caption/show_tell.h"

namespace zoo {

namespace {

using namespace zoo::models;

// Adam at 4e-4 with the gradient norm clipped at 5, as the Show-Attend-Tell reimplementations
// train the decoder; cosine to 0.
Recipe caption_recipe() {
  return {{"opt", "adam"}, {"lr", 4e-4}, {"weight_decay", 0.0}, {"sched", "cosine"}, {"warmup_fraction", 0.0}, {"min_lr", 0.0},
          {"clip_grad", 5.0}};
}

// The classifier named by the encoder options, freshly built (the captioner cuts it to its trunk).
std::shared_ptr<ImageClassifierImpl> build_trunk(const Registry& registry, const CaptionEncoderConfig& encoder) {
  auto trunk = std::dynamic_pointer_cast<ImageClassifierImpl>(registry.create_model(encoder.encoder, Json::object()));
  if (!trunk) throw UsageError("encoder " + encoder.encoder + " is not an image classifier");
  return trunk;
}

// A captioner whose decoder options are Config's; the trunk comes from the registry's classifiers.
template <class Model, class Config>
ModelSpec captioner(const Registry& registry, std::string name, std::string description, int64_t params) {
  ModelSpec spec{std::move(name), "caption", "caption", std::move(description), {}, params, nullptr, caption_recipe()};
  spec.options.add(CaptionImageConfig::options(), CaptionImageConfig{})
      .add(CaptionEncoderConfig::options(), CaptionEncoderConfig{})
      .add(CaptionVocabConfig::options(), CaptionVocabConfig{})
      .add(Config::options(), Config{});
  spec.create = [&registry](const Json& options) {
    Config config = Config::options().read(options, Config{});
    config.vocab = options.at("vocab").get<int64_t>();
    const auto encoder = CaptionEncoderConfig::options().read(options, {});
    return std::make_shared<Model>(config, encoder, build_trunk(registry, encoder));
  };
  return spec;
}

// Show-Attend-Tell with hard attention: the soft model's options and REINFORCE's.
ModelSpec hard_captioner(const Registry& registry, int64_t params) {
  ModelSpec spec = captioner<ShowAttendTellImpl, ShowAttendTellConfig>(
      registry, "show_attend_tell_hard",
      "Show, Attend and Tell (Xu 2015), hard attention: one sampled location per word, trained with REINFORCE "
      "(moving-average baseline, entropy bonus, expected context for half the images)",
      params);
  spec.options.add(HardAttentionConfig::options(), HardAttentionConfig{});
  spec.create = [&registry](const Json& options) {
    ShowAttendTellConfig config = ShowAttendTellConfig::options().read(options, {});
    config.vocab = options.at("vocab").get<int64_t>();
    const auto encoder = CaptionEncoderConfig::options().read(options, {});
    return std::make_shared<ShowAttendTellHardImpl>(config, HardAttentionConfig::options().read(options, {}), encoder, build_trunk(registry, encoder));
  };
  return spec;
}

}  // namespace

void register_caption_models(Registry& registry) {
  registry.add_model(captioner<ShowTellImpl, ShowTellConfig>(
      registry, "show_tell", "Show and Tell (Vinyals 2015): the image embedding is the LSTM's first input", 55900496));
  registry.add_model(captioner<ShowAttendTellImpl, ShowAttendTellConfig>(
      registry, "show_attend_tell",
      "Show, Attend and Tell (Xu 2015), soft attention over the encoder's locations, gating scalar, deep output, doubly stochastic penalty", 63767890));
  registry.add_model(hard_captioner(registry, 63767890));
}

}  // namespace zoo
