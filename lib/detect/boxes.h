// Boxes for detection, as DETR's util/box_ops.py computes them: the conversions between centre
// form (cx, cy, w, h), in which DETR predicts, and corner form (x0, y0, x1, y1); the area; IoU;
// and the generalized IoU of Rezatofighi et al. 2019, which the set loss and the matcher use.
// Every function works over the last dimension of any (..., 4) tensor.
#pragma once
#include <torch/torch.h>

#include <utility>

namespace zoo::detect {

// (cx, cy, w, h) -> (cx - w/2, cy - h/2, cx + w/2, cy + h/2)
torch::Tensor cxcywh_to_xyxy(const torch::Tensor& boxes);
// (x0, y0, x1, y1) -> ((x0 + x1)/2, (y0 + y1)/2, x1 - x0, y1 - y0)
torch::Tensor xyxy_to_cxcywh(const torch::Tensor& boxes);
// COCO's (x, y, w, h) -> (x, y, x + w, y + h), and back.
torch::Tensor xywh_to_xyxy(const torch::Tensor& boxes);
torch::Tensor xyxy_to_xywh(const torch::Tensor& boxes);
// (x1 - x0) (y1 - y0) of corner-form boxes: (...).
torch::Tensor box_area(const torch::Tensor& xyxy);

// IoU and union area of every pair of a (N, 4) and b (M, 4), corner form: (N, M) each.
std::pair<torch::Tensor, torch::Tensor> box_iou(const torch::Tensor& a, const torch::Tensor& b);
// GIoU(A, B) = IoU(A, B) - (|C| - |A u B|) / |C|, C the smallest box holding A and B; in
// [-1, 1], and unlike IoU it still has a gradient when the boxes do not overlap. Every pair of
// a (N, 4) and b (M, 4), corner form: (N, M).
torch::Tensor generalized_box_iou(const torch::Tensor& a, const torch::Tensor& b);
// The same for matched pairs, a[i] with b[i]: (N, 4), (N, 4) -> (N); the diagonal of the above
// without the N x N matrix.
torch::Tensor paired_generalized_box_iou(const torch::Tensor& a, const torch::Tensor& b);

}  // namespace zoo::detect
