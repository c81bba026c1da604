// DETR's set loss (models/matcher.py and SetCriterion in models/detr.py). Each image's N
// predictions are matched one-to-one to its M <= N objects by the assignment of least cost
//   C(i, j) = -w_class p_i(c_j) + w_L1 |b_i - b_j|_1 - w_GIoU GIoU(b_i, b_j)
// (lib/detect/assignment.h); the loss is then the cross-entropy of every prediction against its
// matched class or "no object" (weighted eos_coef), plus, on the matched pairs only,
// w_L1 |b_i - b_j|_1 + w_GIoU (1 - GIoU(b_i, b_j)) summed and divided by the number of objects.
// With auxiliary losses, the same on every decoder layer's output, each matched on its own.
#pragma once
#include <torch/torch.h>

#include <vector>

#include "models/detect/detr.h"

namespace zoo::models {

// A batch's ground truth: every image's boxes ((cx, cy, w, h) in [0, 1]) and labels
// concatenated, and how many belong to each image.
struct DetectionTargets {
  torch::Tensor boxes;   // (M, 4)
  torch::Tensor labels;  // (M) int64
  std::vector<int64_t> counts;  // per image, summing to M
};

// One image's matching: prediction queries[k] takes object targets[k] (an index within the
// image's objects), sorted by query.
struct Matching {
  std::vector<int64_t> queries, targets;
};

// The least-cost matching of each image's predictions (logits (B, N, C+1), boxes (B, N, 4)) to
// its objects. No gradient flows through it.
std::vector<Matching> match_predictions(const torch::Tensor& logits, const torch::Tensor& boxes, const DetectionTargets& targets,
                                        const DetrLossConfig& config);

// The terms of the loss of one decoder layer's output, and their weighted sum.
struct SetLoss {
  torch::Tensor total;            // ce + bbox_loss_coef * l1 + giou_loss_coef * giou
  torch::Tensor ce, l1, giou;     // each a scalar
};
SetLoss set_loss(const torch::Tensor& logits, const torch::Tensor& boxes, const DetectionTargets& targets, const DetrLossConfig& config,
                 const std::vector<Matching>& matching, int64_t num_classes);

// The whole loss of a forward pass: set_loss on the last layer and (its output holding more) on
// every earlier one, summed. last, when given, receives the last layer's terms.
torch::Tensor detr_loss(const DetrOutput& output, const DetectionTargets& targets, const DetrLossConfig& config, int64_t num_classes,
                        SetLoss* last = nullptr);

}  // namespace zoo::models
