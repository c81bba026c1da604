#include "data/ssl_augment.h"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <array>
#include <cmath>

#include "data/image.h"
#include "data/rand_augment.h"

namespace zoo::data {

namespace {

// Rotates hue by `shift` of a turn (torchvision's adjust_hue), through OpenCV's float HSV (H in degrees).
cv::Mat shift_hue(const cv::Mat& rgb, double shift) {
  cv::Mat f, hsv;
  rgb.convertTo(f, CV_32FC3, 1.0 / 255.0);
  cv::cvtColor(f, hsv, cv::COLOR_RGB2HSV);
  std::vector<cv::Mat> channels;
  cv::split(hsv, channels);
  cv::Mat& h = channels[0];
  h += shift * 360.0;
  // Wrap into [0, 360).
  h.forEach<float>([](float& v, const int*) { v = std::fmod(std::fmod(v, 360.0f) + 360.0f, 360.0f); });
  cv::merge(channels, hsv);
  cv::cvtColor(hsv, f, cv::COLOR_HSV2RGB);
  cv::Mat out;
  f.convertTo(out, CV_8UC3, 255.0);
  return out;
}

}  // namespace

cv::Mat color_jitter(const cv::Mat& rgb, const ViewAugment& view, Rng& rng) {
  // The order, then the factors, as torchvision's ColorJitter.get_params draws them.
  std::array<int, 4> order{0, 1, 2, 3};
  for (int i = 3; i > 0; --i) std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(rng.randint(0, i + 1))]);
  const double b = rng.uniform(1 - view.brightness, 1 + view.brightness), c = rng.uniform(1 - view.contrast, 1 + view.contrast);
  const double s = rng.uniform(1 - view.saturation, 1 + view.saturation), h = rng.uniform(-view.hue, view.hue);
  cv::Mat out = rgb;
  for (int op : order) {
    // The factor f of PIL's enhancers is apply_augment_op's 1 + m.
    if (op == 0) out = apply_augment_op(out, AugmentOp::Brightness, b - 1);
    if (op == 1) out = apply_augment_op(out, AugmentOp::Contrast, c - 1);
    if (op == 2) out = apply_augment_op(out, AugmentOp::Color, s - 1);
    if (op == 3 && h != 0) out = shift_hue(out, h);
  }
  return out;
}

cv::Mat augment_view(const cv::Mat& rgb, const ViewAugment& view, Rng& rng) {
  cv::Mat out = random_resized_crop(rgb, view.size, view.size, rng, view.scale_min, view.scale_max);
  if (rng.bernoulli(view.flip)) out = hflip(out);
  if (rng.bernoulli(view.jitter)) out = color_jitter(out, view, rng);
  if (rng.bernoulli(view.grey)) {
    cv::Mat grey;
    cv::cvtColor(out, grey, cv::COLOR_RGB2GRAY);
    cv::cvtColor(grey, out, cv::COLOR_GRAY2RGB);
  }
  if (rng.bernoulli(view.blur)) {
    // sigma ~ U(0.1, 2.0) at 224 px (BYOL's and DINO's), in proportion at other sizes; the kernel
    // spans 3 sigma each side.
    const double sigma = rng.uniform(0.1, 2.0) * view.size / 224.0;
    cv::GaussianBlur(out, out, cv::Size(0, 0), sigma, sigma, cv::BORDER_REFLECT_101);
  }
  if (rng.bernoulli(view.solarize)) out = apply_augment_op(out, AugmentOp::Solarize, 128);
  return out;
}

std::vector<ViewAugment> byol_views(int size) {
  ViewAugment first;
  first.size = size, first.blur = 1.0, first.solarize = 0.0;
  ViewAugment second = first;
  second.blur = 0.1, second.solarize = 0.2;
  return {first, second};
}

std::vector<ViewAugment> dino_views(int global_size, int local_size, int local) {
  auto views = byol_views(global_size);
  for (auto& v : views) v.scale_min = 0.4;
  ViewAugment small;
  small.size = local_size, small.scale_min = 0.05, small.scale_max = 0.4, small.blur = 0.5;
  for (int i = 0; i < local; ++i) views.push_back(small);
  return views;
}

}  // namespace zoo::data
