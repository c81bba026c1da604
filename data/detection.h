// Images with object boxes for the detect task: COCO instances (as DETR's CocoDetection reads
// them), the built-in synth:boxes, and DETR's augmentation with the boxes carried along
// (horizontal flip, multi-scale resize with a longest-side cap, a random crop that clips and drops
// boxes); the collation into a padded batch with its padding mask.
#pragma once
#include <torch/torch.h>

#include <opencv2/core.hpp>

#include <array>
#include <string>
#include <vector>

#include "data/detection_files.h"
#include "lib/core/random.h"

namespace zoo::data {

class DetectionSet {
 public:
  std::string source;  // what it was read from, for messages: a file, or synth:boxes
  std::vector<DetectionCategory> categories;  // sorted by id: the model's label k is categories[k]
  std::vector<DetectionImage> images;
  std::vector<std::string> skipped;  // annotations left out (--bad-samples skip), one line each
  int64_t size() const { return static_cast<int64_t>(images.size()); }
  // Image `index` as RGB uint8: read from its file (Error naming it) or rendered.
  cv::Mat image(int64_t index) const;
  std::string describe(int64_t index) const;  // its file, or synth:boxes#i
  int64_t object_count() const;

  // synth:boxes' renderer, when the set is synthetic.
  int synth_image_size = 0;
  uint64_t synth_seed = 0;
};

// Reads split `split` (train, val or test) of a COCO root PATH/annotations/instances_<split>2017.json
// (or 2014) with images in PATH/<split>2017/, or of an instances JSON file (images beside it or in
// ../<split>2017/). A split without its own file is held out of train (held_out_indices; test
// falls back to val). Every image file must exist (the first missing one is named). Bad
// annotations: read_coco_instances' Error, or left out and listed in `skipped` with skip_bad.
DetectionSet load_detection_split(const std::string& path, const std::string& split, double val_fraction, bool skip_bad);

// synth:boxes: 1-4 shapes (synth:shapes' six, as categories 1, 3, 5, 7, 9, 11: ids with gaps, as
// COCO's) of random colour and of radii from 8% to 40% of the image side (log-uniform), on a
// noisy background; shapes may overlap, each staying at least 60% visible. Boxes are the tight
// boxes of each whole shape, areas its visible pixels (as COCO's areas are its segments'), so
// occluded shapes count by what shows. Image i is a pure function of (seed, i). Splits as
// synth:shapes': `n` training images, val and test a quarter (at least 64).
DetectionSet synth_boxes_split(int64_t n, int image_size, uint64_t seed, const std::string& split);

// Writes `set` as a COCO root: ROOT/<split>2017/<id>.png and ROOT/annotations/instances_<split>2017.json.
void write_coco_instances(const DetectionSet& set, const std::string& root, const std::string& split);

// An image with its objects' boxes, (x0, y0, x1, y1) in its pixels, and their labels.
struct BoxedImage {
  cv::Mat image;  // RGB uint8
  std::vector<std::array<double, 4>> boxes;
  std::vector<int64_t> labels;
};

// DETR's transforms (datasets/transforms.py), the boxes carried along:
// mirror left-right: x0' = W - x1, x1' = W - x0.
BoxedImage flip_boxed(const BoxedImage& in);
// RandomResize's size rule: the shorter side becomes `size` unless the longer would then exceed
// max_size (0: no cap), in which case the longer side becomes max_size; the boxes scale with it.
BoxedImage resize_boxed(const BoxedImage& in, int size, int max_size);
// The window (top, left, height, width): boxes are shifted, clipped to it, and those left with
// no width or height dropped.
BoxedImage crop_boxed(const BoxedImage& in, int top, int left, int height, int width);
// RandomSizeCrop(min, max): a window of random width in [min, min(W, max)] and height in
// [min, min(H, max)] at a random place.
BoxedImage random_size_crop(const BoxedImage& in, int min_size, int max_size, Rng& rng);

// What the augmentation does at an image size (DETR's values at 800: training sizes 480..800 in
// steps of 32, the crop branch resizing to 400/500/600 and cropping 384..600; all scaled by
// size / 800).
struct DetectionAugment {
  int size = 800, max_size = 1333;
  bool flip = true, multi_scale = true, crop = true;
  // In training: flip with p = 0.5, then either a multi-scale resize or (p = 0.5, with crop)
  // resize, random crop, multi-scale resize. Without multi_scale every resize is to `size`.
  BoxedImage train(const BoxedImage& in, Rng& rng) const;
  // In evaluation and prediction: resize to `size` (capped at max_size).
  BoxedImage eval(const BoxedImage& in) const { return resize_boxed(in, size, max_size); }
  std::vector<int> train_sizes() const;
};

// One image's part of a detection batch: the normalised image (3, h, w), its objects' boxes as
// (cx, cy, w, h) / (w, h) of the image (DETR's targets, in [0, 1]) and labels.
struct DetectionSample {
  torch::Tensor image;   // (3, h, w) float
  torch::Tensor boxes;   // (n, 4) float
  torch::Tensor labels;  // (n) int64
};
DetectionSample to_detection_sample(const BoxedImage& boxed, const std::vector<double>& mean, const std::vector<double>& std);

// DETR's NestedTensor as tensors: images zero-padded at the right and bottom to the largest in
// the batch (B, 3, H, W); mask (B, H, W) true on padding; every image's boxes and labels
// concatenated ((N, 4), (N)); counts (B) how many belong to each image, in order.
std::vector<torch::Tensor> collate_detection(const std::vector<DetectionSample>& samples);

}  // namespace zoo::data
