// Text on images with FreeType and a TrueType font, so labels in any script ("Männer", "東京"
// where the font has the glyphs) draw correctly; OpenCV's putText only knows ASCII.
#pragma once
#include <opencv2/core.hpp>

#include <memory>
#include <string>

namespace zoo::viz {

class TextRenderer {
 public:
  // `font_path` empty: $ZOO_FONT, else DejaVu Sans from fonts-dejavu-core. Error naming the
  // font file when it cannot be loaded.
  explicit TextRenderer(int pixel_size = 14, const std::string& font_path = "");
  ~TextRenderer();
  TextRenderer(const TextRenderer&) = delete;
  TextRenderer& operator=(const TextRenderer&) = delete;

  // Width and height in pixels of `text` (UTF-8) drawn on one line.
  cv::Size measure(const std::string& text) const;
  // The line of text as an 8-bit coverage mask (255 = ink), measure(text) in size.
  cv::Mat render(const std::string& text) const;
  // Draws `text` with its top-left corner at `origin` in `colour` onto a CV_8UC3 image, rotated
  // 90 degrees counter-clockwise (reading upwards) when `vertical`. Clipped at the image edges.
  void draw(cv::Mat& image, const std::string& text, cv::Point origin, const cv::Scalar& colour, bool vertical = false) const;
  int line_height() const { return ascent_ + descent_; }

 private:
  struct Face;
  std::unique_ptr<Face> face_;
  int ascent_ = 0, descent_ = 0;
};

}  // namespace zoo::viz
