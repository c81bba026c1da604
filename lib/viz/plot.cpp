#include "lib/viz/plot.h"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "lib/viz/text.h"

namespace zoo::viz {

namespace {

// Matplotlib's tab10, as BGR.
const std::vector<cv::Scalar>& palette() {
  static const std::vector<cv::Scalar> colours{{180, 119, 31}, {14, 127, 255}, {44, 160, 44},   {40, 39, 214},  {189, 103, 148},
                                               {75, 86, 140},  {194, 119, 227}, {127, 127, 127}, {34, 189, 188}, {207, 190, 23}};
  return colours;
}

std::string tick_text(double value) {
  char text[32];
  const double magnitude = std::fabs(value);
  if (value == 0) return "0";
  if (magnitude >= 1e5 || magnitude < 1e-3) std::snprintf(text, sizeof(text), "%.0e", value);
  else std::snprintf(text, sizeof(text), "%.6g", value);
  return text;
}

}  // namespace

std::vector<double> axis_ticks(double lo, double hi, int count, bool log_scale) {
  std::vector<double> ticks;
  if (!(hi >= lo) || !std::isfinite(lo) || !std::isfinite(hi)) return ticks;
  if (log_scale) {
    if (lo <= 0) return ticks;
    const int first = static_cast<int>(std::floor(std::log10(lo))), last = static_cast<int>(std::ceil(std::log10(hi)));
    const bool between = last - first <= 2;  // a short range: 2 and 5 too
    for (int e = first; e <= last; ++e)
      for (double m : between ? std::vector<double>{1, 2, 5} : std::vector<double>{1}) {
        const double v = m * std::pow(10.0, e);
        if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) ticks.push_back(v);
      }
    return ticks;
  }
  const double span = hi > lo ? hi - lo : std::max(std::fabs(lo), 1.0);
  const double raw = span / std::max(1, count);
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  double step = power;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * power >= raw) {
      step = m * power;
      break;
    }
  for (double v = std::ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push_back(std::fabs(v) < step * 1e-9 ? 0.0 : v);
  return ticks;
}

cv::Mat line_charts(const std::vector<Panel>& panels, const std::vector<std::string>& runs, int width, int height) {
  const TextRenderer label(13), title_font(15);
  const cv::Scalar ink(40, 40, 40), grid(225, 225, 225), white(255, 255, 255);
  const int legend_rows = static_cast<int>(runs.size()) + 1;
  const int legend_height = legend_rows * (label.line_height() + 6) + 12;
  cv::Mat canvas(height + legend_height, std::max<int>(1, static_cast<int>(panels.size())) * width, CV_8UC3, white);
  for (size_t p = 0; p < panels.size(); ++p) {
    const Panel& panel = panels[p];
    const int left = static_cast<int>(p) * width + 62, right = static_cast<int>(p + 1) * width - 14;
    const int top = 34, bottom = height - 44;
    title_font.draw(canvas, panel.title, {left, 8}, ink);
    // The data's extent, over the points a log scale can show.
    double x_lo = INFINITY, x_hi = -INFINITY, y_lo = INFINITY, y_hi = -INFINITY;
    for (const auto& s : panel.series)
      for (const auto& q : s.points) {
        if (!std::isfinite(q.y) || !std::isfinite(q.x) || (panel.log_y && q.y <= 0)) continue;
        x_lo = std::min(x_lo, q.x), x_hi = std::max(x_hi, q.x), y_lo = std::min(y_lo, q.y), y_hi = std::max(y_hi, q.y);
      }
    cv::rectangle(canvas, {left, top}, {right, bottom}, ink, 1);
    if (!std::isfinite(x_lo)) {
      label.draw(canvas, "no data", {(left + right) / 2 - 24, (top + bottom) / 2}, ink);
      continue;
    }
    if (x_hi == x_lo) x_lo -= 1, x_hi += 1;
    if (panel.log_y) {
      if (y_hi == y_lo) y_lo /= 2, y_hi *= 2;
    } else {
      const double pad = y_hi > y_lo ? 0.05 * (y_hi - y_lo) : std::max(std::fabs(y_lo) * 0.1, 1e-3);
      y_lo -= pad, y_hi += pad;
    }
    auto fy = [&](double y) { return panel.log_y ? std::log10(y) : y; };
    const double ly_lo = fy(y_lo), ly_hi = fy(y_hi);
    auto to_pixel = [&](const cv::Point2d& q) {
      const double u = (q.x - x_lo) / (x_hi - x_lo), v = (fy(q.y) - ly_lo) / (ly_hi - ly_lo);
      return cv::Point(static_cast<int>(std::lround(left + u * (right - left))), static_cast<int>(std::lround(bottom - v * (bottom - top))));
    };
    for (double t : axis_ticks(x_lo, x_hi, 5, false)) {
      const int x = to_pixel({t, panel.log_y ? y_hi : y_lo}).x;
      cv::line(canvas, {x, top + 1}, {x, bottom - 1}, grid, 1);
      const std::string text = tick_text(t);
      label.draw(canvas, text, {x - label.measure(text).width / 2, bottom + 4}, ink);
    }
    for (double t : axis_ticks(y_lo, y_hi, 5, panel.log_y)) {
      const int y = to_pixel({x_lo, t}).y;
      cv::line(canvas, {left + 1, y}, {right - 1, y}, grid, 1);
      const std::string text = tick_text(t);
      label.draw(canvas, text, {left - 6 - label.measure(text).width, y - label.line_height() / 2}, ink);
    }
    label.draw(canvas, panel.x_label, {(left + right) / 2 - label.measure(panel.x_label).width / 2, bottom + 8 + label.line_height()}, ink);
    // Drawn inside the frame only.
    cv::Mat inside = canvas(cv::Rect(left + 1, top + 1, right - left - 1, bottom - top - 1));
    for (const auto& s : panel.series) {
      const cv::Scalar colour = palette()[static_cast<size_t>(s.run) % palette().size()];
      std::vector<cv::Point> line;
      for (const auto& q : s.points) {
        if (!std::isfinite(q.y) || !std::isfinite(q.x) || (panel.log_y && q.y <= 0)) continue;
        line.push_back(to_pixel(q) - cv::Point(left + 1, top + 1));
      }
      if (line.size() > 1) cv::polylines(inside, line, false, colour, s.dots ? 1 : 2, cv::LINE_AA);
      if (s.dots || line.size() == 1)
        for (const auto& q : line) cv::circle(inside, q, 3, colour, cv::FILLED, cv::LINE_AA);
    }
  }
  // The legend: each run's colour, then what the two kinds of line mean.
  int y = height + 6;
  for (size_t r = 0; r < runs.size(); ++r, y += label.line_height() + 6) {
    const cv::Scalar colour = palette()[r % palette().size()];
    cv::line(canvas, {20, y + label.line_height() / 2}, {48, y + label.line_height() / 2}, colour, 3, cv::LINE_AA);
    label.draw(canvas, runs[r], {56, y}, ink);
  }
  const int mid = y + label.line_height() / 2;
  cv::line(canvas, {20, mid}, {48, mid}, ink, 2, cv::LINE_AA);
  label.draw(canvas, "training", {56, y}, ink);
  const int x = 56 + label.measure("training").width + 30;
  cv::line(canvas, {x, mid}, {x + 28, mid}, ink, 1, cv::LINE_AA);
  cv::circle(canvas, {x + 14, mid}, 3, ink, cv::FILLED, cv::LINE_AA);
  label.draw(canvas, "validation (each evaluation)", {x + 36, y}, ink);
  return canvas;
}

}  // namespace zoo::viz
