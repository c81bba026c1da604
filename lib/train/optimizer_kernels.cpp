#include "lib/train/optimizer_kernels.h"

namespace zoo {

// Each loop compiled for AVX-512, AVX2 and the baseline; the loader picks the CPU's.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define ZOO_CPU_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define ZOO_CPU_CLONES
#endif

// m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
// p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// (Kingma & Ba 2015, in LibTorch's order of operations; AdamW first decays p by 1 - lr wd,
// Loshchilov & Hutter 2019; Adam's L2 adds wd p to the gradient).
ZOO_CPU_CLONES void adam_update(const AdamSegment& s, int64_t begin, int64_t end) {
  float* __restrict p = s.p;
  const float* __restrict g = s.g;
  float* __restrict m = s.m;
  float* __restrict v = s.v;
  for (int64_t i = begin; i < end; ++i) {
    const float grad = g[i] + s.l2 * p[i];
    const float mean = s.beta1 * m[i] + s.one_minus_beta1 * grad;
    const float square = s.beta2 * v[i] + s.one_minus_beta2 * grad * grad;
    m[i] = mean;
    v[i] = square;
    p[i] = p[i] * s.keep - s.step_size * (mean / (__builtin_sqrtf(square) / s.sqrt_bias_correction2 + s.eps));
  }
}

// d = g + wd p;  b = mu b + d (b = d at the first step);  p -= lr (d + mu b) with Nesterov, lr b without.
ZOO_CPU_CLONES void sgd_update(const SgdSegment& s, int64_t begin, int64_t end) {
  float* __restrict p = s.p;
  const float* __restrict g = s.g;
  float* __restrict b = s.buffer;
  if (!b) {
    for (int64_t i = begin; i < end; ++i) p[i] -= s.lr * (g[i] + s.weight_decay * p[i]);
    return;
  }
  for (int64_t i = begin; i < end; ++i) {
    const float d = g[i] + s.weight_decay * p[i];
    const float buffer = s.first ? d : s.momentum * b[i] + d;
    b[i] = buffer;
    p[i] -= s.lr * (s.nesterov ? d + s.momentum * buffer : buffer);
  }
}

}  // namespace zoo
