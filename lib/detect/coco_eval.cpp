#include "lib/detect/coco_eval.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <optional>
#include <utility>

namespace zoo::detect {

namespace {

constexpr int kMaxDetections = 100;                      // maxDets[-1]
const std::array<int, 3> kMaxDets{1, 10, 100};           // params.maxDets
// params.areaRng: all, small, medium, large (bounds inclusive, as COCOeval compares)
const std::array<std::pair<double, double>, 4> kAreaRanges{{{0.0, 1e10}, {0.0, 32.0 * 32.0}, {32.0 * 32.0, 96.0 * 96.0}, {96.0 * 96.0, 1e10}}};

// numpy.linspace(start, stop, num): arange(num) * step + start, the last set to stop exactly.
std::vector<double> linspace(double start, double stop, int num) {
  const double step = (stop - start) / (num - 1);
  std::vector<double> values(static_cast<size_t>(num));
  for (int i = 0; i < num; ++i) {
    volatile double scaled = static_cast<double>(i) * step;  // no fused multiply-add: numpy rounds twice
    values[static_cast<size_t>(i)] = scaled + start;
  }
  values.back() = stop;
  return values;
}

// evaluateImg's result for one image, category and area range.
struct ImageResult {
  std::vector<double> scores;           // the detections', best first (at most 100)
  std::vector<std::vector<char>> matched;  // [threshold][detection]: matched to a ground truth
  std::vector<std::vector<char>> ignored;  // [threshold][detection]: matched to an ignored one, or unmatched outside the range
  int64_t counted_truth = 0;            // ground truth not ignored
};

using Key = std::pair<int64_t, int64_t>;  // (image, category)

std::optional<ImageResult> evaluate_image(const std::vector<const GroundTruthBox*>& truth, const std::vector<const DetectionBox*>& detections,
                                          const std::vector<std::vector<double>>& ious, std::pair<double, double> range) {
  if (truth.empty() && detections.empty()) return std::nullopt;
  const auto& thresholds = coco_iou_thresholds();
  const size_t T = thresholds.size(), G = truth.size(), D = detections.size();
  // Ground truth that is a crowd or outside the range is ignored; the counted come first (a
  // stable sort, numpy's mergesort).
  std::vector<char> gt_ignore(G);
  for (size_t g = 0; g < G; ++g) gt_ignore[g] = truth[g]->crowd || truth[g]->area < range.first || truth[g]->area > range.second;
  std::vector<size_t> order(G);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return gt_ignore[a] < gt_ignore[b]; });

  ImageResult result;
  result.matched.assign(T, std::vector<char>(D, 0));
  result.ignored.assign(T, std::vector<char>(D, 0));
  for (size_t t = 0; t < T; ++t) {
    std::vector<char> truth_taken(G, 0);  // in sorted order
    for (size_t d = 0; d < D; ++d) {
      double best = std::min(thresholds[t], 1 - 1e-10);
      int64_t match = -1;  // position in the sorted order
      for (size_t s = 0; s < G; ++s) {
        const size_t g = order[s];
        // A ground truth already matched is taken, unless it is a crowd (it takes any number).
        if (truth_taken[s] && !truth[g]->crowd) continue;
        // Matched to a counted one already: the ignored ones, all after it, cannot replace it.
        if (match > -1 && !gt_ignore[order[static_cast<size_t>(match)]] && gt_ignore[g]) break;
        if (ious[d][g] < best) continue;
        best = ious[d][g];
        match = static_cast<int64_t>(s);
      }
      if (match == -1) continue;
      result.ignored[t][d] = gt_ignore[order[static_cast<size_t>(match)]];
      result.matched[t][d] = 1;
      truth_taken[static_cast<size_t>(match)] = 1;
    }
  }
  // An unmatched detection outside the area range is not held against the range.
  for (size_t d = 0; d < D; ++d) {
    const double area = detections[d]->box[2] * detections[d]->box[3];
    const bool outside = area < range.first || area > range.second;
    for (size_t t = 0; t < T; ++t) result.ignored[t][d] = result.ignored[t][d] || (!result.matched[t][d] && outside);
  }
  for (size_t d = 0; d < D; ++d) result.scores.push_back(detections[d]->score);
  result.counted_truth = std::count(gt_ignore.begin(), gt_ignore.end(), 0);
  return result;
}

