// Softmax cross-entropy as one fused CPU kernel with its own backward (issue 27), for the large
// output layers of the language, translation, captioning and masked-LM models:
//   loss = -(1 - eps) log p_t - (eps / C) sum_j log p_j,   p = softmax(x)
// LibTorch computes it as log_softmax, then nll_loss (and, with label smoothing, a sum over the
// log-probabilities), and backward as nll_loss_backward (a dense (N, C) gradient that is zero but
// at the targets) then log_softmax_backward: about ten passes over the (N, C) scores, and a
// (N, C) log-probability tensor kept for backward. Here forward reads each row twice while it is
// in cache and keeps one number per row (its log-sum-exp) beside the logits; backward reads the
// logits once and writes the gradient once, p_j - eps / C - (1 - eps) [j = t], with the
// probabilities recomputed (cheaper than storing and re-reading them).
//
// Same results as torch::nn::functional::cross_entropy (to float rounding), to which it falls
// back for what the kernel does not cover: class weights, inputs that are not (N, C) with (N)
// targets, float64, devices other than the CPU, while tracing. Half and bfloat16 logits (under
// autocast) are computed in float32. ZOO_CROSS_ENTROPY=libtorch forces the fallback
// (docs/PERFORMANCE.md's "before").
#pragma once
#include <torch/torch.h>

namespace zoo::nn {

// logits (N, C), target (N) class indices -> the loss, reduced as options.reduction() says.
torch::Tensor cross_entropy(const torch::Tensor& logits, const torch::Tensor& target,
                            const torch::nn::functional::CrossEntropyFuncOptions& options = {});

}  // namespace zoo::nn
