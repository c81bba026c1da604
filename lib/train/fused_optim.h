// SGD, Adam and AdamW whose step is one pass over every parameter at once (issue 27's fused
// optimizer step), the optimizers the trainer (lib/train/optim.cpp) and `zoo bench` use.
// LibTorch's optimizers update one tensor at a time with 5-8 separate kernels each (mul_, add_,
// addcmul_, sqrt, div, add_, addcdiv_), so a step reads and writes every parameter, gradient and
// moment several times and pays a kernel launch per op per tensor. Here one parallel loop walks
// all float32 CPU tensors of all groups as if they were one buffer and does the whole update per
// element in registers: the arithmetic of the LibTorch step (the parameters agree to one ulp
// after a step), the same state objects (so checkpoints and resumed runs are unchanged), the same
// options.
//
// Anything the loop does not cover (CUDA, other dtypes, non-contiguous or sparse tensors,
// AMSGrad, SGD's dampening) takes LibTorch's own step for the whole call, as does every step
// under ZOO_OPTIMIZER=libtorch (the measurement's "before").
#pragma once
#include <torch/torch.h>

#include <vector>

namespace zoo {

class FusedSGD : public torch::optim::SGD {
 public:
  using torch::optim::SGD::SGD;
  torch::Tensor step(LossClosure closure = nullptr) override;
};

class FusedAdam : public torch::optim::Adam {
 public:
  using torch::optim::Adam::Adam;
  torch::Tensor step(LossClosure closure = nullptr) override;
};

class FusedAdamW : public torch::optim::AdamW {
 public:
  using torch::optim::AdamW::AdamW;
  torch::Tensor step(LossClosure closure = nullptr) override;
};

}  // namespace zoo
