// The video layer and models (issue 25): clip sampling, decoding files OpenCV wrote (and frames
// that change size, and a portrait phone video), frame folders, bad videos, synth:motion, and
// TimeSformer's divided attention against a brute-force computation with explicit masks.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "data/image.h"
#include "data/video.h"
#include "lib/core/error.h"
#include "lib/core/registry.h"
#include "lib/tasks/builtin.h"
#include "models/video/timesformer.h"
#include "models/video/video_classifier.h"

namespace test_video {  // this file's own: the unit tests compile in batches (tests/CMakeLists.txt)

using namespace zoo;
namespace fs = std::filesystem;

namespace {

fs::path fresh_dir(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("zoo_test_video_" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// Frame t: a grey level 20 t + 10 everywhere (so each frame says which it is), with a white square.
std::vector<cv::Mat> numbered_frames(int count, int side = 32) {
  std::vector<cv::Mat> frames;
  for (int t = 0; t < count; ++t) {
    cv::Mat frame(side, side, CV_8UC3, cv::Scalar::all(20 * t + 10));
    cv::rectangle(frame, cv::Rect(t, 4, 6, 6), cv::Scalar::all(255), cv::FILLED);
    frames.push_back(frame);
  }
  return frames;
}

// Which numbered frame an image is, from its mean grey level away from the square.
int frame_number(const cv::Mat& rgb) { return static_cast<int>(std::lround((cv::mean(rgb(cv::Rect(0, 16, rgb.cols, 16)))[0] - 10) / 20)); }

data::FramePicker centred(int64_t frames, int64_t stride) {
  return [=](int64_t n) { return data::clip_frame_indices(n, frames, stride, nullptr); };
}

}  // namespace

TEST_CASE("clip sampling: centred for evaluation, a random start for training, the stride shrinks for short videos", "[video]") {
  // 17 frames, 8 at stride 2: a span of 15, starting at (17 - 15) / 2 = 1.
  CHECK(data::clip_frame_indices(17, 8, 2, nullptr) == std::vector<int64_t>{1, 3, 5, 7, 9, 11, 13, 15});
  // 100 frames, 4 at stride 8: a span of 25 from (100 - 25) / 2 = 37.
  CHECK(data::clip_frame_indices(100, 4, 8, nullptr) == std::vector<int64_t>{37, 45, 53, 61});
  // Too short for stride 4 (span 29 > 10): the largest stride that fits, floor(9 / 7) = 1.
  CHECK(data::clip_frame_indices(10, 8, 4, nullptr) == std::vector<int64_t>{1, 2, 3, 4, 5, 6, 7, 8});
  CHECK(data::clip_frame_indices(1, 1, 3, nullptr) == std::vector<int64_t>{0});
  CHECK_THROWS_WITH(data::clip_frame_indices(5, 8, 1, nullptr), Catch::Contains("has 5 frames, fewer than the clip's 8"));
  // Random starts cover [0, n - span] and nothing else.
  Rng rng(3);
  std::set<int64_t> starts;
  for (int i = 0; i < 400; ++i) {
    const auto indices = data::clip_frame_indices(20, 4, 3, &rng);  // span 10: starts 0..10
    REQUIRE(indices.size() == 4);
    CHECK(indices[3] - indices[0] == 9);
    starts.insert(indices[0]);
  }
  CHECK(starts.size() == 11);
  CHECK(*starts.begin() == 0);
  CHECK(*starts.rbegin() == 10);
}

#ifdef ZOO_VIDEOIO  // a build without OpenCV's videoio reads frame folders only
TEST_CASE("a video file written by OpenCV decodes to its frames; class trees mix files and frame folders", "[video]") {
  const fs::path root = fresh_dir("tree");
  const auto frames = numbered_frames(12);
  fs::create_directories(root / "a"), fs::create_directories(root / "b" / "clip1");
  data::write_video((root / "a" / "one.avi").string(), frames);
  data::write_video((root / "a" / "two.mp4").string(), frames);
  // A frame folder whose names sort differently as text and as numbers (2 before 10).
  for (int t = 0; t < 12; ++t) data::write_image((root / "b" / "clip1" / (std::to_string(t) + ".png")).string(), frames[static_cast<size_t>(t)]);
  std::ofstream(root / "b" / "notes.txt") << "not a clip";

  const auto decoded = data::read_video((root / "a" / "one.avi").string());
  REQUIRE(decoded.size() == 12);
  for (int t = 0; t < 12; ++t) CHECK(frame_number(decoded[static_cast<size_t>(t)]) == t);
  CHECK(decoded[0].size() == cv::Size(32, 32));

  data::VideoFolder folder(root.string());
  CHECK(folder.classes() == std::vector<std::string>{"a", "b"});
  REQUIRE(folder.size() == 3);
  CHECK(folder.label(2) == 1);
  for (int64_t i = 0; i < folder.size(); ++i) {
    INFO(folder.describe(i));
    // 4 frames at stride 3 from 12: span 10, start 1 -> frames 1, 4, 7, 10, in order.
    const auto clip = folder.clip(i, centred(4, 3));
    REQUIRE(clip.size() == 4);
    for (size_t k = 0; k < 4; ++k) CHECK(frame_number(clip[k]) == 1 + 3 * static_cast<int>(k));
  }
  // A single file or folder reads the same way.
  CHECK(data::read_clip((root / "b" / "clip1").string(), centred(2, 1)).size() == 2);
}

namespace {

// A Motion-JPEG AVI written byte by byte, so that a test can make what OpenCV's writer refuses:
// frames of different sizes in one stream. RIFF chunks: hdrl (avih, strl: strh, strf), movi, idx1.
void write_mjpeg_avi(const fs::path& path, cv::Size declared, const std::vector<cv::Mat>& frames) {
  auto u32 = [](uint32_t v) { return std::string{char(v), char(v >> 8), char(v >> 16), char(v >> 24)}; };
  auto u16 = [](uint16_t v) { return std::string{char(v), char(v >> 8)}; };
  auto chunk = [&](const std::string& tag, const std::string& body) { return tag + u32(static_cast<uint32_t>(body.size())) + body + (body.size() % 2 ? std::string(1, '\0') : ""); };
  auto list = [&](const std::string& tag, const std::string& body) { return chunk("LIST", tag + body); };
  const auto n = static_cast<uint32_t>(frames.size()), w = static_cast<uint32_t>(declared.width), h = static_cast<uint32_t>(declared.height);
  const std::string avih = u32(100000) + u32(0) + u32(0) + u32(0x10) + u32(n) + u32(0) + u32(1) + u32(0) + u32(w) + u32(h) + std::string(16, '\0');
  const std::string strh = "vidsMJPG" + u32(0) + u16(0) + u16(0) + u32(0) + u32(1) + u32(10) + u32(0) + u32(n) + u32(0) + u32(0xffffffff) + u32(0) + u16(0) + u16(0) + u16(static_cast<uint16_t>(w)) + u16(static_cast<uint16_t>(h));
  const std::string strf = u32(40) + u32(w) + u32(h) + u16(1) + u16(24) + "MJPG" + u32(w * h * 3) + std::string(16, '\0');
  std::string movi, index;
  for (const auto& frame : frames) {
    std::vector<uchar> jpeg;
    cv::Mat bgr;
    cv::cvtColor(frame, bgr, cv::COLOR_RGB2BGR);
    cv::imencode(".jpg", bgr, jpeg);
    index += "00dc" + u32(0x10) + u32(static_cast<uint32_t>(4 + movi.size())) + u32(static_cast<uint32_t>(jpeg.size()));
    movi += chunk("00dc", std::string(jpeg.begin(), jpeg.end()));
  }
  const std::string body = "AVI " + list("hdrl", chunk("avih", avih) + list("strl", chunk("strh", strh) + chunk("strf", strf))) + list("movi", movi) + chunk("idx1", index);
  std::ofstream(path, std::ios::binary) << chunk("RIFF", body);
}

// Sets the display matrix of an MP4's video track (its tkhd box) to a quarter turn, as a phone
// filming upright writes it: a = 0, b = 1, c = -1, d = 0 in 16.16 fixed point.
void make_portrait(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  const size_t tkhd = bytes.find("tkhd");
  REQUIRE(tkhd != std::string::npos);
  REQUIRE(bytes[tkhd + 4] == 0);  // version 0: 32-bit times
  // After the type: version and flags, created, modified, track id, reserved, duration (4 each),
  // reserved (8), layer, alternate group, volume, reserved (2 each), then the 3x3 matrix.
  const size_t matrix = tkhd + 4 + 24 + 8 + 8;
  const int32_t quarter_turn[9] = {0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000};
  for (int k = 0; k < 9; ++k)
    for (int b = 0; b < 4; ++b) bytes[matrix + 4 * k + b] = static_cast<char>(static_cast<uint32_t>(quarter_turn[k]) >> (24 - 8 * b));
  std::ofstream(path, std::ios::binary) << bytes;
}

}  // namespace

TEST_CASE("frames that change size are an error, not garbage; a portrait phone video comes out upright", "[video]") {
  const fs::path root = fresh_dir("sizes");
  // OpenCV 4.6's VideoCapture converted every frame at the first one's size and read past
  // FFmpeg's buffer (tests/fuzz/fuzz_video_file.cpp); zoo's decoder sees each frame's own size.
  auto frames = numbered_frames(6);
  const auto large = numbered_frames(6, 64);
  for (size_t t = 3; t < 6; ++t) frames[t] = large[t];
  write_mjpeg_avi(root / "grows.avi", cv::Size(32, 32), frames);
  CHECK_THROWS_WITH(data::read_video((root / "grows.avi").string()), Catch::Contains("grows.avi: its frames change size"));
  CHECK_THROWS_WITH(data::read_video_frames((root / "grows.avi").string(), centred(6, 1)), Catch::Contains("its frames change size"));
  // The same writer with frames of one size: decoded in order, whatever the header declares.
  write_mjpeg_avi(root / "steady.avi", cv::Size(32, 32), numbered_frames(6));
  const auto steady = data::read_video((root / "steady.avi").string());
  REQUIRE(steady.size() == 6);
  for (int t = 0; t < 6; ++t) CHECK(frame_number(steady[static_cast<size_t>(t)]) == t);

  // A landscape 48x32 recording whose track says "turn a quarter clockwise" (FFmpeg's convention,
  // which its own tools follow; OpenCV 4.6 turns the other way, opencv/opencv#22088).
  std::vector<cv::Mat> landscape;
  for (int t = 0; t < 4; ++t) {
    cv::Mat frame(32, 48, CV_8UC3, cv::Scalar::all(40));
    cv::rectangle(frame, cv::Rect(0, 0, 12, 12), cv::Scalar(255, 255, 255), cv::FILLED);  // top left
    landscape.push_back(frame);
  }
  data::write_video((root / "phone.mp4").string(), landscape);
  const auto stored = data::read_video((root / "phone.mp4").string());
  make_portrait(root / "phone.mp4");
  const auto upright = data::read_video((root / "phone.mp4").string());
  REQUIRE(upright.size() == stored.size());
  for (size_t t = 0; t < upright.size(); ++t) {
    REQUIRE(upright[t].size() == cv::Size(32, 48));
    cv::Mat turned;
    cv::rotate(stored[t], turned, cv::ROTATE_90_CLOCKWISE);
    CHECK(cv::norm(upright[t], turned, cv::NORM_INF) == 0);
    // The white corner moved from the top left to the top right.
    CHECK(cv::mean(upright[t](cv::Rect(24, 2, 6, 6)))[0] > 200);
    CHECK(cv::mean(upright[t](cv::Rect(2, 2, 6, 6)))[0] < 100);
  }
}

#endif

TEST_CASE("bad videos are one clear error naming the file", "[video]") {
  const fs::path root = fresh_dir("bad");
  fs::create_directories(root / "c" / "short");
  std::ofstream(root / "c" / "broken.mp4", std::ios::binary) << std::string(2000, '\x17');
  std::ofstream(root / "c" / "empty.avi", std::ios::binary);
  const auto frames = numbered_frames(3);
  for (int t = 0; t < 3; ++t) data::write_image((root / "c" / "short" / (std::to_string(t) + ".png")).string(), frames[static_cast<size_t>(t)]);
  data::VideoFolder folder(root.string());
  REQUIRE(folder.size() == 3);
  for (int64_t i = 0; i < folder.size(); ++i) {
    INFO(folder.describe(i));
    try {
      folder.clip(i, centred(8, 1));
      FAIL("read a bad clip");
    } catch (const Error& e) {
      const std::string message = e.what();
      CHECK(message.find(folder.describe(i)) != std::string::npos);
      CHECK(message.find('\n') == std::string::npos);
      if (folder.describe(i).find("short") != std::string::npos) CHECK(message.find("has 3 frames, fewer than the clip's 8") != std::string::npos);
    }
  }
  fs::create_directories(root / "d" / "only_notes");
  std::ofstream(root / "d" / "only_notes" / "notes.txt") << "no clip";
  CHECK_THROWS_WITH(data::VideoFolder((root / "d").string()), Catch::Contains("holds no clip"));
  CHECK_THROWS_WITH(data::read_video((root / "nothing.mp4").string()), Catch::Contains("video not found"));
}

TEST_CASE("synth:motion: deterministic clips whose class shows only across frames", "[video]") {
  data::SynthMotion set(64, 32, 5);
  CHECK(set.classes().size() == 9);
  std::set<int64_t> labels;
  for (int64_t i = 0; i < set.size(); ++i) labels.insert(set.label(i));
  CHECK(labels.size() == 9);
  const auto a = set.clip(7, centred(8, 2)), b = set.clip(7, centred(8, 2));
  REQUIRE(a.size() == 8);
  for (size_t t = 0; t < a.size(); ++t) CHECK(cv::norm(a[t], b[t], cv::NORM_INF) == 0);
  // Something changes within three frames in every clip (further apart a turning hexagon may look
  // as it did: it repeats every 60 degrees).
  for (int64_t i = 0; i < 18; ++i) {
    const auto first = set.frame(i, 7), last = set.frame(i, 10);
    cv::Mat diff;
    cv::absdiff(first, last, diff);
    cv::Mat grey;
    cv::cvtColor(diff, grey, cv::COLOR_RGB2GRAY);
    const int changed = cv::countNonZero(grey > 50);
    INFO(set.classes()[static_cast<size_t>(set.label(i))] << ": " << changed << " pixels changed by more than 50");
    CHECK(changed >= 4);  // the noise alone (sigma <= 12 per frame) changes none by that much
  }
}

TEST_CASE("every video model has its published parameter count and maps clips to logits", "[video]") {
  const std::map<std::string, int64_t> reference{
      // torchvision's r2plus1d_18; the authors' TimeSformer (tests/python/timesformer_reference.py counts it).
      {"r2plus1d_18", 31505325}, {"mvit_v1_b", 36610672}, {"mvit_v2_s", 34537744}, {"timesformer_base", 121566352}};
  torch::NoGradGuard no_grad;
  for (const auto* spec : registry().models("video")) {
    INFO(spec->name);
    auto model = std::dynamic_pointer_cast<models::VideoClassifierImpl>(registry().create_model(spec->name, Json::object()));
    REQUIRE(model);
    CHECK(count_parameters(*model) == spec->params);
    if (reference.count(spec->name)) CHECK(count_parameters(*model) == reference.at(spec->name));
    // Big inputs are slow for a unit test: TimeSformer-B's 1,569 tokens of width 768, MViT at 224 px
    // (zoo's MViT is checked against torchvision's at 64 px in tests/cli/test_video.sh).
    if (spec->name == "timesformer_base" || spec->name.rfind("mvit", 0) == 0) continue;
    model->eval();
    const int64_t side = spec->defaults().at("input_size").get<int64_t>() == 32 ? 32 : 64;
    const int64_t frames = spec->defaults().at("num_frames").get<int64_t>();
    auto out = model->forward(torch::randn({2, 3, frames, side, side}));
    CHECK(out.sizes() == torch::IntArrayRef({2, spec->defaults().at("num_classes").get<int64_t>()}));
  }
}

TEST_CASE("TimeSformer's divided attention equals full attention under explicit space-time masks", "[video]") {
  torch::manual_seed(0);
  models::TimesformerConfig config;
  config.image_size = 12, config.patch_size = 4, config.width = 16, config.heads = 2, config.depth = 1, config.num_frames = 3, config.drop_path = 0;
  models::TimesformerBlock block(config, 0.0);
  block->eval();
  // temporal_fc is zero in all blocks but the first; make it count.
  torch::NoGradGuard no_grad;
  torch::nn::init::normal_(block->temporal_fc->weight, 0, 0.2);
  const int64_t N = 9, T = 3, D = 16, L = 1 + N * T, B = 2, heads = 2, d = D / heads;
  auto x = torch::randn({B, L, D});
  auto got = block->forward(x, T);

  // Token j >= 1 is patch (j - 1) / T of frame (j - 1) % T; token 0 is the class token.
  auto patch_of = [&](int64_t j) { return (j - 1) / T; };
  auto frame_of = [&](int64_t j) { return (j - 1) % T; };
  // Multi-head attention of every token of y (B, L, D) over every token, with mask[i][j] true
  // where i may attend to j: the module's own weights (qkv, proj), no reshaping into frames or tubes.
  auto masked_attention = [&](nn::MultiheadAttention attn, const torch::Tensor& y, const torch::Tensor& mask) {
    auto qkv = attn->in_proj(y).view({B, L, 3, heads, d}).permute({2, 0, 3, 1, 4});
    auto scores = torch::matmul(qkv[0], qkv[1].transpose(-2, -1)) / std::sqrt(static_cast<double>(d));
    scores = scores.masked_fill(mask.logical_not(), -std::numeric_limits<float>::infinity());
    return attn->out_proj(torch::matmul(torch::softmax(scores, -1), qkv[2]).transpose(1, 2).reshape({B, L, D}));
  };
  // Temporal: patch (p, t) attends to (p, t') for every t'; the class token is left out.
  auto time_mask = torch::zeros({L, L}, torch::kBool);
  for (int64_t i = 1; i < L; ++i)
    for (int64_t j = 1; j < L; ++j) time_mask[i][j] = patch_of(i) == patch_of(j);
  time_mask[0][0] = true;  // a row for the class token, unused
  auto temporal = block->temporal_fc(masked_attention(block->temporal_attn, block->temporal_norm1(x), time_mask));
  auto xt = x.clone();
  xt.narrow(1, 1, N * T) += temporal.narrow(1, 1, N * T);
  // Spatial: patch (p, t) attends to the class token and the patches (p', t) of its frame; the
  // class token attends within each frame t (class token and that frame's patches), T times,
  // its T outputs averaged.
  auto space_mask = torch::zeros({L, L}, torch::kBool);
  for (int64_t i = 1; i < L; ++i) {
    space_mask[i][0] = true;
    for (int64_t j = 1; j < L; ++j) space_mask[i][j] = frame_of(i) == frame_of(j);
  }
  space_mask[0][0] = true;
  auto spatial = masked_attention(block->attn, block->norm1(xt), space_mask);
  auto cls_update = torch::zeros({B, D});
  for (int64_t t = 0; t < T; ++t) {
    auto frame_mask = torch::zeros({L, L}, torch::kBool);
    frame_mask[0][0] = true;
    for (int64_t j = 1; j < L; ++j) frame_mask[0][j] = frame_of(j) == t;
    for (int64_t i = 1; i < L; ++i) frame_mask[i][i] = true;  // other rows unused
    cls_update += masked_attention(block->attn, block->norm1(xt), frame_mask).select(1, 0) / static_cast<double>(T);
  }
  auto h = xt.clone();
  h.narrow(1, 1, N * T) += spatial.narrow(1, 1, N * T);
  h.select(1, 0) += cls_update;
  auto expected = h + block->mlp(block->norm2(h));
  CHECK((got - expected).abs().max().item<double>() < 1e-5);
  // The masks matter: without them the temporal step would mix every token.
  const auto everything = torch::ones({L, L}, torch::kBool);
  auto unmasked = block->temporal_fc(masked_attention(block->temporal_attn, block->temporal_norm1(x), everything));
  const double change = (unmasked - temporal).narrow(1, 1, N * T).abs().max().item<double>();
  CHECK(change > 1e-3);
}

}  // namespace test_video
