#include "lib/viz/figure.h"

#include <sstream>

#include <cstdio>
#include <filesystem>

#include "lib/core/error.h"
#include "lib/viz/heatmap.h"

namespace fs = std::filesystem;

namespace zoo::viz {

namespace {

// Token labels as they are drawn on a map's axes: a space as the open box, a line break as the
// return arrow.
std::vector<std::string> visible(std::vector<std::string> tokens) {
  for (auto& token : tokens) {
    if (token == " ") token = "\u2423";
    if (token == "\n") token = "\u21B5";
  }
  return tokens;
}

const std::vector<std::string>& tokens_of(const FigureContext& context, Axis axis) {
  static const std::vector<std::string> none;
  auto it = context.tokens.find(axis);
  return it == context.tokens.end() ? none : it->second;
}

}  // namespace

std::string with_peak(const std::string& label, const torch::Tensor& map) {
  char text[32];
  std::snprintf(text, sizeof(text), ", max %.3f", map.max().item<double>());
  return label + text;
}

int64_t LookOptions::layer_index(int64_t count, const std::string& owner) const {
  const int64_t index = layer < 0 ? count + layer : layer;
  if (index < 0 || index >= count)
    throw UsageError("invalid --layer " + std::to_string(layer) + ": " + owner + " has " + std::to_string(count) + " layers");
  return index;
}

cv::Point parse_query(const std::string& text, const std::string& what) {
  int x = 0, y = 0;
  char comma = 0, extra = 0;
  std::istringstream in(text);
  if (!(in >> x >> comma >> y) || comma != ',' || (in >> extra) || x < 0 || y < 0)
    throw UsageError("invalid --query '" + text + "': expected X,Y pixel coordinates in " + what + ", such as 16,16");
  return {x, y};
}

cv::Mat render(const Figure& figure, const FigureContext& context) {
  switch (figure.kind) {
    case Figure::Kind::OverImage: {
      const cv::Point* marker = figure.marker ? &*figure.marker : nullptr;
      return image_attention_grid(context.image, figure.maps, figure.labels, figure.columns, figure.title, marker,
                                  figure.boxes.empty() ? nullptr : &figure.boxes, figure.frames.empty() ? nullptr : &figure.frames,
                                  figure.shared_scale);
    }
    case Figure::Kind::Attention:
      if (figure.rows == figure.cols) return attention_grid(figure.maps, visible(tokens_of(context, figure.rows)), figure.title);
      return attention_grid(figure.maps, visible(tokens_of(context, figure.rows)), visible(tokens_of(context, figure.cols)), figure.title);
    case Figure::Kind::Alignment:
      return heatmap(figure.maps.at(0), visible(tokens_of(context, figure.rows)), visible(tokens_of(context, figure.cols)), figure.title);
    case Figure::Kind::Activations:
      return activation_text(tokens_of(context, figure.cols), figure.maps.at(0), figure.labels, figure.title);
  }
  throw Error("unknown figure kind");
}

std::vector<std::string> write_figures(const std::vector<Figure>& figures, const FigureContext& context, const std::string& out_png) {
  const fs::path base(out_png);
  const std::string stem = (base.parent_path() / base.stem()).string();
  std::vector<std::string> paths;
  for (const auto& figure : figures) {
    const std::string path = figure.suffix.empty() ? out_png : stem + "_" + figure.suffix + ".png";
    write_png(render(figure, context), path);
    if (figure.suffix.empty()) paths.insert(paths.begin(), path);
    else paths.push_back(path);
  }
  return paths;
}

}  // namespace zoo::viz
