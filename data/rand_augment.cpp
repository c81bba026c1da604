#include "data/rand_augment.h"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <sstream>

#include "lib/core/error.h"

namespace zoo::data {

namespace {

constexpr int kBins = 31;

// ratio * a + (1 - ratio) * b per element, clamped to [0, 255] and truncated (torchvision's _blend).
cv::Mat blend(const cv::Mat& a, const cv::Mat& b, double ratio) {
  cv::Mat af, bf, out;
  a.convertTo(af, CV_32FC3);
  b.convertTo(bf, CV_32FC3);
  cv::Mat mixed = af * ratio + bf * (1.0 - ratio);
  cv::min(cv::max(mixed, 0.0), 255.0, mixed);
  mixed.convertTo(out, CV_8UC3, 1.0, 0.0);  // saturating, rounding: within one level of truncation
  return out;
}

// ITU-R 601-2 luma, as torchvision's rgb_to_grayscale: (H, W) float.
cv::Mat luma(const cv::Mat& rgb) {
  cv::Mat f;
  rgb.convertTo(f, CV_32FC3);
  std::vector<cv::Mat> c;
  cv::split(f, c);
  return 0.2989f * c[0] + 0.587f * c[1] + 0.114f * c[2];
}

// Geometric ops sample the input at the inverse map of each output pixel: nearest neighbour, 0 outside.
cv::Mat warp(const cv::Mat& rgb, const cv::Mat& inverse) {
  cv::Mat out;
  cv::warpAffine(rgb, out, inverse, rgb.size(), cv::INTER_NEAREST | cv::WARP_INVERSE_MAP, cv::BORDER_CONSTANT, cv::Scalar(0, 0, 0));
  return out;
}

// PIL's (and torchvision's) equalize of one channel: a lookup table from the cumulative
// histogram, in steps of (pixels - the last level's count) / 255.
cv::Mat equalize_channel(const cv::Mat& channel) {
  std::array<int64_t, 256> histogram{};
  for (int y = 0; y < channel.rows; ++y)
    for (int x = 0; x < channel.cols; ++x) ++histogram[channel.at<uint8_t>(y, x)];
  int64_t total = 0, last = 0;
  for (int64_t count : histogram)
    if (count) total += count, last = count;
  const int64_t step = (total - last) / 255;
  if (step == 0) return channel.clone();
  cv::Mat lut(1, 256, CV_8U);
  int64_t cumulative = step / 2;
  for (int v = 0; v < 256; ++v) {
    lut.at<uint8_t>(v) = static_cast<uint8_t>(std::min<int64_t>(255, cumulative / step));
    cumulative += histogram[v];
  }
  cv::Mat out;
  cv::LUT(channel, lut, out);
  return out;
}

}  // namespace

const std::vector<AugmentOp>& augment_ops() {
  static const std::vector<AugmentOp> ops{AugmentOp::Identity,   AugmentOp::ShearX,     AugmentOp::ShearY,     AugmentOp::TranslateX,
                                          AugmentOp::TranslateY, AugmentOp::Rotate,     AugmentOp::Brightness, AugmentOp::Color,
                                          AugmentOp::Contrast,   AugmentOp::Sharpness,  AugmentOp::Posterize,  AugmentOp::Solarize,
                                          AugmentOp::AutoContrast, AugmentOp::Equalize};
  return ops;
}

std::string augment_op_name(AugmentOp op) {
  static const char* names[] = {"Identity", "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness",
                                "Color", "Contrast", "Sharpness", "Posterize", "Solarize", "AutoContrast", "Equalize"};
  return names[static_cast<int>(op)];
}

std::optional<RandAugmentSpec> parse_rand_augment(const std::string& spec) {
  if (spec.empty()) return std::nullopt;
  auto fail = [&]() -> std::optional<RandAugmentSpec> {
    throw UsageError("invalid auto_augment '" + spec + "': expected rand-mM-nN, such as rand-m9-n2 (M in 0..30, N >= 1)");
  };
  std::stringstream parts(spec);
  std::string part;
  std::getline(parts, part, '-');
  if (part != "rand") return fail();
  RandAugmentSpec out;
  while (std::getline(parts, part, '-')) {
    if (part.size() < 2 || (part[0] != 'm' && part[0] != 'n')) return fail();
    int value = 0;
    try {
      size_t used = 0;
      value = std::stoi(part.substr(1), &used);
      if (used != part.size() - 1) return fail();
    } catch (const std::exception&) {
      return fail();
    }
    (part[0] == 'm' ? out.magnitude : out.ops) = value;
  }
  if (out.magnitude < 0 || out.magnitude >= kBins || out.ops < 1) return fail();
  return out;
}

double augment_magnitude(AugmentOp op, int bin, int height, int width) {
  const double t = static_cast<double>(bin) / (kBins - 1);  // linspace(0, max, 31)[bin] = t * max
  switch (op) {
    case AugmentOp::ShearX:
    case AugmentOp::ShearY: return 0.3 * t;
    case AugmentOp::TranslateX: return 150.0 / 331.0 * width * t;
    case AugmentOp::TranslateY: return 150.0 / 331.0 * height * t;
    case AugmentOp::Rotate: return 30.0 * t;
    case AugmentOp::Brightness:
    case AugmentOp::Color:
    case AugmentOp::Contrast:
    case AugmentOp::Sharpness: return 0.9 * t;
    case AugmentOp::Posterize: return 8 - std::round(bin / ((kBins - 1) / 4.0));
    case AugmentOp::Solarize: return 255.0 * (1 - t);
    default: return 0.0;
  }
}

cv::Mat apply_augment_op(const cv::Mat& rgb, AugmentOp op, double m) {
  switch (op) {
    case AugmentOp::Identity: return rgb.clone();
    // Shear about the top-left corner: the output's (x, y) reads the input at (x + m y, y).
    case AugmentOp::ShearX: return warp(rgb, (cv::Mat_<double>(2, 3) << 1, m, 0, 0, 1, 0));
    case AugmentOp::ShearY: return warp(rgb, (cv::Mat_<double>(2, 3) << 1, 0, 0, m, 1, 0));
    // Translate by whole pixels: (x, y) reads (x - m, y).
    case AugmentOp::TranslateX: return warp(rgb, (cv::Mat_<double>(2, 3) << 1, 0, -std::trunc(m), 0, 1, 0));
    case AugmentOp::TranslateY: return warp(rgb, (cv::Mat_<double>(2, 3) << 1, 0, 0, 0, 1, -std::trunc(m)));
    case AugmentOp::Rotate: {
      // Counter-clockwise by m degrees about the centre.
      cv::Mat forward = cv::getRotationMatrix2D(cv::Point2f((rgb.cols - 1) / 2.0f, (rgb.rows - 1) / 2.0f), m, 1.0), inverse;
      cv::invertAffineTransform(forward, inverse);
      return warp(rgb, inverse);
    }
    case AugmentOp::Brightness: return blend(rgb, cv::Mat::zeros(rgb.size(), rgb.type()), 1.0 + m);
    case AugmentOp::Color: {
      cv::Mat grey8, grey3;
      luma(rgb).convertTo(grey8, CV_8U);
      cv::cvtColor(grey8, grey3, cv::COLOR_GRAY2RGB);
      return blend(rgb, grey3, 1.0 + m);
    }
    case AugmentOp::Contrast: {
      cv::Mat grey8;
      luma(rgb).convertTo(grey8, CV_8U);
      const double mean = cv::mean(grey8)[0];
      return blend(rgb, cv::Mat(rgb.size(), rgb.type(), cv::Scalar(mean, mean, mean)), 1.0 + m);
    }
    case AugmentOp::Sharpness: {
      // The degenerate image: a 3x3 smoothing (centre 5, neighbours 1, /13) inside, the border as is.
      cv::Mat kernel = (cv::Mat_<float>(3, 3) << 1, 1, 1, 1, 5, 1, 1, 1, 1) / 13.0f, smooth;
      cv::filter2D(rgb, smooth, -1, kernel, cv::Point(-1, -1), 0, cv::BORDER_REPLICATE);
      cv::Mat degenerate = rgb.clone();
      if (rgb.rows > 2 && rgb.cols > 2) {
        const cv::Rect inside(1, 1, rgb.cols - 2, rgb.rows - 2);
        smooth(inside).copyTo(degenerate(inside));
      }
      return blend(rgb, degenerate, 1.0 + m);
    }
    case AugmentOp::Posterize: {
      // Keep the top `bits` bits of each value.
      const int bits = std::clamp(static_cast<int>(m), 0, 8);
      const auto mask = static_cast<uint8_t>(bits == 0 ? 0 : (0xFF << (8 - bits)) & 0xFF);
      cv::Mat out;
      cv::bitwise_and(rgb, cv::Scalar(mask, mask, mask), out);
      return out;
    }
    case AugmentOp::Solarize: {
      // Invert every value at or above the threshold.
      cv::Mat out = rgb.clone();
      out.forEach<cv::Vec3b>([m](cv::Vec3b& p, const int*) {
        for (int c = 0; c < 3; ++c)
          if (p[c] >= m) p[c] = static_cast<uint8_t>(255 - p[c]);
      });
      return out;
    }
    case AugmentOp::AutoContrast: {
      // Each channel stretched from its [min, max] to [0, 255] (left alone when flat).
      std::vector<cv::Mat> channels;
      cv::split(rgb, channels);
      for (auto& c : channels) {
        double lo = 0, hi = 0;
        cv::minMaxLoc(c, &lo, &hi);
        if (hi > lo) c.convertTo(c, CV_8U, 255.0 / (hi - lo), -lo * 255.0 / (hi - lo));
      }
      cv::Mat out;
      cv::merge(channels, out);
      return out;
    }
    case AugmentOp::Equalize: {
      std::vector<cv::Mat> channels;
      cv::split(rgb, channels);
      for (auto& c : channels) c = equalize_channel(c);
      cv::Mat out;
      cv::merge(channels, out);
      return out;
    }
  }
  return rgb.clone();
}

cv::Mat rand_augment(const cv::Mat& rgb, const RandAugmentSpec& spec, Rng& rng) {
  static const std::vector<AugmentOp> signed_ops{AugmentOp::ShearX, AugmentOp::ShearY, AugmentOp::TranslateX, AugmentOp::TranslateY,
                                                 AugmentOp::Rotate, AugmentOp::Brightness, AugmentOp::Color, AugmentOp::Contrast,
                                                 AugmentOp::Sharpness};
  cv::Mat img = rgb;
  const auto& ops = augment_ops();
  for (int i = 0; i < spec.ops; ++i) {
    const AugmentOp op = ops[static_cast<size_t>(rng.randint(0, static_cast<int64_t>(ops.size())))];
    double m = augment_magnitude(op, spec.magnitude, img.rows, img.cols);
    if (std::find(signed_ops.begin(), signed_ops.end(), op) != signed_ops.end() && rng.bernoulli(0.5)) m = -m;
    img = apply_augment_op(img, op, m);
  }
  return img;
}

}  // namespace zoo::data
