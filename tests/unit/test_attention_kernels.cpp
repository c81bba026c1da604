// The fused attention kernels (lib/nn/attention_kernels.h) and the stepwise weight gradient
// (lib/nn/step_gradient.h) against the ATen expressions they replace: values and every gradient,
// over shapes that exercise the vector tails, zero weights and the tanh's whole range.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <optional>

#include "lib/nn/attention_kernels.h"
#include "lib/nn/step_gradient.h"

namespace test_attention_kernels {  // this file's own: the unit tests compile in batches (tests/CMakeLists.txt)

namespace {

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) { return (a - b).abs().max().item<double>(); }

// Leaf copies that track gradients, so the fused and the reference graphs are separate.
torch::Tensor leaf(const torch::Tensor& t) { return t.detach().clone().set_requires_grad(true); }

}  // namespace

TEST_CASE("additive_energies matches tanh(keys + query) . v, values and gradients", "[attention_kernels]") {
  torch::manual_seed(3);
  // A = 37: four vectors of 8 and a tail of 5; keys spread to +-12 cover both branches of the
  // tanh and the saturated range.
  for (int64_t A : {37, 64}) {
    const int64_t B = 3, S = 7;
    auto keys = torch::randn({B, S, A}) * 4, query = torch::randn({B, A}), v = torch::randn({A});
    keys.index_put_({0, 0}, torch::linspace(-12, 12, A));
    auto k1 = leaf(keys), q1 = leaf(query), v1 = leaf(v), k2 = leaf(keys), q2 = leaf(query), v2 = leaf(v);
    auto fused = zoo::nn::additive_energies(k1, q1, v1);
    auto reference = torch::tanh(k2 + q2.unsqueeze(1)).matmul(v2);
    REQUIRE(fused.sizes() == reference.sizes());
    CHECK(max_abs_diff(fused, reference) < 2e-5);
    auto upstream = torch::randn({B, S});
    upstream.index_put_({1, 2}, 0.0);  // a position the loss does not reach
    (fused * upstream).sum().backward();
    (reference * upstream).sum().backward();
    CHECK(max_abs_diff(k1.grad(), k2.grad()) < 2e-5);
    CHECK(max_abs_diff(q1.grad(), q2.grad()) < 2e-5);
    CHECK(max_abs_diff(v1.grad(), v2.grad()) < 2e-5);
  }
}

TEST_CASE("additive_energies' tanh is float-accurate over its whole range", "[attention_kernels]") {
  // With v = 1 and one key per row, each energy is tanh(key): compare with the C library's.
  auto x = torch::linspace(-20, 20, 40001).view({1, -1, 1}).repeat({1, 1, 8});  // (1, S, 8): one full vector per row
  auto e = zoo::nn::additive_energies(x, torch::zeros({1, 8}), torch::full({8}, 0.125));
  auto expected = x.select(2, 0).to(torch::kFloat64).tanh();
  CHECK(max_abs_diff(e.to(torch::kFloat64), expected) < 5e-7);  // a few units in the last place near 1
  // Near 0 the relative error counts: tanh(x) ~ x.
  auto tiny = torch::linspace(1e-6, 1e-3, 1000).view({1, -1, 1}).repeat({1, 1, 8});
  auto small = zoo::nn::additive_energies(tiny, torch::zeros({1, 8}), torch::full({8}, 0.125)).to(torch::kFloat64);
  auto small_expected = tiny.select(2, 0).to(torch::kFloat64).tanh();
  CHECK(((small - small_expected).abs() / small_expected).max().item<double>() < 1e-6);
  // NaN propagates (a diverged run must show as NaN, not as a plausible number).
  auto nan_keys = torch::zeros({1, 1, 8});
  nan_keys[0][0][3] = std::numeric_limits<float>::quiet_NaN();
  CHECK(std::isnan(zoo::nn::additive_energies(nan_keys, torch::zeros({1, 8}), torch::ones({8})).item<float>()));
}

