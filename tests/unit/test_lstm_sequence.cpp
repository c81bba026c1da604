// The fused LSTM layer (lib/nn/lstm_sequence.h) against LibTorch's LSTM computed in float64:
// outputs, last states and the gradients of everything that has one (input, both weights, both
// biases, initial state), over widths that exercise the vector tails, one and several steps, and
// upstream gradients on the outputs alone or on the last state too.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include "lib/nn/lstm_sequence.h"

namespace test_lstm_sequence {  // this file's own: the unit tests compile in batches (tests/CMakeLists.txt)

namespace {

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) { return (a.to(torch::kDouble) - b).abs().max().item<double>(); }

struct Leaves {
  torch::Tensor x, h0, c0, w_ih, w_hh, b_ih, b_hh;
  std::vector<torch::Tensor> all() const { return {x, h0, c0, w_ih, w_hh, b_ih, b_hh}; }
};

Leaves leaves(const Leaves& from, torch::Dtype type) {
  auto leaf = [&](const torch::Tensor& t) { return t.to(type).detach().clone().set_requires_grad(true); };
  return {leaf(from.x), leaf(from.h0), leaf(from.c0), leaf(from.w_ih), leaf(from.w_hh), leaf(from.b_ih), leaf(from.b_hh)};
}

}  // namespace

TEST_CASE("lstm_sequence matches LibTorch's LSTM, values and gradients", "[lstm_sequence]") {
  torch::manual_seed(5);
  // H = 5 (a tail only), 8 (one vector), 13 (vectors and a tail), 64; inputs of another width.
  for (int64_t H : {5, 8, 13, 64}) {
    for (int64_t T : {1, 7}) {
      for (bool state_grads : {false, true}) {
        const int64_t B = 3, I = 6;
        INFO("H " << H << ", T " << T << ", upstream on the last state " << state_grads);
        Leaves init{torch::randn({B, T, I}), torch::randn({B, H}) * 0.5, torch::randn({B, H}) * 0.5, torch::randn({4 * H, I}) * 0.4,
                    torch::randn({4 * H, H}) * 0.4, torch::randn({4 * H}) * 0.2, torch::randn({4 * H}) * 0.2};
        auto fused = leaves(init, torch::kFloat), exact = leaves(init, torch::kDouble);
        REQUIRE(zoo::nn::lstm_sequence_covers(fused.x));
        auto projected = torch::nn::functional::linear(fused.x, fused.w_ih, fused.b_ih);
        auto ours = zoo::nn::lstm_sequence(projected, fused.h0, fused.c0, fused.w_hh, fused.b_hh);
        auto [out, h, c] = torch::lstm(exact.x, {exact.h0.unsqueeze(0), exact.c0.unsqueeze(0)}, {exact.w_ih, exact.w_hh, exact.b_ih, exact.b_hh},
                                       /*has_biases=*/true, /*num_layers=*/1, /*dropout=*/0.0, /*train=*/true, /*bidirectional=*/false,
                                       /*batch_first=*/true);
        CHECK(max_abs_diff(ours.output, out) < 2e-6);
        CHECK(max_abs_diff(ours.h, h[0]) < 2e-6);
        CHECK(max_abs_diff(ours.c, c[0]) < 2e-6);
        auto upstream_out = torch::randn({B, T, H}, torch::kDouble);
        auto upstream_h = torch::randn({B, H}, torch::kDouble), upstream_c = torch::randn({B, H}, torch::kDouble);
        auto loss = (ours.output * upstream_out.to(torch::kFloat)).sum();
        auto reference = (out * upstream_out).sum();
        if (state_grads) {
          loss = loss + (ours.h * upstream_h.to(torch::kFloat)).sum() + (ours.c * upstream_c.to(torch::kFloat)).sum();
          reference = reference + (h[0] * upstream_h).sum() + (c[0] * upstream_c).sum();
        }
        loss.backward();
        reference.backward();
        const auto got = fused.all(), want = exact.all();
        const char* names[] = {"x", "h0", "c0", "w_ih", "w_hh", "b_ih", "b_hh"};
        for (size_t k = 0; k < got.size(); ++k) {
          INFO("gradient of " << names[k]);
          REQUIRE(got[k].grad().defined());
          // Relative to the gradient's size: W_hh's sums B x T products.
          CHECK(max_abs_diff(got[k].grad(), want[k].grad()) < 1e-5 * std::max(1.0, want[k].grad().abs().max().item<double>()));
        }
      }
    }
  }
}

TEST_CASE("lstm_sequence without a graph gives the same outputs", "[lstm_sequence]") {
  torch::manual_seed(6);
  const int64_t B = 2, T = 9, H = 11;
  auto projected = torch::randn({B, T, 4 * H}), h0 = torch::randn({B, H}), c0 = torch::randn({B, H});
  auto w_hh = torch::randn({4 * H, H}) * 0.3, b_hh = torch::randn({4 * H}) * 0.1;
  auto with_graph = zoo::nn::lstm_sequence(projected.clone().set_requires_grad(true), h0, c0, w_hh, b_hh);
  torch::NoGradGuard no_grad;  // as in evaluation: the weights require gradients, no graph is built
  auto without = zoo::nn::lstm_sequence(projected, h0, c0, w_hh.requires_grad_(true), b_hh);
  CHECK(!without.output.requires_grad());
  CHECK(torch::equal(with_graph.output.detach(), without.output));
  CHECK(torch::equal(with_graph.h.detach(), without.h));
  CHECK(torch::equal(with_graph.c.detach(), without.c));
}

TEST_CASE("lstm_sequence takes autocast's bfloat16 projected input in float32", "[lstm_sequence]") {
  torch::manual_seed(7);
  const int64_t B = 2, T = 4, H = 16;
  auto projected = torch::randn({B, T, 4 * H}).to(torch::kBFloat16);
  auto h0 = torch::randn({B, H}), c0 = torch::randn({B, H}), w_hh = torch::randn({4 * H, H}) * 0.3, b_hh = torch::randn({4 * H}) * 0.1;
  auto half = zoo::nn::lstm_sequence(projected.clone().set_requires_grad(true), h0, c0, w_hh, b_hh);
  auto full = zoo::nn::lstm_sequence(projected.to(torch::kFloat), h0, c0, w_hh, b_hh);
  CHECK(half.output.scalar_type() == torch::kFloat);
  CHECK(torch::equal(half.output.detach(), full.output));
}

}  // namespace test_lstm_sequence
