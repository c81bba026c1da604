#include "lib/nn/dropout.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <cstdint>
#include <mutex>

#include "lib/core/error.h"
#include "lib/core/random.h"

namespace zoo::nn {
namespace {

uint64_t dropout_key() {
  auto* generator = at::check_generator<at::CPUGeneratorImpl>(at::detail::getDefaultCPUGenerator());
  std::lock_guard<std::mutex> lock(generator->mutex_);
  return generator->random64();
}

}  // namespace

torch::Tensor dropout(const torch::Tensor& x, double p, bool training) {
  if (!training || p == 0) return x;
  if (!x.device().is_cpu()) return torch::dropout(x, p, /*train=*/true);
  return x * keep_mask(x.sizes(), x.options(), p);
}

torch::Tensor keep_mask(at::IntArrayRef sizes, const torch::TensorOptions& options, double p) {
  // keep = [u >= p] / (1 - p) with u ~ U[0, 1): P(keep) = 1 - p, E[x * keep] = x. u = bits / 2^24
  // for 24 random bits, so u >= p exactly when bits >= ceil(p 2^24): an integer comparison.
  auto mask = torch::empty(sizes, options.dtype(torch::kFloat).device(torch::kCPU));
  const uint64_t key = dropout_key();
  const auto threshold = static_cast<uint32_t>(std::ceil(p * 16777216.0));
  const float scale = static_cast<float>(1.0 / (1.0 - p));
  float* out = mask.data_ptr<float>();
  const int64_t n = mask.numel();
  // Each 64-bit output gives two elements their 24 bits (its top and its middle).
  at::parallel_for(0, (n + 1) / 2, 8192, [&](int64_t begin, int64_t end) {
    for (int64_t pair = begin; pair < end; ++pair) {
      const uint64_t bits = splitmix64(key, static_cast<uint64_t>(pair));
      out[2 * pair] = static_cast<uint32_t>(bits >> 40) >= threshold ? scale : 0.f;
      if (2 * pair + 1 < n) out[2 * pair + 1] = static_cast<uint32_t>((bits >> 8) & 0xFFFFFF) >= threshold ? scale : 0.f;
    }
  });
  return mask.to(options);
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
