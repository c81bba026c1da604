#include "data/mixup.h"

#include <algorithm>
#include <cmath>

namespace zoo::data {

namespace {

// Gamma(a, 1) by Marsaglia and Tsang (2000); for a < 1, Gamma(a + 1) U^(1/a).
double sample_gamma(double a, Rng& rng) {
  if (a < 1.0) return sample_gamma(a + 1.0, rng) * std::pow(std::max(rng.uniform(), 1e-300), 1.0 / a);
  const double d = a - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
  while (true) {
    double x = 0, v = 0;
    do {
      x = rng.normal();
      v = 1.0 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const double u = rng.uniform();
    if (u < 1.0 - 0.0331 * x * x * x * x) return d * v;
    if (std::log(std::max(u, 1e-300)) < 0.5 * x * x + d * (1.0 - v + std::log(v))) return d * v;
  }
}

}  // namespace

double sample_beta(double a, Rng& rng) {
  const double x = sample_gamma(a, rng), y = sample_gamma(a, rng);
  return x + y > 0 ? x / (x + y) : 0.5;
}

MixedBatch mix_batch(const torch::Tensor& images, const torch::Tensor& labels, int64_t classes, const MixConfig& config, Rng& rng) {
  // Smoothed one-hot targets: 1 - eps + eps/C on the label, eps/C elsewhere: (B, C)
  const double off = config.label_smoothing / static_cast<double>(classes);
  auto one_hot = torch::full({labels.size(0), classes}, off, images.options())
                     .scatter_(1, labels.unsqueeze(1), 1.0 - config.label_smoothing + off);
  MixedBatch out{images, one_hot, 1.0};
  if (!config.enabled() || !rng.bernoulli(config.prob)) return out;
  const bool cutmix = config.cutmix_alpha > 0 && (config.mixup_alpha <= 0 || rng.bernoulli(config.switch_prob));
  double lam = sample_beta(cutmix ? config.cutmix_alpha : config.mixup_alpha, rng);
  auto partner = images.flip(0);  // x_j = x_{B-1-i}
  if (cutmix) {
    // A box of side sqrt(1 - lam) times the image's, centred uniformly, clipped at the edges.
    const int64_t h = images.size(2), w = images.size(3);
    const double ratio = std::sqrt(1.0 - lam);
    const auto cut_h = static_cast<int64_t>(ratio * static_cast<double>(h)), cut_w = static_cast<int64_t>(ratio * static_cast<double>(w));
    const int64_t cy = rng.randint(0, h), cx = rng.randint(0, w);
    const int64_t y0 = std::clamp<int64_t>(cy - cut_h / 2, 0, h), y1 = std::clamp<int64_t>(cy + cut_h / 2, 0, h);
    const int64_t x0 = std::clamp<int64_t>(cx - cut_w / 2, 0, w), x1 = std::clamp<int64_t>(cx + cut_w / 2, 0, w);
    out.images = images.clone();
    out.images.narrow(2, y0, y1 - y0).narrow(3, x0, x1 - x0).copy_(partner.narrow(2, y0, y1 - y0).narrow(3, x0, x1 - x0));
    // lam = the share of pixels the image keeps of its own.
    lam = 1.0 - static_cast<double>((y1 - y0) * (x1 - x0)) / static_cast<double>(h * w);
  } else {
    out.images = images * lam + partner * (1.0 - lam);
  }
  out.targets = one_hot * lam + one_hot.flip(0) * (1.0 - lam);
  out.lam = lam;
  return out;
}

}  // namespace zoo::data
