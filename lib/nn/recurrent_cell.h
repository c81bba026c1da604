// One step of a vanilla RNN, GRU or LSTM cell, written from the equations with PyTorch's weight
// layout (weight_ih (G*H, I), weight_hh (G*H, H), bias_ih, bias_hh; gates in PyTorch's order), so
// weights move freely between this and torch::nn::RNNCell / GRUCell / LSTMCell. The input
// projection W_ih x + b_ih is separate from the step: a decoder computes it for all teacher-forced
// positions in one matrix product and adds the parts that depend on the step (attention context)
// per step. Used by the RNN decoders; the char-RNN language model's impl=cells reuses it.
#pragma once
#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

namespace zoo::nn {

enum class CellKind { Rnn, Gru, Lstm };
CellKind parse_cell(const std::string& name);  // "rnn" | "gru" | "lstm"; UsageError otherwise
int64_t gate_count(CellKind kind);             // 1, 3, 4

struct CellState {
  torch::Tensor h;  // (B, H)
  torch::Tensor c;  // (B, H) LSTM memory cell; undefined for rnn and gru
};

// The gate activations of one step, each (B, H), for looking inside (zoo visualize): the LSTM's
// i, f, o, g; the GRU's r, z, n (PyTorch's z, which keeps the old state: the seeds' 1 - z_t).
struct CellGates {
  std::vector<std::pair<std::string, torch::Tensor>> named;
};

// One step of a `kind` cell given the projected input W_ih x + b_ih (B, G*H) and the recurrent
// weights: the equations of the seeds, written once for RecurrentCell and the char-RNN language
// model. Fills `gates` when given.
CellState cell_step(CellKind kind, const torch::Tensor& projected_input, const CellState& state, const torch::Tensor& weight_hh,
                    const torch::Tensor& bias_hh, CellGates* gates = nullptr);

// The same step given both halves: the input's W_ih x + b_ih and the state's W_hh h_{t-1} + b_hh
// (B, G*H), for a decoder that forms the latter itself (the LSTM only uses their sum; the GRU
// keeps them apart).
CellState cell_update(CellKind kind, const torch::Tensor& projected_input, const torch::Tensor& hidden, const CellState& state,
                      CellGates* gates = nullptr);

class RecurrentCellImpl : public torch::nn::Module {
 public:
  RecurrentCellImpl(CellKind kind, int64_t input_size, int64_t hidden_size);

  // W_ih[:, offset : offset + x.size(-1)] x, plus b_ih when with_bias: (..., G*H). The input of a
  // step may be a concatenation [a; b]; W_ih [a; b] = W_ih[:, :|a|] a + W_ih[:, |a|:] b.
  torch::Tensor project_input(const torch::Tensor& x, int64_t offset = 0, bool with_bias = true) const;

  // One step given the projected input W_ih x + b_ih (B, G*H).
  CellState step(const torch::Tensor& projected_input, const CellState& state) const;

  CellKind kind() const { return kind_; }
  int64_t hidden_size() const { return hidden_size_; }
  torch::Tensor weight_ih, weight_hh, bias_ih, bias_hh;

 private:
  CellKind kind_;
  int64_t hidden_size_;
};
TORCH_MODULE(RecurrentCell);

}  // namespace zoo::nn
