// What the text-line recognizers of the zoo offer the OCR task: a batch of line images, padded on
// the right to the widest, in; per-column label scores out for CTC (blank = label 0), or an
// attention decoder's readings one character at a time.
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

#include "lib/nn/search.h"

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

// Runs a convolutional stem (a Sequential of Conv2d, BatchNorm2d, ReLU and MaxPool2d) over right-
// padded lines so that each line's features are those of the line alone: in the image and after
// every layer the columns past the line's own width at that resolution are set to 0, which is what
// a convolution's zero padding shows the line alone, and a max pool reaching into them after a
// ReLU returns what it would alone (the activations are >= 0, and a pool's own padding is -inf). So evaluation does not depend on
// which lines share a batch. images (B, C, H, W), widths (B) -> features (B, C', H', W') and each
// line's width in them (B), from tensor operations only (traced).
std::pair<torch::Tensor, torch::Tensor> run_line_stem(torch::nn::Sequential& stem, const torch::Tensor& images, const torch::Tensor& widths);

}  // namespace zoo::models

namespace zoo::models {

// What every attention decoder of text lines offers the OCR task (Bahdanau et al.'s soft
// attention, reading the line's columns one character at a time). Label 0, which is CTC's blank,
// is here the start symbol fed at the first step and the end symbol that stops a reading; labels
// 1..K are the alphabet's characters, as for CTC, so one alphabet serves both kinds.
class AttentionRecognizerImpl : public torch::nn::Module {
 public:
  // images (B, C, H, W) and widths (B) as CtcRecognizerImpl's -> the decoder's initial state, a
  // list of tensors whose first dimension is the batch (searches reorder it).
  virtual std::vector<torch::Tensor> encode(const torch::Tensor& images, const torch::Tensor& widths) = 0;
  // One step: the previous labels (B) -> log-probabilities (B, labels), the next state, the
  // attention over the columns (B, T).
  virtual nn::DecodeStep decode_step(const torch::Tensor& labels, const std::vector<torch::Tensor>& state) = 0;
  // Teacher-forced scores (B, L, labels) for labels_in (B, L) = 0 y_1 ... y_{L-1}.
  virtual torch::Tensor forward(const torch::Tensor& images, const torch::Tensor& widths, const torch::Tensor& labels_in) = 0;
  // The encoder's columns T_b per line (B) -> (B), with tensor operations only (traced).
  virtual torch::Tensor output_lengths(const torch::Tensor& widths) const = 0;
  virtual std::vector<std::string> head_prefixes() const = 0;
};

}  // namespace zoo::models
