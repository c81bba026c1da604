// COCO box AP and AR exactly as pycocotools' COCOeval (iouType "bbox") computes them: IoU
// thresholds 0.50:0.05:0.95, 101 recall points with the interpolated (monotone) precision,
// at most 1, 10 and 100 detections per image and category, area ranges all / small (< 32^2) /
// medium / large (> 96^2) read from each annotation's `area`, crowd regions that a detection
// may match without counting (IoU over the detection's own area) and ground truth outside the
// range ignored. The twelve numbers of COCOeval.summarize(), in its order; -1 where no ground
// truth defines one (no large objects), as COCOeval prints. Without LibTorch: the fuzzer and the
// CLI's `eval --detections` use it directly.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace zoo::detect {

struct GroundTruthBox {
  int64_t image_id = 0, category_id = 0;
  std::array<double, 4> box{};  // x, y, width, height in pixels
  double area = 0;              // the annotation's area (COCO: the segment's), which sets its size range
  bool crowd = false;
};

struct DetectionBox {
  int64_t image_id = 0, category_id = 0;
  std::array<double, 4> box{};  // x, y, width, height in pixels, scored as given
  double score = 0;
};

// COCOeval's parameters: iouThrs and recThrs as numpy.linspace makes them (bit for bit).
const std::vector<double>& coco_iou_thresholds();     // 0.5, 0.55, ..., 0.95 (10)
const std::vector<double>& coco_recall_thresholds();  // 0, 0.01, ..., 1 (101)

// The keys of the twelve summary numbers, in COCOeval.stats' order:
// ap ap50 ap75 ap_small ap_medium ap_large ar1 ar10 ar100 ar_small ar_medium ar_large.
const std::array<const char*, 12>& coco_stat_keys();

// IoU of a detection with a ground-truth box as pycocotools' bbIou: intersection over union, or
// over the detection's area for a crowd region; 0 without overlap.
double coco_box_iou(const std::array<double, 4>& detection, const std::array<double, 4>& truth, bool crowd);

// The evaluation over `image_ids` and `category_ids` (the ground truth's: COCOeval's
// params.imgIds and catIds). Detections of other images or categories are not counted (the
// results reader refuses other images, as pycocotools' loadRes does).
std::array<double, 12> coco_evaluate(const std::vector<int64_t>& image_ids, const std::vector<int64_t>& category_ids,
                                     const std::vector<GroundTruthBox>& truth, const std::vector<DetectionBox>& detections);

}  // namespace zoo::detect
