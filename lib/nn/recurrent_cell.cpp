#include "lib/nn/recurrent_cell.h"

#include <cmath>

#include "lib/core/error.h"

namespace zoo::nn {

CellKind parse_cell(const std::string& name) {
  if (name == "rnn") return CellKind::Rnn;
  if (name == "gru") return CellKind::Gru;
  if (name == "lstm") return CellKind::Lstm;
  throw UsageError("invalid cell '" + name + "': expected rnn, gru or lstm");
}

int64_t gate_count(CellKind kind) { return kind == CellKind::Rnn ? 1 : kind == CellKind::Gru ? 3 : 4; }

RecurrentCellImpl::RecurrentCellImpl(CellKind kind, int64_t input_size, int64_t hidden_size)
    : kind_(kind), hidden_size_(hidden_size) {
  const int64_t gates = gate_count(kind) * hidden_size;
  // PyTorch's initialisation: U(-1/sqrt(H), 1/sqrt(H)) for every weight and bias.
  const double bound = 1.0 / std::sqrt(static_cast<double>(hidden_size));
  weight_ih = register_parameter("weight_ih", torch::empty({gates, input_size}).uniform_(-bound, bound));
  weight_hh = register_parameter("weight_hh", torch::empty({gates, hidden_size}).uniform_(-bound, bound));
  bias_ih = register_parameter("bias_ih", torch::empty({gates}).uniform_(-bound, bound));
  bias_hh = register_parameter("bias_hh", torch::empty({gates}).uniform_(-bound, bound));
}

torch::Tensor RecurrentCellImpl::project_input(const torch::Tensor& x, int64_t offset, bool with_bias) const {
  auto weight = weight_ih.narrow(1, offset, x.size(-1));
  return with_bias ? torch::nn::functional::linear(x, weight, bias_ih) : torch::nn::functional::linear(x, weight);
}

CellState RecurrentCellImpl::step(const torch::Tensor& projected_input, const CellState& state) const {
  return cell_step(kind_, projected_input, state, weight_hh, bias_hh);
}

CellState cell_step(CellKind kind, const torch::Tensor& projected_input, const CellState& state, const torch::Tensor& weight_hh,
                    const torch::Tensor& bias_hh, CellGates* gates) {
  return cell_update(kind, projected_input, torch::addmm(bias_hh, state.h, weight_hh.t()), state, gates);  // W_hh h + b_hh, (B, G*H)
}

CellState cell_update(CellKind kind, const torch::Tensor& projected_input, const torch::Tensor& hidden, const CellState& state,
                      CellGates* gates) {
  switch (kind) {
    case CellKind::Rnn:
      // h_t = tanh(W_hh h_{t-1} + W_xh x_t)
      return {torch::tanh(projected_input + hidden), {}};
    case CellKind::Gru: {
      auto x = projected_input.chunk(3, 1), h = hidden.chunk(3, 1);  // [r, z, n] parts
      // r_t = sigma(W_r x_t + U_r h_{t-1} + b_r),  z_t = sigma(W_z x_t + U_z h_{t-1} + b_z)
      auto r = torch::sigmoid(x[0] + h[0]), z = torch::sigmoid(x[1] + h[1]);
      // n_t = tanh(W_h x_t + r_t * (U_h h_{t-1}) + b_h): the seeds' candidate h^_t (PyTorch
      // applies r after U_h's product, Cho et al. before it)
      auto n = torch::tanh(x[2] + r * h[2]);
      if (gates) gates->named = {{"r", r}, {"z", z}, {"n", n}};
      // h_t = (1 - z_t) * n_t + z_t * h_{t-1}: PyTorch's z is the seeds' 1 - z_t
      return {n + z * (state.h - n), {}};
    }
    case CellKind::Lstm: {
      auto g = (projected_input + hidden).chunk(4, 1);  // [i, f, g, o]
      auto i = torch::sigmoid(g[0]), f = torch::sigmoid(g[1]), cand = torch::tanh(g[2]), o = torch::sigmoid(g[3]);
      // c_t = f * c_{t-1} + i * g
      auto c = f * state.c + i * cand;
      if (gates) gates->named = {{"i", i}, {"f", f}, {"o", o}, {"g", cand}};
      // h_t = o * tanh(c_t)
      return {o * torch::tanh(c), c};
    }
  }
  return {};
}

}  // namespace zoo::nn
