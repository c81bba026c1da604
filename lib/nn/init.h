// Weight initialisations LibTorch's torch::nn::init lacks, and the layers the models build with them.
#pragma once
#include <torch/torch.h>

namespace zoo::nn {

// PyTorch's nn.init.trunc_normal_: N(mean, std^2) restricted to [a, b] (absolute bounds, as
// PyTorch's), drawn by the inverse CDF so nothing is clipped onto the bounds. In place, no grad.
torch::Tensor trunc_normal_(torch::Tensor tensor, double std = 1.0, double mean = 0.0, double a = -2.0, double b = 2.0);

// A Linear layer as timm's vision transformers initialise it (PVT's, TimeSformer's, MViT's
// authors too): weights truncated N(0, std^2), biases 0.
torch::nn::Linear trunc_normal_linear(int64_t in, int64_t out, double std = 0.02);

// LayerNorm over the last dimension, width features, with the model's epsilon (BERT 1e-12, ViT
// and its kin 1e-6, PyTorch's default 1e-5: the published weights were trained with each).
torch::nn::LayerNorm layer_norm(int64_t width, double eps);

}  // namespace zoo::nn
