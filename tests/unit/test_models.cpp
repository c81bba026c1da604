// Every registered model: exact parameter count (torchvision's) and output shape.
#include <catch2/catch.hpp>

#include <cstdlib>

#include "lib/core/registry.h"
#include "lib/tasks/builtin.h"
#include "models/vision/classifier.h"
#include "models/vision/googlenet.h"

namespace test_models {  // this file's own: the unit tests compile in batches (tests/CMakeLists.txt)

using namespace zoo;

namespace {
std::shared_ptr<models::ImageClassifierImpl> create(const std::string& name, const Json& options = Json::object()) {
  auto module = registry().create_model(name, options);
  auto classifier = std::dynamic_pointer_cast<models::ImageClassifierImpl>(module);
  REQUIRE(classifier);
  return classifier;
}
}  // namespace

TEST_CASE("every classifier has torchvision's parameter count and maps (B, 3, H, W) to (B, classes)", "[models]") {
  // The counts the issue fixes, independent of the registry's own table.
  const std::map<std::string, int64_t> reference{
      {"alexnet", 61100840}, {"vgg16", 138357544}, {"googlenet", 6624904}, {"resnet18", 11689512}, {"resnet50", 25557032},
      {"vit_b_16", 86567656}, {"deit_tiny_patch16_224", 5717416}, {"swin_t", 28288354},
      // PVT v1's published 13.2M and 24.5M (tests/python/pvt_reference.py counts them exactly).
      {"pvt_tiny", 13229288}, {"pvt_small", 24485864}};
  torch::NoGradGuard no_grad;
  // Building and initialising a model of 100 million parameters or more takes seconds (the VGGs,
  // ViT-L and ViT-H: 2.4 billion parameters together, about a minute of CI): they are built in the
  // full test mode (ZOO_TEST_FULL=1, scripts/test.sh --full); vgg11_bn is also in parity_vgg11_bn.
  const char* full_mode = std::getenv("ZOO_TEST_FULL");
  const bool full = full_mode && std::string(full_mode) == "1";
  for (const auto* spec : registry().models("classify")) {
    INFO(spec->name);
    if (!full && spec->params >= 100000000) continue;
    auto model = create(spec->name);  // built once: VGG's initialisation alone takes a second
    const int64_t params = count_parameters(*model);
    CHECK(params == spec->params);
    if (reference.count(spec->name)) CHECK(params == reference.at(spec->name));
    model->eval();
    // Small inputs keep the test fast; the adaptive pools make every model size-agnostic.
    const bool small = spec->defaults().at("input_size").get<int64_t>() == 32;
    const int64_t side = small ? 32 : 64;
    const int64_t classes = spec->defaults().at("num_classes").get<int64_t>();
    CHECK(model->forward(torch::randn({3, 3, side, side})).sizes() == torch::IntArrayRef({3, classes}));
  }
  // The head follows num_classes.
  CHECK(create("vgg11", {{"num_classes", 7}})->forward(torch::randn({2, 3, 32, 32})).sizes() == torch::IntArrayRef({2, 7}));
}

TEST_CASE("torchvision submodule names", "[models]") {
  auto names = [](const std::string& model) {
    std::set<std::string> out;
    for (const auto& p : create(model)->named_parameters()) out.insert(p.key());
    return out;
  };
  auto resnet = names("resnet50");
  CHECK(resnet.count("layer1.0.downsample.0.weight"));
  CHECK(resnet.count("layer4.2.bn3.bias"));
  CHECK(resnet.count("fc.weight"));
  auto vgg = names("vgg11_bn");
  CHECK(vgg.count("features.1.weight"));  // the BatchNorm after features.0
  CHECK(vgg.count("classifier.6.bias"));
  auto pvt = names("pvt_tiny");  // the authors' names
  CHECK(pvt.count("patch_embed1.proj.weight"));
  CHECK(pvt.count("patch_embed4.norm.bias"));
  CHECK(pvt.count("pos_embed4"));
  CHECK(pvt.count("cls_token"));
  CHECK(pvt.count("block1.1.attn.sr.weight"));
  CHECK(pvt.count("block3.0.attn.norm.weight"));
  CHECK(!pvt.count("block4.0.attn.sr.weight"));  // R = 1 in the last stage: no reduction
  CHECK(pvt.count("block4.1.attn.kv.bias"));
  CHECK(pvt.count("block2.0.mlp.fc2.weight"));
  CHECK(pvt.count("head.weight"));
  auto alexnet = names("alexnet");
  CHECK(alexnet.count("features.10.weight"));
  CHECK(alexnet.count("classifier.4.weight"));
  auto googlenet = names("googlenet");
  CHECK(googlenet.count("inception4e.branch4.1.bn.weight"));
  CHECK_FALSE(googlenet.count("aux1.fc2.weight"));
}

TEST_CASE("GoogLeNet trains its auxiliary classifiers at weight 0.3 when asked", "[models]") {
  auto model = create("googlenet", {{"aux_logits", true}, {"num_classes", 5}});
  CHECK(count_parameters(*model) > 6624904);
  model->train();
  auto outputs = model->forward_train(torch::randn({2, 3, 96, 96}));
  REQUIRE(outputs.size() == 3);
  CHECK(outputs[1].weight == Approx(0.3));
  CHECK(outputs[2].logits.sizes() == torch::IntArrayRef({2, 5}));
  model->eval();
  CHECK(model->forward_train(torch::randn({2, 3, 96, 96})).size() == 1);
  auto plain = create("googlenet");
  plain->train();
  CHECK(plain->forward_train(torch::randn({2, 3, 64, 64})).size() == 1);
}

}  // namespace test_models
