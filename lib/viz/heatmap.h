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

// Attention maps of every layer and head (as GPT's masked self-attention): maps[l] (heads, T, T)
// with weights in [0, 1] as a grid, layers down and heads across, each tile labelled, the tokens
// along the first tile's rows (queries) and above each column (keys) when the cells are large
// enough to read, and a viridis colour bar. BGR image.
cv::Mat attention_grid(const std::vector<torch::Tensor>& maps, const std::vector<std::string>& tokens, const std::string& title = "");
// The same for maps[l] (heads, rows, cols) whose queries and keys are different sequences (a
// translator's cross-attention: target tokens down, source tokens across).
cv::Mat attention_grid(const std::vector<torch::Tensor>& maps, const std::vector<std::string>& row_tokens,
                       const std::vector<std::string>& column_tokens, const std::string& title = "");

// Attention over an image (a ViT's class token, a Swin window, a CNN's attended positions):
// for each map (h, w) of non-negative weights, the image (RGB uint8, the model's input) with the
// map resized bilinearly to it, divided by the map's maximum and blended over it in viridis;
// tiles in rows of `columns`, each under its label (which should say the maximum), a marker
// (a query position, in image pixels) drawn on every tile when given, and a colour bar from 0 to
// each tile's maximum. Small images are enlarged (nearest neighbour) to tiles of at least 160
// pixels; an undefined map leaves its tile blank. With `boxes` (one per map, image pixels), each
// tile also outlines its own box (a detected object over its query's attention). With `frames`
// (one RGB image per map, each of rgb's size: a clip's frames), tile i is drawn over frames[i];
// with shared_scale every map is divided by the largest of them all, so tiles compare (attention
// spread over a clip's frames). BGR image.
cv::Mat image_attention_grid(const cv::Mat& rgb, const std::vector<torch::Tensor>& maps, const std::vector<std::string>& labels,
                             int columns, const std::string& title = "", const cv::Point* marker = nullptr,
                             const std::vector<cv::Rect2d>* boxes = nullptr, const std::vector<cv::Mat>* frames = nullptr,
                             bool shared_scale = false);

// Activations over a text (Karpathy et al. 2015, "Visualizing and Understanding Recurrent
// Networks"): for each row of values (units, T) in [-1, 1], the tokens drawn in reading order on
// backgrounds from blue (-1) through white (0) to red (+1), under the row's name. A "\n" token
// breaks the line (drawn as a return arrow); long lines wrap. BGR image.
cv::Mat activation_text(const std::vector<std::string>& tokens, const torch::Tensor& values, const std::vector<std::string>& names,
                        const std::string& title = "");

// CTC's view of a text line (as in Graves et al. 2006's figure 1): the line image (RGB uint8)
// stretched over T columns, and under it p(label | column) for the labels shown, probs (labels, T)
// in [0, 1], a viridis cell per label and column with each column's most probable label (the best
// path, best_path[t] a row index) outlined in white; row labels down the left, a colour bar on the
// right. BGR image.
cv::Mat ctc_posteriors(const cv::Mat& line_rgb, const torch::Tensor& probs, const std::vector<std::string>& row_labels,
                       const std::vector<int64_t>& best_path, const std::string& title = "");

// Writes an image as PNG atomically (temp file + rename); error naming the path.
// The figure of CLIP's notebook: similarity (texts, images) as a matrix of cells coloured by value
// (viridis from the matrix's smallest to its largest value) with the value printed, each text
// down the left, each image (RGB uint8) as a thumbnail above its column. BGR image.
cv::Mat similarity_matrix(const std::vector<cv::Mat>& images, const std::vector<std::string>& texts, const torch::Tensor& similarity,
                          const std::string& title = "");

void write_png(const cv::Mat& image, const std::string& path);

}  // namespace zoo::viz
