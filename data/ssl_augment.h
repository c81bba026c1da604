// The views self-supervised methods learn from (BYOL's and DINO's augmentations, as their
// torchvision pipelines): a random resized crop, a flip, colour jitter, grey, Gaussian blur and
// solarisation, each with its method's probability per view. On RGB uint8 images (HWC); the
// draws come from one Rng, seeded per sample by the task, so every worker makes the same views.
#pragma once
#include <opencv2/core.hpp>

#include <string>
#include <vector>

#include "lib/core/random.h"

namespace zoo::data {

struct ViewAugment {
  int size = 224;                              // the crop's side
  double scale_min = 0.08, scale_max = 1.0;    // RandomResizedCrop's area fraction
  double flip = 0.5;
  double jitter = 0.8;                         // ColorJitter(0.4, 0.4, 0.2, 0.1) with this probability
  double brightness = 0.4, contrast = 0.4, saturation = 0.2, hue = 0.1;
  double grey = 0.2;
  double blur = 0.0;                           // GaussianBlur, sigma in [0.1, 2] at 224 px, scaled to size
  double solarize = 0.0;                       // invert values >= 128
};

// One view of `rgb` under `view`: (H, W, 3) uint8 -> (size, size, 3) uint8.
cv::Mat augment_view(const cv::Mat& rgb, const ViewAugment& view, Rng& rng);

// ColorJitter: brightness, contrast, saturation and hue factors drawn uniformly in
// [1 - b, 1 + b] (hue: a shift in [-h, h] of a turn), applied in a random order.
cv::Mat color_jitter(const cv::Mat& rgb, const ViewAugment& view, Rng& rng);

// The views of one method: BYOL's two (blur 1.0 / 0.1, solarise 0 / 0.2, crops of 8-100%);
// DINO's two global ones (crops of 40-100%, the same blur and solarisation) and `local` small
// ones (5-40%, blur 0.5).
std::vector<ViewAugment> byol_views(int size);
std::vector<ViewAugment> dino_views(int global_size, int local_size, int local);

}  // namespace zoo::data
