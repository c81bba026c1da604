// The vision family's entries in the model registry: names, defaults and parameter counts as
// torchvision has them (counts at the default 1000 classes; the variants for 32x32 images at 10).
// Each model's options are its preprocessing's and its architecture's, declared beside their
// structs (data/image.h, and each model's header); the variants differ only in the values below.
#include "models/vision/register.h"

#include "data/image.h"
#include "models/vision/alexnet.h"
#include "models/vision/googlenet.h"
#include "models/vision/resnet.h"
#include "models/vision/pvt.h"
#include "models/vision/swin.h"
#include "models/vision/vgg.h"
#include "models/vision/vit.h"

namespace zoo {

namespace {

using namespace zoo::models;

// ImageNet's statistics and torchvision's evaluation crop.
data::Preprocess imagenet_preprocess() { return data::Preprocess{}; }

// CIFAR-10's statistics and augmentation, for the variants made for 32x32 images.
data::Preprocess cifar_preprocess() {
  data::Preprocess p;
  p.input_size = 32, p.crop_pct = 1.0, p.train_aug = "crop";
  p.mean = {0.4914, 0.4822, 0.4465}, p.std = {0.2470, 0.2435, 0.2616};
  return p;
}

// The CNNs' recipe, torchvision's reference: SGD with momentum 0.9 and a cosine schedule (weight
// decay 5e-4, as for CIFAR); AlexNet and VGG at lr 0.01, as torchvision trains them.
Recipe sgd_recipe(double lr) {
  return {{"opt", "sgd"}, {"lr", lr}, {"momentum", 0.9}, {"weight_decay", 5e-4}, {"sched", "cosine"}, {"warmup_fraction", 0.0},
          {"min_lr", 0.0}, {"clip_grad", 0.0}};
}

// The vision transformers' (DeiT's, Swin's): AdamW, weight decay 0.05, a linear warm-up over 5% of
// the run, then cosine.
Recipe vision_transformer_recipe() {
  return {{"opt", "adamw"}, {"lr", 1e-3}, {"weight_decay", 0.05}, {"sched", "cosine"}, {"warmup_fraction", 0.05}, {"min_lr", 1e-5},
          {"clip_grad", 0.0}};
}

// A classifier whose architecture options are Config's, with `variant`'s values as defaults.
template <class Model, class Config>
ModelSpec classifier(std::string name, std::string description, const data::Preprocess& preprocess, const Config& variant,
                     int64_t params, Recipe recipe = sgd_recipe(0.1)) {
  ModelSpec spec{std::move(name), "classify", "vision", std::move(description), {}, params, nullptr, std::move(recipe)};
  spec.options.add(data::Preprocess::options(), preprocess).add(Config::options(), variant).add(LinearProbeConfig::options(), LinearProbeConfig{});
  spec.create = [variant](const Json& options) { return std::make_shared<Model>(Config::options().read(options, variant)); };
  return spec;
}

}  // namespace

void register_vision_models(Registry& registry) {
  registry.add_model(classifier<AlexNetImpl>("alexnet", "AlexNet (torchvision single-GPU variant): 5 conv + 3 FC layers",
                                             imagenet_preprocess(), AlexNetConfig{}, 61100840, sgd_recipe(0.01)));

  const std::vector<std::pair<int, std::array<int64_t, 2>>> vgg_params{
      {11, {132863336, 132868840}}, {13, {133047848, 133053736}}, {16, {138357544, 138365992}}, {19, {143667240, 143678248}}};
  for (const auto& [depth, params] : vgg_params) {
    for (bool bn : {false, true}) {
      VggConfig c;
      c.depth = depth, c.batch_norm = bn;
      registry.add_model(classifier<VGGImpl>("vgg" + std::to_string(depth) + (bn ? "_bn" : ""),
                                             "VGG-" + std::to_string(depth) + (bn ? " with BatchNorm" : "") + ": 3x3 convolutions only, 3 FC layers",
                                             imagenet_preprocess(), c, params[bn ? 1 : 0], sgd_recipe(0.01)));
    }
  }

  registry.add_model(classifier<GoogLeNetImpl>(
      "googlenet", "GoogLeNet (Inception v1) with BatchNorm; aux_logits=true trains the two side classifiers (weight 0.3)",
      imagenet_preprocess(), GoogLeNetConfig{}, 6624904));

  struct ResNetVariant {
    const char* name;
    bool bottleneck;
    std::vector<int64_t> layers;
    int64_t params;
    bool self_attention = false;
  };
  const std::vector<ResNetVariant> resnets{{"resnet18", false, {2, 2, 2, 2}, 11689512},
                                           {"resnet34", false, {3, 4, 6, 3}, 21797672},
                                           {"resnet50", true, {3, 4, 6, 3}, 25557032},
                                           {"resnet101", true, {3, 4, 23, 3}, 44549160},
                                           {"resnet152", true, {3, 8, 36, 3}, 60192808},
                                           {"resnet18_sa", false, {2, 2, 2, 2}, 11792586, true},
                                           {"resnet50_sa", true, {3, 4, 6, 3}, 27198122, true}};
  for (const auto& v : resnets) {
    const int depth = std::stoi(std::string(v.name).substr(6));
    ResNetConfig c;
    c.bottleneck = v.bottleneck, c.layers = v.layers, c.self_attention = v.self_attention;
    registry.add_model(classifier<ResNetImpl>(
        v.name,
        "ResNet-" + std::to_string(depth) + (v.bottleneck ? " (bottleneck blocks)" : " (basic blocks)") +
            (v.self_attention ? " with self-attention (1x1 conv Q/K/V, gain from 0) after layer2 and layer3" : ""),
        imagenet_preprocess(), c, v.params));
  }
  // CIFAR-style stem for 32x32 inputs: 3x3 stride-1 conv1, no max-pool; CIFAR-10 statistics.
  ResNetConfig cifar_resnet;
  cifar_resnet.small_input = true, cifar_resnet.num_classes = 10;
  registry.add_model(classifier<ResNetImpl>("resnet18_cifar", "ResNet-18 with a 3x3 stride-1 stem and no max-pool, for 32x32 images",
                                            cifar_preprocess(), cifar_resnet, 11173962));
  cifar_resnet.self_attention = true;
  registry.add_model(classifier<ResNetImpl>(
      "resnet18_sa_cifar", "resnet18_cifar with self-attention (1x1 conv Q/K/V, gain from 0) after layer2 (16x16) and layer3 (8x8)",
      cifar_preprocess(), cifar_resnet, 11277036));

  // Swin (torchvision's three, and a small variant for 32x32 images).
  struct SwinVariant {
    const char* name;
    int64_t patch, embed_dim;
    std::vector<int64_t> depths, heads;
    int64_t window;
    double drop_path;
    int64_t params;
    const char* what;
  };
  const std::vector<SwinVariant> swins{
      {"swin_t", 4, 96, {2, 2, 6, 2}, {3, 6, 12, 24}, 7, 0.2, 28288354, "Swin-T"},
      {"swin_s", 4, 96, {2, 2, 18, 2}, {3, 6, 12, 24}, 7, 0.3, 49606258, "Swin-S"},
      {"swin_b", 4, 128, {2, 2, 18, 2}, {4, 8, 16, 32}, 7, 0.5, 87768224, "Swin-B"},
      {"swin_tiny_patch2_window4_32", 2, 96, {2, 2, 6}, {3, 6, 12}, 4, 0.1, 12141604, "Swin for 32x32 images"}};
  for (const auto& v : swins) {
    const bool cifar = std::string(v.name).find("_32") != std::string::npos;
    SwinConfig c;
    c.patch_size = v.patch, c.embed_dim = v.embed_dim, c.depths = v.depths, c.heads = v.heads, c.window = v.window;
    c.drop_path = v.drop_path, c.num_classes = cifar ? 10 : 1000;
    std::string stages;
    for (auto d : v.depths) stages += (stages.empty() ? "" : "+") + std::to_string(d);
    registry.add_model(classifier<SwinTransformerImpl>(
        v.name,
        std::string(v.what) + ": " + std::to_string(v.patch) + "x" + std::to_string(v.patch) + " patches, " + stages + " blocks in " +
            std::to_string(v.depths.size()) + " stages from width " + std::to_string(v.embed_dim) + ", attention in " +
            std::to_string(v.window) + "x" + std::to_string(v.window) + " shifted windows",
        cifar ? cifar_preprocess() : imagenet_preprocess(), c, v.params, vision_transformer_recipe()));
  }

  // PVT v1 (the authors' four, and a small variant for 32x32 images).
  struct PvtVariant {
    const char* name;
    int64_t patch;
    std::vector<int64_t> depths;
    int64_t params;
    const char* what;
  };
  const std::vector<PvtVariant> pvts{{"pvt_tiny", 4, {2, 2, 2, 2}, 13229288, "PVT-Tiny"},
                                     {"pvt_small", 4, {3, 4, 6, 3}, 24485864, "PVT-Small"},
                                     {"pvt_medium", 4, {3, 4, 18, 3}, 44208104, "PVT-Medium"},
                                     {"pvt_large", 4, {3, 8, 27, 3}, 61369320, "PVT-Large"},
                                     {"pvt_tiny_patch2_32", 2, {2, 2, 2, 2}, 12361994, "PVT-Tiny for 32x32 images"}};
  for (const auto& v : pvts) {
    const bool cifar = std::string(v.name).find("_32") != std::string::npos;
    PvtConfig c;
    c.patch_size = v.patch, c.depths = v.depths, c.num_classes = cifar ? 10 : 1000;
    const data::Preprocess preprocess = cifar ? cifar_preprocess() : imagenet_preprocess();
    c.image_size = preprocess.input_size;
    std::string stages;
    for (auto d : v.depths) stages += (stages.empty() ? "" : "+") + std::to_string(d);
    ModelSpec spec{v.name, "classify", "vision",
                   std::string(v.what) + ": " + std::to_string(v.patch) + "x" + std::to_string(v.patch) + " patches, " + stages +
                       " blocks in 4 stages of width 64/128/320/512, spatial-reduction attention (R = 8, 4, 2, 1)",
                   {}, v.params, nullptr, vision_transformer_recipe()};
    spec.options.add(data::Preprocess::options(), preprocess).add(PvtConfig::options(), c).add(LinearProbeConfig::options(), LinearProbeConfig{});
    // The grids (and the position embeddings) are made for the preprocessing's input_size.
    spec.options.rule([](const Json& o) { check_pvt_grid(o.at("input_size").get<int64_t>(), PvtConfig::options().read(o, PvtConfig{})); });
    spec.create = [c](const Json& options) {
      PvtConfig config = PvtConfig::options().read(options, c);
      config.image_size = options.at("input_size").get<int64_t>();
      return std::make_shared<PyramidVisionTransformerImpl>(config);
    };
    registry.add_model(std::move(spec));
  }

  // ViT (torchvision's five) and DeiT (timm's names; torchvision's layout). The architecture
  // options may be changed with --set like any other; the counts are at the defaults.
  struct VitVariant {
    const char* name;
    int64_t patch, layers, heads, width, mlp;
    bool distilled;
    int64_t params;
    const char* what;
    bool cifar = false;  // made for 32x32 images: CIFAR's preprocessing, 10 classes, `what` is the description
  };
  const std::vector<VitVariant> vits{
      {"vit_b_16", 16, 12, 12, 768, 3072, false, 86567656, "ViT-B/16"},
      {"vit_b_32", 32, 12, 12, 768, 3072, false, 88224232, "ViT-B/32"},
      {"vit_l_16", 16, 24, 16, 1024, 4096, false, 304326632, "ViT-L/16"},
      {"vit_l_32", 32, 24, 16, 1024, 4096, false, 306535400, "ViT-L/32"},
      {"vit_h_14", 14, 32, 16, 1280, 5120, false, 632045800, "ViT-H/14"},
      {"deit_tiny_patch16_224", 16, 12, 3, 192, 768, false, 5717416, "DeiT-Ti"},
      {"deit_small_patch16_224", 16, 12, 6, 384, 1536, false, 22050664, "DeiT-S"},
      {"deit_base_patch16_224", 16, 12, 12, 768, 3072, false, 86567656, "DeiT-B"},
      {"deit_tiny_distilled_patch16_224", 16, 12, 3, 192, 768, true, 5910800, "DeiT-Ti with a distillation token"},
      {"deit_small_distilled_patch16_224", 16, 12, 6, 384, 1536, true, 22436432, "DeiT-S with a distillation token"},
      {"deit_base_distilled_patch16_224", 16, 12, 12, 768, 3072, true, 87338192, "DeiT-B with a distillation token"},
      // Small variants for 32x32 images (CIFAR): 4x4 patches make 64 tokens; 6 blocks of width 192.
      {"vit_tiny_patch4_32", 4, 6, 3, 192, 768, false, 2693578,
       "ViT for 32x32 images: 4x4 patches (64 tokens), 6 pre-norm blocks of width 192, 3 heads", true},
      {"deit_tiny_distilled_patch4_32", 4, 6, 3, 192, 768, true, 2695892,
       "vit_tiny_patch4_32 with DeiT's distillation token; head_dist learns from --set teacher=CKPT", true}};
  for (const auto& v : vits) {
    const bool cifar = v.cifar;
    const bool deit = std::string(v.name).rfind("deit", 0) == 0;
    VitConfig c;
    c.patch_size = v.patch, c.layers = v.layers, c.heads = v.heads, c.width = v.width, c.mlp = v.mlp;
    c.num_classes = cifar ? 10 : 1000, c.drop_path = deit ? 0.1 : 0.0, c.distilled = v.distilled;
    const data::Preprocess preprocess = cifar ? cifar_preprocess() : imagenet_preprocess();
    c.image_size = preprocess.input_size;
    const std::string description =
        cifar ? v.what
              : std::string(v.what) + ": " + std::to_string(v.patch) + "x" + std::to_string(v.patch) + " patches, " + std::to_string(v.layers) +
                    " pre-norm blocks of width " + std::to_string(v.width) + ", " + std::to_string(v.heads) + " heads" +
                    (v.distilled ? "; head_dist learns from --set teacher=CKPT" : "");
    ModelSpec spec{v.name, "classify", "vision", description, {}, v.params, nullptr, vision_transformer_recipe()};
    spec.options.add(data::Preprocess::options(), preprocess).add(VitConfig::options(), c).add(LinearProbeConfig::options(), LinearProbeConfig{});
    if (v.distilled) spec.options.add(DistillationConfig::options(), DistillationConfig{});
    // The position embeddings are made for the preprocessing's input_size.
    spec.options.rule([](const Json& o) { check_vit_grid(o.at("input_size").get<int64_t>(), o.at("patch_size").get<int64_t>()); });
    spec.create = [c](const Json& options) {
      VitConfig config = VitConfig::options().read(options, c);
      config.image_size = options.at("input_size").get<int64_t>();
      return std::make_shared<VisionTransformerImpl>(config);
    };
    registry.add_model(std::move(spec));
  }
}

}  // namespace zoo
