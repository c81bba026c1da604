// Labelled video clips for --task video: class trees of video files (decoded with OpenCV's
// VideoCapture) or of frame folders, and the built-in synth:motion, whose class shows only across
// frames. A clip is T frames `stride` apart, taken from the middle of the video for evaluation and
// from a random start for training (PyTorchVideo's uniform and random clip samplers).
#pragma once
#include <opencv2/core.hpp>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "data/video_file.h"
#include "lib/core/random.h"

namespace zoo::data {

class VideoDataset {
 public:
  virtual ~VideoDataset() = default;
  virtual int64_t size() const = 0;
  virtual int64_t label(int64_t index) const = 0;
  // The frames `pick` chooses from video `index` (RGB uint8, all of one size), in order. Error
  // naming the video when it cannot be read or is too short.
  virtual std::vector<cv::Mat> clip(int64_t index, const FramePicker& pick) const = 0;
  virtual const std::vector<std::string>& classes() const = 0;
  virtual std::string describe(int64_t index) const = 0;  // a file or folder path, or "synth:motion#i"
};

// The frames `pick` chooses from a clip on disk: a video file, or a folder of frame images.
std::vector<cv::Mat> read_clip(const std::string& path, const FramePicker& pick);
// DIR/<class>/...: classes are the sorted sub-folder names; a clip is a video file (mp4, avi,
// webm, mkv, mov, m4v) anywhere below, or a folder holding image files directly (its frames in
// natural order: 2.jpg before 10.jpg). Error when DIR is missing, has no class folders, or a class
// folder holds no clip.
class VideoFolder : public VideoDataset {
 public:
  explicit VideoFolder(const std::string& root);
  int64_t size() const override { return static_cast<int64_t>(paths_.size()); }
  int64_t label(int64_t index) const override { return labels_.at(index); }
  std::vector<cv::Mat> clip(int64_t index, const FramePicker& pick) const override;
  const std::vector<std::string>& classes() const override { return classes_; }
  std::string describe(int64_t index) const override { return paths_.at(index); }

 private:
  std::vector<std::string> classes_, paths_;
  std::vector<int64_t> labels_;
};

class VideoSubset : public VideoDataset {
 public:
  VideoSubset(std::shared_ptr<const VideoDataset> base, std::vector<int64_t> indices) : base_(std::move(base)), indices_(std::move(indices)) {}
  int64_t size() const override { return static_cast<int64_t>(indices_.size()); }
  int64_t label(int64_t i) const override { return base_->label(indices_.at(i)); }
  std::vector<cv::Mat> clip(int64_t i, const FramePicker& pick) const override { return base_->clip(indices_.at(i), pick); }
  const std::vector<std::string>& classes() const override { return base_->classes(); }
  std::string describe(int64_t i) const override { return base_->describe(indices_.at(i)); }

 private:
  std::shared_ptr<const VideoDataset> base_;
  std::vector<int64_t> indices_;
};

// Split `split` of a video class tree at `path`, as open_image_folder_split splits image trees.
std::shared_ptr<VideoDataset> open_video_folder_split(const std::string& path, const std::string& split, double val_fraction);

// synth:motion: 17-frame clips of one shape on a noisy background that moves left, right, up or
// down, turns clockwise or anticlockwise, grows, shrinks or blinks. Every clip's shape, colour,
// position, size and angle at its middle frame are drawn from the same distribution whatever the
// class, and each class is the time reversal of another (blink of itself), so no single frame
// tells the class: one frame, the middle one, scores at chance (1/9). Clip i is a pure function of
// (seed, i).
class SynthMotion : public VideoDataset {
 public:
  static constexpr int64_t frames_per_clip = 17;
  static const std::vector<std::string>& class_names();  // sorted
  SynthMotion(int64_t size, int image_size, uint64_t seed);
  int64_t size() const override { return size_; }
  int64_t label(int64_t index) const override;
  std::vector<cv::Mat> clip(int64_t index, const FramePicker& pick) const override;
  const std::vector<std::string>& classes() const override { return class_names(); }
  std::string describe(int64_t index) const override { return "synth:motion#" + std::to_string(index); }
  // Frame t (0 .. frames_per_clip - 1) of clip `index`.
  cv::Mat frame(int64_t index, int64_t t) const;

 private:
  int64_t size_;
  int image_size_;
  uint64_t seed_;
};

// A split of synth:motion of `n` training clips: train, or val or test (a quarter, at least 64).
std::shared_ptr<SynthMotion> synth_motion_split(int64_t n, int image_size, uint64_t seed, const std::string& split);

// Writes every frame of every clip as a frame-folder tree DIR/<class>/<index>/<frame>.png.
void write_frame_folders(const VideoDataset& dataset, const std::string& dir);

}  // namespace zoo::data
