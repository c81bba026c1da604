// Dropout (Srivastava et al. 2014): in training each value is zeroed with probability p and the
// survivors scaled by 1 / (1 - p), so the expected activation is unchanged; in evaluation, the
// identity.
//
// Why not torch::nn::Dropout: on the CPU, LibTorch 1.13 draws its Bernoulli mask through the
// generator one element at a time under a lock, and with 2 threads contending for it the
// transformer_mt step spent about half its time there (F.dropout on 1.5M floats: 36 ms, 2
// threads). Its uniform draws (torch::rand) are serial too: still 110 of transformer_mt's 563 ms
// on an Intel Xeon (docs/PERFORMANCE.md, "Dropout masks"). zoo draws the mask with a
// counter-based generator instead, in parallel, in one pass. On CUDA, LibTorch's fused kernel is
// already the fast one and is used as it is.
#pragma once
#include <torch/torch.h>

namespace zoo::nn {

torch::Tensor dropout(const torch::Tensor& x, double p, bool training);

// The mask dropout multiplies by, (sizes) of options' dtype: [u >= p] / (1 - p), u uniform in
// [0, 1) with 24 bits. One 64-bit draw from LibTorch's default CPU generator keys it, and element
// i's u depends on that key and i alone (SplitMix64 of key + i), so the same seed gives the same
// mask on any number of threads. lib/nn/fused_attention draws the weights' mask with it, the same
// mask the unfused path's dropout draws.
torch::Tensor keep_mask(at::IntArrayRef sizes, const torch::TensorOptions& options, double p);

class DropoutImpl : public torch::nn::Module {
 public:
  explicit DropoutImpl(double p = 0.5);
  torch::Tensor forward(const torch::Tensor& x) { return zoo::nn::dropout(x, p_, is_training()); }
  double p() const { return p_; }

 private:
  double p_;
};
TORCH_MODULE(Dropout);

// Stochastic depth (Huang et al. 2016), "drop path" in timm, torchvision's StochasticDepth(p,
// "row"): in training each example's residual branch is dropped whole with probability p and
// kept ones scaled by 1 / (1 - p), x (B, ...) -> (B, ...); in evaluation, the identity.
torch::Tensor drop_path(const torch::Tensor& x, double p, bool training);

class DropPathImpl : public torch::nn::Module {
 public:
  explicit DropPathImpl(double p = 0.0);
  torch::Tensor forward(const torch::Tensor& x) { return zoo::nn::drop_path(x, p_, is_training()); }
  double p() const { return p_; }

 private:
  double p_;
};
TORCH_MODULE(DropPath);

}  // namespace zoo::nn
