// The detect family's entries in the model registry. Counts are DETR's (every parameter, the
// frozen stem and layer1 included; a frozen BatchNorm's affine maps are buffers, not
// parameters) at the default 91 classes: facebookresearch/detr's detr_resnet50 has 41,524,768,
// of which 41,302,368 train. Each model's options are its images', its architecture's and its
// loss's, declared beside their structs in detr.h.
#include "models/detect/register.h"

#include "models/detect/detr.h"

namespace zoo {

namespace {

using namespace zoo::models;

// DETR's recipe: AdamW at 1e-4 (the backbone at 1e-5: backbone_lr), weight decay 1e-4, the
// gradient norm clipped at 0.1. DETR drops the rate tenfold after 200 of 300 epochs; here the
// cosine schedule, which needs no epoch count.
Recipe detr_recipe(double lr = 1e-4) {
  return {{"opt", "adamw"}, {"lr", lr}, {"weight_decay", 1e-4}, {"sched", "cosine"}, {"warmup_fraction", 0.0}, {"min_lr", 0.0}, {"clip_grad", 0.1}};
}

ModelSpec detr(std::string name, std::string description, const DetrConfig& config, const DetrImageConfig& image, int64_t params,
               Recipe recipe = detr_recipe()) {
  ModelSpec spec{std::move(name), "detect", "detect", std::move(description), {}, params, nullptr, std::move(recipe)};
  spec.options.add(DetrImageConfig::options(), image).add(DetrConfig::options(), config).add(DetrLossConfig::options(), DetrLossConfig{});
  spec.create = [config](const Json& options) { return std::make_shared<DetrImpl>(DetrConfig::options().read(options, config)); };
  return spec;
}

}  // namespace

void register_detect_models(Registry& registry) {
  registry.add_model(detr("detr_resnet50",
                          "DETR (Carion 2020): ResNet-50 (frozen BatchNorm), 6+6 post-norm Transformer layers of width 256, 100 object "
                          "queries, Hungarian set loss; facebookresearch/detr's names",
                          DetrConfig{}, DetrImageConfig{}, 41524768));
  DetrConfig dc5;
  dc5.dilation = true;
  registry.add_model(detr("detr_resnet50_dc5", "DETR-DC5: detr_resnet50 with layer4 dilated (features at stride 16)", dc5, DetrImageConfig{},
                          41524768));
  DetrConfig r101;
  r101.backbone = "resnet101";
  registry.add_model(detr("detr_resnet101", "DETR with a ResNet-101 backbone", r101, DetrImageConfig{}, 60464672));

  // For CPU budgets: a ResNet-18 read after layer3 (stride 16) whose BatchNorm trains (no
  // pretrained statistics to freeze), a 2+2-layer Transformer of width 128, 10 queries, images of
  // 128; DETR's recipe (1e-4 fitted synth:boxes best of 1e-4, 2e-4 and 4e-4: docs/RESULTS.md).
  DetrConfig small;
  small.backbone = "resnet18", small.feature_stage = 3, small.frozen_bn = false, small.frozen_stages = 0;
  small.hidden_dim = 128, small.heads = 4, small.enc_layers = 2, small.dec_layers = 2, small.dim_feedforward = 512;
  small.num_queries = 10, small.dropout = 0.0, small.backbone_lr = 0;
  DetrImageConfig small_image;
  small_image.image_size = 128, small_image.max_size = 213;
  registry.add_model(detr("detr_resnet18_small",
                          "DETR for CPU budgets: ResNet-18 to layer3 (trainable BatchNorm), 2+2 layers of width 128, 4 heads, 10 queries, "
                          "images of 128",
                          small, small_image, 3788320));
}

}  // namespace zoo
