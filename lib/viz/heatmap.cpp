#include "lib/viz/heatmap.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "lib/core/checkpoint.h"
#include "lib/core/error.h"
#include "lib/viz/text.h"

namespace zoo::viz {

namespace {

constexpr int kCell = 26, kPad = 8, kBarWidth = 16;

// viridis for a weight in [0, 1], BGR.
cv::Vec3b colour_of(double weight) {
  cv::Mat one(1, 1, CV_8UC1, cv::Scalar(cv::saturate_cast<uint8_t>(weight * 255.0)));
  cv::Mat out;
  cv::applyColorMap(one, out, cv::COLORMAP_VIRIDIS);
  return out.at<cv::Vec3b>(0, 0);
}

}  // namespace

cv::Mat heatmap(const torch::Tensor& weights, const std::vector<std::string>& row_labels, const std::vector<std::string>& column_labels,
                const std::string& title) {
  auto w = weights.detach().to(torch::kCPU, torch::kFloat64).contiguous();
  const int rows = static_cast<int>(w.size(0)), cols = static_cast<int>(w.size(1));
  if (rows != static_cast<int>(row_labels.size()) || cols != static_cast<int>(column_labels.size()))
    throw Error("heat map: " + std::to_string(rows) + "x" + std::to_string(cols) + " weights but " + std::to_string(row_labels.size()) +
                " row and " + std::to_string(column_labels.size()) + " column labels");
  TextRenderer font(14);
  int row_label_width = 0, column_label_height = 0;
  for (const auto& l : row_labels) row_label_width = std::max(row_label_width, font.measure(l).width);
  for (const auto& l : column_labels) column_label_height = std::max(column_label_height, font.measure(l).width);
  const int title_height = title.empty() ? 0 : font.line_height() + kPad;
  const int left = kPad + row_label_width + kPad, top = kPad + title_height + column_label_height + kPad;
  const int bar_left = left + cols * kCell + 2 * kPad;
  const int title_width = title.empty() ? 0 : kPad + font.measure(title).width + kPad;
  const int width = std::max(bar_left + kBarWidth + kPad + font.measure("0.5").width + kPad, title_width);
  const int height = std::max(top + rows * kCell + kPad, top + 3 * kCell);
  cv::Mat image(height, width, CV_8UC3, cv::Scalar(255, 255, 255));
  const cv::Scalar ink(0, 0, 0);

  if (!title.empty()) font.draw(image, title, {kPad, kPad}, ink);
  const auto* data = w.data_ptr<double>();
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) {
      const cv::Vec3b colour = colour_of(std::clamp(data[r * cols + c], 0.0, 1.0));
      cv::rectangle(image, cv::Rect(left + c * kCell, top + r * kCell, kCell, kCell), cv::Scalar(colour[0], colour[1], colour[2]), cv::FILLED);
    }
  // Labels: targets right-aligned against the matrix, sources upright-reading upwards above it.
  for (int r = 0; r < rows; ++r) {
    const cv::Size size = font.measure(row_labels[r]);
    font.draw(image, row_labels[r], {left - kPad - size.width, top + r * kCell + (kCell - size.height) / 2}, ink);
  }
  for (int c = 0; c < cols; ++c) {
    const cv::Size size = font.measure(column_labels[c]);
    font.draw(image, column_labels[c], {left + c * kCell + (kCell - size.height) / 2, top - kPad - size.width}, ink, /*vertical=*/true);
  }
  // Colour bar: 1 at the top, 0 at the bottom, beside the matrix.
  const int bar_top = top, bar_height = std::max(3 * kCell, rows * kCell);
  for (int y = 0; y < bar_height; ++y) {
    const cv::Vec3b colour = colour_of(1.0 - static_cast<double>(y) / (bar_height - 1));
    cv::line(image, {bar_left, bar_top + y}, {bar_left + kBarWidth - 1, bar_top + y}, cv::Scalar(colour[0], colour[1], colour[2]));
  }
  cv::rectangle(image, cv::Rect(bar_left, bar_top, kBarWidth, bar_height), ink);
  for (const auto& [value, text] : {std::pair{1.0, "1"}, {0.5, "0.5"}, {0.0, "0"}}) {
    const int y = bar_top + static_cast<int>((1.0 - value) * (bar_height - 1));
    cv::line(image, {bar_left + kBarWidth, y}, {bar_left + kBarWidth + 3, y}, ink);
    font.draw(image, text, {bar_left + kBarWidth + 5, std::clamp(y - font.line_height() / 2, 0, height - font.line_height())}, ink);
  }
  return image;
}

void write_png(const cv::Mat& image, const std::string& path) {
  std::vector<uint8_t> bytes;
  if (!cv::imencode(".png", image, bytes)) throw Error("cannot encode PNG for " + path);
  write_file_atomic(path, std::string(bytes.begin(), bytes.end()));
}

}  // namespace zoo::viz