TEST_CASE("weighted_sum matches the batched product, values and gradients, zero weights included", "[attention_kernels]") {
  torch::manual_seed(4);
  for (int64_t D : {13, 300, 2048}) {  // a tail only; blocks of 256 plus a tail; the captioning size
    const int64_t B = 2, S = 5;
    auto weights = torch::softmax(torch::randn({B, S}), 1), values = torch::randn({B, S, D});
    weights.index_put_({1, 3}, 0.0);  // a pad: skipped by the kernel, yet its weight's gradient is exact
    auto w1 = leaf(weights), x1 = leaf(values), w2 = leaf(weights), x2 = leaf(values);
    auto fused = zoo::nn::weighted_sum(w1, x1);
    auto reference = torch::bmm(w2.unsqueeze(1), x2).squeeze(1);
    REQUIRE(fused.sizes() == reference.sizes());
    CHECK(max_abs_diff(fused, reference) < 1e-5);
    auto upstream = torch::randn({B, D});
    (fused * upstream).sum().backward();
    (reference * upstream).sum().backward();
    CHECK(max_abs_diff(w1.grad(), w2.grad()) < 1e-4);
    CHECK(max_abs_diff(x1.grad(), x2.grad()) < 1e-6);
  }
  // Values that do not train (a frozen encoder) get no gradient and cost none.
  auto w = leaf(torch::softmax(torch::randn({2, 4}), 1));
  auto x = torch::randn({2, 4, 16});
  zoo::nn::weighted_sum(w, x).sum().backward();
  CHECK(w.grad().defined());
  CHECK_FALSE(x.grad().defined());
}

TEST_CASE("the fused attention kernels fall back to ATen for other dtypes and while tracing", "[attention_kernels]") {
  auto keys = torch::randn({2, 3, 16}, torch::kFloat64), query = torch::randn({2, 16}, torch::kFloat64), v = torch::randn({16}, torch::kFloat64);
  auto e = zoo::nn::additive_energies(keys, query, v);
  CHECK(e.scalar_type() == torch::kFloat64);
  CHECK(max_abs_diff(e, torch::tanh(keys + query.unsqueeze(1)).matmul(v)) < 1e-12);
  auto weights = torch::softmax(torch::randn({2, 3}, torch::kFloat64), 1);
  CHECK(max_abs_diff(zoo::nn::weighted_sum(weights, keys), torch::bmm(weights.unsqueeze(1), keys).squeeze(1)) < 1e-12);
  CHECK_THROWS(zoo::nn::additive_energies(keys, query.narrow(1, 0, 8), v));
  CHECK_THROWS(zoo::nn::weighted_sum(weights.narrow(1, 0, 2), keys));
}

// Not part of the suite: `unit_tests "[.attention_kernels_speed]"` times the kernels against the
// ATen expressions at Show, Attend and Tell's size (docs/PERFORMANCE.md, sat_soft).
TEST_CASE("attention kernels: speed at the captioning size", "[.attention_kernels_speed]") {
  const int64_t B = 32, S = 196, A = 512, D = 2048;
  auto keys = torch::randn({B, S, A}).requires_grad_(), query = torch::randn({B, A}).requires_grad_(), v = torch::randn({A}).requires_grad_();
  auto values = torch::randn({B, S, D});
  auto time_ms = [](const std::function<void()>& f) {
    for (int i = 0; i < 3; ++i) f();
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 20; ++i) f();
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / 20;
  };
  auto upstream = torch::randn({B, S});
  const double fused_energies = time_ms([&] { (zoo::nn::additive_energies(keys, query, v) * upstream).sum().backward(); });
  const double aten_energies = time_ms([&] { (torch::tanh(keys + query.unsqueeze(1)).matmul(v) * upstream).sum().backward(); });
  const double fused_forward = time_ms([&] { torch::NoGradGuard g; zoo::nn::additive_energies(keys, query, v); });
  const double aten_forward = time_ms([&] { torch::NoGradGuard g; torch::tanh(keys + query.unsqueeze(1)).matmul(v); });
  auto weights = torch::softmax(torch::randn({B, S}), 1).requires_grad_();
  auto dz = torch::randn({B, D});
  const double fused_sum = time_ms([&] { (zoo::nn::weighted_sum(weights, values) * dz).sum().backward(); });
  const double aten_sum = time_ms([&] { (torch::bmm(weights.unsqueeze(1), values).squeeze(1) * dz).sum().backward(); });
  const double fused_sum_forward = time_ms([&] { torch::NoGradGuard g; zoo::nn::weighted_sum(weights, values); });
  const double aten_sum_forward = time_ms([&] { torch::NoGradGuard g; torch::bmm(weights.unsqueeze(1), values); });
  WARN("energies forward+backward: fused " << fused_energies << " ms, ATen " << aten_energies << " ms; forward: " << fused_forward
                                           << " vs " << aten_forward);
  WARN("weighted sum forward+backward: fused " << fused_sum << " ms, ATen " << aten_sum << " ms; forward: " << fused_sum_forward << " vs "
                                               << aten_sum_forward);
}

