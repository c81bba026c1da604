// Attention in vision models: ViT/DeiT position embeddings and distillation, Swin's relative
// position index and shifted-window mask against brute force, stochastic depth, and the
// self-attention block of resnet*_sa.
#include <catch2/catch.hpp>

#include "data/mixup.h"
#include "lib/core/registry.h"
#include "lib/nn/dropout.h"
#include "lib/tasks/builtin.h"
#include "lib/tasks/classify.h"
#include "models/vision/resnet.h"
#include "models/vision/swin.h"
#include "models/vision/vit.h"

namespace test_vision_attention {  // this file's own: the unit tests compile in batches (tests/CMakeLists.txt)

using namespace zoo;

namespace {

template <typename T>
std::shared_ptr<T> create(const std::string& name, const Json& options = Json::object()) {
  auto model = std::dynamic_pointer_cast<T>(registry().create_model(name, options));
  REQUIRE(model);
  return model;
}

}  // namespace

TEST_CASE("Swin's relative position index equals (dy + M - 1)(2M - 1) + dx + M - 1, by brute force", "[vision]") {
  for (int64_t m : {1, 2, 4, 7}) {
    INFO("M = " << m);
    auto index = models::relative_position_index(m);
    REQUIRE(index.sizes() == torch::IntArrayRef({m * m * m * m}));
    auto a = index.accessor<int64_t, 1>();
    bool all_equal = true;
    for (int64_t i = 0; i < m * m; ++i)
      for (int64_t j = 0; j < m * m; ++j) {
        const int64_t dy = i / m - j / m, dx = i % m - j % m;
        all_equal = all_equal && a[i * m * m + j] == (dy + m - 1) * (2 * m - 1) + (dx + m - 1);
      }
    CHECK(all_equal);
    // Every table row is used, from 0 to (2M - 1)^2 - 1.
    CHECK(std::get<0>(at::_unique(index)).numel() == (2 * m - 1) * (2 * m - 1));
  }
}

TEST_CASE("the shifted-window mask keeps apart exactly the tokens the roll brought together, by brute force", "[vision]") {
  // An H x W grid rolled by (-sh, -sw); token (r, c) of the rolled grid came from ((r + sh) % H,
  // (c + sw) % W). Two tokens of one window may attend iff, along each axis, both or neither
  // wrapped around: then they were neighbours in the unshifted image too.
  struct Case {
    int64_t h, w, m, sh, sw;
  };
  for (const auto& k : {Case{8, 8, 4, 2, 2}, Case{12, 8, 4, 2, 2}, Case{14, 14, 7, 3, 3}, Case{8, 4, 4, 2, 0}, Case{4, 8, 4, 0, 2}}) {
    INFO(k.h << "x" << k.w << " M=" << k.m << " shift " << k.sh << "," << k.sw);
    auto mask = models::shifted_window_mask(k.h, k.w, k.m, k.sh, k.sw, torch::zeros({1, k.h, k.w, 3}));
    const int64_t windows_w = k.w / k.m, n = k.m * k.m;
    REQUIRE(mask.sizes() == torch::IntArrayRef({(k.h / k.m) * windows_w, n, n}));
    auto a = mask.accessor<float, 3>();
    int64_t blocked = 0;
    bool all_equal = true;
    for (int64_t win = 0; win < mask.size(0); ++win)
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j) {
          auto row = [&](int64_t t) { return (win / windows_w) * k.m + t / k.m; };
          auto col = [&](int64_t t) { return (win % windows_w) * k.m + t % k.m; };
          const bool wrapped_apart = ((row(i) >= k.h - k.sh) != (row(j) >= k.h - k.sh) && k.sh > 0) ||
                                     ((col(i) >= k.w - k.sw) != (col(j) >= k.w - k.sw) && k.sw > 0);
          all_equal = all_equal && a[win][i][j] == (wrapped_apart ? -100.0f : 0.0f);
          blocked += wrapped_apart;
        }
    CHECK(all_equal);
    CHECK(blocked > 0);  // the case does exercise the mask
  }
}

