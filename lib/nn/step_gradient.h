// Tensors that every step of a recurrence reads, with their gradients formed once for all the
// steps instead of once per step: a weight's here; attention keys' in lib/nn/attention_kernels.h.
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

// What the steps' backward passes leave for a shared tensor's gradient, until the node that
// gathers it runs: after all of them, since every step's node feeds it.
struct StepRecord : torch::CustomClassHolder {
  // The tensor's whole gradient from the steps whose backward ran (undefined if none did); the
  // record starts afresh.
  virtual torch::Tensor take_gradient() = 0;
};

// Whether a tensor read at every step should gather its gradient so: it needs one, a graph is
// being built, and no TorchScript trace is being recorded (a trace sees ATen operations only).
bool gathers_step_gradients(const torch::Tensor& tensor);

// `tensor` as the steps read it, so that they can leave their gradients in `record` and return
// none themselves: the identity forward; backward, record->take_gradient().
torch::Tensor gather_step_gradients(const torch::Tensor& tensor, const c10::intrusive_ptr<StepRecord>& record);

// Where a node's saved record is kept (a capsule in its context's saved data).
torch::autograd::AutogradContext& save_record(torch::autograd::AutogradContext& ctx, const c10::intrusive_ptr<StepRecord>& record);
template <typename Record>
Record& saved_record(torch::autograd::AutogradContext& ctx) {
  return *static_cast<Record*>(ctx.saved_data["record"].toCapsule().get());
}

// A weight's: x_t and dy_t of each step, W's gradient X^T dY.
struct ProductRecord : StepRecord {
  std::vector<torch::Tensor> inputs, output_grads;
  // W is a transposed view (W_ih.t(), as a linear layer's weight is used): its gradient is formed
  // in the parameter's own layout, (dY^T X)^T, so that reaching the parameter costs no transposing copy.
  bool transposed = false;
  torch::Tensor take_gradient() override;
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
  torch::Tensor weight_;                     // W, seen through the node that gathers its gradient
  c10::intrusive_ptr<ProductRecord> record_;  // null when W's gradient is not formed
};

}  // namespace zoo::nn