TEST_CASE("StepProduct forms a weight's gradient once for all steps, equal to autograd's sum", "[step_gradient]") {
  torch::manual_seed(5);
  const int64_t B = 3, K = 6, N = 5, T = 4;
  auto weight = torch::randn({N, K}), bias = torch::randn({N}), h0 = torch::randn({B, N});
  std::vector<torch::Tensor> xs;
  for (int64_t t = 0; t < T; ++t) xs.push_back(torch::randn({B, K}));
  // A small recurrence through the product, h_t = tanh(b + (x_t + h_{t-1,0}) W^T), with W also
  // read outside the product, and one more product the loss does not use, whose backward never runs.
  bool transposed_view = GENERATE(true, false);
  auto run = [&](bool stepwise, torch::Tensor& w, torch::Tensor& b, torch::Tensor& h_init) {
    w = leaf(weight), b = leaf(bias), h_init = leaf(h0);
    // (K, N): a transposed view, as the models pass a layer's weight, or a contiguous copy
    auto w_t = transposed_view ? w.t() : w.t().contiguous();
    std::optional<zoo::nn::StepProduct> product;
    if (stepwise) product.emplace(w_t);
    auto h = h_init;
    torch::Tensor loss = w.sum() * 0.5;
    for (int64_t t = 0; t < T; ++t) {
      auto x = xs[t] + h.narrow(1, 0, 1);  // depends on the previous step
      auto y = stepwise ? product->addmm(b, x) : torch::addmm(b, x, w_t);
      if (t == 1 && stepwise) product->addmm(b, x * 2);  // dangling
      h = torch::tanh(y);
    }
    (loss + h.pow(2).sum()).backward();
  };
  torch::Tensor w1, b1, h1, w2, b2, h2;
  run(true, w1, b1, h1);
  run(false, w2, b2, h2);
  CHECK(max_abs_diff(w1.grad(), w2.grad()) < 1e-5);
  CHECK(max_abs_diff(b1.grad(), b2.grad()) < 1e-5);
  CHECK(max_abs_diff(h1.grad(), h2.grad()) < 1e-5);
  CHECK(w1.grad().abs().sum().item<double>() > 0.1);
  {
    // Without a graph it is torch::addmm.
    torch::NoGradGuard no_grad;
    zoo::nn::StepProduct product(weight.t());
    CHECK(max_abs_diff(product.addmm(bias, xs[0]), torch::addmm(bias, xs[0], weight.t())) == 0);
  }
}

