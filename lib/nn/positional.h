// Positional information for attention models (the seeds' "positional embeddings: learned or
// predefined"): the Transformer's sinusoids, added to the token embeddings, and rotary position
// embeddings (Su et al. 2021, RoFormer), which rotate queries and keys so that their dot product
// depends on the distance between positions. Learned positions are an Embedding in the model.
#pragma once
#include <torch/torch.h>

#include <string>

namespace zoo::nn {

enum class PositionKind { Learned, Sinusoidal, Rotary };
PositionKind parse_positions(const std::string& name);  // "learned" | "sinusoidal" | "rotary"; UsageError otherwise

// PE(pos, 2i) = sin(pos / 10000^(2i/d)),  PE(pos, 2i+1) = cos(pos / 10000^(2i/d)): (length, dim).
torch::Tensor sinusoidal_table(int64_t length, int64_t dim);

// Rotation angles theta_i = pos / base^(2i/d) as cos and sin tables, each (length, dim / 2).
struct RotaryTable {
  torch::Tensor cos, sin;
};
RotaryTable rotary_table(int64_t length, int64_t dim, double base = 10000.0);

// Rotates each pair (x_{2i}, x_{2i+1}) of x (..., T, D) by the angle of its position:
// (x_{2i} cos - x_{2i+1} sin, x_{2i} sin + x_{2i+1} cos); cos and sin are (T, D/2) for x's positions.
torch::Tensor apply_rotary(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);

}  // namespace zoo::nn
