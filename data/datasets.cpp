#include "data/datasets.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <opencv2/imgproc.hpp>

#include "data/image.h"
#include "data/loader.h"
#include "lib/core/error.h"
#include "lib/core/runtime.h"

namespace fs = std::filesystem;

namespace zoo::data {

bool is_image_file(const std::string& path) {
  static const std::vector<std::string> extensions{".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp"};
  std::string lower = path;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const auto& ext : extensions)
    if (lower.size() >= ext.size() && lower.compare(lower.size() - ext.size(), ext.size(), ext) == 0) return true;
  return false;
}

std::vector<std::string> class_folders(const std::string& root, const std::string& what, const std::string& layout) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) throw Error(what + " not found: " + root);
  std::vector<std::string> classes;
  for (const auto& entry : fs::directory_iterator(root, fs::directory_options::follow_directory_symlink, ec))
    if (entry.is_directory()) classes.push_back(entry.path().filename().string());
  if (ec) throw Error("cannot list " + root + ": " + ec.message());
  std::sort(classes.begin(), classes.end());
  if (classes.empty()) throw Error("no class folders in " + root + " (expected " + root + "/<class>/" + layout + ")");
  return classes;
}

ImageFolder::ImageFolder(const std::string& root) : classes_(class_folders(root, "image folder", "<image>")) {
  std::error_code ec;
  for (size_t label = 0; label < classes_.size(); ++label) {
    const fs::path class_dir = fs::path(root) / classes_[label];
    // torchvision walks with os.walk and sorts (directory, file name) pairs.
    std::vector<std::pair<std::string, std::string>> found;
    for (auto it = fs::recursive_directory_iterator(class_dir, fs::directory_options::follow_directory_symlink, ec);
         it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (ec) break;
      if (it->is_regular_file() && is_image_file(it->path().string()))
        found.emplace_back(it->path().parent_path().string(), it->path().filename().string());
    }
    if (ec) throw Error("cannot list " + class_dir.string() + ": " + ec.message());
    if (found.empty()) throw Error("class folder " + class_dir.string() + " holds no image (jpg, jpeg, png, bmp, webp, ...)");
    std::sort(found.begin(), found.end());
    for (const auto& [dir, name] : found) {
      paths_.push_back((fs::path(dir) / name).string());
      labels_.push_back(static_cast<int64_t>(label));
    }
  }
}

cv::Mat ImageFolder::image(int64_t index) const { return read_image(paths_.at(index)); }

void BadSamples::record(const std::string& sample, const std::string& error) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (seen_.insert(sample).second) notices_.push_back("--bad-samples skip: left out " + sample + " (" + error + ")");
}

std::vector<std::string> BadSamples::take_notices() {
  std::lock_guard<std::mutex> lock(mutex_);
  return std::exchange(notices_, {});
}

int64_t BadSamples::count() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<int64_t>(seen_.size());
}

std::optional<cv::Mat> image_or_skip(const ImageDataset& dataset, int64_t index, BadSamples& bad_samples) {
  return read_or_skip([&] { return dataset.image(index); }, [&] { return dataset.describe(index); }, bad_samples);
}

std::shared_ptr<BadSamples> bad_samples_policy(const std::string& value) {
  if (value != "fail" && value != "skip") throw UsageError("invalid --bad-samples '" + value + "': expected fail or skip");
  return std::make_shared<BadSamples>(value == "skip");
}

const std::vector<std::string>& SynthShapes::shape_names() {
  static const std::vector<std::string> names{"circle", "cross", "hexagon", "square", "star", "triangle"};
  return names;  // sorted, as an image folder written from it would list them
}

SynthShapes::SynthShapes(int64_t size, int image_size, uint64_t seed) : size_(size), image_size_(image_size), seed_(seed) {
  if (size <= 0) throw UsageError("synthetic data set size must be positive");
  if (image_size < 8) throw UsageError("synthetic images must be at least 8 pixels wide");
}

int64_t SynthShapes::label(int64_t index) const {
  return static_cast<int64_t>(mix_seed(seed_, static_cast<uint64_t>(index), 1) % shape_names().size());
}

// The outline of a shape of unit radius: `points` vertices alternating between radius 1 and
// `inner` (stars), rotated by `angle`.
static std::vector<cv::Point> polygon(double cx, double cy, double radius, int points, double inner, double angle) {
  std::vector<cv::Point> out;
  for (int k = 0; k < points; ++k) {
    const double r = (inner > 0 && k % 2 == 1) ? radius * inner : radius;
    const double a = angle + 2.0 * M_PI * k / points;
    out.emplace_back(static_cast<int>(std::lround(cx + r * std::cos(a))), static_cast<int>(std::lround(cy + r * std::sin(a))));
  }
  return out;
}

cv::Mat SynthShapes::image(int64_t index) const {
  Rng rng(mix_seed(seed_, static_cast<uint64_t>(index), 2));
  const int S = image_size_;
  // Background: a random colour, a linear gradient, and per-pixel Gaussian noise.
  cv::Mat img(S, S, CV_8UC3);
  double base[3], grad[3];
  for (int c = 0; c < 3; ++c) base[c] = rng.uniform(20, 235), grad[c] = rng.uniform(-40, 40);
  const double noise = rng.uniform(5, 25);
  for (int y = 0; y < S; ++y) {
    auto* row = img.ptr<uint8_t>(y);
    for (int x = 0; x < S; ++x)
      for (int c = 0; c < 3; ++c) {
        const double v = base[c] + grad[c] * (static_cast<double>(x + y) / S - 1.0) + noise * rng.normal();
        row[3 * x + c] = static_cast<uint8_t>(std::clamp(v, 0.0, 255.0));
      }
  }
  // Foreground: a colour far from the background so the shape is always visible.
  cv::Scalar colour;
  for (int c = 0; c < 3; ++c) colour[c] = base[c] < 128 ? rng.uniform(160, 255) : rng.uniform(0, 95);
  const double radius = S * rng.uniform(0.18, 0.38);
  const double cx = rng.uniform(radius, S - radius), cy = rng.uniform(radius, S - radius);
  const double angle = rng.uniform(0, 2 * M_PI);
  draw_shape(img, shape_names()[label(index)], cx, cy, radius, angle, colour);
  return img;
}

