// Detection: box arithmetic and GIoU, the assignment solver against brute force, COCO box AP
// on hand-worked fixtures (as pycocotools' COCOeval computes it), DETR's layout and parameter
// counts, the set loss, the 2-D sine positions, the COCO instances reader's bad annotations and
// DETR's box-carrying transforms.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <numeric>

#include "data/detection.h"
#include "lib/core/checkpoint.h"
#include "lib/core/error.h"
#include "lib/core/random.h"
#include "lib/core/registry.h"
#include "lib/detect/assignment.h"
#include "lib/detect/boxes.h"
#include "lib/detect/coco_eval.h"
#include "lib/tasks/builtin.h"
#include "models/detect/detr.h"
#include "models/detect/set_criterion.h"

namespace test_detect {  // this file's own: the unit tests compile in batches (tests/CMakeLists.txt)

using namespace zoo;
using Catch::Matchers::Contains;

namespace {

torch::Tensor boxes(std::vector<std::vector<float>> rows) {
  auto t = torch::empty({static_cast<int64_t>(rows.size()), 4});
  for (size_t i = 0; i < rows.size(); ++i)
    for (int k = 0; k < 4; ++k) t[static_cast<int64_t>(i)][k] = rows[i][static_cast<size_t>(k)];
  return t;
}

// The least total cost over every assignment, by trying them all (rows <= cols, or transposed).
double brute_force(const std::vector<double>& cost, int64_t rows, int64_t cols) {
  const bool transposed = rows > cols;
  const int64_t n = transposed ? cols : rows, m = transposed ? rows : cols;
  std::vector<int64_t> columns(static_cast<size_t>(m));
  std::iota(columns.begin(), columns.end(), 0);
  double best = std::numeric_limits<double>::infinity();
  do {  // the first n entries of each permutation of the columns
    double total = 0;
    for (int64_t i = 0; i < n; ++i) {
      const int64_t j = columns[static_cast<size_t>(i)];
      total += transposed ? cost[static_cast<size_t>(j * cols + i)] : cost[static_cast<size_t>(i * cols + j)];
    }
    best = std::min(best, total);
  } while (std::next_permutation(columns.begin(), columns.end()));
  return best;
}

detect::GroundTruthBox truth(int64_t image, int64_t category, std::array<double, 4> box, double area, bool crowd = false) {
  return {image, category, box, area, crowd};
}

detect::DetectionBox found(int64_t image, int64_t category, std::array<double, 4> box, double score) { return {image, category, box, score}; }

double stat(const std::array<double, 12>& stats, const std::string& key) {
  const auto& keys = detect::coco_stat_keys();
  return stats[static_cast<size_t>(std::find(keys.begin(), keys.end(), key) - keys.begin())];
}

std::string write_temp(const std::string& name, const std::string& text) {
  const auto path = std::filesystem::temp_directory_path() / ("zoo_test_detect_" + name);
  std::ofstream(path) << text;
  return path.string();
}

}  // namespace

TEST_CASE("box conversions and GIoU match hand-worked values", "[detect]") {
  auto centre = boxes({{0.5f, 0.5f, 0.2f, 0.4f}});
  auto corners = detect::cxcywh_to_xyxy(centre);
  CHECK(torch::allclose(corners, boxes({{0.4f, 0.3f, 0.6f, 0.7f}})));
  CHECK(torch::allclose(detect::xyxy_to_cxcywh(corners), centre));
  CHECK(torch::allclose(detect::xywh_to_xyxy(boxes({{1, 2, 3, 4}})), boxes({{1, 2, 4, 6}})));
  CHECK(torch::allclose(detect::xyxy_to_xywh(boxes({{1, 2, 4, 6}})), boxes({{1, 2, 3, 4}})));

  // a = [0,0,2,2], b = [1,1,3,3]: intersection 1, union 7, enclosing 3x3 = 9:
  // GIoU = 1/7 - (9 - 7)/9. c = [2,0,3,1] beside a: IoU 0, union 5, enclosing 3x2 = 6: -1/6.
  auto a = boxes({{0, 0, 2, 2}}), b = boxes({{1, 1, 3, 3}, {2, 0, 3, 1}, {0, 0, 2, 2}});
  auto [iou, union_area] = detect::box_iou(a, b);
  CHECK(iou[0][0].item<double>() == Approx(1.0 / 7));
  CHECK(union_area[0][1].item<double>() == Approx(5.0));
  auto giou = detect::generalized_box_iou(a, b);
  CHECK(giou[0][0].item<double>() == Approx(1.0 / 7 - 2.0 / 9));
  CHECK(giou[0][1].item<double>() == Approx(-1.0 / 6));
  CHECK(giou[0][2].item<double>() == Approx(1.0));
  // Far apart, GIoU tends to -1: [0,0,1,1] and [9,9,10,10]: IoU 0, union 2, enclosing 100.
  CHECK(detect::generalized_box_iou(boxes({{0, 0, 1, 1}}), boxes({{9, 9, 10, 10}}))[0][0].item<double>() == Approx(-0.98));
  // The paired form is the matrix's diagonal.
  auto many = boxes({{0, 0, 2, 2}, {1, 1, 3, 3}, {0, 1, 4, 2}});
  auto other = boxes({{1, 0, 2, 3}, {0, 0, 1, 1}, {2, 2, 3, 5}});
  CHECK(torch::allclose(detect::paired_generalized_box_iou(many, other), detect::generalized_box_iou(many, other).diagonal()));
}

TEST_CASE("the assignment solver finds the least total cost, any shape", "[detect]") {
  Rng rng(7);
  for (int trial = 0; trial < 300; ++trial) {
    const int64_t rows = rng.randint(1, 7), cols = rng.randint(1, 7);
    std::vector<double> cost(static_cast<size_t>(rows * cols));
    // Integers in some trials: ties, where any optimum will do.
    for (auto& c : cost) c = trial % 3 == 0 ? static_cast<double>(rng.randint(0, 4)) : rng.uniform(-3, 3);
    INFO(rows << " x " << cols << ", trial " << trial);
    const auto column = detect::solve_assignment(cost, rows, cols);
    REQUIRE(column.size() == static_cast<size_t>(rows));
    double total = 0;
    std::vector<int64_t> used;
    for (int64_t i = 0; i < rows; ++i) {
      const int64_t j = column[static_cast<size_t>(i)];
      if (j < 0) continue;
      REQUIRE(j < cols);
      used.push_back(j);
      total += cost[static_cast<size_t>(i * cols + j)];
    }
    std::sort(used.begin(), used.end());
    CHECK(std::adjacent_find(used.begin(), used.end()) == used.end());  // one row per column
    CHECK(static_cast<int64_t>(used.size()) == std::min(rows, cols));  // every row, or every column
    CHECK(total == Approx(brute_force(cost, rows, cols)).margin(1e-9));
  }
  // No targets (a picture without objects): nothing assigned; none at all.
  CHECK(detect::solve_assignment({}, 5, 0) == std::vector<int64_t>(5, -1));
  CHECK(detect::solve_assignment({}, 0, 3).empty());
  // A NaN (a diverged model) still gives an assignment rather than a hang or a crash.
  const auto nan = std::numeric_limits<double>::quiet_NaN();
  CHECK(detect::solve_assignment({nan, 1, 2, nan}, 2, 2) == std::vector<int64_t>{1, 0});
  CHECK_THROWS_AS(detect::solve_assignment({1, 2, 3}, 2, 2), Error);
}

TEST_CASE("COCOeval's thresholds are numpy.linspace's, bit for bit", "[detect]") {
  // repr() of numpy.linspace(.5, 0.95, 10) and of linspace(0, 1, 101)[29], [57] (numpy 1.24).
  const std::vector<double> ious{0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.8999999999999999, 0.95};
  CHECK(detect::coco_iou_thresholds() == ious);
  CHECK(detect::coco_recall_thresholds().size() == 101);
  CHECK(detect::coco_recall_thresholds()[29] == 0.29);
  CHECK(detect::coco_recall_thresholds()[57] == 0.5700000000000001);
  CHECK(detect::coco_recall_thresholds()[100] == 1.0);
}

TEST_CASE("COCO box AP on hand-worked fixtures", "[detect]") {
  SECTION("perfect detections score 1, sizes by the annotations' areas") {
    // A small object of category 1 in image 1, a large one of category 3 in image 2.
    const std::vector<detect::GroundTruthBox> gt{truth(1, 1, {10, 10, 10, 10}, 100), truth(2, 3, {0, 0, 100, 100}, 10000)};
    const auto s = detect::coco_evaluate({1, 2}, {1, 3}, gt, {found(1, 1, {10, 10, 10, 10}, 0.9), found(2, 3, {0, 0, 100, 100}, 0.9)});
    for (const char* key : {"ap", "ap50", "ap75", "ap_small", "ap_large", "ar1", "ar10", "ar100", "ar_small", "ar_large"}) {
      INFO(key);
      CHECK(stat(s, key) == Approx(1.0));
    }
    CHECK(stat(s, "ap_medium") == -1);  // no medium object: undefined, as COCOeval prints -1
    CHECK(stat(s, "ar_medium") == -1);
  }
  SECTION("a missed object halves recall: 51 of 101 recall points at precision 1") {
    const std::vector<detect::GroundTruthBox> gt{truth(1, 1, {0, 0, 10, 10}, 100), truth(1, 1, {50, 50, 10, 10}, 100)};
    const auto s = detect::coco_evaluate({1}, {1}, gt, {found(1, 1, {0, 0, 10, 10}, 0.9)});
    CHECK(stat(s, "ap") == Approx(51.0 / 101));
    CHECK(stat(s, "ar100") == Approx(0.5));
  }
  SECTION("a better-scored duplicate with IoU 0.62 costs precision above IoU 0.6") {
    // A: IoU 62/100 with the object, score 0.95; B: exact, score 0.9. At thresholds 0.5-0.6 A
    // matches and B is a false positive after it (AP 1); at 0.65-0.95 A is a false positive
    // before B: precision 0.5 at every recall point (AP 0.5).
    const auto s = detect::coco_evaluate({1}, {1}, {truth(1, 1, {0, 0, 10, 10}, 100)},
                                         {found(1, 1, {0, 0, 10, 6.2}, 0.95), found(1, 1, {0, 0, 10, 10}, 0.9)});
    CHECK(stat(s, "ap50") == Approx(1.0));
    CHECK(stat(s, "ap75") == Approx(0.5));
    CHECK(stat(s, "ap") == Approx((3 * 1.0 + 7 * 0.5) / 10));
    CHECK(stat(s, "ar100") == Approx(1.0));
    CHECK(stat(s, "ar1") == Approx(0.3));  // one detection per image: A, which matches at 3 of 10 thresholds
  }
  SECTION("a detection inside a crowd region is neither right nor wrong") {
    const std::vector<detect::GroundTruthBox> gt{truth(1, 1, {0, 0, 10, 10}, 100), truth(1, 1, {20, 20, 30, 30}, 900, true)};
    const std::vector<detect::DetectionBox> dt{found(1, 1, {22, 22, 5, 5}, 0.95), found(1, 1, {0, 0, 10, 10}, 0.9)};
    auto s = detect::coco_evaluate({1}, {1}, gt, dt);
    CHECK(stat(s, "ap") == Approx(1.0));
    CHECK(stat(s, "ar100") == Approx(1.0));  // the crowd is not an object to find
    // The crowd IoU is over the detection's own area: a detection twice the crowd's size overlaps it by half.
    CHECK(detect::coco_box_iou({20, 20, 60, 30}, {20, 20, 30, 30}, true) == Approx(0.5));
    CHECK(detect::coco_box_iou({20, 20, 60, 30}, {20, 20, 30, 30}, false) == Approx(0.5));
    CHECK(detect::coco_box_iou({0, 0, 10, 10}, {20, 20, 30, 30}, true) == 0);
    // As an ordinary object the same region is a miss and the detection on it a false positive first.
    auto plain = gt;
    plain[1].crowd = false;
    s = detect::coco_evaluate({1}, {1}, plain, dt);
    CHECK(stat(s, "ap") == Approx(51 * 0.5 / 101));
  }
  SECTION("each area range counts its own objects, and unmatched detections outside it are ignored") {
    // Image 1: a small object (area 500) found exactly (score 0.8). Image 2: a large object
    // (area 10000) missed, and a small false positive (area 100) scored 0.9.
    const std::vector<detect::GroundTruthBox> gt{truth(1, 1, {0, 0, 20, 25}, 500), truth(2, 1, {0, 0, 100, 100}, 10000)};
    const std::vector<detect::DetectionBox> dt{found(1, 1, {0, 0, 20, 25}, 0.8), found(2, 1, {50, 50, 10, 10}, 0.9)};
    const auto s = detect::coco_evaluate({1, 2}, {1}, gt, dt);
    // All: the false positive, then the hit: precision 1/2 up to recall 1/2.
    CHECK(stat(s, "ap") == Approx(51 * 0.5 / 101));
    CHECK(stat(s, "ap75") == Approx(51 * 0.5 / 101));
    // Small: the large object is ignored, the small false positive counts: precision 1/2 to recall 1.
    CHECK(stat(s, "ap_small") == Approx(0.5));
    CHECK(stat(s, "ap_medium") == -1);
    // Large: the hit is on an ignored (small) object and the small false positive is outside the
    // range: nothing counts, the large object is missed.
    CHECK(stat(s, "ap_large") == Approx(0.0));
    CHECK(stat(s, "ar100") == Approx(0.5));
    CHECK(stat(s, "ar_small") == Approx(1.0));
    CHECK(stat(s, "ar_large") == Approx(0.0));
  }
  SECTION("no detections: zero, not undefined; detections of other categories do not count") {
    const auto s = detect::coco_evaluate({1}, {1}, {truth(1, 1, {0, 0, 10, 10}, 100)}, {found(1, 2, {0, 0, 10, 10}, 0.9)});
    CHECK(stat(s, "ap") == 0);
    CHECK(stat(s, "ar100") == 0);
  }
  SECTION("at most 100 detections per image and category, the best") {
    std::vector<detect::DetectionBox> dt;
    for (int k = 0; k < 120; ++k) dt.push_back(found(1, 1, {200, 200, 5, 5}, 0.5 + k * 0.001));  // 120 false positives
    dt.push_back(found(1, 1, {0, 0, 10, 10}, 0.1));  // the hit, ranked 121st: cut off
    CHECK(stat(detect::coco_evaluate({1}, {1}, {truth(1, 1, {0, 0, 10, 10}, 100)}, dt), "ar100") == 0);
    dt.back().score = 0.5505;  // ranked among the best 100: found after 69 false positives
    const auto s = detect::coco_evaluate({1}, {1}, {truth(1, 1, {0, 0, 10, 10}, 100)}, dt);
    CHECK(stat(s, "ar100") == Approx(1.0));
    CHECK(stat(s, "ar10") == 0);
    CHECK(stat(s, "ap") == Approx(1.0 / 70));  // precision 1/70 at every recall point
  }
}

TEST_CASE("detr_resnet50 has DETR's parameter names and counts", "[detect]") {
  auto module = registry().create_model("detr_resnet50", Json::object());
  auto detr = std::dynamic_pointer_cast<models::DetrImpl>(module);
  REQUIRE(detr);
  // facebookresearch/detr: 41,524,768 parameters at 91 classes, 41,302,368 trained (not the stem
  // and layer1); the frozen BatchNorms' affine maps are buffers.
  CHECK(count_parameters(*detr) == 41524768);
  int64_t trained = 0;
  for (const auto& p : detr->parameters()) trained += p.requires_grad() ? p.numel() : 0;
  CHECK(trained == 41302368);
  const auto tensors = state_dict(*detr);
  const std::map<std::string, std::vector<int64_t>> expected{
      {"backbone.0.body.conv1.weight", {64, 3, 7, 7}},
      {"backbone.0.body.bn1.weight", {64}},
      {"backbone.0.body.bn1.running_var", {64}},
      {"backbone.0.body.layer1.0.downsample.0.weight", {256, 64, 1, 1}},
      {"backbone.0.body.layer4.2.bn3.bias", {2048}},
      {"input_proj.weight", {256, 2048, 1, 1}},
      {"input_proj.bias", {256}},
      {"query_embed.weight", {100, 256}},
      {"transformer.encoder.layers.0.self_attn.in_proj_weight", {768, 256}},
      {"transformer.encoder.layers.5.self_attn.out_proj.bias", {256}},
      {"transformer.encoder.layers.5.linear1.weight", {2048, 256}},
      {"transformer.encoder.layers.5.norm2.weight", {256}},
      {"transformer.decoder.layers.0.multihead_attn.in_proj_bias", {768}},
      {"transformer.decoder.layers.5.norm3.bias", {256}},
      {"transformer.decoder.norm.weight", {256}},
      {"class_embed.weight", {92, 256}},
      {"bbox_embed.layers.0.weight", {256, 256}},
      {"bbox_embed.layers.2.weight", {4, 256}},
  };
  for (const auto& [name, shape] : expected) {
    INFO(name);
    REQUIRE(tensors.count(name));
    CHECK(tensors.at(name).sizes() == torch::IntArrayRef(shape));
  }
  for (const auto& [name, tensor] : tensors) {
    INFO(name);
    CHECK(name.find("num_batches_tracked") == std::string::npos);  // FrozenBatchNorm2d has none
    CHECK(name.find(".fc.") == std::string::npos);
    CHECK(name.find("dropout") == std::string::npos);
  }
  // DETR's state dict: 4 tensors per frozen BatchNorm (53 of them), the convolutions (53), the
  // transformer's 6 x 12 + 6 x 18 + 2, the heads' 2 + 6 + 1 + 2.
  CHECK(tensors.size() == 53 * 4 + 53 + 6 * 12 + 6 * 18 + 2 + 2 + 6 + 1 + 2);
  // DC5 has the same parameters; its layer4 keeps 1/16 of the image instead of 1/32.
  auto dc5 = std::dynamic_pointer_cast<models::DetrImpl>(registry().create_model("detr_resnet50_dc5", Json::object()));
  CHECK(count_parameters(*dc5) == 41524768);
  CHECK(dc5->stride() == 16);
  torch::NoGradGuard no_grad;
  dc5->eval();
  CHECK(dc5->body().feature_map(torch::randn({1, 3, 64, 96}), 4).sizes() == torch::IntArrayRef({1, 2048, 4, 6}));
}

TEST_CASE("every detector maps a padded batch to per-layer logits and boxes in [0, 1]", "[detect]") {
  torch::NoGradGuard no_grad;
  for (const auto* spec : registry().models("detect")) {
    INFO(spec->name);
    auto model = std::dynamic_pointer_cast<models::DetrImpl>(registry().create_model(spec->name, {{"num_classes", 5}, {"num_queries", 7}}));
    REQUIRE(model);
    CHECK(count_parameters(*registry().create_model(spec->name, Json::object())) == spec->params);
    model->eval();
    auto images = torch::randn({2, 3, 64, 96});
    auto mask = torch::zeros({2, 64, 96}, torch::kBool);
    mask[1].narrow(1, 64, 32).fill_(true);  // the second image is 64 x 64, padded on the right
    const auto out = model->forward(images, mask, true);
    const int64_t layers = model->config().aux_loss ? model->config().dec_layers : 1;
    CHECK(out.logits.sizes() == torch::IntArrayRef({layers, 2, 7, 6}));
    CHECK(out.boxes.sizes() == torch::IntArrayRef({layers, 2, 7, 4}));
    CHECK(out.boxes.min().item<double>() >= 0);
    CHECK(out.boxes.max().item<double>() <= 1);
    const int64_t h = 64 / model->stride(), w = 96 / model->stride();
    CHECK(out.cross_attention.sizes() == torch::IntArrayRef({2, 7, h, w}));
    // No query attends to padding.
    CHECK(out.cross_attention[1].narrow(2, w - w / 3, w / 3).abs().max().item<double>() == 0);
    CHECK(out.cross_attention.sum({2, 3}).allclose(torch::ones({2, 7})));
  }
}

TEST_CASE("the 2-D sine positions are DETR's", "[detect]") {
  // hidden 4: channels sin(y), cos(y), sin(x), cos(x) (every frequency is 10000^0 = 1), y and x
  // the cumulative counts of unpadded rows and columns scaled so the last is 2 pi.
  auto mask = torch::zeros({1, 2, 3}, torch::kBool);
  mask[0][0][2] = true, mask[0][1][2] = true;  // the last column is padding
  const auto pos = models::sine_position_embedding(mask, 4);
  REQUIRE(pos.sizes() == torch::IntArrayRef({1, 4, 2, 3}));
  const double eps = 1e-6, two_pi = 2 * M_PI;
  const double y0 = 1 / (2 + eps) * two_pi, x1 = 2 / (2 + eps) * two_pi;
  CHECK(pos[0][0][0][0].item<double>() == Approx(std::sin(y0)).margin(1e-5));
  CHECK(pos[0][1][0][0].item<double>() == Approx(std::cos(y0)).margin(1e-5));
  CHECK(pos[0][2][1][1].item<double>() == Approx(std::sin(x1)).margin(1e-5));
  CHECK(pos[0][3][1][1].item<double>() == Approx(std::cos(x1)).margin(1e-5));
  // At width 8 the second pair of each axis has frequency 10000^(2/4) = 100.
  const auto wide = models::sine_position_embedding(mask, 8);
  CHECK(wide[0][2][1][0].item<double>() == Approx(std::sin(2 / (2 + eps) * two_pi / 100)).margin(1e-6));
}

TEST_CASE("the set loss matches predictions to objects and is zero on a perfect match", "[detect]") {
  models::DetrLossConfig config;
  // One image, two objects, three queries: query 0 predicts object 1 exactly, query 2 object 0.
  models::DetectionTargets targets{boxes({{0.3f, 0.3f, 0.2f, 0.2f}, {0.7f, 0.6f, 0.3f, 0.4f}}), torch::tensor({2, 0}, torch::kInt64), {2}};
  auto predicted = boxes({{0.7f, 0.6f, 0.3f, 0.4f}, {0.5f, 0.5f, 0.9f, 0.9f}, {0.3f, 0.3f, 0.2f, 0.2f}}).unsqueeze(0);
  auto logits = torch::zeros({1, 3, 4});  // classes 0..2 and "no object"
  const auto matching = models::match_predictions(logits, predicted, targets, config);
  REQUIRE(matching.size() == 1);
  CHECK(matching[0].queries == std::vector<int64_t>{0, 2});
  CHECK(matching[0].targets == std::vector<int64_t>{1, 0});
  auto loss = models::set_loss(logits, predicted, targets, config, matching, 3);
  CHECK(loss.l1.item<double>() == Approx(0).margin(1e-6));
  CHECK(loss.giou.item<double>() == Approx(0).margin(1e-6));
  // Uniform logits: every term of the cross-entropy is log 4; weighted mean over (1 + 1 + 0.1).
  CHECK(loss.ce.item<double>() == Approx(std::log(4.0)));
  // Off by 0.1 in cx on one matched box: L1 0.1 over 2 objects.
  predicted[0][0][0] = 0.8f;
  loss = models::set_loss(logits, predicted, targets, config, models::match_predictions(logits, predicted, targets, config), 3);
  CHECK(loss.l1.item<double>() == Approx(0.05).margin(1e-6));
  // An image without objects: every query is "no object"; no box terms.
  models::DetectionTargets none{torch::empty({0, 4}), torch::empty({0}, torch::kInt64), {0}};
  const auto empty = models::match_predictions(logits, predicted, none, config);
  CHECK(empty[0].queries.empty());
  loss = models::set_loss(logits, predicted, none, config, empty, 3);
  CHECK(loss.l1.item<double>() == 0);
  CHECK(loss.ce.item<double>() == Approx(std::log(4.0)));
}

TEST_CASE("DETR's transforms carry the boxes along", "[detect]") {
  data::BoxedImage in{cv::Mat(100, 200, CV_8UC3, cv::Scalar(0, 0, 0)), {{10, 20, 60, 80}, {150, 0, 200, 10}}, {3, 5}};
  const auto flipped = data::flip_boxed(in);
  CHECK(flipped.boxes[0] == std::array<double, 4>{140, 20, 190, 80});
  CHECK(flipped.boxes[1] == std::array<double, 4>{0, 0, 50, 10});
  // Shorter side 50: 100 x 200 -> 50 x 100, boxes halved; with max_size 80 the longer side caps
  // at 80 (size round(80 * 100 / 200) = 40): 40 x 80.
  auto resized = data::resize_boxed(in, 50, 0);
  CHECK(resized.image.rows == 50);
  CHECK(resized.image.cols == 100);
  CHECK(resized.boxes[0] == std::array<double, 4>{5, 10, 30, 40});
  resized = data::resize_boxed(in, 50, 80);
  CHECK(resized.image.rows == 40);
  CHECK(resized.image.cols == 80);
  // A window (top 10, left 40, 50 x 100): box 0 clipped to [0, 10, 20, 50]; box 1 outside: dropped.
  const auto cropped = data::crop_boxed(in, 10, 40, 50, 100);
  REQUIRE(cropped.boxes.size() == 1);
  CHECK(cropped.boxes[0] == std::array<double, 4>{0, 10, 20, 50});
  CHECK(cropped.labels == std::vector<int64_t>{3});
  // The sample: boxes as (cx, cy, w, h) over the image's size.
  const auto sample = data::to_detection_sample(in, {0, 0, 0}, {1, 1, 1});
  CHECK(torch::allclose(sample.boxes[0], torch::tensor({35.0f / 200, 50.0f / 100, 50.0f / 200, 60.0f / 100})));
  // A batch pads to the largest image and marks the padding.
  const auto batch = data::collate_detection({sample, data::to_detection_sample(resized, {0, 0, 0}, {1, 1, 1})});
  CHECK(batch[0].sizes() == torch::IntArrayRef({2, 3, 100, 200}));
  CHECK(batch[1][1].sum().item<int64_t>() == 100 * 200 - 40 * 80);
  CHECK(batch[1][0].sum().item<int64_t>() == 0);
  CHECK(batch[4].equal(torch::tensor({2, 2}, torch::kInt64)));
}

TEST_CASE("bad COCO annotations name the culprit, or are skipped and counted", "[detect]") {
  const std::string doc = R"({"images": [{"id": 7, "file_name": "a.jpg", "width": 100, "height": 50}],
    "categories": [{"id": 1, "name": "cat"}, {"id": 4, "name": "dog"}],
    "annotations": [
      {"id": 1, "image_id": 7, "category_id": 4, "bbox": [10, 10, 20, 20], "area": 300, "iscrowd": 0},
      {"id": 2, "image_id": 7, "category_id": 1, "bbox": [90, 10, 30, 20], "area": 300, "iscrowd": 0},
      {"id": 3, "image_id": 7, "category_id": 1, "bbox": [10, 10, 0, 20], "area": 0, "iscrowd": 0},
      {"id": 4, "image_id": 7, "category_id": 2, "bbox": [10, 10, 5, 5], "area": 25, "iscrowd": 0},
      {"id": 5, "image_id": 8, "category_id": 1, "bbox": [10, 10, 5, 5], "area": 25, "iscrowd": 0},
      {"id": 6, "image_id": 7, "category_id": 1, "bbox": [0, 0, 100.4, 50], "area": 900, "iscrowd": 1}]})";
  const auto path = write_temp("instances.json", doc);
  CHECK_THROWS_WITH(data::read_coco_instances(path, "/images", false), Contains("annotations[1]") && Contains("outside"));
  const auto read = data::read_coco_instances(path, "/images", true);
  REQUIRE(read.skipped.size() == 4);
  CHECK_THAT(read.skipped[1], Contains("annotations[2]") && Contains("zero area"));
  CHECK_THAT(read.skipped[2], Contains("unknown category_id 2"));
  CHECK_THAT(read.skipped[3], Contains("image_id 8"));
  REQUIRE(read.images.size() == 1);
  const auto& objects = read.images[0].objects;
  REQUIRE(objects.size() == 2);
  CHECK(objects[0].category_id == 4);
  CHECK(objects[1].crowd);
  CHECK(objects[1].box[2] == 100);  // within a pixel of the edge: clipped to the image
  CHECK(objects[1].area == 900);    // the annotation's area, kept for the size ranges
  CHECK(read.images[0].file == "/images/a.jpg");
  // A results file with a bad entry names it.
  const auto results = write_temp("results.json", R"([{"image_id": 7, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 0.5},
                                                       {"image_id": 7, "category_id": 1, "bbox": [1, 2, 3], "score": 0.5}])");
  CHECK_THROWS_WITH(data::read_detection_results(results), Contains("[1]") && Contains("bbox"));
}

