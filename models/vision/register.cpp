// The vision family's entries in the model registry: names, defaults and parameter counts as
// torchvision has them (counts at the default 1000 classes; resnet18_cifar at 10).
#include "lib/core/registry.h"
#include "models/vision/alexnet.h"
#include "models/vision/googlenet.h"
#include "models/vision/resnet.h"
#include "models/vision/vgg.h"

namespace zoo {

namespace {

// Preprocessing options every classifier carries (timm's data config).
Json imagenet_preprocess(int input_size = 224) {
  return {{"input_size", input_size}, {"crop_pct", 0.875}, {"train_aug", "rrc"},
          {"mean", {0.485, 0.456, 0.406}}, {"std", {0.229, 0.224, 0.225}}};
}

Json with(Json base, const Json& extra) {
  for (auto it = extra.begin(); it != extra.end(); ++it) base[it.key()] = it.value();
  return base;
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
  };
  const std::vector<ResNetVariant> resnets{{"resnet18", false, {2, 2, 2, 2}, 11689512},
                                           {"resnet34", false, {3, 4, 6, 3}, 21797672},
                                           {"resnet50", true, {3, 4, 6, 3}, 25557032},
                                           {"resnet101", true, {3, 4, 23, 3}, 44549160},
                                           {"resnet152", true, {3, 8, 36, 3}, 60192808}};
  for (const auto& v : resnets) {
    const int depth = std::stoi(std::string(v.name).substr(6));
    add(v.name, "ResNet-" + std::to_string(depth) + (v.bottleneck ? " (bottleneck blocks)" : " (basic blocks)"),
        with(imagenet_preprocess(), {{"num_classes", 1000}, {"zero_init_residual", false}}), v.params,
        [v](const Options& o) {
          ResNetConfig c;
          c.bottleneck = v.bottleneck;
          c.layers = v.layers;
          c.num_classes = o.get_int("num_classes");
          c.zero_init_residual = o.get_bool("zero_init_residual");
          return std::make_shared<ResNetImpl>(c);
        });
  }
  // CIFAR-style stem for 32x32 inputs: 3x3 stride-1 conv1, no max-pool; CIFAR-10 statistics.
  add("resnet18_cifar", "ResNet-18 with a 3x3 stride-1 stem and no max-pool, for 32x32 images",
      {{"input_size", 32}, {"crop_pct", 1.0}, {"train_aug", "crop"},
       {"mean", {0.4914, 0.4822, 0.4465}}, {"std", {0.2470, 0.2435, 0.2616}},
       {"num_classes", 10}, {"zero_init_residual", false}},
      11173962, [](const Options& o) {
        ResNetConfig c;
        c.small_input = true;
        c.num_classes = o.get_int("num_classes");
        c.zero_init_residual = o.get_bool("zero_init_residual");
        return std::make_shared<ResNetImpl>(c);
      });
}

}  // namespace zoo
