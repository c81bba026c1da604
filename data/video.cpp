#include "data/video.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <numeric>
#include <opencv2/imgproc.hpp>

#include "data/datasets.h"
#include "data/image.h"
#include "lib/core/error.h"

namespace fs = std::filesystem;

namespace zoo::data {

namespace {

// Frame file names compared as a person would: runs of digits by value (2.jpg before 10.jpg).
bool natural_less(const std::string& a, const std::string& b) {
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (std::isdigit(static_cast<unsigned char>(a[i])) && std::isdigit(static_cast<unsigned char>(b[j]))) {
      size_t ie = i, je = j;
      while (ie < a.size() && std::isdigit(static_cast<unsigned char>(a[ie]))) ++ie;
      while (je < b.size() && std::isdigit(static_cast<unsigned char>(b[je]))) ++je;
      // Compare by value: strip leading zeros, then longer is larger, then digit by digit.
      size_t is = i, js = j;
      while (is + 1 < ie && a[is] == '0') ++is;
      while (js + 1 < je && b[js] == '0') ++js;
      if (ie - is != je - js) return ie - is < je - js;
      if (int c = a.compare(is, ie - is, b, js, je - js); c != 0) return c < 0;
      i = ie, j = je;
    } else {
      if (a[i] != b[j]) return a[i] < b[j];
      ++i, ++j;
    }
  }
  return a.size() - i < b.size() - j;
}

// The image files directly in `dir`, in natural order.
std::vector<std::string> frame_files(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, fs::directory_options::follow_directory_symlink, ec))
    if (entry.is_regular_file() && is_image_file(entry.path().string())) names.push_back(entry.path().filename().string());
  if (ec) throw Error("cannot list " + dir + ": " + ec.message());
  std::sort(names.begin(), names.end(), natural_less);
  for (auto& name : names) name = (fs::path(dir) / name).string();
  return names;
}

}  // namespace

VideoFolder::VideoFolder(const std::string& root) : classes_(class_folders(root, "video folder", "<video> or <class>/<clip>/<frame>")) {
  std::error_code ec;
  for (size_t label = 0; label < classes_.size(); ++label) {
    const fs::path class_dir = fs::path(root) / classes_[label];
    std::vector<std::string> found;
    for (auto it = fs::recursive_directory_iterator(class_dir, fs::directory_options::follow_directory_symlink, ec);
         it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (ec) break;
      const std::string path = it->path().string();
      if (it->is_regular_file() && is_video_file(path)) found.push_back(path);
      if (it->is_directory() && !frame_files(path).empty()) found.push_back(path);  // a frame folder
    }
    if (ec) throw Error("cannot list " + class_dir.string() + ": " + ec.message());
    if (found.empty())
      throw Error("class folder " + class_dir.string() + " holds no clip (a video file: mp4, avi, webm, mkv, mov, m4v; or a folder of frames)");
    std::sort(found.begin(), found.end());
    for (auto& path : found) paths_.push_back(std::move(path)), labels_.push_back(static_cast<int64_t>(label));
  }
}

std::vector<cv::Mat> read_clip(const std::string& path, const FramePicker& pick) {
  std::error_code ec;
  if (!fs::is_directory(path, ec)) return read_video_frames(path, pick);
  const auto files = frame_files(path);
  if (files.empty()) throw Error("frame folder " + path + " holds no image");
  const auto wanted = pick_frames(pick, static_cast<int64_t>(files.size()), "frame folder " + path);
  std::vector<cv::Mat> frames;
  for (int64_t i : wanted) {
    frames.push_back(read_image(files[static_cast<size_t>(i)]));
    if (frames.back().size() != frames[0].size()) throw Error("the frames of " + path + " differ in size (" + files[static_cast<size_t>(i)] + ")");
  }
  return frames;
}

std::vector<cv::Mat> VideoFolder::clip(int64_t index, const FramePicker& pick) const { return read_clip(paths_.at(index), pick); }

std::shared_ptr<VideoDataset> open_video_folder_split(const std::string& path, const std::string& split, double val_fraction) {
  if (const std::string tree = split_tree_folder(path, split, "a class tree of videos or frame folders"); !tree.empty())
    return std::make_shared<VideoFolder>(tree);
  auto tree = std::make_shared<VideoFolder>(path);
  if (tree->size() < 2) throw Error("video folder " + path + " holds a single clip; nothing to hold out for validation");
  return std::make_shared<VideoSubset>(tree, held_out_split(tree->size(), split, val_fraction));
}

const std::vector<std::string>& SynthMotion::class_names() {
  static const std::vector<std::string> names{"blink", "grow", "move_down", "move_left", "move_right", "move_up", "shrink", "turn_ccw", "turn_cw"};
  return names;
}

SynthMotion::SynthMotion(int64_t size, int image_size, uint64_t seed) : size_(size), image_size_(image_size), seed_(seed) {
  if (size <= 0) throw UsageError("synthetic data set size must be positive");
  if (image_size < 16) throw UsageError("synth:motion's frames must be at least 16 pixels wide");
}

