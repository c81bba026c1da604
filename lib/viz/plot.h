// Line charts for `zoo plot`: panels side by side on shared conventions (one colour per run,
// training as a line, validation as a line with dots), tick labels at 1-2-5 steps, an optional
// log scale, and a legend naming each run.
#pragma once
#include <opencv2/core.hpp>

#include <string>
#include <vector>

namespace zoo::viz {

struct Series {
  std::vector<cv::Point2d> points;  // (x, y); non-finite y (and y <= 0 on a log scale) left out
  int run = 0;                      // index into the legend's runs: its colour
  bool dots = false;                // validation: a dot at each point
};

struct Panel {
  std::string title, x_label;
  bool log_y = false;
  std::vector<Series> series;
};

// Tick values covering [lo, hi] at a 1-2-5 step (about `count` of them), or at powers of ten
// (with 2 and 5 between when the range is short) on a log scale.
std::vector<double> axis_ticks(double lo, double hi, int count, bool log_scale);

// The panels in a row, each `width` x `height` pixels, with a legend under them: `runs` in their
// colours and what a plain line and a dotted one mean. BGR, 8-bit.
cv::Mat line_charts(const std::vector<Panel>& panels, const std::vector<std::string>& runs, int width = 440, int height = 320);

}  // namespace zoo::viz