double mean_defined(const std::vector<double>& values) {
  double sum = 0;
  int64_t count = 0;
  for (double v : values)
    if (v > -1) sum += v, ++count;
  return count == 0 ? -1.0 : sum / static_cast<double>(count);
}

}  // namespace

const std::vector<double>& coco_iou_thresholds() {
  static const std::vector<double> values = linspace(0.5, 0.95, 10);
  return values;
}

const std::vector<double>& coco_recall_thresholds() {
  static const std::vector<double> values = linspace(0.0, 1.0, 101);
  return values;
}

const std::array<const char*, 12>& coco_stat_keys() {
  static const std::array<const char*, 12> keys{"ap", "ap50", "ap75", "ap_small", "ap_medium", "ap_large",
                                                "ar1", "ar10", "ar100", "ar_small", "ar_medium", "ar_large"};
  return keys;
}

double coco_box_iou(const std::array<double, 4>& d, const std::array<double, 4>& g, bool crowd) {
  const double detection_area = d[2] * d[3], truth_area = g[2] * g[3];
  const double w = std::fmin(d[2] + d[0], g[2] + g[0]) - std::fmax(d[0], g[0]);
  if (w <= 0) return 0;
  const double h = std::fmin(d[3] + d[1], g[3] + g[1]) - std::fmax(d[1], g[1]);
  if (h <= 0) return 0;
  const double intersection = w * h;
  return intersection / (crowd ? detection_area : detection_area + truth_area - intersection);
}

