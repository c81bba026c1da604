// RandAugment (Cubuk et al. 2020), as torchvision.transforms.RandAugment and timm's
// "rand-mM-nN": N operations drawn uniformly from 14, each applied at magnitude M of 31 bins
// (0..30), geometric and colour ones with a random sign. DeiT trains with rand-m9-n2 (timm adds
// a magnitude noise, mstd0.5, which this leaves out). On RGB uint8 images (HWC).
#pragma once
#include <opencv2/core.hpp>
#include <optional>
#include <string>
#include <vector>

#include "lib/core/random.h"

namespace zoo::data {

enum class AugmentOp {
  Identity, ShearX, ShearY, TranslateX, TranslateY, Rotate, Brightness, Color, Contrast, Sharpness, Posterize, Solarize,
  AutoContrast, Equalize
};
const std::vector<AugmentOp>& augment_ops();  // the 14, in torchvision's order
std::string augment_op_name(AugmentOp op);

struct RandAugmentSpec {
  int ops = 2;        // N
  int magnitude = 9;  // M, of bins 0..30
};
// "" -> nullopt; "rand-m9-n2" (the parts after "rand" in any order) -> {2, 9}; UsageError otherwise.
std::optional<RandAugmentSpec> parse_rand_augment(const std::string& spec);

// One operation at a magnitude already signed and scaled (torchvision's values: shear 0..0.3,
// translate in pixels, rotate in degrees, colour factors 1 + m, posterize bits, solarize
// threshold); fill 0 for geometric ones, nearest-neighbour sampling.
cv::Mat apply_augment_op(const cv::Mat& rgb, AugmentOp op, double magnitude);

// The magnitude of `op` at bin `bin` (0..30) for an image of `height` x `width`, unsigned.
double augment_magnitude(AugmentOp op, int bin, int height, int width);

// N random operations at magnitude M, drawn from `rng`.
cv::Mat rand_augment(const cv::Mat& rgb, const RandAugmentSpec& spec, Rng& rng);

}  // namespace zoo::data
