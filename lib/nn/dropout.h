// Dropout (Srivastava et al. 2014): in training each value is zeroed with probability p and the
// survivors scaled by 1 / (1 - p), so the expected activation is unchanged; in evaluation, the
// identity.
//
// Why not torch::nn::Dropout: on the CPU, LibTorch 1.13 draws its Bernoulli mask through the
// generator one element at a time under a lock, and with 2 threads contending for it the
// transformer_mt step spent about half its time there (F.dropout on 1.5M floats: 36 ms, 2
// threads). Uniform draws compared with p give the same distribution at 4 ms. On CUDA,
// LibTorch's fused kernel is already the fast one and is used as it is.
#pragma once
#include <torch/torch.h>

namespace zoo::nn {

torch::Tensor dropout(const torch::Tensor& x, double p, bool training);

// The mask dropout multiplies by, from uniform draws u in [0, 1): [u >= p] / (1 - p), in place.
// (lib/nn/fused_attention draws the same mask for the weights it drops inside its kernel.)
torch::Tensor keep_mask(torch::Tensor uniform, double p);

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