std::array<double, 12> coco_evaluate(const std::vector<int64_t>& image_ids_in, const std::vector<int64_t>& category_ids_in,
                                     const std::vector<GroundTruthBox>& truth, const std::vector<DetectionBox>& detections) {
  // params.imgIds and catIds: sorted and unique.
  std::vector<int64_t> image_ids = image_ids_in, category_ids = category_ids_in;
  for (auto* ids : {&image_ids, &category_ids}) {
    std::sort(ids->begin(), ids->end());
    ids->erase(std::unique(ids->begin(), ids->end()), ids->end());
  }
  std::map<Key, std::vector<const GroundTruthBox*>> truth_of;
  std::map<Key, std::vector<const DetectionBox*>> detections_of;
  for (const auto& g : truth) truth_of[{g.image_id, g.category_id}].push_back(&g);
  for (const auto& d : detections) detections_of[{d.image_id, d.category_id}].push_back(&d);
  // Each pair's detections best first (stable: ties keep the file's order), the first 100.
  for (auto& [key, list] : detections_of) {
    std::stable_sort(list.begin(), list.end(), [](const DetectionBox* a, const DetectionBox* b) { return a->score > b->score; });
    if (list.size() > kMaxDetections) list.resize(kMaxDetections);
  }
  static const std::vector<const GroundTruthBox*> no_truth;
  static const std::vector<const DetectionBox*> no_detections;

  const auto& thresholds = coco_iou_thresholds();
  const auto& recall_points = coco_recall_thresholds();
  const size_t T = thresholds.size(), R = recall_points.size(), K = category_ids.size(), A = kAreaRanges.size(), M = kMaxDets.size();
  // precision[t][k][a][m][r] and recall[t][k][a][m], -1 where undefined.
  auto index = [&](size_t t, size_t k, size_t a, size_t m) { return ((t * K + k) * A + a) * M + m; };
  std::vector<double> precision(T * K * A * M * R, -1.0), recall(T * K * A * M, -1.0);

  for (size_t k = 0; k < K; ++k) {
    // computeIoU once per image and category: [detection][truth] in the truth's own order.
    std::vector<std::vector<std::vector<double>>> ious(image_ids.size());
    std::vector<const std::vector<const GroundTruthBox*>*> image_truth(image_ids.size());
    std::vector<const std::vector<const DetectionBox*>*> image_detections(image_ids.size());
    for (size_t i = 0; i < image_ids.size(); ++i) {
      const Key key{image_ids[i], category_ids[k]};
      auto gt = truth_of.find(key);
      auto dt = detections_of.find(key);
      image_truth[i] = gt == truth_of.end() ? &no_truth : &gt->second;
      image_detections[i] = dt == detections_of.end() ? &no_detections : &dt->second;
      auto& table = ious[i];
      table.assign(image_detections[i]->size(), std::vector<double>(image_truth[i]->size()));
      for (size_t d = 0; d < table.size(); ++d)
        for (size_t g = 0; g < image_truth[i]->size(); ++g)
          table[d][g] = coco_box_iou((*image_detections[i])[d]->box, (*image_truth[i])[g]->box, (*image_truth[i])[g]->crowd);
    }
    for (size_t a = 0; a < A; ++a) {
      std::vector<ImageResult> results;
      for (size_t i = 0; i < image_ids.size(); ++i)
        if (auto r = evaluate_image(*image_truth[i], *image_detections[i], ious[i], kAreaRanges[a])) results.push_back(std::move(*r));
      if (results.empty()) continue;
      int64_t counted_truth = 0;
      for (const auto& r : results) counted_truth += r.counted_truth;
      if (counted_truth == 0) continue;
      for (size_t m = 0; m < M; ++m) {
        // Every image's first maxDet detections, best first over all images (mergesort: ties
        // keep image order).
        struct Entry {
          double score;
          const ImageResult* image;
          size_t detection;
        };
        std::vector<Entry> entries;
        for (const auto& r : results)
          for (size_t d = 0; d < std::min<size_t>(r.scores.size(), static_cast<size_t>(kMaxDets[m])); ++d) entries.push_back({r.scores[d], &r, d});
        std::stable_sort(entries.begin(), entries.end(), [](const Entry& x, const Entry& y) { return x.score > y.score; });
        const size_t nd = entries.size();
        for (size_t t = 0; t < T; ++t) {
          // Cumulative true and false positives down the ranking; ignored detections count as neither.
          std::vector<double> rc(nd), pr(nd);
          double tp = 0, fp = 0;
          for (size_t j = 0; j < nd; ++j) {
            const bool matched = entries[j].image->matched[t][entries[j].detection];
            const bool ignored = entries[j].image->ignored[t][entries[j].detection];
            if (matched && !ignored) tp += 1;
            if (!matched && !ignored) fp += 1;
            rc[j] = tp / static_cast<double>(counted_truth);
            pr[j] = tp / (fp + tp + std::numeric_limits<double>::epsilon());  // np.spacing(1)
          }
          recall[index(t, k, a, m)] = nd ? rc.back() : 0.0;
          // The interpolated precision: at each rank the best precision at any deeper rank.
          for (size_t j = nd; j-- > 1;)
            if (pr[j] > pr[j - 1]) pr[j - 1] = pr[j];
          double* q = &precision[index(t, k, a, m) * R];
          for (size_t r = 0; r < R; ++r) {
            // numpy.searchsorted(rc, point, side="left"): the first rank reaching the recall point.
            const size_t at = static_cast<size_t>(std::lower_bound(rc.begin(), rc.end(), recall_points[r]) - rc.begin());
            q[r] = at < nd ? pr[at] : 0.0;
          }
        }
      }
    }
  }

  // summarize(): means over the defined entries.
  auto average_precision = [&](std::optional<size_t> only_threshold, size_t a, size_t m) {
    std::vector<double> values;
    for (size_t t = 0; t < T; ++t) {
      if (only_threshold && t != *only_threshold) continue;
      for (size_t k = 0; k < K; ++k)
        for (size_t r = 0; r < R; ++r) values.push_back(precision[index(t, k, a, m) * R + r]);
    }
    return mean_defined(values);
  };
  auto average_recall = [&](size_t a, size_t m) {
    std::vector<double> values;
    for (size_t t = 0; t < T; ++t)
      for (size_t k = 0; k < K; ++k) values.push_back(recall[index(t, k, a, m)]);
    return mean_defined(values);
  };
  const size_t all = 0, small = 1, medium = 2, large = 3, at100 = 2;
  return {average_precision(std::nullopt, all, at100), average_precision(0, all, at100), average_precision(5, all, at100),
          average_precision(std::nullopt, small, at100), average_precision(std::nullopt, medium, at100), average_precision(std::nullopt, large, at100),
          average_recall(all, 0), average_recall(all, 1), average_recall(all, at100),
          average_recall(small, at100), average_recall(medium, at100), average_recall(large, at100)};
}

}  // namespace zoo::detect
