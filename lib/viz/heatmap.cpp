#include "lib/viz/heatmap.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>

#include "lib/core/checkpoint.h"
#include "lib/core/error.h"
#include "lib/viz/text.h"

namespace zoo::viz {

namespace {

constexpr int kCell = 26, kPad = 8, kBarWidth = 16;

// viridis for a weight in [0, 1], BGR: OpenCV's map of the 256 levels, made once (applyColorMap
// per cell builds its table every call, 1.2 s of a 8-head 32-token grid).
cv::Vec3b colour_of(double weight) {
  static const cv::Mat table = [] {
    cv::Mat levels(1, 256, CV_8UC1), colours;
    for (int i = 0; i < 256; ++i) levels.at<uint8_t>(0, i) = static_cast<uint8_t>(i);
    cv::applyColorMap(levels, colours, cv::COLORMAP_VIRIDIS);
    return colours;
  }();
  return table.at<cv::Vec3b>(0, cv::saturate_cast<uint8_t>(weight * 255.0));
}

// A vertical viridis bar from 1 (top) to 0 (bottom) with ticks 0, 0.5 and 1 on its right.
void draw_colour_bar(cv::Mat& image, const TextRenderer& font, int bar_left, int bar_top, int bar_height) {
  const cv::Scalar ink(0, 0, 0);
  for (int y = 0; y < bar_height; ++y) {
    const cv::Vec3b colour = colour_of(1.0 - static_cast<double>(y) / (bar_height - 1));
    cv::line(image, {bar_left, bar_top + y}, {bar_left + kBarWidth - 1, bar_top + y}, cv::Scalar(colour[0], colour[1], colour[2]));
  }
  cv::rectangle(image, cv::Rect(bar_left, bar_top, kBarWidth, bar_height), ink);
  for (const auto& [value, text] : {std::pair{1.0, "1"}, {0.5, "0.5"}, {0.0, "0"}}) {
    const int y = bar_top + static_cast<int>((1.0 - value) * (bar_height - 1));
    cv::line(image, {bar_left + kBarWidth, y}, {bar_left + kBarWidth + 3, y}, ink);
    font.draw(image, text, {bar_left + kBarWidth + 5, std::clamp(y - font.line_height() / 2, 0, image.rows - font.line_height())}, ink);
  }
}

// Blue (-1) through white (0) to red (+1), BGR.
cv::Scalar diverging_colour(double value) {
  const double v = std::clamp(value, -1.0, 1.0);
  const double fade = 255.0 * (1.0 - std::abs(v));
  return v >= 0 ? cv::Scalar(fade, fade, 255) : cv::Scalar(255, fade, fade);
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
  draw_colour_bar(image, font, bar_left, top, std::max(3 * kCell, rows * kCell));
  return image;
}

cv::Mat ctc_posteriors(const cv::Mat& line_rgb, const torch::Tensor& probs, const std::vector<std::string>& row_labels,
                       const std::vector<int64_t>& best_path, const std::string& title) {
  auto p = probs.detach().to(torch::kCPU, torch::kFloat64).contiguous();
  const int rows = static_cast<int>(p.size(0)), cols = static_cast<int>(p.size(1));
  if (rows != static_cast<int>(row_labels.size()) || cols != static_cast<int>(best_path.size()) || line_rgb.empty())
    throw Error("CTC figure: " + std::to_string(rows) + "x" + std::to_string(cols) + " posteriors but " + std::to_string(row_labels.size()) +
                " row labels and a path of " + std::to_string(best_path.size()));
  constexpr int kColumn = 12, kRow = 18;  // narrow columns: a line has W/4 of them
  TextRenderer font(14), small(12);
  int label_width = 0;
  for (const auto& l : row_labels) label_width = std::max(label_width, small.measure(l).width);
  const int title_height = title.empty() ? 0 : font.line_height() + kPad;
  const int left = kPad + label_width + kPad, grid_width = cols * kColumn;
  // The line over the columns it was read as: stretched to the grid's width, its height in proportion.
  const int line_height = std::clamp(static_cast<int>(std::lround(static_cast<double>(line_rgb.rows) * grid_width / line_rgb.cols)), 24, 96);
  const int line_top = kPad + title_height, top = line_top + line_height + kPad;
  const int bar_left = left + grid_width + 2 * kPad;
  const int width = std::max(bar_left + kBarWidth + kPad + font.measure("0.5").width + kPad, title.empty() ? 0 : 2 * kPad + font.measure(title).width);
  const int height = top + std::max(rows * kRow, 3 * kRow) + kPad;
  cv::Mat image(height, width, CV_8UC3, cv::Scalar(255, 255, 255));
  const cv::Scalar ink(0, 0, 0);
  if (!title.empty()) font.draw(image, title, {kPad, kPad}, ink);
  cv::Mat line_bgr, stretched;
  cv::cvtColor(line_rgb, line_bgr, cv::COLOR_RGB2BGR);
  cv::resize(line_bgr, stretched, cv::Size(grid_width, line_height), 0, 0, cv::INTER_LINEAR);
  stretched.copyTo(image(cv::Rect(left, line_top, grid_width, line_height)));
  const auto* data = p.data_ptr<double>();
  for (int r = 0; r < rows; ++r) {
    const cv::Size size = small.measure(row_labels[static_cast<size_t>(r)]);
    small.draw(image, row_labels[static_cast<size_t>(r)], {left - kPad - size.width, top + r * kRow + (kRow - size.height) / 2}, ink);
    for (int c = 0; c < cols; ++c) {
      const cv::Vec3b colour = colour_of(std::clamp(data[r * cols + c], 0.0, 1.0));
      cv::rectangle(image, cv::Rect(left + c * kColumn, top + r * kRow, kColumn, kRow), cv::Scalar(colour[0], colour[1], colour[2]), cv::FILLED);
    }
  }
  for (int c = 0; c < cols; ++c) {
    const auto r = best_path[static_cast<size_t>(c)];
    if (r >= 0 && r < rows) cv::rectangle(image, cv::Rect(left + c * kColumn, top + static_cast<int>(r) * kRow, kColumn, kRow), cv::Scalar(255, 255, 255), 2);
  }
  draw_colour_bar(image, font, bar_left, top, std::max(3 * kRow, rows * kRow));
  return image;
}

cv::Mat attention_grid(const std::vector<torch::Tensor>& maps, const std::vector<std::string>& tokens, const std::string& title) {
  return attention_grid(maps, tokens, tokens, title);
}

cv::Mat attention_grid(const std::vector<torch::Tensor>& maps, const std::vector<std::string>& row_tokens,
                       const std::vector<std::string>& column_tokens, const std::string& title) {
  if (maps.empty()) throw Error("attention grid: no attention maps");
  const int layers = static_cast<int>(maps.size()), heads = static_cast<int>(maps[0].size(0));
  const int rows = static_cast<int>(maps[0].size(1)), cols = static_cast<int>(maps[0].size(2));
  if (rows != static_cast<int>(row_tokens.size()) || cols != static_cast<int>(column_tokens.size()))
    throw Error("attention grid: " + std::to_string(rows) + "x" + std::to_string(cols) + " positions but " + std::to_string(row_tokens.size()) +
                " row and " + std::to_string(column_tokens.size()) + " column labels");
  const int cell = std::clamp(360 / std::max({1, rows, cols}), 2, 18), tile_width = cols * cell, tile_height = rows * cell, gap = 14;
  TextRenderer font(14), small(std::clamp(cell - 3, 8, 14));
  const bool show_tokens = cell >= 9;
  int row_label_width = 0, column_label_height = 0;
  if (show_tokens) {
    for (const auto& t : row_tokens) row_label_width = std::max(row_label_width, small.measure(t).width);
    for (const auto& t : column_tokens) column_label_height = std::max(column_label_height, small.measure(t).width);
  }
  const int title_height = title.empty() ? 0 : font.line_height() + kPad;
  const int layer_label_width = font.measure("layer " + std::to_string(layers - 1)).width;
  const int left = kPad + layer_label_width + kPad + (show_tokens ? row_label_width + 4 : 0);
  const int header_top = kPad + title_height, top = header_top + font.line_height() + (show_tokens ? column_label_height + 4 : 0) + 4;
  const int bar_left = left + heads * (tile_width + gap) + kPad;
  const int width = std::max(bar_left + kBarWidth + kPad + font.measure("0.5").width + kPad, title.empty() ? 0 : 2 * kPad + font.measure(title).width);
  const int height = top + layers * (tile_height + gap) + kPad;
  cv::Mat image(height, width, CV_8UC3, cv::Scalar(255, 255, 255));
  const cv::Scalar ink(0, 0, 0);
  if (!title.empty()) font.draw(image, title, {kPad, kPad}, ink);
  for (int h = 0; h < heads; ++h) {
    const std::string name = "head " + std::to_string(h);
    font.draw(image, name, {left + h * (tile_width + gap) + std::max(0, (tile_width - font.measure(name).width) / 2), header_top}, ink);
  }
  for (int l = 0; l < layers; ++l) {
    auto w = maps[static_cast<size_t>(l)].detach().to(torch::kCPU, torch::kFloat64).contiguous();
    const auto* data = w.data_ptr<double>();
    const int tile_top = top + l * (tile_height + gap);
    font.draw(image, "layer " + std::to_string(l), {kPad, tile_top + std::max(0, (tile_height - font.line_height()) / 2)}, ink);
    for (int h = 0; h < heads; ++h)
      for (int r = 0; r < rows; ++r)
        for (int c = 0; c < cols; ++c) {
          const cv::Vec3b colour = colour_of(std::clamp(data[(h * rows + r) * cols + c], 0.0, 1.0));
          cv::rectangle(image, cv::Rect(left + h * (tile_width + gap) + c * cell, tile_top + r * cell, cell, cell),
                        cv::Scalar(colour[0], colour[1], colour[2]), cv::FILLED);
        }
    if (!show_tokens) continue;
    for (int r = 0; r < rows; ++r) {
      const cv::Size size = small.measure(row_tokens[static_cast<size_t>(r)]);
      small.draw(image, row_tokens[static_cast<size_t>(r)], {left - 4 - size.width, tile_top + r * cell + (cell - size.height) / 2}, ink);
    }
  }
  if (show_tokens)
    for (int h = 0; h < heads; ++h)
      for (int c = 0; c < cols; ++c) {
        const cv::Size size = small.measure(column_tokens[static_cast<size_t>(c)]);
        small.draw(image, column_tokens[static_cast<size_t>(c)], {left + h * (tile_width + gap) + c * cell + (cell - size.height) / 2, top - 4 - size.width},
                   ink, /*vertical=*/true);
      }
  draw_colour_bar(image, font, bar_left, top, std::max(3 * kCell, tile_height));
  return image;
}

cv::Mat activation_text(const std::vector<std::string>& tokens, const torch::Tensor& values, const std::vector<std::string>& names,
                        const std::string& title) {
  auto v = values.detach().to(torch::kCPU, torch::kFloat64).contiguous();
  const int units = static_cast<int>(v.size(0)), length = static_cast<int>(v.size(1));
  if (length != static_cast<int>(tokens.size()) || units != static_cast<int>(names.size()))
    throw Error("activation text: " + std::to_string(units) + "x" + std::to_string(length) + " values for " + std::to_string(names.size()) +
                " names and " + std::to_string(tokens.size()) + " tokens");
  constexpr int kMaxLineWidth = 960;
  TextRenderer font(16), heading(14);
  const int line_height = font.line_height() + 4;
  // Where each token goes (the same for every unit): x and line, wrapping at kMaxLineWidth.
  std::vector<std::string> shown;
  std::vector<cv::Point> place;  // (x, line)
  std::vector<int> widths;
  int x = 0, line = 0;
  for (const auto& token : tokens) {
    const std::string text = token == "\n" ? "\u21B5" : token;
    const int w = std::max(6, font.measure(text).width + 2);
    if (x > 0 && x + w > kMaxLineWidth) x = 0, ++line;
    shown.push_back(text), place.emplace_back(x, line), widths.push_back(w);
    x += w;
    if (token == "\n") x = 0, ++line;
  }
  const int lines = line + 1;
  int used_width = 0;
  for (size_t t = 0; t < place.size(); ++t) used_width = std::max(used_width, place[t].x + widths[t]);
  const int title_height = title.empty() ? 0 : heading.line_height() + kPad;
  const int block = heading.line_height() + 4 + lines * line_height + kPad;
  int label_width = title.empty() ? 0 : heading.measure(title + "   -1 [blue] 0 [white] +1 [red]").width;
  for (const auto& name : names) label_width = std::max(label_width, heading.measure(name).width);
  const int width = 2 * kPad + std::max(used_width, label_width);
  cv::Mat image(kPad + title_height + units * block + kPad, width, CV_8UC3, cv::Scalar(255, 255, 255));
  const cv::Scalar ink(0, 0, 0);
  if (!title.empty()) heading.draw(image, title + "   -1 [blue] 0 [white] +1 [red]", {kPad, kPad}, ink);
  const auto* data = v.data_ptr<double>();
  for (int u = 0; u < units; ++u) {
    const int block_top = kPad + title_height + u * block;
    heading.draw(image, names[static_cast<size_t>(u)], {kPad, block_top}, ink);
    const int text_top = block_top + heading.line_height() + 4;
    for (int t = 0; t < length; ++t) {
      const cv::Rect box(kPad + place[t].x, text_top + place[t].y * line_height, widths[t], line_height);
      cv::rectangle(image, box, diverging_colour(data[u * length + t]), cv::FILLED);
      font.draw(image, shown[t], {box.x + 1, box.y + 2}, ink);
    }
  }
  return image;
}

cv::Mat similarity_matrix(const std::vector<cv::Mat>& images, const std::vector<std::string>& texts, const torch::Tensor& similarity,
                          const std::string& title) {
  const auto s = similarity.detach().to(torch::kCPU, torch::kFloat64).contiguous();
  const int rows = static_cast<int>(texts.size()), cols = static_cast<int>(images.size());
  if (s.dim() != 2 || s.size(0) != rows || s.size(1) != cols)
    throw Error("similarity matrix: " + std::to_string(rows) + " texts and " + std::to_string(cols) + " images, but a matrix of shape " +
                std::to_string(s.size(0)) + "x" + std::to_string(s.dim() > 1 ? s.size(1) : 0));
  constexpr int cell = 72;
  TextRenderer font(14), small(12);
  int text_width = 0;
  for (const auto& t : texts) text_width = std::max(text_width, font.measure(t).width);
  const int title_height = title.empty() ? 0 : font.line_height() + kPad;
  const int left = kPad + text_width + kPad, top = kPad + title_height + cell + kPad;
  cv::Mat image(top + rows * cell + kPad, left + cols * cell + kPad, CV_8UC3, cv::Scalar(255, 255, 255));
  const cv::Scalar ink(0, 0, 0);
  if (!title.empty()) font.draw(image, title, {kPad, kPad}, ink);
  const double lo = s.min().item<double>(), hi = s.max().item<double>();
  const double* v = s.data_ptr<double>();
  for (int c = 0; c < cols; ++c) {
    // The image as a thumbnail above its column, RGB -> BGR.
    cv::Mat thumb, bgr;
    cv::resize(images[static_cast<size_t>(c)], thumb, {cell - 4, cell - 4}, 0, 0, cv::INTER_AREA);
    cv::cvtColor(thumb, bgr, cv::COLOR_RGB2BGR);
    bgr.copyTo(image(cv::Rect(left + c * cell + 2, top - cell - kPad / 2 + 2, cell - 4, cell - 4)));
  }
  for (int r = 0; r < rows; ++r) {
    const auto size = font.measure(texts[static_cast<size_t>(r)]);
    font.draw(image, texts[static_cast<size_t>(r)], {left - kPad - size.width, top + r * cell + (cell - font.line_height()) / 2}, ink);
    for (int c = 0; c < cols; ++c) {
      const double value = v[r * cols + c], level = hi > lo ? (value - lo) / (hi - lo) : 0.5;
      const cv::Vec3b colour = colour_of(level);
      const cv::Rect box(left + c * cell, top + r * cell, cell, cell);
      cv::rectangle(image, box, cv::Scalar(colour[0], colour[1], colour[2]), cv::FILLED);
      char label[16];
      std::snprintf(label, sizeof(label), "%.2f", value);
      const auto label_size = small.measure(label);
      // Dark ink on the light end of viridis, white on the dark end.
      small.draw(image, label, {box.x + (cell - label_size.width) / 2, box.y + (cell - small.line_height()) / 2},
                 level > 0.6 ? ink : cv::Scalar(255, 255, 255));
    }
  }
  cv::rectangle(image, cv::Rect(left, top, cols * cell, rows * cell), ink);
  return image;
}

void write_png(const cv::Mat& image, const std::string& path) {
  std::vector<uint8_t> bytes;
  if (!cv::imencode(".png", image, bytes)) throw Error("cannot encode PNG for " + path);
  write_file_atomic(path, std::string(bytes.begin(), bytes.end()));
}

cv::Mat image_attention_grid(const cv::Mat& rgb, const std::vector<torch::Tensor>& maps, const std::vector<std::string>& labels,
                             int columns, const std::string& title, const cv::Point* marker, const std::vector<cv::Rect2d>* boxes,
                             const std::vector<cv::Mat>* frames, bool shared_scale) {
  if (maps.empty() || maps.size() != labels.size()) throw Error("image attention grid: " + std::to_string(maps.size()) + " maps but " +
                                                                std::to_string(labels.size()) + " labels");
  if (boxes && boxes->size() != maps.size()) throw Error("image attention grid: " + std::to_string(boxes->size()) + " boxes for " + std::to_string(maps.size()) + " maps");
  if (rgb.empty() || rgb.type() != CV_8UC3) throw Error("image attention grid: expected an RGB uint8 image");
  if (frames && frames->size() != maps.size()) throw Error("image attention grid: " + std::to_string(frames->size()) + " frames for " + std::to_string(maps.size()) + " maps");
  if (frames)
    for (const auto& frame : *frames)
      if (frame.size() != rgb.size() || frame.type() != CV_8UC3) throw Error("image attention grid: the frames differ from the image in size or type");
  float shared_peak = 0;
  if (shared_scale)
    for (const auto& map : maps)
      if (map.defined()) shared_peak = std::max(shared_peak, map.detach().to(torch::kCPU, torch::kFloat32).max().item<float>());
  // One image of the tile's size, enlarged and in BGR.
  auto enlarge = [&](const cv::Mat& from, int scale) {
    cv::Mat out;
    cv::resize(from, out, {from.cols * scale, from.rows * scale}, 0, 0, cv::INTER_NEAREST);
    cv::cvtColor(out, out, cv::COLOR_RGB2BGR);
    return out;
  };
  columns = std::max(1, std::min(columns, static_cast<int>(maps.size())));
  const int rows = (static_cast<int>(maps.size()) + columns - 1) / columns;
  const int scale = std::max(1, (160 + std::min(rgb.cols, rgb.rows) - 1) / std::min(rgb.cols, rgb.rows));
  const cv::Mat base = enlarge(rgb, scale);
  const int tile_w = base.cols, tile_h = base.rows;

  TextRenderer font(14), small(12);
  const int title_height = title.empty() ? 0 : font.line_height() + kPad;
  const int label_height = small.line_height() + 2, gap = kPad;
  // A column is as wide as its tile or its widest label, so labels never run into the next tile.
  int label_width = 0;
  for (const auto& label : labels) label_width = std::max(label_width, small.measure(label).width);
  const int column_width = std::max(tile_w, label_width);
  const int left = kPad, top = kPad + title_height;
  const int bar_left = left + columns * (column_width + gap) + kPad;
  const int width = std::max(bar_left + kBarWidth + kPad + font.measure("max").width + kPad,
                             title.empty() ? 0 : 2 * kPad + font.measure(title).width);
  const int height = top + rows * (label_height + tile_h + gap) + kPad;
  cv::Mat image(height, width, CV_8UC3, cv::Scalar(255, 255, 255));
  const cv::Scalar ink(0, 0, 0);
  if (!title.empty()) font.draw(image, title, {kPad, kPad}, ink);

  for (size_t i = 0; i < maps.size(); ++i) {
    const int row = static_cast<int>(i) / columns, col = static_cast<int>(i) % columns;
    const int x0 = left + col * (column_width + gap), y0 = top + row * (label_height + tile_h + gap);
    if (!maps[i].defined()) continue;  // a blank tile
    small.draw(image, labels[i], {x0, y0}, ink);
    // The map at the tile's resolution, 0..1 of its maximum: (h, w) -> (tile_h, tile_w)
    auto m = maps[i].detach().to(torch::kCPU, torch::kFloat32).clamp_min(0);
    if (m.dim() != 2) throw Error("image attention grid: map " + std::to_string(i) + " is not 2-D");
    const float peak = shared_scale ? shared_peak : m.max().item<float>();
    if (peak > 0) m = m / peak;
    m = m.contiguous();
    cv::Mat small_map(static_cast<int>(m.size(0)), static_cast<int>(m.size(1)), CV_32F, m.data_ptr<float>());
    cv::Mat resized, heat8, heat;
    cv::resize(small_map, resized, {tile_w, tile_h}, 0, 0, cv::INTER_LINEAR);
    resized.convertTo(heat8, CV_8U, 255.0);
    cv::applyColorMap(heat8, heat, cv::COLORMAP_VIRIDIS);
    cv::Mat tile = image(cv::Rect(x0, y0 + label_height, tile_w, tile_h));
    cv::addWeighted(frames ? enlarge((*frames)[i], scale) : base, 0.4, heat, 0.6, 0.0, tile);
    if (marker) {
      const cv::Point at(marker->x * scale + scale / 2, marker->y * scale + scale / 2);
      cv::drawMarker(tile, at, cv::Scalar(0, 0, 255), cv::MARKER_CROSS, std::max(9, tile_w / 12), 2);
    }
    if (boxes) {
      const auto& b = (*boxes)[i];
      cv::rectangle(tile, cv::Point(static_cast<int>(b.x * scale), static_cast<int>(b.y * scale)),
                    cv::Point(static_cast<int>((b.x + b.width) * scale), static_cast<int>((b.y + b.height) * scale)), cv::Scalar(0, 0, 255), 2);
    }
  }
  const int bar_top = top + label_height, bar_height = std::min(tile_h, std::max(3 * kCell, tile_h));
  draw_colour_bar(image, font, bar_left, bar_top, bar_height);
  font.draw(image, "max", {bar_left + kBarWidth + 5, bar_top - font.line_height() - 2 > 0 ? bar_top - font.line_height() - 2 : 0}, ink);
  return image;
}

}  // namespace zoo::viz