cv::Mat noisy_background(int size, Rng& rng, double lo, double hi) {
  cv::Mat img(size, size, CV_8UC3);
  double base[3];
  for (double& b : base) b = rng.uniform(lo, hi);
  const double noise = rng.uniform(3, 12);
  for (int y = 0; y < size; ++y) {
    auto* row = img.ptr<uint8_t>(y);
    for (int x = 0; x < size * 3; ++x) row[x] = static_cast<uint8_t>(std::clamp(base[x % 3] + noise * rng.normal(), 0.0, 255.0));
  }
  return img;
}

void draw_shape(cv::Mat& img, const std::string& name, double cx, double cy, double radius, double angle, const cv::Scalar& colour) {
  std::vector<cv::Point> outline;
  if (name == "circle") {
    cv::circle(img, cv::Point(static_cast<int>(cx), static_cast<int>(cy)), static_cast<int>(radius), colour, cv::FILLED, cv::LINE_AA);
  } else if (name == "square") {
    outline = polygon(cx, cy, radius, 4, 0, angle);
  } else if (name == "triangle") {
    outline = polygon(cx, cy, radius, 3, 0, angle);
  } else if (name == "hexagon") {
    outline = polygon(cx, cy, radius, 6, 0, angle);
  } else if (name == "star") {
    outline = polygon(cx, cy, radius, 10, 0.45, angle);
  } else {  // cross: a plus sign of two bars, rotated
    const double w = radius * 0.33, c = std::cos(angle), s = std::sin(angle);
    const double xs[12] = {-w, w, w, radius, radius, w, w, -w, -w, -radius, -radius, -w};
    const double ys[12] = {-radius, -radius, -w, -w, w, w, radius, radius, w, w, -w, -w};
    for (int k = 0; k < 12; ++k)
      outline.emplace_back(static_cast<int>(std::lround(cx + c * xs[k] - s * ys[k])), static_cast<int>(std::lround(cy + s * xs[k] + c * ys[k])));
  }
  if (!outline.empty()) cv::fillPoly(img, std::vector<std::vector<cv::Point>>{outline}, colour, cv::LINE_AA);
}

void write_image_folder(const ImageDataset& dataset, const std::string& dir) {
  std::error_code ec;
  for (const auto& name : dataset.classes()) {
    fs::create_directories(fs::path(dir) / name, ec);
    if (ec) throw Error("cannot create " + (fs::path(dir) / name).string() + ": " + ec.message());
  }
  char file[32];
  for (int64_t i = 0; i < dataset.size(); ++i) {
    std::snprintf(file, sizeof(file), "%06lld.png", static_cast<long long>(i));
    write_image((fs::path(dir) / dataset.classes()[dataset.label(i)] / file).string(), dataset.image(i));
  }
}

std::shared_ptr<SynthShapes> synth_shapes_split(int64_t n, int image_size, uint64_t seed, const std::string& split) {
  if (split == "train") return std::make_shared<SynthShapes>(n, image_size, mix_seed(seed, 11));
  const int64_t held_out = std::max<int64_t>(64, n / 4);
  return std::make_shared<SynthShapes>(held_out, image_size, mix_seed(seed, split == "val" ? 12 : 13));
}

}  // namespace zoo::data

namespace zoo::data {

std::string split_tree_folder(const std::string& path, const std::string& split, const std::string& what) {
  if (!fs::exists(path)) throw Error("data not found: " + path);
  if (!fs::is_directory(path)) throw Error("data " + path + " is not a folder (expected " + what + ")");
  const fs::path root(path);
  if (!fs::is_directory(root / "train")) return "";
  // A folder of split trees: train/, and val/ or test/ (each falls back to the other).
  std::string dir = split;
  if (split != "train" && !fs::is_directory(root / dir)) dir = split == "val" ? "test" : "val";
  if (!fs::is_directory(root / dir)) throw Error("no '" + split + "' split in " + path + " (expected " + path + "/val or " + path + "/test)");
  return (root / dir).string();
}

std::vector<int64_t> held_out_split(int64_t size, const std::string& split, double val_fraction) {
  // A fixed, seed-independent shuffle holds out the last val_fraction for val/test.
  const auto order = epoch_order(size, /*seed=*/0, /*epoch=*/0);
  const auto held_out = std::max<int64_t>(1, static_cast<int64_t>(val_fraction * static_cast<double>(size)));
  std::vector<int64_t> indices = split == "train" ? std::vector<int64_t>(order.begin(), order.end() - held_out)
                                                  : std::vector<int64_t>(order.end() - held_out, order.end());
  std::sort(indices.begin(), indices.end());
  return indices;
}

std::shared_ptr<ImageDataset> open_image_folder_split(const std::string& path, const std::string& split, double val_fraction) {
  if (const std::string tree = split_tree_folder(path, split, "an image-folder tree"); !tree.empty()) return std::make_shared<ImageFolder>(tree);
  auto tree = std::make_shared<ImageFolder>(path);
  if (tree->size() < 2) throw Error("image folder " + path + " holds a single image; nothing to hold out for validation");
  return std::make_shared<Subset>(tree, held_out_split(tree->size(), split, val_fraction));
}

}  // namespace zoo::data
