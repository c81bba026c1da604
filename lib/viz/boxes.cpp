#include "lib/viz/boxes.h"

#include <opencv2/imgproc.hpp>

#include <algorithm>

#include "lib/core/error.h"
#include "lib/viz/text.h"

namespace zoo::viz {

cv::Scalar box_colour(size_t i) {
  // Tableau's ten, RGB.
  static const cv::Scalar palette[] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44}, {214, 39, 40}, {148, 103, 189},
                                       {140, 86, 75},  {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207}};
  return palette[i % 10];
}

cv::Mat draw_boxes(const cv::Mat& rgb, const std::vector<LabelledBox>& boxes) {
  if (rgb.empty() || rgb.type() != CV_8UC3) throw Error("draw_boxes: expected an RGB uint8 image");
  cv::Mat out = rgb.clone();
  const int thickness = std::max(1, std::min(out.cols, out.rows) / 200);
  TextRenderer font(std::max(11, std::min(out.cols, out.rows) / 40));
  for (size_t i = 0; i < boxes.size(); ++i) {
    const auto& b = boxes[i].box;
    const cv::Point top_left(static_cast<int>(std::lround(b.x)), static_cast<int>(std::lround(b.y)));
    const cv::Point bottom_right(static_cast<int>(std::lround(b.x + b.width)), static_cast<int>(std::lround(b.y + b.height)));
    cv::rectangle(out, top_left, bottom_right, box_colour(i), thickness);
    if (boxes[i].label.empty()) continue;
    // The label on a tag of the box's colour, above the box where there is room, else inside it.
    const cv::Size size = font.measure(boxes[i].label);
    const int tag_top = top_left.y - size.height - 2 >= 0 ? top_left.y - size.height - 2 : top_left.y;
    const cv::Rect tag = cv::Rect(top_left.x, tag_top, size.width + 4, size.height + 2) & cv::Rect(0, 0, out.cols, out.rows);
    if (tag.area() > 0) out(tag).setTo(box_colour(i));
    font.draw(out, boxes[i].label, {top_left.x + 2, tag_top + 1}, cv::Scalar(255, 255, 255));
  }
  return out;
}

}  // namespace zoo::viz
