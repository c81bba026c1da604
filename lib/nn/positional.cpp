#include "lib/nn/positional.h"

#include <cmath>

#include "lib/core/error.h"

namespace zoo::nn {

PositionKind parse_positions(const std::string& name) {
  if (name == "learned") return PositionKind::Learned;
  if (name == "sinusoidal") return PositionKind::Sinusoidal;
  if (name == "rotary") return PositionKind::Rotary;
  throw UsageError("invalid positions '" + name + "': expected learned, sinusoidal or rotary");
}

namespace {

// pos / base^(2i/d) for pos < length and i < ceil(d/2): (length, ceil(d/2)), in double for accuracy.
torch::Tensor angles(int64_t length, int64_t dim, double base) {
  auto position = torch::arange(length, torch::kFloat64).unsqueeze(1);                      // (L, 1)
  auto inverse_frequency = torch::pow(base, -torch::arange(0, dim, 2, torch::kFloat64) / dim);  // (ceil(d/2))
  return position * inverse_frequency;
}

}  // namespace

torch::Tensor sinusoidal_table(int64_t length, int64_t dim) {
  auto angle = angles(length, dim, 10000.0);
  auto table = torch::zeros({length, dim}, torch::kFloat64);
  table.slice(1, 0, dim, 2).copy_(angle.sin());
  table.slice(1, 1, dim, 2).copy_(angle.cos().slice(1, 0, dim / 2));
  return table.to(torch::kFloat32);
}

RotaryTable rotary_table(int64_t length, int64_t dim, double base) {
  if (dim % 2 != 0) throw UsageError("rotary positions need an even head width, not " + std::to_string(dim));
  auto angle = angles(length, dim, base);
  return {angle.cos().to(torch::kFloat32), angle.sin().to(torch::kFloat32)};
}

torch::Tensor apply_rotary(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  auto pairs = x.unflatten(-1, {x.size(-1) / 2, 2});  // (..., T, D/2, 2); D is fixed by the model
  auto even = pairs.select(-1, 0), odd = pairs.select(-1, 1);
  // (x_{2i}, x_{2i+1}) -> (x_{2i} cos - x_{2i+1} sin, x_{2i} sin + x_{2i+1} cos)
  return torch::stack({even * cos - odd * sin, even * sin + odd * cos}, -1).flatten(-2);
}

}  // namespace zoo::nn
