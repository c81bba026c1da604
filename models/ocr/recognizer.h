// What every text-line recognizer of the zoo offers the OCR task: a batch of line images, padded
// on the right to the widest, in; per-column label scores out, for CTC (blank = label 0).
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

namespace zoo::models {

class CtcRecognizerImpl : public torch::nn::Module {
 public:
  // images (B, C, H, W) normalised, each padded on the right from its own width widths[b] (B,
  // int64) to W -> scores (T, B, num_classes), unnormalised (CTC takes their log-softmax); column
  // t of example b reads the image around x = t * W / T, and only t < output_lengths(widths)[b]
  // belong to example b.
  virtual torch::Tensor forward(torch::Tensor images, torch::Tensor widths) = 0;
  // Each example's T_b from its image width (B) -> (B), with tensor operations only (traced).
  virtual torch::Tensor output_lengths(const torch::Tensor& widths) const = 0;
  // Parameter-name prefixes of the output layer (resized when the alphabet changes).
  virtual std::vector<std::string> head_prefixes() const = 0;
};

// A bidirectional LSTM over padded sequences whose outputs are those of each sequence alone:
// the backward direction starts at each sequence's own last step (the padding never reaches it).
// It holds a torch::nn::LSTM (PyTorch's names: weight_ih_l0, ..._reverse) and runs its two
// directions as two calls, the second on the sequences reversed within their lengths; with equal
// lengths it is PyTorch's bidirectional nn.LSTM exactly.
//   h_t = LSTM_fwd(x_t, h_{t-1});  g_t = LSTM_bwd(x_t, g_{t+1});  y_t = [h_t; g_t]
torch::Tensor bidirectional_lstm(torch::nn::LSTM& lstm, const torch::Tensor& x, const torch::Tensor& lengths);

}  // namespace zoo::models
