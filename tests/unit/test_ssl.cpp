// Self-supervised learning: the EMA (weights and buffers, the momentum schedule), DINO's centre,
// temperatures and loss on hand cases, the fixed point of identical views, weighted k-NN and
// DINO's attention threshold on hand-made sets, the views' ranges and seeding.
#include <catch2/catch.hpp>

#include <cmath>

#include "data/ssl_augment.h"
#include "lib/core/registry.h"
#include "lib/tasks/builtin.h"
#include "lib/tasks/ssl.h"
#include "models/ssl/ssl.h"
#include "models/vision/resnet.h"

namespace test_ssl {  // this file's own: the unit tests compile in batches (tests/CMakeLists.txt)

using namespace zoo;
using models::SslModelImpl;

namespace {

// A small BYOL or DINO around a registered backbone, through the registry as zoo train builds it.
std::shared_ptr<SslModelImpl> ssl_model(const std::string& backbone, Json options) {
  torch::manual_seed(0);
  return std::dynamic_pointer_cast<SslModelImpl>(registry().create_model(backbone, options, "ssl"));
}

double value(const torch::Tensor& t) { return t.item<double>(); }

}  // namespace

TEST_CASE("ssl takes any classifier as its backbone, with its options and the method's", "[ssl]") {
  auto byol = ssl_model("resnet18_cifar", {{"method", "byol"}, {"projector_hidden", 64}, {"projector_dim", 16}});
  REQUIRE(byol);
  // The classifier's head is gone; its trunk sits under the online and target networks.
  const auto names = byol->named_parameters();
  CHECK(names.contains("online.backbone.conv1.weight"));
  CHECK(names.contains("target.backbone.layer4.1.bn2.weight"));
  CHECK(names.contains("online.predictor.net.0.weight"));
  CHECK_FALSE(names.contains("target.predictor.net.0.weight"));
  CHECK_FALSE(names.contains("online.backbone.fc.weight"));
  // resnet18_cifar without fc: 11,173,962 - (512 x 10 + 10) parameters in each network.
  int64_t trunk = 0;
  for (const auto& p : byol->online->backbone->parameters()) trunk += p.numel();
  CHECK(trunk == 11173962 - 5130);
  auto dino = ssl_model("vit_tiny_patch4_32", {{"method", "dino"}, {"out_dim", 32}, {"head_hidden", 16}, {"head_bottleneck", 8}});
  CHECK(dino->named_parameters().contains("student.head.last_layer.weight_v"));
  CHECK(dino->named_parameters().contains("teacher.backbone.encoder.pos_embedding"));
  CHECK_FALSE(dino->online->head->last_layer->weight_g.requires_grad());  // norm_last_layer
  // Options are checked as any model's: an unknown key, a method's option on the other method.
  Options bad(Json{{"model", "resnet18_cifar"}, {"set", {"method=simclr"}}});
  CHECK_THROWS_AS(registry().model_options(bad, "ssl"), UsageError);
  Options local(Json{{"model", "resnet18_cifar"}, {"set", {"local_crops=2"}}});
  CHECK_THROWS_WITH(registry().model_options(local, "ssl"), Catch::Contains("set method=dino"));
  Options not_a_backbone(Json{{"model", "gpt_char"}});
  CHECK_THROWS_AS(registry().model_options(not_a_backbone, "ssl"), UsageError);
}

TEST_CASE("the target is an EMA of the online network's weights and buffers, on DINO's cosine schedule", "[ssl]") {
  auto model = ssl_model("resnet18_cifar", {{"method", "byol"}, {"projector_hidden", 32}, {"projector_dim", 8}});
  // The target starts as a copy.
  CHECK(torch::equal(model->online->backbone->named_parameters()["conv1.weight"], model->target->backbone->named_parameters()["conv1.weight"]));
  torch::NoGradGuard no_grad;
  auto online_w = model->online->backbone->named_parameters()["conv1.weight"];
  auto target_w = model->target->backbone->named_parameters()["conv1.weight"];
  auto online_mean = model->online->backbone->named_buffers()["bn1.running_mean"];
  auto target_mean = model->target->backbone->named_buffers()["bn1.running_mean"];
  auto online_count = model->online->backbone->named_buffers()["bn1.num_batches_tracked"];
  online_w.fill_(1.0), target_w.fill_(3.0);
  online_mean.fill_(2.0), target_mean.fill_(-2.0);
  online_count.fill_(7);
  model->update_target(0.75);
  // theta' <- 0.75 theta' + 0.25 theta: 0.75 * 3 + 0.25 * 1 = 2.5; -1.5 + 0.5 = -1.
  CHECK(value(target_w.mean()) == Approx(2.5));
  CHECK(value(target_w.std()) == Approx(0.0).margin(1e-6));
  CHECK(value(target_mean.mean()) == Approx(-1.0));
  CHECK(model->target->backbone->named_buffers()["bn1.num_batches_tracked"].item<int64_t>() == 7);  // integers copied
  // The target's projector follows too; the online network is untouched.
  CHECK(value(online_w.mean()) == Approx(1.0));
  // lambda = 1 - (1 - 0.996) (cos(pi k / K) + 1) / 2
  CHECK(model->momentum_at(0, 100) == Approx(0.996));
  CHECK(model->momentum_at(50, 100) == Approx(0.998));
  CHECK(model->momentum_at(100, 100) == Approx(1.0));
  CHECK(model->momentum_at(25, 100) == Approx(1.0 - 0.004 * (std::cos(M_PI / 4) + 1) / 2));
}

TEST_CASE("DINO's centre, teacher temperature and loss on hand cases", "[ssl]") {
  // c <- 0.9 c + 0.1 mean: rows (1, 3), (3, 5) of one crop and (2, 4) of the other -> mean (2, 4).
  auto center = torch::tensor({{10.0, 0.0}});
  auto next = models::updated_center(center, {torch::tensor({{1.0, 3.0}, {3.0, 5.0}}), torch::tensor({{2.0, 4.0}, {2.0, 4.0}})}, 0.9);
  CHECK(value(next[0][0]) == Approx(9.2));
  CHECK(value(next[0][1]) == Approx(0.4));
  // tau_t from 0.04 to 0.07 over 10 epochs, then 0.07.
  auto model = ssl_model("vit_tiny_patch4_32", {{"method", "dino"}, {"out_dim", 4}, {"head_hidden", 8}, {"head_bottleneck", 4},
                                                 {"teacher_temp", 0.07}, {"warmup_teacher_temp_epochs", 10.0}});
  CHECK(model->teacher_temp_at(0) == Approx(0.04));
  CHECK(model->teacher_temp_at(5) == Approx(0.055));
  CHECK(model->teacher_temp_at(10) == Approx(0.07));
  CHECK(model->teacher_temp_at(40) == Approx(0.07));
  // K = 2, both temperatures 1, centre 0. Teacher: [ln 3, 0] -> (3/4, 1/4); [0, 0] -> (1/2, 1/2).
  // Student: [0, 0] -> log(1/2, 1/2); [ln 3, 0] -> log(3/4, 1/4). Pairs (teacher 0, student 1)
  // and (teacher 1, student 0): -(3/4 ln 3/4 + 1/4 ln 1/4) = 0.562335 and ln 2 = 0.693147.
  const double ln3 = std::log(3.0);
  auto teacher = std::vector<torch::Tensor>{torch::tensor({{ln3, 0.0}}), torch::tensor({{0.0, 0.0}})};
  auto student = std::vector<torch::Tensor>{torch::tensor({{0.0, 0.0}}), torch::tensor({{ln3, 0.0}})};
  CHECK(value(models::dino_loss(student, teacher, torch::zeros({1, 2}), 1.0, 1.0)) == Approx((0.562335 + 0.693147) / 2).epsilon(1e-5));
  // A local crop adds the pairs (teacher 0, local) and (teacher 1, local): with the local at
  // [0, 0], -(3/4 + 1/4) ln 1/2 = ln 2 each.
  student.push_back(torch::tensor({{0.0, 0.0}}));
  CHECK(value(models::dino_loss(student, teacher, torch::zeros({1, 2}), 1.0, 1.0)) == Approx((0.562335 + 0.693147 * 3) / 4).epsilon(1e-5));
  // The centre is subtracted from the teacher before its softmax: centring [ln 3, 0] by itself
  // makes it uniform, and the first pair costs ln 2 as well.
  CHECK(value(models::dino_loss({torch::tensor({{0.0, 0.0}}), torch::tensor({{0.0, 0.0}})}, {torch::tensor({{ln3, 0.0}}), torch::tensor({{ln3, 0.0}})},
                                torch::tensor({{ln3, 0.0}}), 1.0, 1.0)) == Approx(std::log(2.0)));
}

TEST_CASE("identical views through a fresh DINO are a fixed point: no gradient reaches the student", "[ssl]") {
  // The teacher is the student's copy; with equal temperatures and a zero centre, the loss of two
  // identical views is H(P, P), whose gradient P_s - P_t vanishes. A wrong centre, temperature,
  // copy or pairing breaks it.
  auto model = ssl_model("vit_tiny_patch4_32", {{"method", "dino"}, {"out_dim", 64}, {"head_hidden", 32}, {"head_bottleneck", 16},
                                                 {"student_temp", 0.1}, {"teacher_temp", 0.1}, {"warmup_teacher_temp", 0.1}});
  model->eval();  // no dropout, the same computation in both networks
  auto image = torch::randn({4, 3, 32, 32});
  auto result = model->loss({image, image.clone()});
  result.loss.backward();
  double largest = 0;
  for (const auto& p : model->online->parameters())
    if (p.grad().defined()) largest = std::max(largest, p.grad().abs().max().item<double>());
  CHECK(largest < 1e-4);  // float rounding: a real gradient is thousands of times larger (below)
  // The loss is then the entropy of the teacher's distribution: positive, at most ln K.
  CHECK(value(result.loss) > 0);
  CHECK(value(result.loss) <= std::log(64.0) + 1e-4);
  // Two different images do move the student.
  model->zero_grad();
  model->loss({image, torch::randn({4, 3, 32, 32})}).loss.backward();
  double moved = 0;
  for (const auto& p : model->online->parameters())
    if (p.grad().defined()) moved = std::max(moved, p.grad().abs().max().item<double>());
  CHECK(moved > 100 * largest);

  // BYOL's fresh pair: the target's projection of a view equals the online network's projection
  // before its predictor (the copy), so the loss is that of the predictor alone.
  auto byol = ssl_model("resnet18_cifar", {{"method", "byol"}, {"projector_hidden", 32}, {"projector_dim", 8}});
  byol->eval();
  torch::NoGradGuard no_grad;
  auto y = byol->online->backbone->embed(image);
  auto z = byol->online->projector(y);
  CHECK(torch::allclose(byol->target->project(image), z, 1e-5, 1e-6));
  const double expected = 2 * value(models::byol_pair_loss(byol->online->predictor(z), z));
  CHECK(value(byol->loss({image, image}).loss) == Approx(expected).epsilon(1e-5));
  CHECK(value(models::byol_pair_loss(z, z)) == Approx(0.0).margin(1e-6));
  CHECK(value(models::byol_pair_loss(z, -z)) == Approx(4.0));
}

TEST_CASE("weighted k-NN and DINO's attention threshold on hand-made sets", "[ssl]") {
  // The query at angle 0. Memory: class 0 at 8 degrees (cos 0.990), class 1 twice at 60 degrees
  // (cos 0.5). k = 1: class 0. k = 3 at T = 0.07: exp(0.990 / 0.07) = 1.4e6 outweighs 2 exp(0.5 /
  // 0.07) = 2,525: class 0. At T = 10: 1.104 against 2 x 1.051: class 1, the majority.
  auto unit = [](double degrees) { const double r = degrees * M_PI / 180; return std::vector<float>{static_cast<float>(std::cos(r)), static_cast<float>(std::sin(r))}; };
  std::vector<float> rows;
  for (double a : {8.0, 60.0, -60.0, 170.0}) for (float x : unit(a)) rows.push_back(x);
  auto memory = torch::tensor(rows).view({4, 2});
  auto memory_labels = torch::tensor(std::vector<int64_t>{0, 1, 1, 2});
  auto query = torch::tensor(unit(0)).view({1, 2});
  auto label0 = torch::tensor(std::vector<int64_t>{0}), label1 = torch::tensor(std::vector<int64_t>{1});
  CHECK(knn_top1(memory, memory_labels, query, label0, 1, 0.07, 3) == 100.0);
  CHECK(knn_top1(memory, memory_labels, query, label0, 3, 0.07, 3) == 100.0);
  CHECK(knn_top1(memory, memory_labels, query, label1, 3, 10.0, 3) == 100.0);
  CHECK(knn_top1(memory, memory_labels, query, label0, 3, 10.0, 3) == 0.0);
  // k above the memory's size takes all of it: class 2's far vote changes nothing.
  CHECK(knn_top1(memory, memory_labels, query, label0, 200, 0.07, 3) == 100.0);
  // Two queries, one right: 50%.
  auto queries = torch::cat({query, torch::tensor(unit(170)).view({1, 2})});
  CHECK(knn_top1(memory, memory_labels, queries, torch::tensor(std::vector<int64_t>{0, 0}), 1, 0.07, 3) == 50.0);

  // Attention 0.1 0.4 0.2 0.3: sorted 0.1 0.2 0.3 0.4, running sums 0.1 0.3 0.6 1.0; those past
  // 1 - 0.6 keep 0.3 and 0.4 (0.7 of the mass, the fewest patches holding 60%).
  auto mask = keep_mass(torch::tensor({{0.1, 0.4, 0.2, 0.3}, {0.7, 0.1, 0.1, 0.1}}), 0.6);
  CHECK(torch::equal(mask, torch::tensor({{0.0, 1.0, 0.0, 1.0}, {1.0, 0.0, 0.0, 0.0}}, torch::kFloat64)));
}

TEST_CASE("the views: sizes, ranges, seeding and each method's probabilities", "[ssl]") {
  cv::Mat image(40, 48, CV_8UC3);
  cv::randu(image, 0, 256);
  const auto byol = data::byol_views(32);
  REQUIRE(byol.size() == 2);
  CHECK(byol[0].blur == 1.0);
  CHECK(byol[1].solarize == 0.2);
  const auto dino = data::dino_views(32, 16, 4);
  REQUIRE(dino.size() == 6);
  CHECK(dino[0].scale_min == 0.4);
  CHECK(dino[5].size == 16);
  CHECK(dino[5].scale_max == 0.4);
  for (const auto& view : dino) {
    Rng a(7), b(7), c(8);
    const cv::Mat x = data::augment_view(image, view, a), y = data::augment_view(image, view, b), z = data::augment_view(image, view, c);
    CHECK(x.rows == view.size);
    CHECK(x.cols == view.size);
    CHECK(x.type() == CV_8UC3);
    CHECK(cv::norm(x, y, cv::NORM_INF) == 0);  // the same seed, the same view
    CHECK(cv::norm(x, z, cv::NORM_INF) > 0);
  }
  // Jitter saturates instead of wrapping: a white image brightened stays white; a grey one keeps
  // its three channels equal through saturation and hue changes.
  data::ViewAugment strong;
  strong.brightness = 0.4, strong.contrast = 0, strong.saturation = 0.5, strong.hue = 0.5;
  cv::Mat white(8, 8, CV_8UC3, cv::Scalar(255, 255, 255)), grey(8, 8, CV_8UC3, cv::Scalar(90, 90, 90));
  for (uint64_t seed = 0; seed < 20; ++seed) {
    Rng rng(seed);
    const cv::Mat w = data::color_jitter(white, strong, rng);
    double low = 0;
    cv::minMaxLoc(w.reshape(1), &low);
    CHECK(low >= 0.6 * 255 - 1);  // the darkest factor is 0.6
    const cv::Mat g = data::color_jitter(grey, strong, rng);
    std::vector<cv::Mat> channels;
    cv::split(g, channels);
    CHECK(cv::norm(channels[0], channels[1], cv::NORM_INF) <= 1);
    CHECK(cv::norm(channels[1], channels[2], cv::NORM_INF) <= 1);
  }
}

}  // namespace test_ssl
