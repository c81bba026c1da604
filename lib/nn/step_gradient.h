// Tensors that every step of a recurrence reads, with their gradients formed once for all the
// steps instead of once per step.
//
// Autograd gives a tensor read at T steps T separate gradients and adds them up one by one. For a
// weight W in y_t = x_t W that is T thin products x_t^T dy_t, each followed by a pass over the
// whole (K, N) gradient; here each step's backward only keeps x_t and dy_t, and after the last of
// them W's gradient is X^T dY, one product over all the steps (the way cuDNN's RNN backward forms
// its weight gradients). Show, Attend and Tell's LSTM reads a 2048 x 2048 context weight at each
// of 20 steps: docs/PERFORMANCE.md, sat_soft, has the measurements.
#pragma once
#include <torch/torch.h>

#include <vector>

namespace zoo::nn {

// What the steps' backward passes leave for the shared weight's gradient: x_t and dy_t of each
// step whose backward ran, until the gathering node forms X^T dY.
struct StepRecord : torch::CustomClassHolder {
  std::vector<torch::Tensor> inputs, output_grads;
};

// y_t = input_t + x_t W at every step t, for one forward pass: build it once before the steps and
// call addmm at each. Without a graph (evaluation, decoding, W frozen) or while tracing for
// export it is torch::addmm.
class StepProduct {
 public:
  explicit StepProduct(const torch::Tensor& weight);  // W (K, N), any strides

  // input (B, N) + x (B, K) W
  torch::Tensor addmm(const torch::Tensor& input, const torch::Tensor& x) const;

 private:
  torch::Tensor weight_;                  // W, seen through the node that gathers its gradient
  c10::intrusive_ptr<StepRecord> record_;  // null when W's gradient is not formed
};

}  // namespace zoo::nn
