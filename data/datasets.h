// Labelled image datasets: torchvision ImageFolder semantics on disk, and the built-in
// synthetic shapes generated in memory.
#pragma once
#include <opencv2/core.hpp>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "lib/core/error.h"
#include "lib/core/random.h"

namespace zoo::data {

class ImageDataset {
 public:
  virtual ~ImageDataset() = default;
  virtual int64_t size() const = 0;
  virtual int64_t label(int64_t index) const = 0;
  virtual cv::Mat image(int64_t index) const = 0;  // RGB uint8
  virtual const std::vector<std::string>& classes() const = 0;
  virtual std::string describe(int64_t index) const = 0;  // a file path, or "synth:shapes#i"
};

// Extensions ImageFolder accepts, compared case-insensitively (torchvision's IMG_EXTENSIONS).
bool is_image_file(const std::string& path);

// The class names of a class tree: ROOT's sub-folders (following links), sorted. Error when ROOT is
// not a folder ("`what` not found") or has none (naming the expected ROOT/<class>/`layout`).
std::vector<std::string> class_folders(const std::string& root, const std::string& what, const std::string& layout);

// DIR/<class>/**/<image>: classes are the sorted sub-folder names (index = position),
// samples are walked recursively (following links) in sorted order. Error when DIR is missing,
// has no class folders, or a class folder holds no image.
class ImageFolder : public ImageDataset {
 public:
  explicit ImageFolder(const std::string& root);
  int64_t size() const override { return static_cast<int64_t>(paths_.size()); }
  int64_t label(int64_t index) const override { return labels_.at(index); }
  cv::Mat image(int64_t index) const override;
  const std::vector<std::string>& classes() const override { return classes_; }
  std::string describe(int64_t index) const override { return paths_.at(index); }
  const std::string& path(int64_t index) const { return paths_.at(index); }

 private:
  std::vector<std::string> classes_, paths_;
  std::vector<int64_t> labels_;
};

// A view of some samples of another dataset (a held-out split of a single folder tree).
class Subset : public ImageDataset {
 public:
  Subset(std::shared_ptr<const ImageDataset> base, std::vector<int64_t> indices)
      : base_(std::move(base)), indices_(std::move(indices)) {}
  int64_t size() const override { return static_cast<int64_t>(indices_.size()); }
  int64_t label(int64_t i) const override { return base_->label(indices_.at(i)); }
  cv::Mat image(int64_t i) const override { return base_->image(indices_.at(i)); }
  const std::vector<std::string>& classes() const override { return base_->classes(); }
  std::string describe(int64_t i) const override { return base_->describe(indices_.at(i)); }

 private:
  std::shared_ptr<const ImageDataset> base_;
  std::vector<int64_t> indices_;
};

// Split `split` (train, val or test) of an image-folder tree at `path`: PATH/train/ with PATH/val/
// or PATH/test/ (each standing in for the other), else one tree whose last val_fraction, after a
// fixed seed-independent shuffle, is val and test. Errors name the path and what is missing.
std::shared_ptr<ImageDataset> open_image_folder_split(const std::string& path, const std::string& split, double val_fraction);

// The two halves of that rule, for any class tree (images, videos). The folder of split `split`
// when `path` holds split trees (PATH/train, with PATH/val or PATH/test), "" when it is one tree;
// Error when `path` is missing or not a folder (`what` says what it should be), or lacks the split.
std::string split_tree_folder(const std::string& path, const std::string& split, const std::string& what);
// Of one tree's `size` samples, those of `split` (sorted): the last val_fraction of a fixed shuffle
// (at least one) for val and test, the rest for train.
std::vector<int64_t> held_out_split(int64_t size, const std::string& split, double val_fraction);

// synth:shapes: one coloured shape per image on a noisy background; the class is the shape.
// Image i is a pure function of (seed, i), so the set is the same on every run and machine.
class SynthShapes : public ImageDataset {
 public:
  static const std::vector<std::string>& shape_names();  // circle, square, triangle, star, hexagon, cross
  SynthShapes(int64_t size, int image_size, uint64_t seed);
  int64_t size() const override { return size_; }
  int64_t label(int64_t index) const override;
  cv::Mat image(int64_t index) const override;
  const std::vector<std::string>& classes() const override { return shape_names(); }
  std::string describe(int64_t index) const override { return "synth:shapes#" + std::to_string(index); }

