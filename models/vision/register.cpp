// The vision family's entries in the model registry: names, defaults and parameter counts as
// torchvision has them (counts at the default 1000 classes; resnet18_cifar at 10).
#include "lib/core/error.h"
#include "lib/core/registry.h"
#include "models/vision/alexnet.h"
#include "models/vision/googlenet.h"
#include "models/vision/resnet.h"
#include "models/vision/swin.h"
#include "models/vision/vgg.h"
#include "models/vision/vit.h"

namespace zoo {

namespace {

// Preprocessing options every classifier carries (timm's data config).
Json imagenet_preprocess(int input_size = 224) {
  return {{"input_size", input_size}, {"crop_pct", 0.875}, {"train_aug", "rrc"}, {"auto_augment", ""},
          {"mean", {0.485, 0.456, 0.406}}, {"std", {0.229, 0.224, 0.225}}};
}

Json with(Json base, const Json& extra) {
  for (auto it = extra.begin(); it != extra.end(); ++it) base[it.key()] = it.value();
  return base;
}

// A list option of positive integers (--set depths=2,2,6,2).
std::vector<int64_t> positive_ints(const Options& o, const std::string& key) {
  std::vector<int64_t> out;
  for (double v : o.get_doubles(key)) {
    if (v < 1 || v != static_cast<double>(static_cast<int64_t>(v)))
      throw UsageError("invalid --set " + key + ": expected positive integers, got " + format_value(v));
    out.push_back(static_cast<int64_t>(v));
  }
  return out;
}

// CIFAR-10 statistics and augmentation, for the variants made for 32x32 images.
Json cifar_preprocess() {
  return {{"input_size", 32}, {"crop_pct", 1.0}, {"train_aug", "crop"}, {"auto_augment", ""},
          {"mean", {0.4914, 0.4822, 0.4465}}, {"std", {0.2470, 0.2435, 0.2616}}};
}

}  // namespace

void register_vision_models(Registry& registry) {
  using namespace zoo::models;
  auto add = [&](std::string name, std::string description, Json defaults, int64_t params,
                 std::function<std::shared_ptr<torch::nn::Module>(const Options&)> create) {
    registry.add_model({std::move(name), "classify", "vision", std::move(description), std::move(defaults), params, std::move(create)});
  };

  add("alexnet", "AlexNet (torchvision single-GPU variant): 5 conv + 3 FC layers",
      with(imagenet_preprocess(), {{"num_classes", 1000}, {"dropout", 0.5}}), 61100840,
      [](const Options& o) { return std::make_shared<AlexNetImpl>(o.get_int("num_classes"), o.get_double("dropout")); });

  const std::vector<std::pair<int, std::array<int64_t, 2>>> vgg_params{
      {11, {132863336, 132868840}}, {13, {133047848, 133053736}}, {16, {138357544, 138365992}}, {19, {143667240, 143678248}}};
  for (const auto& [depth, params] : vgg_params) {
    for (bool bn : {false, true}) {
      const std::string name = "vgg" + std::to_string(depth) + (bn ? "_bn" : "");
      add(name, "VGG-" + std::to_string(depth) + (bn ? " with BatchNorm" : "") + ": 3x3 convolutions only, 3 FC layers",
          with(imagenet_preprocess(), {{"num_classes", 1000}, {"dropout", 0.5}}), params[bn ? 1 : 0],
          [depth = depth, bn](const Options& o) {
            VggConfig c;
            c.depth = depth;
            c.batch_norm = bn;
            c.num_classes = o.get_int("num_classes");
            c.dropout = o.get_double("dropout");
            return std::make_shared<VGGImpl>(c);
          });
    }
  }

  add("googlenet", "GoogLeNet (Inception v1) with BatchNorm; aux_logits=true trains the two side classifiers (weight 0.3)",
      with(imagenet_preprocess(), {{"num_classes", 1000}, {"aux_logits", false}, {"transform_input", false},
                                   {"dropout", 0.2}, {"dropout_aux", 0.7}}),
      6624904, [](const Options& o) {
        GoogLeNetConfig c;
        c.num_classes = o.get_int("num_classes");
        c.aux_logits = o.get_bool("aux_logits");
        c.transform_input = o.get_bool("transform_input");
        c.dropout = o.get_double("dropout");
        c.dropout_aux = o.get_double("dropout_aux");
        return std::make_shared<GoogLeNetImpl>(c);
      });

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
    add(v.name, "ResNet-" + std::to_string(depth) + (v.bottleneck ? " (bottleneck blocks)" : " (basic blocks)") +
                    (v.self_attention ? " with self-attention (1x1 conv Q/K/V, gain from 0) after layer2 and layer3" : ""),
        with(imagenet_preprocess(), {{"num_classes", 1000}, {"zero_init_residual", false}}), v.params,
        [v](const Options& o) {
          ResNetConfig c;
          c.bottleneck = v.bottleneck;
          c.layers = v.layers;
          c.num_classes = o.get_int("num_classes");
          c.zero_init_residual = o.get_bool("zero_init_residual");
          c.self_attention = v.self_attention;
          return std::make_shared<ResNetImpl>(c);
        });
  }
  // CIFAR-style stem for 32x32 inputs: 3x3 stride-1 conv1, no max-pool; CIFAR-10 statistics.
  add("resnet18_cifar", "ResNet-18 with a 3x3 stride-1 stem and no max-pool, for 32x32 images",
      with(cifar_preprocess(), {{"num_classes", 10}, {"zero_init_residual", false}}),
      11173962, [](const Options& o) {
        ResNetConfig c;
        c.small_input = true;
        c.num_classes = o.get_int("num_classes");
        c.zero_init_residual = o.get_bool("zero_init_residual");
        return std::make_shared<ResNetImpl>(c);
      });
  add("resnet18_sa_cifar", "resnet18_cifar with self-attention (1x1 conv Q/K/V, gain from 0) after layer2 (16x16) and layer3 (8x8)",
      with(cifar_preprocess(), {{"num_classes", 10}, {"zero_init_residual", false}}), 11277036, [](const Options& o) {
        ResNetConfig c;
        c.small_input = true;
        c.self_attention = true;
        c.num_classes = o.get_int("num_classes");
        c.zero_init_residual = o.get_bool("zero_init_residual");
        return std::make_shared<ResNetImpl>(c);
      });

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
    Json options = with(cifar ? cifar_preprocess() : imagenet_preprocess(),
                        {{"num_classes", cifar ? 10 : 1000}, {"patch_size", v.patch}, {"embed_dim", v.embed_dim}, {"depths", v.depths},
                         {"heads", v.heads}, {"window", v.window}, {"mlp_ratio", 4.0}, {"dropout", 0.0}, {"attention_dropout", 0.0},
                         {"drop_path", v.drop_path}});
    std::string stages;
    for (auto d : v.depths) stages += (stages.empty() ? "" : "+") + std::to_string(d);
    add(v.name, std::string(v.what) + ": " + std::to_string(v.patch) + "x" + std::to_string(v.patch) + " patches, " + stages +
                    " blocks in " + std::to_string(v.depths.size()) + " stages from width " + std::to_string(v.embed_dim) +
                    ", attention in " + std::to_string(v.window) + "x" + std::to_string(v.window) + " shifted windows",
        options, v.params, [](const Options& o) {
          SwinConfig c;
          c.patch_size = o.get_int("patch_size");
          c.embed_dim = o.get_int("embed_dim");
          c.depths = positive_ints(o, "depths");
          c.heads = positive_ints(o, "heads");
          c.window = o.get_int("window");
          c.mlp_ratio = o.get_double("mlp_ratio");
          c.dropout = o.get_double("dropout"), c.attention_dropout = o.get_double("attention_dropout");
          c.drop_path = o.get_double("drop_path");
          c.num_classes = o.get_int("num_classes");
          return std::make_shared<SwinTransformerImpl>(c);
        });
  }

  // ViT (torchvision's five) and DeiT (timm's names; torchvision's layout). The architecture
  // options may be changed with --set like any other; the counts are at the defaults.
  struct VitVariant {
    const char* name;
    int64_t patch, layers, heads, width, mlp;
    bool distilled;
    int64_t params;
    const char* what;
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
      {"deit_base_distilled_patch16_224", 16, 12, 12, 768, 3072, true, 87338192, "DeiT-B with a distillation token"}};
  auto vit_options = [](const VitVariant& v, Json preprocess, int64_t num_classes) {
    Json o = with(std::move(preprocess), {{"num_classes", num_classes}, {"patch_size", v.patch}, {"layers", v.layers}, {"heads", v.heads},
                                          {"width", v.width}, {"mlp", v.mlp}, {"dropout", 0.0}, {"attention_dropout", 0.0},
                                          {"drop_path", v.distilled || std::string(v.name).rfind("deit", 0) == 0 ? 0.1 : 0.0}});
    if (v.distilled) o["teacher"] = "";  // a zoo classifier checkpoint whose argmax trains head_dist
    return o;
  };
  auto make_vit = [](bool distilled) {
    return [distilled](const Options& o) {
      VitConfig c;
      c.image_size = o.get_int("input_size");
      c.patch_size = o.get_int("patch_size");
      c.layers = o.get_int("layers"), c.heads = o.get_int("heads"), c.width = o.get_int("width"), c.mlp = o.get_int("mlp");
      c.num_classes = o.get_int("num_classes");
      c.dropout = o.get_double("dropout"), c.attention_dropout = o.get_double("attention_dropout");
      c.drop_path = o.get_double("drop_path");
      c.distilled = distilled;
      return std::make_shared<VisionTransformerImpl>(c);
    };
  };
  for (const auto& v : vits) {
    const std::string patches = std::to_string(v.patch) + "x" + std::to_string(v.patch) + " patches, ";
    add(v.name, std::string(v.what) + ": " + patches + std::to_string(v.layers) + " pre-norm blocks of width " + std::to_string(v.width) +
                    ", " + std::to_string(v.heads) + " heads" + (v.distilled ? "; head_dist learns from --set teacher=CKPT" : ""),
        vit_options(v, imagenet_preprocess(), 1000), v.params, make_vit(v.distilled));
  }
  // Small variants for 32x32 images (CIFAR): 4x4 patches make 64 tokens; 6 blocks of width 192.
  const VitVariant vit_cifar{"vit_tiny_patch4_32", 4, 6, 3, 192, 768, false, 0, ""};
  add("vit_tiny_patch4_32", "ViT for 32x32 images: 4x4 patches (64 tokens), 6 pre-norm blocks of width 192, 3 heads",
      vit_options(vit_cifar, cifar_preprocess(), 10), 2693578, make_vit(false));
  const VitVariant deit_cifar{"deit_tiny_distilled_patch4_32", 4, 6, 3, 192, 768, true, 0, ""};
  add("deit_tiny_distilled_patch4_32", "vit_tiny_patch4_32 with DeiT's distillation token; head_dist learns from --set teacher=CKPT",
      vit_options(deit_cifar, cifar_preprocess(), 10), 2695892, make_vit(true));
}

}  // namespace zoo