TEST_CASE("synth:boxes is deterministic, its ids have gaps, its boxes fit their shapes", "[detect]") {
  const auto a = data::synth_boxes_split(40, 96, 3, "train"), b = data::synth_boxes_split(40, 96, 3, "train");
  REQUIRE(a.size() == 40);
  CHECK(a.categories.size() == 6);
  CHECK(a.categories[1].id == 3);  // 1, 3, 5, ...: mapped to labels 0..5
  CHECK(data::synth_boxes_split(40, 96, 3, "val").size() == 64);
  int64_t small = 0, large = 0;
  for (int64_t i = 0; i < a.size(); ++i) {
    const auto& objects = a.images[static_cast<size_t>(i)].objects;
    REQUIRE(objects.size() == b.images[static_cast<size_t>(i)].objects.size());
    CHECK(!objects.empty());
    for (size_t k = 0; k < objects.size(); ++k) {
      const auto& o = objects[k];
      CHECK(o.box == b.images[static_cast<size_t>(i)].objects[k].box);
      CHECK(o.box[0] >= 0);
      CHECK(o.box[0] + o.box[2] <= 96);
      CHECK(o.area > 0);
      CHECK(o.area <= o.box[2] * o.box[3]);  // the visible pixels, inside the box
      small += o.area < 32 * 32, large += o.area > 96 * 96 / 16;
    }
  }
  CHECK(small > 0);
  CHECK(large > 0);
  // The image is a pure function of (seed, index).
  CHECK(cv::norm(a.image(5), b.image(5), cv::NORM_INF) == 0);
}

}  // namespace test_detect