TEST_CASE("shifted windows: a token's output depends only on tokens of its own window in the unshifted image", "[vision]") {
  // One Swin attention with M = 2 on a 4x4 grid, shifted by 1: changing the token at (0, 0)
  // must leave the outputs at tokens that never share a window with it unchanged. With the
  // roll, (0, 0) sits with (0, 3), (3, 0), (3, 3) in one window, and the mask must keep them apart.
  torch::manual_seed(0);
  models::ShiftedWindowAttention attention(8, /*window=*/2, /*shift=*/1, /*heads=*/2, 0.0, 0.0);
  attention->eval();
  auto x = torch::randn({1, 4, 4, 8});
  auto y = attention(x);
  auto changed = x.clone();
  changed[0][0][0] += 5.0;
  auto y2 = attention(changed);
  auto moved = (y2 - y).abs().amax(-1)[0];  // (4, 4): which outputs changed
  // Rolled by -1, the windows of the shifted grid are {1,2}x{1,2}, {1,2}x{3,0}, {3,0}x{1,2},
  // {3,0}x{3,0}: (0, 0) shares one with (0, 3), (3, 0), (3, 3), all from other image regions.
  CHECK(moved[0][0].item<float>() > 1e-4);
  for (auto [r, c] : std::vector<std::pair<int, int>>{{0, 3}, {3, 0}, {3, 3}, {1, 1}, {2, 2}, {0, 1}})
    CHECK(moved[r][c].item<float>() < 1e-6);
}

TEST_CASE("ViT position embeddings resize bicubically and keep the class and distillation tokens", "[vision]") {
  torch::manual_seed(0);
  auto pos = torch::randn({1, 2 + 4 * 4, 6});
  auto resized = models::resize_position_embedding(pos, /*prefix=*/2, 7, 7);
  REQUIRE(resized.sizes() == torch::IntArrayRef({1, 2 + 49, 6}));
  CHECK(torch::equal(resized.narrow(1, 0, 2), pos.narrow(1, 0, 2)));
  // align_corners: the grid's corners stay where they were.
  CHECK(torch::allclose(resized[0][2], pos[0][2], 1e-5, 1e-6));
  CHECK(torch::allclose(resized[0][2 + 48], pos[0][2 + 15], 1e-5, 1e-6));
  CHECK(torch::equal(models::resize_position_embedding(pos, 2, 4, 4), pos));
  CHECK_THROWS_WITH(models::resize_position_embedding(torch::zeros({1, 1 + 5, 6}), 1, 3, 3), Catch::Contains("not a square grid"));

  // A vit made for 32x32 images takes weights made for 16x16 ones: the state_dict is adapted.
  auto small = create<models::VisionTransformerImpl>("vit_tiny_patch4_32", {{"input_size", 16}, {"layers", 1}});
  auto large = create<models::VisionTransformerImpl>("vit_tiny_patch4_32", {{"layers", 1}});
  NamedTensors weights = state_dict(*small);
  large->adapt_state_dict(weights);
  CHECK(weights.at("encoder.pos_embedding").sizes() == torch::IntArrayRef({1, 1 + 64, 192}));
  CHECK(torch::equal(weights.at("encoder.pos_embedding")[0][0], small->encoder->pos_embedding[0][0]));
  load_state_dict(*large, weights, "test");
  // And it runs at another size than its own, resizing on the fly.
  large->eval();
  torch::NoGradGuard no_grad;
  CHECK(large->forward(torch::randn({2, 3, 48, 48})).sizes() == torch::IntArrayRef({2, 10}));
}

