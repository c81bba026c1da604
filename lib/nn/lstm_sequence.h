// One LSTM layer over a whole sequence as one fused CPU node with its own backward (issue 27), for
// char_rnn's layers (impl=fused):
//   a_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh,   (i, f, g, o) = (sigma, sigma, tanh, sigma)(a_t)
//   c_t = f * c_{t-1} + i * g,   h_t = o * tanh(c_t)
// The input projection W_ih x_t + b_ih for all steps is the caller's, one matrix product
// (a linear layer, whose backward is two more). Each step here is the recurrent product
// W_hh h_{t-1} and one loop over the gates; backward walks the steps in reverse with one loop and
// one product (dh_{t-1} = da_t W_hh) per step, and forms W_hh's gradient after the last of them as
// one product over all steps, sum_t da_t^T h_{t-1}, where LibTorch's LSTM (autograd over its
// per-step operators) forms it as T thin products added one by one into the (4H, H) gradient.
//
// Same results as LibTorch's LSTM (to float rounding; tests/unit/test_lstm_sequence.cpp), with
// PyTorch's gate order and weight layout, so torch::nn::LSTM's parameters are used as they are.
// Covers float32 CPU tensors outside a TorchScript trace (a bfloat16 projected input, autocast's,
// is taken in float32); ZOO_LSTM=libtorch forces LibTorch's layer (docs/PERFORMANCE.md's "before").
#pragma once
#include <torch/torch.h>

namespace zoo::nn {

struct LstmSequenceOutput {
  torch::Tensor output;  // (B, T, H): h_t for every step
  torch::Tensor h, c;    // (B, H): the last step's state
};

// Whether lstm_sequence takes this input (B, T, I): a float32 CPU tensor, no trace being recorded,
// ZOO_LSTM not "libtorch".
bool lstm_sequence_covers(const torch::Tensor& input);

// projected (B, T, 4H) = W_ih x_t + b_ih for every step; h0, c0 (B, H); w_hh (4H, H); b_hh (4H).
LstmSequenceOutput lstm_sequence(const torch::Tensor& projected, const torch::Tensor& h0, const torch::Tensor& c0,
                                 const torch::Tensor& w_hh, const torch::Tensor& b_hh);

}  // namespace zoo::nn