 private:
  int64_t size_;
  int image_size_;
  uint64_t seed_;
};

// A size x size RGB background: one random colour (each channel uniform in [lo, hi)) with Gaussian
// pixel noise of a random strength from 3 to 12; synth:scenes' and synth:boxes' backdrop.
cv::Mat noisy_background(int size, Rng& rng, double lo, double hi);

// Draws the shape `name` (one of SynthShapes::shape_names()) filled with `colour`, centred at
// (cx, cy) with radius `radius` and turned by `angle`: synth:shapes' and synth:scenes' shapes.
void draw_shape(cv::Mat& img, const std::string& name, double cx, double cy, double radius, double angle, const cv::Scalar& colour);

// A split of synth:shapes of `n` training images: train, or val or test (a quarter, at least 64);
// three disjoint seed-determined streams. What `zoo train` reads and `zoo data synth` writes.
std::shared_ptr<SynthShapes> synth_shapes_split(int64_t n, int image_size, uint64_t seed, const std::string& split);

// --bad-samples: whether an unreadable sample (a corrupt, truncated or empty file) stops the run
// (fail) or is left out and counted (skip). Shared by the loader's worker threads.
class BadSamples {
 public:
  explicit BadSamples(bool skip) : skip_(skip) {}
  bool skip() const { return skip_; }
  // Notes that `sample` failed with `error` (once per sample).
  void record(const std::string& sample, const std::string& error);
  // Log lines for the samples recorded since the last call.
  std::vector<std::string> take_notices();
  int64_t count() const;

 private:
  bool skip_;
  mutable std::mutex mutex_;
  std::set<std::string> seen_;
  std::vector<std::string> notices_;
};

// read(), or nullopt when it throws an Error and `bad_samples` says skip (the sample is then
// recorded as describe()); with fail, the read's Error.
template <class Read, class Describe>
auto read_or_skip(const Read& read, const Describe& describe, BadSamples& bad_samples) -> std::optional<decltype(read())>;

// The training sample at `position` of an epoch's order (wrapping), or with --bad-samples skip
// the next readable one after it: a choice that depends on the files alone, not on worker timing.
// read(entry) is the image of order entry `entry` (an Error when unreadable), describe(entry)
// names it. Returns the entry and its image; Error when no entry of the order can be read.
template <class Read, class Describe>
auto next_readable(const std::vector<int64_t>& order, int64_t position, const Read& read, const Describe& describe,
                   BadSamples& bad_samples) -> std::pair<int64_t, decltype(read(int64_t{}))> {
  const auto n = static_cast<int64_t>(order.size());
  for (int64_t k = 0; k < n; ++k) {
    const int64_t entry = order[static_cast<size_t>((position + k) % n)];
    if (auto image = read_or_skip([&] { return read(entry); }, [&] { return describe(entry); }, bad_samples)) return {entry, std::move(*image)};
  }
  throw Error("no sample of the training set can be read (see the log for each)");
}

// Image `index` of `dataset` through read_or_skip.
std::optional<cv::Mat> image_or_skip(const ImageDataset& dataset, int64_t index, BadSamples& bad_samples);

template <class Read, class Describe>
auto read_or_skip(const Read& read, const Describe& describe, BadSamples& bad_samples) -> std::optional<decltype(read())> {
  try {
    return read();
  } catch (const Error& e) {
    if (!bad_samples.skip()) throw;
    bad_samples.record(describe(), e.what());
    return std::nullopt;
  }
}

// "fail" or "skip" (--bad-samples) as a BadSamples policy; anything else is a UsageError.
std::shared_ptr<BadSamples> bad_samples_policy(const std::string& value);

// Writes a dataset as an image-folder tree DIR/<class>/<index>.png.
void write_image_folder(const ImageDataset& dataset, const std::string& dir);

}  // namespace zoo::data
