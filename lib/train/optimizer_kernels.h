// The per-element loops of the fused optimizer steps (lib/train/fused_optim.h), free of LibTorch
// so that they compile on their own with the flags that let GCC vectorise them
// (-fno-math-errno: a square root that need not set errno) for AVX-512, AVX2 and the baseline.
#pragma once
#include <cstdint>

namespace zoo {

// One float32 parameter's Adam or AdamW update: its data, gradient and moments, n elements.
struct AdamSegment {
  float* p;
  const float* g;
  float* m;  // exp_avg
  float* v;  // exp_avg_sq
  int64_t n;
  float keep;  // AdamW: p *= 1 - lr wd before the update (1 for Adam)
  float l2;    // Adam: g += wd p (0 for AdamW)
  float beta1, beta2, one_minus_beta1, one_minus_beta2;
  float sqrt_bias_correction2, eps, step_size;  // step_size = lr / (1 - beta1^t)
};

// One float32 parameter's SGD update; buffer is null without momentum.
struct SgdSegment {
  float* p;
  const float* g;
  float* buffer;  // the momentum buffer
  int64_t n;
  bool first;     // the buffer starts as the first step's d_p
  bool nesterov;
  float lr, weight_decay, momentum;
};

// Updates elements [begin, end) of the segment.
void adam_update(const AdamSegment& s, int64_t begin, int64_t end);
void sgd_update(const SgdSegment& s, int64_t begin, int64_t end);

}  // namespace zoo
