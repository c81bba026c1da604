// The fused softmax cross-entropy (lib/nn/cross_entropy.h) against LibTorch's
// torch::nn::functional::cross_entropy computed in float64: values and gradients over shapes
// that exercise the vector tails, ignored rows, label smoothing, the three reductions, large and
// masked scores. (Float64, because LibTorch's own float32 gradient with label smoothing is off
// by up to 1.5e-5 for 6000 classes; the fused one is within 4e-7 of the exact value.)
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <ATen/Parallel.h>

#include <cmath>
#include <limits>

#include "lib/nn/cross_entropy.h"

namespace test_cross_entropy {  // this file's own: the unit tests compile in batches (tests/CMakeLists.txt)

namespace {

namespace F = torch::nn::functional;

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) { return (a - b).abs().max().item<double>(); }

torch::Tensor leaf(const torch::Tensor& t) { return t.detach().clone().set_requires_grad(true); }

// Both losses and both gradients of the logits, for one upstream gradient; the reference's in float64.
struct Compared {
  torch::Tensor fused, reference, fused_grad, reference_grad;
};

Compared compare(const torch::Tensor& logits, const torch::Tensor& target, const F::CrossEntropyFuncOptions& options) {
  auto a = leaf(logits), b = leaf(logits.to(torch::kDouble));
  Compared c;
  c.fused = zoo::nn::cross_entropy(a, target, options);
  c.reference = F::cross_entropy(b, target, options);
  const auto upstream = c.reference.dim() == 0 ? torch::full({}, 1.7) : torch::randn(c.reference.sizes());
  (c.fused * upstream).sum().backward();
  (c.reference * upstream.to(torch::kDouble)).sum().backward();
  c.reference = c.reference.to(torch::kFloat);
  c.fused_grad = a.grad();
  c.reference_grad = b.grad().to(torch::kFloat);
  return c;
}

}  // namespace

TEST_CASE("cross_entropy matches LibTorch's, values and gradients", "[cross_entropy]") {
  torch::manual_seed(11);
  // C = 1, 7 (a tail only), 8, 37 (vectors and a tail), 6000 (a translation vocabulary).
  for (int64_t C : {1, 7, 8, 37, 6000}) {
    for (int64_t N : {1, 5, 64}) {
      auto logits = torch::randn({N, C}) * 3;
      auto target = torch::randint(0, C, {N}, torch::kLong);
      if (N > 1) target[1] = -100;  // LibTorch's default ignore_index
      for (double smoothing : {0.0, 0.1}) {
        for (int reduction = 0; reduction < 3; ++reduction) {
          auto options = F::CrossEntropyFuncOptions().label_smoothing(smoothing);
          if (reduction == 1) options.reduction(torch::kSum);
          if (reduction == 2) options.reduction(torch::kNone);
          INFO("C " << C << ", N " << N << ", smoothing " << smoothing << ", reduction " << reduction);
          const auto c = compare(logits, target, options);
          REQUIRE(c.fused.sizes() == c.reference.sizes());
          CHECK(max_abs_diff(c.fused, c.reference) < 2e-5 * std::max(1.0, c.reference.abs().max().item<double>()));
          CHECK(max_abs_diff(c.fused_grad, c.reference_grad) < 2e-6);
          if (N > 1) CHECK(c.fused_grad[1].abs().max().item<double>() == 0);  // the ignored row
        }
      }
    }
  }
}

TEST_CASE("cross_entropy: another ignore_index, large and masked scores", "[cross_entropy]") {
  torch::manual_seed(12);
  const int64_t N = 9, C = 50;
  // Scores of +-1000 (a naive exp overflows) and -inf (masked classes) beside ordinary ones.
  auto logits = torch::randn({N, C}) * 1000;
  logits.index_put_({torch::indexing::Slice(0, 3), torch::indexing::Slice(10, 20)}, -std::numeric_limits<float>::infinity());
  auto target = torch::randint(0, 10, {N}, torch::kLong);
  target[4] = 0, target[5] = 0;
  const auto options = F::CrossEntropyFuncOptions().ignore_index(0);  // the pad index, as translate and caption use it
  const auto c = compare(logits, target, options);
  CHECK(std::isfinite(c.fused.item<double>()));
  CHECK(std::abs(c.fused.item<double>() - c.reference.item<double>()) < 1e-5 * std::abs(c.reference.item<double>()));
  // Scores of 1000 carry float32's rounding of 6e-5 into x - lse, and so into p.
  CHECK(max_abs_diff(c.fused_grad, c.reference_grad) < 1e-4);
  CHECK(c.fused_grad[4].abs().max().item<double>() == 0);
}