TEST_CASE("StepKeys adds the steps' key gradients in the kernel, equal to autograd's sum", "[attention_kernels]") {
  torch::manual_seed(6);
  const int64_t B = 2, S = 5, A = 20, T = 3;
  auto keys = torch::randn({B, S, A}), v = torch::randn({A}), q0 = torch::randn({B, A}), mix = torch::randn({S, A}) * 0.3;
  // q_t depends on the previous step's energies, as a decoder's state does; the keys are also
  // read outside the steps (their mean), so both gradients must reach them.
  auto run = [&](bool stepwise, torch::Tensor& k, torch::Tensor& q) {
    k = leaf(keys), q = leaf(q0);
    std::optional<zoo::nn::StepKeys> step_keys;
    if (stepwise) step_keys.emplace(k);
    auto query = q;
    torch::Tensor loss = k.mean();
    for (int64_t t = 0; t < T; ++t) {
      auto e = stepwise ? step_keys->energies(query, v) : torch::tanh(k + query.unsqueeze(1)).matmul(v);
      if (t == 1) e = e * torch::tensor({1.f, 0.f, 1.f, 1.f, 1.f});  // a position the loss does not reach at one step
      query = torch::tanh(query + torch::softmax(e, 1).matmul(mix));
      loss = loss + (e * e).sum() * 0.1;
    }
    (loss + query.sum()).backward();
  };
  torch::Tensor k1, q1, k2, q2;
  run(true, k1, q1);
  run(false, k2, q2);
  CHECK(max_abs_diff(k1.grad(), k2.grad()) < 1e-5);
  CHECK(max_abs_diff(q1.grad(), q2.grad()) < 1e-5);
  CHECK(k1.grad().abs().sum().item<double>() > 0.1);
  // A query the kernel does not take (float64) falls back to ATen for that step; the keys'
  // gradient still arrives, through the gathering node, beside the kernel's.
  auto k3 = leaf(keys);
  zoo::nn::StepKeys mixed(k3);
  auto e_kernel = mixed.energies(q0, v);
  auto e_aten = mixed.energies(q0.to(torch::kFloat64), v.to(torch::kFloat64));
  (e_kernel.sum() + e_aten.sum()).backward();
  auto k4 = leaf(keys);
  (torch::tanh(k4 + q0.unsqueeze(1)).matmul(v).sum() * 2).backward();
  CHECK(max_abs_diff(k3.grad(), k4.grad()) < 1e-5);
}

TEST_CASE("StepValues forms the values' gradient as one product over the steps, equal to autograd's sum", "[attention_kernels]") {
  torch::manual_seed(7);
  const int64_t B = 3, S = 6, D = 10, T = 4;
  auto values = torch::randn({B, S, D}), q0 = torch::randn({B, D}), w_q = torch::randn({D, S}) * 0.4;
  // Each step's weights depend on the context before it, as a decoder's do; the values are also
  // read outside the steps (their mean), so both gradients must reach them.
  auto run = [&](bool stepwise, torch::Tensor& x, torch::Tensor& q) {
    x = leaf(values), q = leaf(q0);
    std::optional<zoo::nn::StepValues> step_values;
    if (stepwise) step_values.emplace(x);
    auto context = q;
    torch::Tensor loss = x.mean();
    for (int64_t t = 0; t < T; ++t) {
      auto weights = torch::softmax(context.matmul(w_q), 1);
      if (t == 2) weights = weights * torch::tensor({1.f, 1.f, 0.f, 1.f, 1.f, 1.f});  // a position one step skips
      context = stepwise ? step_values->weighted_sum(weights) : torch::bmm(weights.unsqueeze(1), x).squeeze(1);
      loss = loss + (context * context).sum() * 0.1;
    }
    (loss + context.sum()).backward();
  };
  torch::Tensor x1, q1, x2, q2;
  run(true, x1, q1);
  run(false, x2, q2);
  CHECK(max_abs_diff(x1.grad(), x2.grad()) < 1e-5);
  CHECK(max_abs_diff(q1.grad(), q2.grad()) < 1e-5);
  CHECK(x1.grad().abs().sum().item<double>() > 0.1);
  auto w = torch::softmax(torch::randn({B, S}), 1);
  // Values that need no gradient: no record, the plain kernel, the same context.
  zoo::nn::StepValues frozen(values);
  CHECK(max_abs_diff(frozen.weighted_sum(w), zoo::nn::weighted_sum(w, values)) == 0);
}

}  // namespace test_attention_kernels