TEST_CASE("DeiT: two tokens, two heads, the mean at inference, the distillation term uses the teacher's argmax", "[vision]") {
  torch::manual_seed(0);
  auto deit = create<models::VisionTransformerImpl>("deit_tiny_distilled_patch4_32", {{"layers", 2}});
  CHECK(deit->prefix_tokens() == 2);
  CHECK(deit->encoder->pos_embedding.size(1) == 2 + 64);
  {
    torch::NoGradGuard no_grad;
    for (auto& p : deit->parameters()) p.normal_(0, 0.1);  // zero-initialised heads would hide a mix-up
  }
  deit->eval();
  auto images = torch::randn({3, 3, 32, 32});
  deit->train();
  auto outputs = deit->forward_train(images);
  REQUIRE(outputs.size() == 2);
  CHECK_FALSE(outputs[0].distillation);
  CHECK(outputs[1].distillation);
  CHECK(outputs[0].weight == 0.5);
  deit->eval();
  outputs = deit->forward_train(images);  // no dropout here, so eval mode gives the same heads
  CHECK(torch::allclose(deit->forward(images), (outputs[0].logits + outputs[1].logits) / 2, 1e-5, 1e-6));

  // L = 1/2 CE(class head, labels) + 1/2 CE(distillation head, argmax of the teacher)
  namespace F = torch::nn::functional;
  auto labels = torch::tensor({0, 1, 2}, torch::kLong);
  // Teacher logits whose argmax is 7, 8, 9 and whose softmax is far from one-hot: a soft
  // (KL) distillation would differ from the hard one.
  auto teacher_logits = torch::zeros({3, 10});
  teacher_logits.select(1, 7)[0] = 1.0, teacher_logits.select(1, 8)[1] = 1.0, teacher_logits.select(1, 9)[2] = 1.0;
  auto loss = classification_loss(outputs, labels, teacher_logits, 0.0);
  auto expected = 0.5 * F::cross_entropy(outputs[0].logits, labels) + 0.5 * F::cross_entropy(outputs[1].logits, torch::tensor({7, 8, 9}));
  CHECK(loss.item<double>() == Approx(expected.item<double>()).epsilon(1e-6));
  // Without a teacher, the distillation head learns the labels.
  auto without_teacher = classification_loss(outputs, labels, torch::Tensor(), 0.0);
  auto expected_without = 0.5 * F::cross_entropy(outputs[0].logits, labels) + 0.5 * F::cross_entropy(outputs[1].logits, labels);
  CHECK(without_teacher.item<double>() == Approx(expected_without.item<double>()).epsilon(1e-6));
  CHECK(std::abs(without_teacher.item<double>() - loss.item<double>()) > 1e-3);
  // Label smoothing touches the label term only.
  auto smoothed = classification_loss(outputs, labels, teacher_logits, 0.1);
  auto expected_smoothed = 0.5 * F::cross_entropy(outputs[0].logits, labels, F::CrossEntropyFuncOptions().label_smoothing(0.1)) +
                           0.5 * F::cross_entropy(outputs[1].logits, torch::tensor({7, 8, 9}));
  CHECK(smoothed.item<double>() == Approx(expected_smoothed.item<double>()).epsilon(1e-6));
}

TEST_CASE("stochastic depth drops whole examples and keeps the expectation", "[vision]") {
  torch::manual_seed(0);
  nn::DropPath drop(0.25);
  auto x = torch::ones({4000, 3, 5});
  drop->eval();
  CHECK(torch::equal(drop(x), x));
  drop->train();
  auto y = drop(x);
  // Each example is all 0 or all 1 / (1 - p).
  auto per_example_min = y.flatten(1).amin(1), per_example_max = y.flatten(1).amax(1);
  CHECK(torch::equal(per_example_min, per_example_max));
  const double kept = per_example_max.gt(0).to(torch::kDouble).mean().item<double>();
  CHECK(kept == Approx(0.75).margin(0.03));
  CHECK(per_example_max.max().item<float>() == Approx(1.0 / 0.75));
}

TEST_CASE("resnet_sa: self-attention starts as the identity, attends over positions, and learns its gain", "[vision]") {
  torch::manual_seed(0);
  models::SelfAttention2d block(16);
  block->keep_weights(true);
  auto x = torch::randn({2, 16, 5, 3});
  CHECK(torch::equal(block(x), x));  // gamma = 0
  const auto& weights = block->last_weights();
  REQUIRE(weights.sizes() == torch::IntArrayRef({2, 15, 15}));
  CHECK(torch::allclose(weights.sum(-1), torch::ones({2, 15}), 1e-5, 1e-6));
  {
    torch::NoGradGuard no_grad;
    block->gamma.fill_(1.0);
  }
  auto y = block(x);
  CHECK((y - x).abs().max().item<float>() > 1e-3);
  // The gain gets a gradient even at 0 (it multiplies the attention output, not the reverse).
  models::SelfAttention2d fresh(16);
  fresh(x).sum().backward();
  CHECK(fresh->gamma.grad().abs().item<float>() > 0);

  auto resnet = create<models::ResNetImpl>("resnet18_sa_cifar");
  std::set<std::string> names;
  for (const auto& p : resnet->named_parameters()) names.insert(p.key());
  CHECK(names.count("attention2.query.weight"));
  CHECK(names.count("attention3.gamma"));
  CHECK(names.count("layer4.1.bn2.weight"));
}

