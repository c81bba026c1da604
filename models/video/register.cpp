// The video family's entries in the model registry. Each model's options are its preprocessing's
// (data/image.h: every frame is transformed alike), its clip sampling's (models/video/
// video_classifier.h) and its architecture's; counts at the defaults (400 classes: Kinetics-400's).
#include "models/video/register.h"

#include "data/image.h"
#include "models/video/cnn_lstm.h"
#include "models/video/mvit.h"
#include "models/video/r2plus1d.h"
#include "models/video/timesformer.h"

namespace zoo {

namespace {

using namespace zoo::models;

// The video transformers' recipe (TimeSformer trains with SGD at 0.005 from ViT weights; from
// scratch on small clips AdamW as DeiT does): AdamW, weight decay 0.05, 5% warm-up, cosine.
Recipe video_transformer_recipe() {
  return {{"opt", "adamw"}, {"lr", 1e-3}, {"weight_decay", 0.05}, {"sched", "cosine"}, {"warmup_fraction", 0.05}, {"min_lr", 1e-5},
          {"clip_grad", 1.0}};
}

// The CNNs' (torchvision's video reference: SGD, momentum 0.9, weight decay 1e-4, cosine).
Recipe cnn_recipe() {
  return {{"opt", "sgd"}, {"lr", 0.01}, {"momentum", 0.9}, {"weight_decay", 1e-4}, {"sched", "cosine"}, {"warmup_fraction", 0.05},
          {"min_lr", 0.0}, {"clip_grad", 0.0}};
}

// Kinetics' statistics as torchvision's video models normalise; TimeSformer's and MViT's 0.45/0.225.
data::Preprocess video_preprocess(int64_t input_size, bool kinetics_statistics) {
  data::Preprocess p;
  p.input_size = input_size;
  if (kinetics_statistics) p.mean = {0.43216, 0.394666, 0.37645}, p.std = {0.22803, 0.22145, 0.216989};
  else p.mean = {0.45, 0.45, 0.45}, p.std = {0.225, 0.225, 0.225};
  return p;
}

// For 32-64 px clips (synth:motion): the whole frame, no flip (a motion's direction is its class).
data::Preprocess small_clip_preprocess() {
  data::Preprocess p = video_preprocess(32, false);
  p.crop_pct = 1.0, p.train_aug = "none", p.hflip = 0.0;
  return p;
}

template <class Config>
ModelSpec video_model(std::string name, std::string description, const data::Preprocess& preprocess, const ClipSampling& clip, const Config& variant,
                      int64_t params, Recipe recipe) {
  ModelSpec spec{std::move(name), "video", "video", std::move(description), {}, params, nullptr, std::move(recipe)};
  spec.options.add(data::Preprocess::options(), preprocess).add(ClipSampling::options(), clip).add(Config::options(), variant);
  return spec;
}

}  // namespace

void register_video_models(Registry& registry) {
  // TimeSformer: the paper's base model (ViT-B/16 on 8 frames of 224 px) and a small one for
  // 32 px clips.
  struct TimesformerVariant {
    const char* name;
    data::Preprocess preprocess;
    ClipSampling clip;
    int64_t patch, width, depth, heads;
    int64_t params;
    const char* what;
  };
  const std::vector<TimesformerVariant> timesformers{
      {"timesformer_base", video_preprocess(224, false), ClipSampling{8, 8}, 16, 768, 12, 12, 121566352,
       "TimeSformer-Base (Bertasius et al. 2021): ViT-B/16 on 8 frames of 224 px, divided space-time attention"},
      {"timesformer_small", small_clip_preprocess(), ClipSampling{8, 2}, 4, 192, 4, 3, 2547849,
       "TimeSformer for 32x32 clips: 4x4 patches, width 192, 4 blocks, 3 heads, 8 frames, divided space-time attention"}};
  for (const auto& v : timesformers) {
    TimesformerConfig c;
    c.patch_size = v.patch, c.width = v.width, c.depth = v.depth, c.heads = v.heads;
    c.num_classes = std::string(v.name) == "timesformer_base" ? 400 : 9;
    ModelSpec spec = video_model(v.name, v.what, v.preprocess, v.clip, c, v.params, video_transformer_recipe());
    spec.options.rule([](const Json& o) {
      const auto patch = o.at("patch_size").get<int64_t>(), size = o.at("input_size").get<int64_t>();
      if (size % patch != 0)
        throw UsageError("invalid TimeSformer input_size " + std::to_string(size) + ": it must be a multiple of patch_size " + std::to_string(patch));
    });
    spec.create = [c](const Json& options) {
      TimesformerConfig config = TimesformerConfig::options().read(options, c);
      config.image_size = options.at("input_size").get<int64_t>();
      config.num_frames = options.at("num_frames").get<int64_t>();
      return std::make_shared<TimesformerImpl>(config);
    };
    registry.add_model(std::move(spec));
  }

  // CNN + LSTM around any image classifier of the registry.
  {
    CnnLstmConfig c;
    ModelSpec spec = video_model("cnn_lstm", "CNN+LSTM (Donahue et al. 2015): an image classifier's trunk per frame (resnet18), an LSTM over the frames",
                                 video_preprocess(112, true), ClipSampling{8, 2}, c, 13482960, cnn_recipe());
    const Registry* all = &registry;
    spec.options.rule([all](const Json& o) {
      const std::string backbone = o.at("backbone").get<std::string>();
      const auto& model = all->model(backbone);  // UsageError naming the unknown name
      if (model.task != "classify") throw UsageError("invalid cnn_lstm backbone '" + backbone + "': a " + model.task + " model, not an image classifier");
    });
    spec.create = [c, all](const Json& options) {
      CnnLstmConfig config = CnnLstmConfig::options().read(options, c);
      // The backbone at the clip's frame size, its own defaults otherwise (its head is dropped).
      auto trunk = std::dynamic_pointer_cast<ImageClassifierImpl>(all->create_model(config.backbone, Json{{"input_size", options.at("input_size")}}));
      if (!trunk) throw UsageError("invalid cnn_lstm backbone '" + config.backbone + "': not an image classifier");
      return std::make_shared<CnnLstmImpl>(config, trunk);
    };
    registry.add_model(std::move(spec));
  }

  // MViT-B (v1) and MViTv2-S as torchvision has them: 16 frames of 224 px.
  for (const auto& [name, version, params, what] :
       std::vector<std::tuple<const char*, const char*, int64_t, const char*>>{
           {"mvit_v1_b", "v1", 36610672, "MViT-B (Fan et al. 2021): pooling attention in 4 stages of 96-768 channels, absolute space-time positions"},
           {"mvit_v2_s", "v2", 34537744,
            "MViTv2-S (Li et al. 2022): pooling attention with decomposed relative positions and the residual pooling connection"}}) {
    MvitConfig c;
    c.version = version;
    ModelSpec spec = video_model(name, what, video_preprocess(224, false), ClipSampling{16, 4}, c, params, video_transformer_recipe());
    spec.options.rule([](const Json& o) { check_mvit_grid(o.at("input_size").get<int64_t>(), o.at("num_frames").get<int64_t>()); });
    spec.create = [c](const Json& options) {
      MvitConfig config = MvitConfig::options().read(options, c);
      config.image_size = options.at("input_size").get<int64_t>();
      config.num_frames = options.at("num_frames").get<int64_t>();
      return std::make_shared<MvitImpl>(config);
    };
    registry.add_model(std::move(spec));
  }

  // R(2+1)D-18 as torchvision has it: 16 frames of 112 px.
  {
    ModelSpec spec = video_model("r2plus1d_18", "R(2+1)D-18 (Tran et al. 2018): a ResNet-18 of (2+1)D convolutions, torchvision's", video_preprocess(112, true),
                                 ClipSampling{16, 2}, R2plus1dConfig{}, 31505325, cnn_recipe());
    spec.create = [](const Json& options) { return std::make_shared<R2plus1dImpl>(R2plus1dConfig::options().read(options, R2plus1dConfig{})); };
    registry.add_model(std::move(spec));
  }
}

}  // namespace zoo