TEST_CASE("cross_entropy: probabilities over exp's whole range", "[cross_entropy]") {
  // One row whose scores fall from 0 to -100: p_j from 1/sum down past float's smallest normal,
  // so the gradient p_j - [j = t] checks the vector exp against std::exp to float rounding.
  auto logits = torch::linspace(0, -100, 1001).unsqueeze(0);
  auto target = torch::tensor({3}, torch::kLong);
  const auto c = compare(logits, target, F::CrossEntropyFuncOptions().reduction(torch::kSum));
  CHECK(max_abs_diff(c.fused, c.reference) < 1e-6);
  // Relative to each probability where it is a normal float: float32's rounding of x - lse at
  // |x - lse| up to 87 alone is 3.8e-6 of p; a worse exp would show far more.
  const auto p = c.reference_grad / 1.7, q = c.fused_grad / 1.7;
  const auto normal = p.abs() > 1e-37;
  CHECK(((q - p).abs() / p.abs()).masked_select(normal).max().item<double>() < 1e-5);
}

TEST_CASE("cross_entropy: edge cases as LibTorch has them", "[cross_entropy]") {
  namespace F = torch::nn::functional;
  auto logits = torch::randn({4, 6});
  // Every row ignored: the mean is 0 / 0.
  auto ignored = torch::full({4}, -100, torch::kLong);
  CHECK(std::isnan(zoo::nn::cross_entropy(logits, ignored).item<double>()));
  CHECK(std::isnan(F::cross_entropy(logits, ignored).item<double>()));
  // A target outside the classes is an error, not a read out of bounds.
  CHECK_THROWS_WITH(zoo::nn::cross_entropy(logits, torch::tensor({0, 1, 6, 2}, torch::kLong)), Catch::Contains("out of bounds"));
  // Class weights go to LibTorch's own.
  auto weights = torch::rand({6});
  auto target = torch::tensor({0, 1, 5, 2}, torch::kLong);
  CHECK(max_abs_diff(zoo::nn::cross_entropy(logits, target, F::CrossEntropyFuncOptions().weight(weights)),
                     F::cross_entropy(logits, target, F::CrossEntropyFuncOptions().weight(weights))) < 1e-6);
  // bfloat16 scores: a float32 loss and a bfloat16 gradient, as computing in float32 gives.
  auto half = leaf(logits.to(torch::kBFloat16));
  auto loss = zoo::nn::cross_entropy(half, target);
  CHECK(loss.scalar_type() == torch::kFloat);
  CHECK(std::abs(loss.item<double>() - F::cross_entropy(logits.to(torch::kBFloat16).to(torch::kFloat), target).item<double>()) < 1e-5);
  loss.backward();
  CHECK(half.grad().scalar_type() == torch::kBFloat16);
}

TEST_CASE("cross_entropy: the same bits on one thread and on several", "[cross_entropy]") {
  torch::manual_seed(13);
  auto logits = torch::randn({300, 517});
  auto target = torch::randint(0, 517, {300}, torch::kLong);
  const int threads = at::get_num_threads();
  auto run = [&](int n) {
    at::set_num_threads(n);
    auto x = leaf(logits);
    auto loss = zoo::nn::cross_entropy(x, target, F::CrossEntropyFuncOptions().label_smoothing(0.1));
    loss.backward();
    return std::make_pair(loss, x.grad());
  };
  const auto one = run(1), several = run(std::max(2, threads));
  at::set_num_threads(threads);
  CHECK(torch::equal(one.first, several.first));
  CHECK(torch::equal(one.second, several.second));
}

}  // namespace test_cross_entropy
