// The detection data files zoo reads, parsed without LibTorch or OpenCV (so a fuzzer can drive
// them): COCO instances JSON (instances_*.json) and COCO results files of boxes. Every error
// names the file and the entry at fault.
#pragma once
#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "lib/detect/coco_eval.h"

namespace zoo::data {

struct DetectionCategory {
  int64_t id = 0;  // COCO's category id (with gaps: 1..90 for COCO's 80)
  std::string name;
};

struct DetectionObject {
  int64_t id = 0;           // the annotation's id
  int64_t category_id = 0;  // COCO's id, not the model's label
  std::array<double, 4> box{};  // x, y, width, height in the image's pixels
  double area = 0;          // the annotation's `area` (COCO: the segment's); width x height when absent
  bool crowd = false;       // iscrowd: kept out of training, a region to ignore in evaluation
};

struct DetectionImage {
  int64_t image_id = 0;
  std::string file;            // empty for synth:boxes
  int64_t width = 0, height = 0;  // 0 when the file does not say
  std::vector<DetectionObject> objects;
};

struct CocoInstances {
  std::vector<DetectionCategory> categories;  // in the file's order
  std::vector<DetectionImage> images;         // in the file's order, every one (with objects or not)
  std::vector<std::string> skipped;           // one line per annotation left out (skip_bad)
};

// instances_*.json, images under `image_dir`. A bad annotation — a box reaching more than a pixel
// outside its image, a box of zero or negative width or height, a non-finite number, an unknown
// category, an image id that "images" does not list — is an Error naming the file, the entry and
// what is wrong, or with skip_bad left out and described in `skipped`. Boxes within a pixel of
// the image are clipped to it, as DETR's loader does. Errors besides: not an instances file, a
// missing or mistyped key, an image or category id twice.
CocoInstances read_coco_instances(const std::string& path, const std::filesystem::path& image_dir, bool skip_bad);

// A COCO results file of boxes, [{"image_id", "category_id", "bbox": [x, y, w, h], "score"}]:
// its detections in the file's order, boxes as given. Error naming the file and entry for bad
// JSON, a missing or mistyped key, a bbox that is not four numbers.
std::vector<detect::DetectionBox> read_detection_results(const std::string& path);

}  // namespace zoo::data
