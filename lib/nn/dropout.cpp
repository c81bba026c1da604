#include "lib/nn/dropout.h"

#include "lib/core/error.h"

namespace zoo::nn {

torch::Tensor dropout(const torch::Tensor& x, double p, bool training) {
  if (!training || p == 0) return x;
  if (!x.device().is_cpu()) return torch::dropout(x, p, /*train=*/true);
  return x * keep_mask(torch::rand_like(x), p);
}

torch::Tensor keep_mask(torch::Tensor uniform, double p) {
  // keep = [u >= p] / (1 - p) with u ~ U[0, 1): P(keep) = 1 - p, E[x * keep] = x.
  return uniform.ge_(p).mul_(1.0 / (1.0 - p));
}

DropoutImpl::DropoutImpl(double p) : p_(p) {
  if (!(p >= 0 && p < 1)) throw UsageError("invalid dropout " + std::to_string(p) + ": expected a value in [0, 1)");
}

torch::Tensor drop_path(const torch::Tensor& x, double p, bool training) {
  if (!training || p == 0) return x;
  // One draw per example, broadcast over the rest: keep (B, 1, ..., 1) = [u >= p] / (1 - p).
  std::vector<int64_t> shape(static_cast<size_t>(x.dim()), 1);
  shape[0] = x.size(0);
  auto keep = torch::rand(shape, x.options()).ge_(p).to(x.scalar_type()).div_(1.0 - p);
  return x * keep;
}

DropPathImpl::DropPathImpl(double p) : p_(p) {
  if (!(p >= 0 && p < 1)) throw UsageError("invalid drop_path " + std::to_string(p) + ": expected a value in [0, 1)");
}

}  // namespace zoo::nn
