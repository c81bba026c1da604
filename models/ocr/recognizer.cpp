#include "models/ocr/recognizer.h"

#include "lib/core/error.h"

namespace zoo::models {

namespace {

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

torch::Tensor bidirectional_lstm(torch::nn::LSTM& lstm, const torch::Tensor& x, const torch::Tensor& lengths) {
  if (!lstm->options.bidirectional() || lstm->options.num_layers() != 1 || lstm->options.batch_first())
    throw Error("bidirectional_lstm takes a one-layer bidirectional LSTM over (T, B, D)");
  const auto forward = run_direction(lstm, x, "");
  const auto backward = reverse_within_lengths(run_direction(lstm, reverse_within_lengths(x, lengths), "_reverse"), lengths);
  return torch::cat({forward, backward}, 2);  // (T, B, 2 hidden)
}

}  // namespace zoo::models
