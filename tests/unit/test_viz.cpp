// Text rendering with FreeType and the attention heat map.
#include <catch2/catch.hpp>

#include "lib/viz/heatmap.h"
#include "lib/viz/text.h"

using namespace zoo;

TEST_CASE("FreeType draws non-ASCII letters: the umlaut's dots are ink that plain 'a' lacks", "[viz]") {
  viz::TextRenderer font(20);
  const cv::Mat a = font.render("a"), umlaut = font.render("ä");
  REQUIRE(a.size() == umlaut.size());
  CHECK(cv::countNonZero(umlaut) > cv::countNonZero(a));
  CHECK(cv::countNonZero(a) > 0);
  // The extra ink sits above the letter body (the top third of the line).
  const cv::Rect top(0, 0, a.cols, a.rows / 3);
  CHECK(cv::countNonZero(umlaut(top)) > cv::countNonZero(a(top)));
  CHECK(font.measure("Männer").width > font.measure("Mann").width);
}

TEST_CASE("the heat map grows with its matrix, colours cells by weight and checks its labels", "[viz]") {
  auto weights = torch::tensor({{1.0, 0.0, 0.0}, {0.0, 0.5, 0.5}});
  const cv::Mat small = viz::heatmap(weights, {"two", "men"}, {"zwei", "Männer", "<eos>"});
  const cv::Mat wide = viz::heatmap(torch::zeros({2, 6}), {"two", "men"}, {"a", "b", "c", "d", "e", "f"});
  CHECK(wide.cols > small.cols);
  CHECK(small.type() == CV_8UC3);
  // Find the weight-1 cell: viridis at 1 is yellow (B low, G and R high); at 0 dark purple.
  int yellow = 0;
  for (int y = 0; y < small.rows; ++y)
    for (int x = 0; x < small.cols; ++x) {
      const auto p = small.at<cv::Vec3b>(y, x);
      yellow += p[0] < 80 && p[1] > 200 && p[2] > 200;
    }
  CHECK(yellow > 26 * 26 / 2);  // the cell, plus the colour bar's top
  CHECK_THROWS(viz::heatmap(weights, {"only one"}, {"a", "b", "c"}));
}
