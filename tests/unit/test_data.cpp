// The dataset layer: ImageFolder semantics, each transform, synthetic shapes, loader order.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <unistd.h>
#include <opencv2/imgproc.hpp>

#include "data/datasets.h"
#include "data/image.h"
#include "data/loader.h"
#include "data/rand_augment.h"
#include "lib/core/error.h"

namespace test_data {  // this file's own: the unit tests compile in batches (tests/CMakeLists.txt)

namespace fs = std::filesystem;
using namespace zoo;
using namespace zoo::data;

namespace {

fs::path fresh_dir(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / ("zoo-unit-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

cv::Mat solid(int h, int w, uint8_t r, uint8_t g, uint8_t b) { return cv::Mat(h, w, CV_8UC3, cv::Scalar(r, g, b)); }

// An image whose pixel (y, x) encodes its position, to check where crops come from.
cv::Mat ramp(int h, int w) {
  cv::Mat img(h, w, CV_8UC3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) img.at<cv::Vec3b>(y, x) = cv::Vec3b(static_cast<uint8_t>(y), static_cast<uint8_t>(x), 7);
  return img;
}

}  // namespace

TEST_CASE("ImageFolder sorts classes, walks sub-folders in order and keeps only images", "[data]") {
  auto root = fresh_dir("folder");
  for (const char* c : {"zebra", "apple", "Mango"}) fs::create_directories(root / c);
  fs::create_directories(root / "apple" / "nested");
  write_image((root / "zebra" / "b.png").string(), solid(4, 4, 1, 2, 3));
  write_image((root / "zebra" / "a.JPG").string(), solid(4, 4, 1, 2, 3));  // extension case ignored
  write_image((root / "apple" / "x.bmp").string(), solid(4, 4, 1, 2, 3));
  write_image((root / "apple" / "nested" / "y.webp").string(), solid(4, 4, 1, 2, 3));
  write_image((root / "Mango" / "m.jpeg").string(), solid(4, 4, 1, 2, 3));
  std::ofstream(root / "zebra" / "notes.txt") << "not an image";

  ImageFolder folder(root.string());
  // Byte order as Python's sorted(): upper case before lower case.
  REQUIRE(folder.classes() == std::vector<std::string>{"Mango", "apple", "zebra"});
  REQUIRE(folder.size() == 5);
  CHECK(folder.label(0) == 0);
  CHECK(fs::path(folder.path(1)).filename() == "x.bmp");  // apple/ before apple/nested/
  CHECK(fs::path(folder.path(2)).filename() == "y.webp");
  CHECK(fs::path(folder.path(3)).filename() == "a.JPG");
  CHECK(folder.label(4) == 2);
  auto img = folder.image(1);
  CHECK(img.rows == 4);
  CHECK(img.at<cv::Vec3b>(0, 0) == cv::Vec3b(1, 2, 3));  // decoded as RGB

  fs::create_directories(root / "empty");
  CHECK_THROWS_AS(ImageFolder(root.string()), Error);
  CHECK_THROWS_AS(ImageFolder((root / "missing").string()), Error);
  fs::remove_all(root);
}

TEST_CASE("read_image names the file it cannot decode", "[data]") {
  auto root = fresh_dir("bad");
  std::ofstream(root / "broken.jpg") << "this is not a jpeg";
  try {
    read_image((root / "broken.jpg").string());
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("broken.jpg") != std::string::npos);
  }
  fs::remove_all(root);
}

TEST_CASE("resize_shorter keeps the aspect ratio like torchvision Resize(int)", "[data]") {
  auto out = resize_shorter(solid(100, 200, 0, 0, 0), 50);
  CHECK(out.rows == 50);
  CHECK(out.cols == 100);
  out = resize_shorter(solid(300, 120, 0, 0, 0), 64);
  CHECK(out.cols == 64);
  CHECK(out.rows == 160);
}

TEST_CASE("center_crop takes the middle and pads small images", "[data]") {
  auto crop = center_crop(ramp(10, 12), 4, 6);
  CHECK(crop.rows == 4);
  CHECK(crop.cols == 6);
  CHECK(crop.at<cv::Vec3b>(0, 0) == cv::Vec3b(3, 3, 7));  // top = round(6/2), left = round(6/2)
  auto padded = center_crop(solid(2, 2, 9, 9, 9), 4, 4);
  CHECK(padded.at<cv::Vec3b>(0, 0) == cv::Vec3b(0, 0, 0));
  CHECK(padded.at<cv::Vec3b>(1, 1) == cv::Vec3b(9, 9, 9));
}

TEST_CASE("random_resized_crop is sized, seeded and varies with the seed", "[data]") {
  auto img = ramp(64, 96);
  Rng a(1), b(1), c(2);
  auto x = random_resized_crop(img, 32, 32, a), y = random_resized_crop(img, 32, 32, b), z = random_resized_crop(img, 32, 32, c);
  CHECK(x.rows == 32);
  CHECK(x.cols == 32);
  CHECK(cv::norm(x, y, cv::NORM_INF) == 0);
  CHECK(cv::norm(x, z, cv::NORM_INF) > 0);
}

TEST_CASE("hflip mirrors columns and pad_random_crop stays in the padded window", "[data]") {
  auto img = ramp(4, 5);
  auto flipped = hflip(img);
  CHECK(flipped.at<cv::Vec3b>(2, 0) == img.at<cv::Vec3b>(2, 4));
  Rng rng(3);
  for (int i = 0; i < 20; ++i) {
    auto crop = pad_random_crop(ramp(8, 8), 8, 8, 2, rng);
    REQUIRE(crop.rows == 8);
    // Either an original pixel or zero padding, never anything else.
    auto px = crop.at<cv::Vec3b>(4, 4);
    CHECK(((px[2] == 7) || (px == cv::Vec3b(0, 0, 0))));
  }
}

TEST_CASE("to_tensor gives CHW floats normalised by mean and std", "[data]") {
  cv::Mat img = solid(2, 3, 255, 0, 51);
  img.at<cv::Vec3b>(1, 2) = cv::Vec3b(0, 255, 102);
  auto t = to_tensor(img, {0.5, 0.5, 0.2}, {0.5, 0.25, 0.1});
  REQUIRE(t.sizes() == torch::IntArrayRef({3, 2, 3}));
  CHECK(t[0][0][0].item<float>() == Approx(1.0));              // (1 - 0.5) / 0.5
  CHECK(t[1][0][0].item<float>() == Approx(-2.0));             // (0 - 0.5) / 0.25
  CHECK(t[2][0][0].item<float>() == Approx(0.0).margin(1e-6)); // (0.2 - 0.2) / 0.1
  CHECK(t[1][1][2].item<float>() == Approx(2.0));              // (1 - 0.5) / 0.25
  CHECK(t[2][1][2].item<float>() == Approx(2.0));              // (0.4 - 0.2) / 0.1
}

TEST_CASE("Preprocess eval resizes by crop_pct and crops the input size", "[data]") {
  Preprocess p;
  p.input_size = 16;
  p.crop_pct = 0.5;
  auto t = p.eval(solid(40, 60, 10, 20, 30));
  CHECK(t.sizes() == torch::IntArrayRef({3, 16, 16}));
  Rng rng(0);
  CHECK(p.train(solid(40, 60, 10, 20, 30), rng).sizes() == torch::IntArrayRef({3, 16, 16}));
}

TEST_CASE("synthetic shapes are deterministic for a seed and cover every class", "[data]") {
  SynthShapes a(60, 32, 5), b(60, 32, 5), c(60, 32, 6);
  std::vector<int> counts(SynthShapes::shape_names().size(), 0);
  for (int64_t i = 0; i < a.size(); ++i) {
    REQUIRE(a.label(i) == b.label(i));
    REQUIRE(cv::norm(a.image(i), b.image(i), cv::NORM_INF) == 0);
    counts[a.label(i)]++;
  }
  for (int n : counts) CHECK(n > 0);
  CHECK(cv::norm(a.image(0), c.image(0), cv::NORM_INF) > 0);
  CHECK(a.image(3).rows == 32);
  // A shape is drawn: the image is not just its noisy background.
  cv::Scalar mean, stddev;
  cv::meanStdDev(a.image(1), mean, stddev);
  CHECK(stddev[0] + stddev[1] + stddev[2] > 10);
}

TEST_CASE("write_image_folder round-trips through ImageFolder", "[data]") {
  auto root = fresh_dir("synth");
  SynthShapes shapes(12, 16, 1);
  write_image_folder(shapes, root.string());
  ImageFolder folder(root.string());
  CHECK(folder.size() == 12);
  CHECK(folder.classes() == SynthShapes::shape_names());
  fs::remove_all(root);
}

TEST_CASE("epoch_order is a seeded permutation", "[data]") {
  auto a = epoch_order(100, 7, 0), b = epoch_order(100, 7, 0), c = epoch_order(100, 7, 1);
  CHECK(a == b);
  CHECK(a != c);
  auto sorted = a;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 100; ++i) REQUIRE(sorted[i] == i);
}

TEST_CASE("PrefetchLoader yields the same batches in order for any number of workers", "[data]") {
  auto make = [](int64_t b) {
    // Uneven work so threads finish out of order.
    std::this_thread::sleep_for(std::chrono::milliseconds((b * 7) % 5));
    Rng rng(mix_seed(42, b));
    return Batch{{torch::full({2}, static_cast<double>(rng.next_u64() % 1000))}, b};
  };
  auto collect = [&](int workers, int64_t first) {
    std::vector<double> out;
    PrefetchLoader loader(first, 12, make, workers, 3);
    while (auto batch = loader.next()) out.push_back(batch->tensors[0][0].item<double>() * 100 + batch->size);
    return out;
  };
  auto serial = collect(0, 0);
  REQUIRE(serial.size() == 12);
  CHECK(collect(1, 0) == serial);
  CHECK(collect(3, 0) == serial);
  CHECK(collect(4, 0) == serial);
  auto resumed = collect(3, 5);  // --resume mid-epoch starts at batch 5
  CHECK(resumed == std::vector<double>(serial.begin() + 5, serial.end()));
}

TEST_CASE("PrefetchLoader passes a worker's error to the consumer", "[data]") {
  PrefetchLoader loader(0, 4, [](int64_t b) -> Batch {
    if (b == 2) throw Error("bad sample in batch 2");
    return Batch{{torch::zeros({1})}, 1};
  }, 2);
  loader.next();
  loader.next();
  CHECK_THROWS_WITH(loader.next(), Catch::Contains("batch 2"));
}

TEST_CASE("stack_samples builds a (B, ...) tensor", "[data]") {
  auto s = stack_samples({torch::full({2, 3}, 1.0), torch::full({2, 3}, 2.0)});
  CHECK(s.sizes() == torch::IntArrayRef({2, 2, 3}));
  CHECK(s[1][1][2].item<float>() == 2.0f);
  CHECK_THROWS_AS(stack_samples({torch::zeros({2}), torch::zeros({3})}), Error);
}

TEST_CASE("RandAugment: specs, torchvision's magnitudes, and what each operation does", "[data]") {
  using data::AugmentOp;
  CHECK_FALSE(data::parse_rand_augment("").has_value());
  auto spec = data::parse_rand_augment("rand-m9-n2");
  REQUIRE(spec);
  CHECK(spec->magnitude == 9);
  CHECK(spec->ops == 2);
  CHECK(data::parse_rand_augment("rand-n3-m5")->ops == 3);
  for (const char* bad : {"rand-m31-n2", "rand-m9-n0", "auto-m9", "rand-q1", "rand-m", "rand-mx", "rand-m9x"})
    CHECK_THROWS_WITH(data::parse_rand_augment(bad), Catch::Contains("invalid auto_augment"));

  // torchvision's linspace(0, max, 31)[9] and its posterize/solarize tables at bin 9, for 32x32.
  CHECK(data::augment_magnitude(AugmentOp::ShearX, 9, 32, 32) == Approx(0.09));
  CHECK(data::augment_magnitude(AugmentOp::TranslateY, 9, 40, 32) == Approx(150.0 / 331.0 * 40 * 0.3));
  CHECK(data::augment_magnitude(AugmentOp::Rotate, 9, 32, 32) == Approx(9.0));
  CHECK(data::augment_magnitude(AugmentOp::Sharpness, 9, 32, 32) == Approx(0.27));
  CHECK(data::augment_magnitude(AugmentOp::Posterize, 9, 32, 32) == 7);
  CHECK(data::augment_magnitude(AugmentOp::Posterize, 30, 32, 32) == 4);
  CHECK(data::augment_magnitude(AugmentOp::Solarize, 9, 32, 32) == Approx(178.5));

  // A gradient image: value = 4x + y + channel offset, all distinct per row.
  cv::Mat img(16, 16, CV_8UC3);
  for (int y = 0; y < 16; ++y)
    for (int x = 0; x < 16; ++x) img.at<cv::Vec3b>(y, x) = cv::Vec3b(static_cast<uint8_t>(16 * x + y), static_cast<uint8_t>(8 * y + 20), 100);
  auto px = [](const cv::Mat& m, int y, int x, int c) { return static_cast<int>(m.at<cv::Vec3b>(y, x)[c]); };
  CHECK(cv::norm(data::apply_augment_op(img, AugmentOp::Identity, 0), img, cv::NORM_INF) == 0);
  auto moved = data::apply_augment_op(img, AugmentOp::TranslateX, 3.7);  // whole pixels: 3
  CHECK(px(moved, 5, 2, 0) == 0);
  CHECK(px(moved, 5, 7, 0) == px(img, 5, 4, 0));
  auto rotated = data::apply_augment_op(img, AugmentOp::Rotate, 90);
  cv::Mat expected;
  cv::rotate(img, expected, cv::ROTATE_90_COUNTERCLOCKWISE);
  CHECK(cv::norm(rotated, expected, cv::NORM_INF) == 0);
  auto posterized = data::apply_augment_op(img, AugmentOp::Posterize, 4);
  CHECK(px(posterized, 3, 5, 0) == (px(img, 3, 5, 0) & 0xF0));
  auto solarized = data::apply_augment_op(img, AugmentOp::Solarize, 128);
  CHECK(px(solarized, 0, 15, 0) == 255 - px(img, 0, 15, 0));  // 240 >= 128: inverted
  CHECK(px(solarized, 0, 1, 0) == px(img, 0, 1, 0));          // 16 < 128: kept
  auto stretched = data::apply_augment_op(img, AugmentOp::AutoContrast, 0);
  double lo = 0, hi = 0;
  std::vector<cv::Mat> channels;
  cv::split(stretched, channels);
  cv::minMaxLoc(channels[1], &lo, &hi);
  CHECK(lo == 0);
  CHECK(hi == 255);
  cv::minMaxLoc(channels[2], &lo, &hi);  // a flat channel is left alone
  CHECK(lo == 100);
  auto darker = data::apply_augment_op(img, AugmentOp::Brightness, -0.5);
  CHECK(std::abs(px(darker, 9, 9, 0) - px(img, 9, 9, 0) / 2) <= 1);
  auto grey = data::apply_augment_op(img, AugmentOp::Color, -1.0);  // factor 0: the luma image
  CHECK(px(grey, 4, 4, 0) == px(grey, 4, 4, 1));
  CHECK(cv::norm(data::apply_augment_op(img, AugmentOp::Contrast, 0.0), img, cv::NORM_INF) <= 1);
  auto equalized = data::apply_augment_op(img, AugmentOp::Equalize, 0);
  cv::split(equalized, channels);
  cv::minMaxLoc(channels[0], &lo, &hi);
  CHECK(hi > 200);  // spread over the range

  // rand_augment draws from the seed alone.
  Rng a(5), b(5);
  auto once = data::rand_augment(img, *spec, a);
  CHECK(cv::norm(once, data::rand_augment(img, *spec, b), cv::NORM_INF) == 0);
}

}  // namespace test_data