int64_t SynthMotion::label(int64_t index) const {
  return static_cast<int64_t>(mix_seed(seed_, static_cast<uint64_t>(index), 1) % class_names().size());
}

cv::Mat SynthMotion::frame(int64_t index, int64_t t) const {
  // What stays fixed through the clip, from the clip's own stream; each frame's noise from its own.
  Rng clip_rng(mix_seed(seed_, static_cast<uint64_t>(index), 2));
  const int S = image_size_;
  const double scale = S / 32.0;
  double base[3];
  for (double& b : base) b = clip_rng.uniform(20, 235);
  const double noise = clip_rng.uniform(3, 12);
  cv::Scalar colour;
  for (int c = 0; c < 3; ++c) colour[c] = base[c] < 128 ? clip_rng.uniform(160, 255) : clip_rng.uniform(0, 95);
  // No circle: a turning circle looks still.
  static const std::vector<std::string> shapes{"cross", "hexagon", "square", "star", "triangle"};
  const std::string& shape = shapes[static_cast<size_t>(clip_rng.randint(0, static_cast<int64_t>(shapes.size())))];
  // The shape at the middle frame, the same distribution for every class.
  const double cx = S * clip_rng.uniform(0.3, 0.7), cy = S * clip_rng.uniform(0.3, 0.7);
  const double radius = S * clip_rng.uniform(0.14, 0.22), angle = clip_rng.uniform(0, 2 * M_PI);
  const double speed = scale * clip_rng.uniform(0.7, 1.0);           // pixels per frame
  const double turn = clip_rng.uniform(0.12, 0.2);                   // radians per frame
  const double growth = clip_rng.uniform(1.035, 1.05);               // radius factor per frame
  // Time from the middle frame: every class is the time reversal of another at the same draw.
  const double dt = static_cast<double>(t) - (frames_per_clip - 1) / 2.0;
  double x = cx, y = cy, r = radius, a = angle;
  bool visible = true;
  const std::string& motion = class_names()[static_cast<size_t>(label(index))];
  if (motion == "move_left") x -= speed * dt;
  else if (motion == "move_right") x += speed * dt;
  else if (motion == "move_up") y -= speed * dt;
  else if (motion == "move_down") y += speed * dt;
  else if (motion == "turn_cw") a += turn * dt;
  else if (motion == "turn_ccw") a -= turn * dt;
  else if (motion == "grow") r *= std::pow(growth, dt);
  else if (motion == "shrink") r /= std::pow(growth, dt);
  else visible = (static_cast<int64_t>(std::llround(std::abs(dt))) / 2) % 2 == 0;  // blink: on 2 frames (3 around the middle), off 2
  Rng frame_rng(mix_seed(seed_, static_cast<uint64_t>(index), 3 + static_cast<uint64_t>(t)));
  cv::Mat img(S, S, CV_8UC3);
  for (int row = 0; row < S; ++row) {
    auto* p = img.ptr<uint8_t>(row);
    for (int k = 0; k < S * 3; ++k) p[k] = static_cast<uint8_t>(std::clamp(base[k % 3] + noise * frame_rng.normal(), 0.0, 255.0));
  }
  if (visible) draw_shape(img, shape, x, y, r, a, colour);
  return img;
}

std::vector<cv::Mat> SynthMotion::clip(int64_t index, const FramePicker& pick) const {
  std::vector<cv::Mat> frames;
  for (int64_t t : pick(frames_per_clip)) frames.push_back(frame(index, t));
  return frames;
}

std::shared_ptr<SynthMotion> synth_motion_split(int64_t n, int image_size, uint64_t seed, const std::string& split) {
  if (split == "train") return std::make_shared<SynthMotion>(n, image_size, mix_seed(seed, 21));
  const int64_t held_out = std::max<int64_t>(64, n / 4);
  return std::make_shared<SynthMotion>(held_out, image_size, mix_seed(seed, split == "val" ? 22 : 23));
}

void write_frame_folders(const VideoDataset& dataset, const std::string& dir) {
  const FramePicker all = [](int64_t n) {
    std::vector<int64_t> every(static_cast<size_t>(n));
    std::iota(every.begin(), every.end(), 0);
    return every;
  };
  char name[32];
  for (int64_t i = 0; i < dataset.size(); ++i) {
    std::snprintf(name, sizeof(name), "%06lld", static_cast<long long>(i));
    const fs::path clip_dir = fs::path(dir) / dataset.classes()[static_cast<size_t>(dataset.label(i))] / name;
    std::error_code ec;
    fs::create_directories(clip_dir, ec);
    if (ec) throw Error("cannot create " + clip_dir.string() + ": " + ec.message());
    const auto frames = dataset.clip(i, all);
    for (size_t t = 0; t < frames.size(); ++t) write_image((clip_dir / (std::to_string(t) + ".png")).string(), frames[t]);
  }
}

}  // namespace zoo::data
