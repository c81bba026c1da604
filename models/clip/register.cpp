// The clip family's entries in the model registry. Counts are openai/CLIP's at the released
// configurations (every parameter, logit_scale included; BatchNorm statistics are buffers).
#include "models/clip/register.h"

#include "data/image.h"
#include "models/clip/clip.h"

namespace zoo {

namespace {

using namespace zoo::models;

// CLIP's recipe (Radford et al. 2021, appendix F): AdamW, weight decay 0.2 (not on gains,
// biases, embeddings' positions or the temperature: lib/tasks/clip.cpp), cosine schedule after a
// warm-up. The paper's peak rates are 5e-4 (ViT-B/32) and 5e-4 (RN50) at batch 32,768; the small
// models take 5e-4 at batch 128 as well (docs/RESULTS.md).
Recipe clip_recipe(double lr = 5e-4) {
  return {{"opt", "adamw"}, {"lr", lr}, {"weight_decay", 0.2}, {"sched", "cosine"}, {"warmup_fraction", 0.05}, {"min_lr", 0.0}, {"batch_size", 128}};
}

// CLIP's preprocessing: the shorter side resized to the input size, the centre cropped, CLIP's
// channel statistics. No flips in training (captions say "left of").
data::Preprocess clip_preprocess(int64_t input_size) {
  data::Preprocess p;
  p.input_size = input_size, p.crop_pct = 1.0, p.train_aug = "none";
  p.mean = {0.48145466, 0.4578275, 0.40821073};
  p.std = {0.26862954, 0.26130258, 0.27577711};
  return p;
}

ModelSpec clip(std::string name, std::string description, const ClipConfig& config, int64_t params, const ClipTextConfig& text = {}) {
  ModelSpec spec{std::move(name), "clip", "clip", std::move(description), {}, params, nullptr, clip_recipe()};
  spec.options.add(data::Preprocess::options(), clip_preprocess(config.image_size))
      .add(ClipConfig::options(), config)
      .add(ClipTextConfig::options(), text)
      .add(ClipGradCacheConfig::options(), ClipGradCacheConfig{});
  spec.create = [config](const Json& options) {
    auto c = ClipConfig::options().read(options, config);
    c.image_size = options.at("input_size").get<int64_t>();
    return std::make_shared<ClipImpl>(c);
  };
  return spec;
}

}  // namespace

void register_clip_models(Registry& registry) {
  ClipConfig b32;  // the defaults: ViT-B/32 at 224 px, text 12 x 512, joint space 512
  registry.add_model(clip("clip_vit_b_32", "CLIP ViT-B/32 (Radford 2021): 12-layer ViT of width 768 on 32 px patches of 224 px images, "
                                           "12-layer causal text Transformer of width 512, joint space 512; openai/CLIP's names",
                          b32, 151277313));
  ClipConfig b16 = b32;
  b16.patch_size = 16;
  registry.add_model(clip("clip_vit_b_16", "CLIP ViT-B/16: clip_vit_b_32 on 16 px patches", b16, 149620737));
  ClipConfig rn50 = b32;
  rn50.vision = "resnet", rn50.vision_width = 64, rn50.resnet_blocks = {3, 4, 6, 3}, rn50.embed_dim = 1024;
  registry.add_model(clip("clip_rn50",
                          "CLIP RN50: the modified ResNet-50 (3-convolution stem, average-pool strides, attention pooling with 32 heads), "
                          "the same text Transformer, joint space 1024",
                          rn50, 102007137));

  // For CPU budgets: 32 px images on 4 px patches, a 4-layer ViT and a 4-layer text Transformer
  // of width 128 (4 heads each), texts of up to 32 tokens, joint space 128.
  ClipConfig small;
  small.image_size = 32, small.patch_size = 4, small.vision_width = 128, small.vision_layers = 4, small.vision_heads = 4;
  small.context_length = 32, small.text_width = 128, small.text_heads = 4, small.text_layers = 4, small.embed_dim = 128;
  registry.add_model(clip("clip_small",
                          "CLIP for CPU budgets: 32 px images, 4-layer ViT (4 px patches) and 4-layer text Transformer of width 128, "
                          "contexts of 32 tokens, joint space 128",
                          small, 7962625));
  ClipConfig small_rn = small;
  small_rn.vision = "resnet", small_rn.image_size = 64, small_rn.vision_width = 16, small_rn.resnet_blocks = {1, 1, 1, 1};
  small_rn.vision_heads = 8;
  registry.add_model(clip("clip_small_rn",
                          "CLIP for CPU budgets with the ResNet tower: 64 px images, one bottleneck per stage from width 16, attention "
                          "pooling over 2 x 2, clip_small's text Transformer",
                          small_rn, 8500249));
}

}  // namespace zoo