TEST_CASE("ViT and Swin keep torchvision's parameter names", "[vision]") {
  auto names = [](const std::shared_ptr<torch::nn::Module>& model) {
    std::set<std::string> out;
    for (const auto& p : model->named_parameters()) out.insert(p.key());
    for (const auto& b : model->named_buffers()) out.insert(b.key());
    return out;
  };
  auto vit = names(create<models::VisionTransformerImpl>("vit_b_32", {{"layers", 2}}));
  for (const char* name : {"conv_proj.weight", "class_token", "encoder.pos_embedding", "encoder.layers.encoder_layer_1.ln_1.weight",
                           "encoder.layers.encoder_layer_1.self_attention.in_proj_weight",
                           "encoder.layers.encoder_layer_1.self_attention.out_proj.bias", "encoder.layers.encoder_layer_0.mlp.3.weight",
                           "encoder.ln.bias", "heads.head.weight"})
    CHECK(vit.count(name));
  auto deit = names(create<models::VisionTransformerImpl>("deit_tiny_distilled_patch16_224", {{"layers", 1}}));
  CHECK(deit.count("dist_token"));
  CHECK(deit.count("heads.head_dist.weight"));
  auto swin = names(create<models::SwinTransformerImpl>("swin_t", {{"depths", {2, 2, 1, 1}}}));
  for (const char* name : {"features.0.0.weight", "features.0.2.weight", "features.1.1.attn.relative_position_bias_table",
                           "features.1.1.attn.relative_position_index", "features.1.0.mlp.3.bias", "features.2.reduction.weight",
                           "features.2.norm.weight", "features.7.0.norm2.weight", "norm.weight", "head.bias"})
    CHECK(swin.count(name));
}

TEST_CASE("mixup and cutmix: targets weigh each image by what it contributes, from the seed alone", "[vision]") {
  // Four constant images 0, 1, 2, 3 of classes 0..3: a pixel's value says where it came from.
  auto images = torch::arange(4, torch::kFloat32).view({4, 1, 1, 1}).expand({4, 3, 8, 8}).contiguous();
  auto labels = torch::arange(4, torch::kLong);
  for (const bool cutmix : {false, true}) {
    INFO((cutmix ? "cutmix" : "mixup"));
    data::MixConfig config;
    (cutmix ? config.cutmix_alpha : config.mixup_alpha) = 1.0;
    config.label_smoothing = 0.1;
    Rng rng(7);
    auto mixed = data::mix_batch(images, labels, 5, config, rng);
    REQUIRE(mixed.targets.sizes() == torch::IntArrayRef({4, 5}));
    CHECK(torch::allclose(mixed.targets.sum(1), torch::ones({4}), 1e-6, 1e-6));
    CHECK(mixed.lam > 0.0);
    CHECK(mixed.lam < 1.0);
    // Image i is mixed with image 3 - i: the mean pixel is lam i + (1 - lam)(3 - i) either way
    // (cutmix's lam is the share of pixels kept), and the targets say the same.
    for (int64_t i = 0; i < 4; ++i) {
      const double expected_mean = mixed.lam * i + (1 - mixed.lam) * (3 - i);
      CHECK(mixed.images[i].mean().item<double>() == Approx(expected_mean).margin(1e-5));
      const double on = 1 - 0.1 + 0.1 / 5, off = 0.1 / 5;
      if (i != 3 - i) CHECK(mixed.targets[i][i].item<double>() == Approx(mixed.lam * on + (1 - mixed.lam) * off).margin(1e-6));
      CHECK(mixed.targets[i][4].item<double>() == Approx(off).margin(1e-6));  // no image of class 4
    }
    if (cutmix) {  // only the two source values occur, no blend
      auto values = std::get<0>(at::_unique(mixed.images[0]));
      CHECK(values.numel() == 2);
    }
    Rng same(7);
    CHECK(torch::equal(data::mix_batch(images, labels, 5, config, same).images, mixed.images));
  }
  // Beta(a, a) has mean 1/2 and variance 1 / (4 (2a + 1)).
  Rng rng(1);
  for (double a : {0.2, 0.8, 1.0, 3.0}) {
    double sum = 0, squares = 0;
    const int n = 20000;
    for (int i = 0; i < n; ++i) {
      const double x = data::sample_beta(a, rng);
      REQUIRE((x >= 0.0 && x <= 1.0));
      sum += x, squares += x * x;
    }
    const double mean = sum / n, variance = squares / n - mean * mean;
    CHECK(mean == Approx(0.5).margin(0.01));
    CHECK(variance == Approx(1.0 / (4 * (2 * a + 1))).margin(0.006));
  }
}

}  // namespace test_vision_attention
