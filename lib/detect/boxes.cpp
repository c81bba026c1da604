#include "lib/detect/boxes.h"

namespace zoo::detect {

torch::Tensor cxcywh_to_xyxy(const torch::Tensor& boxes) {
  auto parts = boxes.unbind(-1);  // cx, cy, w, h
  return torch::stack({parts[0] - 0.5 * parts[2], parts[1] - 0.5 * parts[3], parts[0] + 0.5 * parts[2], parts[1] + 0.5 * parts[3]}, -1);
}

torch::Tensor xyxy_to_cxcywh(const torch::Tensor& boxes) {
  auto parts = boxes.unbind(-1);  // x0, y0, x1, y1
  return torch::stack({(parts[0] + parts[2]) / 2, (parts[1] + parts[3]) / 2, parts[2] - parts[0], parts[3] - parts[1]}, -1);
}

torch::Tensor xywh_to_xyxy(const torch::Tensor& boxes) {
  auto parts = boxes.unbind(-1);  // x, y, w, h
  return torch::stack({parts[0], parts[1], parts[0] + parts[2], parts[1] + parts[3]}, -1);
}

torch::Tensor xyxy_to_xywh(const torch::Tensor& boxes) {
  auto parts = boxes.unbind(-1);
  return torch::stack({parts[0], parts[1], parts[2] - parts[0], parts[3] - parts[1]}, -1);
}

torch::Tensor box_area(const torch::Tensor& xyxy) {
  auto parts = xyxy.unbind(-1);
  return (parts[2] - parts[0]) * (parts[3] - parts[1]);
}

std::pair<torch::Tensor, torch::Tensor> box_iou(const torch::Tensor& a, const torch::Tensor& b) {
  auto area_a = box_area(a), area_b = box_area(b);  // (N), (M)
  // The intersection's corners: the larger top-left, the smaller bottom-right: (N, M, 2) each.
  auto top_left = torch::max(a.unsqueeze(1).narrow(-1, 0, 2), b.unsqueeze(0).narrow(-1, 0, 2));
  auto bottom_right = torch::min(a.unsqueeze(1).narrow(-1, 2, 2), b.unsqueeze(0).narrow(-1, 2, 2));
  auto size = (bottom_right - top_left).clamp_min(0);
  auto intersection = size.select(-1, 0) * size.select(-1, 1);     // (N, M)
  auto union_area = area_a.unsqueeze(1) + area_b.unsqueeze(0) - intersection;
  return {intersection / union_area, union_area};
}

torch::Tensor generalized_box_iou(const torch::Tensor& a, const torch::Tensor& b) {
  auto [iou, union_area] = box_iou(a, b);  // (N, M)
  // C: the smallest box enclosing both, (N, M, 2) corners.
  auto top_left = torch::min(a.unsqueeze(1).narrow(-1, 0, 2), b.unsqueeze(0).narrow(-1, 0, 2));
  auto bottom_right = torch::max(a.unsqueeze(1).narrow(-1, 2, 2), b.unsqueeze(0).narrow(-1, 2, 2));
  auto size = (bottom_right - top_left).clamp_min(0);
  auto enclosing = size.select(-1, 0) * size.select(-1, 1);
  // GIoU = IoU - (|C| - |A u B|) / |C|
  return iou - (enclosing - union_area) / enclosing;
}

torch::Tensor paired_generalized_box_iou(const torch::Tensor& a, const torch::Tensor& b) {
  auto area_a = box_area(a), area_b = box_area(b);  // (N)
  auto inner = (torch::min(a.narrow(-1, 2, 2), b.narrow(-1, 2, 2)) - torch::max(a.narrow(-1, 0, 2), b.narrow(-1, 0, 2))).clamp_min(0);
  auto intersection = inner.select(-1, 0) * inner.select(-1, 1);
  auto union_area = area_a + area_b - intersection;
  auto outer = (torch::max(a.narrow(-1, 2, 2), b.narrow(-1, 2, 2)) - torch::min(a.narrow(-1, 0, 2), b.narrow(-1, 0, 2))).clamp_min(0);
  auto enclosing = outer.select(-1, 0) * outer.select(-1, 1);
  return intersection / union_area - (enclosing - union_area) / enclosing;
}

}  // namespace zoo::detect
