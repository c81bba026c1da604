#include "lib/train/precision.h"

#include <ATen/autocast_mode.h>
#include <torch/version.h>

#include <fstream>
#include <sstream>

#include "lib/core/error.h"

// LibTorch 2.4 took the device type as an argument and deprecated the per-device functions.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define ZOO_AUTOCAST_BY_DEVICE 1
#endif

namespace zoo {

Precision parse_precision(const std::string& name) {
  if (name == "fp32") return Precision::fp32;
  if (name == "bf16") return Precision::bf16;
  if (name == "fp16") return Precision::fp16;
  throw UsageError("invalid --precision '" + name + "': expected fp32, bf16 or fp16");
}

std::string precision_name(Precision precision) {
  switch (precision) {
    case Precision::bf16: return "bf16";
    case Precision::fp16: return "fp16";
    default: return "fp32";
  }
}

void check_precision(Precision precision, const torch::Device& device) {
  if (precision == Precision::fp16 && !device.is_cuda())
    throw UsageError("--precision fp16 needs a CUDA device (autocast on the CPU is bf16 only); use --precision bf16 on " + device.str());
}

bool cpuinfo_has_bf16(std::istream& cpuinfo) {
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line);
    std::string word;
    while (words >> word)
      if (word == "avx512_bf16" || word == "amx_bf16") return true;
    return false;
  }
  return false;
}

bool cpu_has_bf16() {
  static const bool has = [] {
    std::ifstream in("/proc/cpuinfo");
    return cpuinfo_has_bf16(in);
  }();
  return has;
}

namespace {

at::ScalarType autocast_dtype(Precision precision) { return precision == Precision::fp16 ? at::kHalf : at::kBFloat16; }

}  // namespace

AutocastScope::AutocastScope(Precision precision, const torch::Device& device) {
  if (precision == Precision::fp32) return;
  active_ = true;
  cuda_ = device.is_cuda();
#ifdef ZOO_AUTOCAST_BY_DEVICE
  const auto type = cuda_ ? at::kCUDA : at::kCPU;
  was_enabled_ = at::autocast::is_autocast_enabled(type);
  was_dtype_ = at::autocast::get_autocast_dtype(type);
  at::autocast::set_autocast_dtype(type, autocast_dtype(precision));
  at::autocast::set_autocast_enabled(type, true);
#else
  if (cuda_) {
    was_enabled_ = at::autocast::is_enabled(), was_dtype_ = at::autocast::get_autocast_gpu_dtype();
    at::autocast::set_autocast_gpu_dtype(autocast_dtype(precision));
    at::autocast::set_enabled(true);
  } else {
    was_enabled_ = at::autocast::is_cpu_enabled(), was_dtype_ = at::autocast::get_autocast_cpu_dtype();
    at::autocast::set_autocast_cpu_dtype(autocast_dtype(precision));
    at::autocast::set_cpu_enabled(true);
  }
#endif
  at::autocast::increment_nesting();
}

AutocastScope::~AutocastScope() {
  if (!active_) return;
  // The casts of the weights are cached for the pass; the next one sees updated weights.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
#ifdef ZOO_AUTOCAST_BY_DEVICE
  const auto type = cuda_ ? at::kCUDA : at::kCPU;
  at::autocast::set_autocast_enabled(type, was_enabled_);
  at::autocast::set_autocast_dtype(type, was_dtype_);
#else
  if (cuda_) at::autocast::set_enabled(was_enabled_), at::autocast::set_autocast_gpu_dtype(was_dtype_);
  else at::autocast::set_cpu_enabled(was_enabled_), at::autocast::set_autocast_cpu_dtype(was_dtype_);
#endif
}

LossScaler::LossScaler(double initial_scale, int64_t growth_interval) : scale_(initial_scale), growth_interval_(growth_interval) {}

bool LossScaler::unscale(const std::vector<torch::Tensor>& parameters) const {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> finite;
  for (const auto& p : parameters) {
    if (!p.grad().defined()) continue;
    p.grad().mul_(1.0 / scale_);
    finite.push_back(p.grad().isfinite().all());
  }
  return finite.empty() || torch::stack(finite).all().item<bool>();
}

void LossScaler::update(bool finite) {
  if (!finite) {
    scale_ *= 0.5, good_steps_ = 0;
    return;
  }
  if (++good_steps_ == growth_interval_) scale_ *= 2.0, good_steps_ = 0;
}

Json LossScaler::state() const { return {{"scale", scale_}, {"good_steps", good_steps_}}; }

void LossScaler::restore(const Json& state) {
  scale_ = state.at("scale").get<double>();
  good_steps_ = state.at("good_steps").get<int64_t>();
}

}  // namespace zoo
