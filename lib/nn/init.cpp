#include "lib/nn/init.h"

#include <cmath>

namespace zoo::nn {

torch::Tensor trunc_normal_(torch::Tensor tensor, double std, double mean, double a, double b) {
  torch::NoGradGuard no_grad;
  auto normal_cdf = [](double x) { return (1.0 + std::erf(x / std::sqrt(2.0))) / 2.0; };
  const double low = normal_cdf((a - mean) / std), high = normal_cdf((b - mean) / std);
  // u ~ U[2 low - 1, 2 high - 1], then x = mean + std * sqrt(2) * erfinv(u) lies in [a, b].
  tensor.uniform_(2 * low - 1, 2 * high - 1);
  tensor.erfinv_().mul_(std * std::sqrt(2.0)).add_(mean);
  return tensor.clamp_(a, b);
}

torch::nn::Linear trunc_normal_linear(int64_t in, int64_t out, double std) {
  torch::nn::Linear layer(in, out);
  torch::NoGradGuard no_grad;
  trunc_normal_(layer->weight, std);
  layer->bias.zero_();
  return layer;
}

torch::nn::LayerNorm layer_norm(int64_t width, double eps) { return torch::nn::LayerNorm(torch::nn::LayerNormOptions({width}).eps(eps)); }

}  // namespace zoo::nn
