#include "lib/viz/text.h"

#include <ft2build.h>
#include FT_FREETYPE_H

#include <cstdlib>
#include <filesystem>
#include <opencv2/core.hpp>

#include "lib/core/error.h"
#include "lib/text/utf8.h"

namespace zoo::viz {

namespace {
constexpr const char* kDefaultFont = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
}

struct TextRenderer::Face {
  FT_Library library = nullptr;
  FT_Face face = nullptr;
  ~Face() {
    if (face) FT_Done_Face(face);
    if (library) FT_Done_FreeType(library);
  }
};

TextRenderer::TextRenderer(int pixel_size, const std::string& font_path) : face_(std::make_unique<Face>()) {
  std::string path = font_path;
  if (path.empty()) path = std::getenv("ZOO_FONT") ? std::getenv("ZOO_FONT") : kDefaultFont;
  if (!std::filesystem::is_regular_file(path))
    throw Error("font not found: " + path + " (install fonts-dejavu-core, or point ZOO_FONT at a .ttf file)");
  if (FT_Init_FreeType(&face_->library)) throw Error("cannot initialise FreeType");
  if (FT_New_Face(face_->library, path.c_str(), 0, &face_->face)) throw Error("cannot load font " + path);
  FT_Set_Pixel_Sizes(face_->face, 0, static_cast<FT_UInt>(pixel_size));
  ascent_ = static_cast<int>(face_->face->size->metrics.ascender >> 6);
  descent_ = static_cast<int>(-(face_->face->size->metrics.descender >> 6));
}

TextRenderer::~TextRenderer() = default;

cv::Size TextRenderer::measure(const std::string& text) const {
  int width = 0;
  for (char32_t c : text::decode_utf8(text)) {
    if (FT_Load_Char(face_->face, c, FT_LOAD_DEFAULT)) continue;
    width += static_cast<int>(face_->face->glyph->advance.x >> 6);
  }
  return {std::max(1, width), line_height()};
}

cv::Mat TextRenderer::render(const std::string& text) const {
  const cv::Size size = measure(text);
  cv::Mat mask = cv::Mat::zeros(size, CV_8UC1);
  int pen = 0;
  for (char32_t c : text::decode_utf8(text)) {
    if (FT_Load_Char(face_->face, c, FT_LOAD_RENDER)) continue;  // a glyph the font lacks: skipped
    const FT_GlyphSlot g = face_->face->glyph;
    const int left = pen + g->bitmap_left, top = ascent_ - g->bitmap_top;
    for (unsigned row = 0; row < g->bitmap.rows; ++row) {
      const int y = top + static_cast<int>(row);
      if (y < 0 || y >= size.height) continue;
      for (unsigned col = 0; col < g->bitmap.width; ++col) {
        const int x = left + static_cast<int>(col);
        if (x < 0 || x >= size.width) continue;
        auto& pixel = mask.at<uint8_t>(y, x);
        pixel = std::max<uint8_t>(pixel, g->bitmap.buffer[row * static_cast<unsigned>(g->bitmap.pitch) + col]);
      }
    }
    pen += static_cast<int>(g->advance.x >> 6);
  }
  return mask;
}

void TextRenderer::draw(cv::Mat& image, const std::string& text, cv::Point origin, const cv::Scalar& colour, bool vertical) const {
  cv::Mat mask = render(text);
  if (vertical) cv::rotate(mask, mask, cv::ROTATE_90_COUNTERCLOCKWISE);
  for (int y = 0; y < mask.rows; ++y) {
    const int iy = origin.y + y;
    if (iy < 0 || iy >= image.rows) continue;
    for (int x = 0; x < mask.cols; ++x) {
      const int ix = origin.x + x;
      if (ix < 0 || ix >= image.cols) continue;
      const double alpha = mask.at<uint8_t>(y, x) / 255.0;
      if (alpha == 0) continue;
      auto& pixel = image.at<cv::Vec3b>(iy, ix);
      for (int ch = 0; ch < 3; ++ch) pixel[ch] = cv::saturate_cast<uint8_t>(pixel[ch] * (1 - alpha) + colour[ch] * alpha);
    }
  }
}

}  // namespace zoo::viz
