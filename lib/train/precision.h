// --precision fp32|bf16|fp16: autocast for the forward pass and, for fp16, dynamic loss scaling
// (Micikevicius et al. 2018, "Mixed Precision Training"; PyTorch's torch.amp). Weights, their
// gradients, the optimizer's state and checkpoints stay fp32; autocast runs the matrix products
// and convolutions in the lower precision and keeps reductions and losses in fp32.
#pragma once
#include <torch/torch.h>

#include <istream>
#include <string>

#include "lib/core/options.h"

namespace zoo {

enum class Precision { fp32, bf16, fp16 };

// "fp32" | "bf16" | "fp16", UsageError otherwise.
Precision parse_precision(const std::string& name);
std::string precision_name(Precision precision);

// fp16 autocast needs CUDA (LibTorch's CPU autocast is bf16 only): UsageError naming the device.
void check_precision(Precision precision, const torch::Device& device);

// Whether this CPU computes bf16 in hardware (AVX-512 BF16 or AMX, from /proc/cpuinfo's flags).
bool cpu_has_bf16();
// The same answer for a /proc/cpuinfo text (the first "flags" line decides).
bool cpuinfo_has_bf16(std::istream& cpuinfo);

// While alive, operations on `device` run under autocast to `precision` (nothing for fp32).
class AutocastScope {
 public:
  AutocastScope(Precision precision, const torch::Device& device);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool active_ = false, cuda_ = false, was_enabled_ = false;
  at::ScalarType was_dtype_ = at::kFloat;
};

// Dynamic loss scaling (torch.amp.GradScaler's rule): the loss is multiplied by `scale` before
// backward so that small fp16 gradients do not flush to zero; the gradients are divided by it
// before the step. A step whose gradients overflowed (inf or NaN) is skipped and the scale
// halved; after `growth_interval` good steps in a row it doubles.
class LossScaler {
 public:
  explicit LossScaler(double initial_scale = 65536.0, int64_t growth_interval = 2000);
  double scale() const { return scale_; }
  torch::Tensor scale_loss(const torch::Tensor& loss) const { return loss * scale_; }
  // Divides every defined gradient by the scale; false when any of them is not finite.
  bool unscale(const std::vector<torch::Tensor>& parameters) const;
  // After the step (taken or skipped): the next scale.
  void update(bool finite);
  Json state() const;
  void restore(const Json& state);

 private:
  double scale_;
  int64_t growth_interval_, good_steps_ = 0;
};

}  // namespace zoo
