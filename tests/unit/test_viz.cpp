// Text rendering with FreeType and the attention heat map.
#include <catch2/catch.hpp>

#include "lib/viz/heatmap.h"
#include "lib/viz/text.h"

namespace test_viz {  // this file's own: the unit tests compile in batches (tests/CMakeLists.txt)

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

namespace {

// Pixels within 30 of a BGR colour.
int count_colour(const cv::Mat& image, cv::Vec3b colour) {
  int n = 0;
  for (int y = 0; y < image.rows; ++y)
    for (int x = 0; x < image.cols; ++x) {
      const auto p = image.at<cv::Vec3b>(y, x);
      n += std::abs(p[0] - colour[0]) < 30 && std::abs(p[1] - colour[1]) < 30 && std::abs(p[2] - colour[2]) < 30;
    }
  return n;
}

}  // namespace

TEST_CASE("the attention grid has a tile per layer and head, and colours each cell by its weight", "[viz]") {
  // 2 layers x 3 heads of 4 x 4 maps; only layer 1, head 2 puts weight 1 anywhere (its diagonal).
  std::vector<torch::Tensor> maps{torch::zeros({3, 4, 4}), torch::zeros({3, 4, 4})};
  maps[1][2] = torch::eye(4);
  const std::vector<std::string> tokens{"R", "O", "M", "E"};
  const cv::Mat grid = viz::attention_grid(maps, tokens, "title");
  const cv::Mat one_layer = viz::attention_grid({maps[0]}, tokens);
  CHECK(grid.rows > one_layer.rows + 4 * 18);  // 18 px cells for 4 tokens
  // Four yellow cells of 18 x 18 (and the colour bar's top).
  const int yellow = count_colour(grid, cv::Vec3b(36, 231, 253));
  CHECK(yellow >= 4 * 18 * 18);
  CHECK(yellow < 4 * 18 * 18 + 16 * 30);
  CHECK_THROWS(viz::attention_grid(maps, {"too", "few"}));
}

TEST_CASE("activation text colours each token from blue (-1) through white to red (+1)", "[viz]") {
  const std::vector<std::string> tokens{"a", "b", "\n", "c"};
  auto values = torch::tensor({{1.0, -1.0, 0.0, 0.0}});
  const cv::Mat image = viz::activation_text(tokens, values, {"unit 0"});
  CHECK(count_colour(image, cv::Vec3b(0, 0, 255)) > 50);   // red behind "a"
  CHECK(count_colour(image, cv::Vec3b(255, 0, 0)) > 50);   // blue behind "b"
  // Two units: the same text twice, one block each.
  const cv::Mat two = viz::activation_text(tokens, torch::cat({values, -values}), {"unit 0", "unit 1"});
  CHECK(two.rows > image.rows + 20);
  CHECK_THROWS(viz::activation_text(tokens, values, {"a", "b"}));
}

}  // namespace test_viz
