// Attention heat maps as images: a matrix of weights in [0, 1] with a label per row and column
// (UTF-8, drawn with FreeType) and a colour bar, as in Bahdanau et al.'s figure 3.
#pragma once
#include <opencv2/core.hpp>
#include <torch/torch.h>

#include <string>
#include <vector>

namespace zoo::viz {

// weights (rows, cols) float in [0, 1]; row labels down the left, column labels across the top
// (reading upwards), a viridis colour bar on the right with ticks 0, 0.5 and 1. BGR image.
cv::Mat heatmap(const torch::Tensor& weights, const std::vector<std::string>& row_labels,
                const std::vector<std::string>& column_labels, const std::string& title = "");

// Writes an image as PNG atomically (temp file + rename); error naming the path.
void write_png(const cv::Mat& image, const std::string& path);

}  // namespace zoo::viz
