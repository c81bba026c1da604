// Detections drawn over an image: each box outlined in its own colour with its label (class and
// score) on a filled tag at its top-left corner, as detection demos draw them.
#pragma once
#include <opencv2/core.hpp>

#include <string>
#include <vector>

namespace zoo::viz {

struct LabelledBox {
  cv::Rect2d box;     // in the image's pixels
  std::string label;  // "dog 0.93"
};

// The i-th of a palette of distinguishable colours (RGB).
cv::Scalar box_colour(size_t i);

// A copy of `rgb` (RGB uint8) with the boxes drawn, box i in box_colour(i). RGB.
cv::Mat draw_boxes(const cv::Mat& rgb, const std::vector<LabelledBox>& boxes);

}  // namespace zoo::viz
