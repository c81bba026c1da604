// Mixup (Zhang et al. 2018) and CutMix (Yun et al. 2019) on a collated batch, as timm's Mixup
// in "batch" mode: each image is mixed with the batch's mirror image (index B - 1 - i) and the
// one-hot targets likewise, so the loss sees soft targets.
//   mixup:  x = lam x_i + (1 - lam) x_j,   lam ~ Beta(alpha, alpha)
//   cutmix: a box of area (1 - lam) of x_i replaced by x_j's; lam then recomputed from the
//           clipped box, so targets weigh each image by the pixels it contributes.
#pragma once
#include <torch/torch.h>

#include "lib/core/random.h"

namespace zoo::data {

struct MixConfig {
  double mixup_alpha = 0.0;   // 0: no mixup
  double cutmix_alpha = 0.0;  // 0: no cutmix
  double prob = 1.0;          // chance that a batch is mixed at all
  double switch_prob = 0.5;   // with both on: chance of cutmix rather than mixup
  double label_smoothing = 0.0;
  bool enabled() const { return mixup_alpha > 0 || cutmix_alpha > 0; }
};

struct MixedBatch {
  torch::Tensor images;   // (B, 3, H, W)
  torch::Tensor targets;  // (B, classes) probabilities, each row summing to 1
  double lam = 1.0;       // the weight of each image's own label
};

// Beta(a, a) from the portable Rng (through two Gamma(a) draws, Marsaglia and Tsang).
double sample_beta(double a, Rng& rng);

// Mixes `images` (B, 3, H, W) and `labels` (B) as `config` says, drawing from `rng` only, so a
// batch's mix is a function of the seed. Smoothing is applied to the one-hot targets before
// mixing (timm's mixup_target).
MixedBatch mix_batch(const torch::Tensor& images, const torch::Tensor& labels, int64_t classes, const MixConfig& config, Rng& rng);

}  // namespace zoo::data
