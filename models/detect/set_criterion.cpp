#include "models/detect/set_criterion.h"

#include "lib/core/error.h"
#include "lib/detect/assignment.h"
#include "lib/detect/boxes.h"

namespace zoo::models {

std::vector<Matching> match_predictions(const torch::Tensor& logits, const torch::Tensor& boxes, const DetectionTargets& targets,
                                        const DetrLossConfig& config) {
  torch::NoGradGuard no_grad;
  const int64_t B = logits.size(0), N = logits.size(1);
  std::vector<Matching> out(static_cast<size_t>(B));
  const int64_t M = targets.boxes.size(0);
  if (M == 0) return out;
  // The whole batch at once, every prediction against every object, then each image's block:
  // (B N, M), as DETR's matcher.
  auto probabilities = logits.flatten(0, 1).to(torch::kFloat32).softmax(-1);  // (B N, C + 1)
  auto predicted = boxes.flatten(0, 1).to(torch::kFloat32);                    // (B N, 4)
  // -p(c_j): the more probable the object's class, the cheaper
  auto cost_class = -probabilities.index_select(1, targets.labels);
  // |b_i - b_j|_1 between (cx, cy, w, h) boxes
  auto cost_bbox = torch::cdist(predicted, targets.boxes, 1);
  // -GIoU(b_i, b_j) in corner form
  auto cost_giou = -detect::generalized_box_iou(detect::cxcywh_to_xyxy(predicted), detect::cxcywh_to_xyxy(targets.boxes));
  auto cost = (config.set_cost_bbox * cost_bbox + config.set_cost_class * cost_class + config.set_cost_giou * cost_giou)
                  .to(torch::kCPU, torch::kFloat64)
                  .contiguous();
  const double* all = cost.data_ptr<double>();
  int64_t first = 0;
  for (int64_t b = 0; b < B; ++b) {
    const int64_t m = targets.counts[static_cast<size_t>(b)];
    if (m > 0) {
      std::vector<double> block(static_cast<size_t>(N * m));  // this image's (N, m) block
      for (int64_t i = 0; i < N; ++i)
        for (int64_t j = 0; j < m; ++j) block[static_cast<size_t>(i * m + j)] = all[(b * N + i) * M + first + j];
      const auto column = detect::solve_assignment(block, N, m);
      for (int64_t i = 0; i < N; ++i)
        if (column[static_cast<size_t>(i)] >= 0) out[static_cast<size_t>(b)].queries.push_back(i), out[static_cast<size_t>(b)].targets.push_back(column[static_cast<size_t>(i)]);
    }
    first += m;
  }
  return out;
}

SetLoss set_loss(const torch::Tensor& logits, const torch::Tensor& boxes, const DetectionTargets& targets, const DetrLossConfig& config,
                 const std::vector<Matching>& matching, int64_t num_classes) {
  const int64_t B = logits.size(0), N = logits.size(1);
  // Which prediction (b, q) takes which object (its row in targets): the matched pairs.
  std::vector<int64_t> batch_index, query_index, target_index;
  int64_t first = 0;
  for (int64_t b = 0; b < B; ++b) {
    const auto& m = matching[static_cast<size_t>(b)];
    for (size_t k = 0; k < m.queries.size(); ++k)
      batch_index.push_back(b), query_index.push_back(m.queries[k]), target_index.push_back(first + m.targets[k]);
    first += targets.counts[static_cast<size_t>(b)];
  }
  const auto device = logits.device();
  auto as_index = [&](const std::vector<int64_t>& v) { return torch::tensor(v, torch::kInt64).to(device); };
  auto b_idx = as_index(batch_index), q_idx = as_index(query_index), t_idx = as_index(target_index);

  SetLoss out;
  // Cross-entropy over every prediction: its matched object's class, or "no object" (label
  // num_classes), which is down-weighted by eos_coef since most queries find nothing.
  auto target_classes = torch::full({B, N}, num_classes, torch::TensorOptions().dtype(torch::kInt64).device(device));
  if (!batch_index.empty()) target_classes.index_put_({b_idx, q_idx}, targets.labels.index_select(0, t_idx));
  auto class_weight = torch::ones({num_classes + 1}, logits.options().dtype(torch::kFloat32));
  class_weight[num_classes] = config.eos_coef;
  out.ce = torch::nn::functional::cross_entropy(logits.to(torch::kFloat32).transpose(1, 2), target_classes,
                                                torch::nn::functional::CrossEntropyFuncOptions().weight(class_weight));
  // The box terms on matched pairs, normalised by the number of objects (at least 1).
  const double num_boxes = std::max<double>(1.0, static_cast<double>(targets.boxes.size(0)));
  if (batch_index.empty()) {
    out.l1 = out.giou = boxes.sum() * 0.0;  // keeps the graph, and the gradient zero
  } else {
    auto predicted = boxes.index({b_idx, q_idx}).to(torch::kFloat32);  // (K, 4)
    auto wanted = targets.boxes.index_select(0, t_idx);
    out.l1 = (predicted - wanted).abs().sum() / num_boxes;
    out.giou = (1 - detect::paired_generalized_box_iou(detect::cxcywh_to_xyxy(predicted), detect::cxcywh_to_xyxy(wanted))).sum() / num_boxes;
  }
  out.total = out.ce + config.bbox_loss_coef * out.l1 + config.giou_loss_coef * out.giou;
  return out;
}

torch::Tensor detr_loss(const DetrOutput& output, const DetectionTargets& targets, const DetrLossConfig& config, int64_t num_classes,
                        SetLoss* last) {
  const int64_t L = output.logits.size(0);
  torch::Tensor total;
  for (int64_t l = 0; l < L; ++l) {
    // Every layer is matched on its own predictions (DETR's auxiliary decoding losses).
    const auto logits = output.logits[l], boxes = output.boxes[l];
    const auto matching = match_predictions(logits, boxes, targets, config);
    auto loss = set_loss(logits, boxes, targets, config, matching, num_classes);
    total = total.defined() ? total + loss.total : loss.total;
    if (last && l == L - 1) *last = loss;
  }
  return total;
}

}  // namespace zoo::models
