#include "models/ocr/recognizer.h"

#include <torch/csrc/jit/frontend/tracer.h>

#include "lib/core/error.h"

namespace zoo::models {

namespace {

// Whether every sequence fills the batch's `full` steps: then no padding needs masking. Never
// while tracing, so an export keeps the general path for any batch.
bool all_full(const torch::Tensor& lengths, int64_t full) {
  return !torch::jit::tracer::isTracing() && lengths.min().item<int64_t>() == full;
}

// x (T, B, D) with each sequence reversed within its length (padding stays where it is):
// step t of sequence b takes step len_b - 1 - t for t < len_b. Built from tensor operations only,
// so a traced export takes any T and B.
torch::Tensor reverse_within_lengths(const torch::Tensor& x, const torch::Tensor& lengths) {
  const auto steps = torch::ones_like(x.select(2, 0), torch::kLong).cumsum(0) - 1;  // (T, B): t
  const auto length = lengths.to(x.device(), torch::kLong).unsqueeze(0);             // (1, B)
  const auto source = torch::where(steps < length, length - 1 - steps, steps);
  return x.gather(0, source.unsqueeze(2).expand_as(x));
}

// One direction of a 1-layer LSTM through ATen's lstm with the module's weights of that direction.
torch::Tensor run_direction(torch::nn::LSTM& lstm, const torch::Tensor& x, const std::string& suffix) {
  auto p = lstm->named_parameters();
  const int64_t hidden = lstm->options.hidden_size();
  // A zero state (1, B, hidden) shaped from x, not from its sizes (a trace would fix B).
  const auto zero = torch::zeros_like(x.select(0, 0).narrow(1, 0, 1)).expand({-1, hidden}).unsqueeze(0).contiguous();
  std::vector<torch::Tensor> weights{p["weight_ih_l0" + suffix], p["weight_hh_l0" + suffix]};
  if (lstm->options.bias()) weights.push_back(p["bias_ih_l0" + suffix]), weights.push_back(p["bias_hh_l0" + suffix]);
  return std::get<0>(torch::lstm(x, {zero, zero}, weights, lstm->options.bias(), 1, 0.0, lstm->is_training(), false, false));
}

}  // namespace

std::pair<torch::Tensor, torch::Tensor> run_line_stem(torch::nn::Sequential& stem, const torch::Tensor& images, const torch::Tensor& widths) {
  auto valid = widths.to(images.device(), torch::kLong);  // each line's columns at the current resolution
  auto zero_past_ends = [&](const torch::Tensor& x) {
    const auto column = torch::ones_like(x.select(1, 0).select(1, 0), torch::kLong).cumsum(1) - 1;  // (B, W')
    return x * (column < valid.unsqueeze(1)).to(x.dtype()).unsqueeze(1).unsqueeze(1);
  };
  const bool masked = !all_full(valid, images.size(3));  // else no line ends before the batch's width
  auto x = masked ? zero_past_ends(images) : images;     // what a convolution pads a line alone with
  // A layer of kernel k, stride s, padding p maps w columns to floor((w + 2p - k) / s) + 1 (ceil with ceil_mode).
  auto narrowed = [&](int64_t k, int64_t s, int64_t p, bool ceil) {
    return torch::div(valid + 2 * p - k + (ceil ? s - 1 : 0), s, "floor") + 1;
  };
  for (auto& layer : *stem) {
    const int64_t in_width = x.size(3);
    x = layer.forward(x);
    const auto module = layer.ptr();
    if (const auto conv = std::dynamic_pointer_cast<torch::nn::Conv2dImpl>(module)) {
      // The padding from the sizes (its option is a variant whose access differs across LibTorch
      // versions): w_out = w_in + 2p - k + 1 at stride 1.
      const auto& o = conv->options;
      if (o.stride()->at(1) != 1) throw Error("run_line_stem: convolutions of stride 1 only");
      const int64_t kernel = o.kernel_size()->at(1), padding = (x.size(3) - in_width + kernel - 1) / 2;
      valid = narrowed(kernel, 1, padding, false);
    } else if (const auto pool = std::dynamic_pointer_cast<torch::nn::MaxPool2dImpl>(module)) {
      const auto& o = pool->options;
      valid = narrowed(o.kernel_size()->at(1), o.stride()->at(1), o.padding()->at(1), o.ceil_mode());
    } else if (!std::dynamic_pointer_cast<torch::nn::ReLUImpl>(module) && !std::dynamic_pointer_cast<torch::nn::BatchNorm2dImpl>(module)) {
      throw Error("run_line_stem: a line stem holds convolutions, batch norms, ReLUs and max pools only");
    }
    // After every layer: a pool that rounds down leaves a column past the end holding the line's
    // last pixels, and batch norm makes the zeros past it non-zero.
    if (masked) x = zero_past_ends(x);
  }
  return {x, valid};
}

torch::Tensor bidirectional_lstm(torch::nn::LSTM& lstm, const torch::Tensor& x, const torch::Tensor& lengths) {
  if (!lstm->options.bidirectional() || lstm->options.num_layers() != 1 || lstm->options.batch_first())
    throw Error("bidirectional_lstm takes a one-layer bidirectional LSTM over (T, B, D)");
  if (all_full(lengths, x.size(0))) return std::get<0>(lstm->forward(x));  // equal lengths: the module's own bidirectional LSTM
  const auto forward = run_direction(lstm, x, "");
  const auto backward = reverse_within_lengths(run_direction(lstm, reverse_within_lengths(x, lengths), "_reverse"), lengths);
  return torch::cat({forward, backward}, 2);  // (T, B, 2 hidden)
}

}  // namespace zoo::models
