// LibTorch's mm and addmm routed to oneDNN's sgemm (lib/core/onednn_matmul.h), against the same
// products in float64 (which stay with LibTorch): every operand layout sgemm reads in place or
// has copied (row-major, transposed, sliced, expanded, one row or column), out= into slices and
// into tensors of another shape, addmm's broadcast self, beta 0 over NaN, in-place addmm_, and a
// Linear layer's values and gradients. The product counter says which products went to oneDNN.
#include <catch2/catch.hpp>
#include <dlfcn.h>
#include <torch/torch.h>

#include <array>
#include <cstdlib>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "lib/core/onednn_matmul.h"

namespace test_onednn_matmul {  // this file's own: the unit tests compile in batches (tests/CMakeLists.txt)

namespace {

double max_rel_error(const torch::Tensor& got, const torch::Tensor& exact) {
  return ((got.to(torch::kDouble) - exact).abs().max() / exact.abs().max().clamp_min(1e-12)).item<double>();
}

// The operand layouts: name and a (rows x cols) float32 matrix made from a random one.
struct Layout {
  std::string name;
  std::function<torch::Tensor(int64_t rows, int64_t cols)> make;
};

std::vector<Layout> layouts() {
  return {
      {"row-major", [](int64_t r, int64_t c) { return torch::randn({r, c}); }},
      {"transposed", [](int64_t r, int64_t c) { return torch::randn({c, r}).t(); }},
      {"rows sliced from a wider matrix", [](int64_t r, int64_t c) { return torch::randn({r, c + 5}).narrow(1, 3, c); }},
      {"transposed and sliced", [](int64_t r, int64_t c) { return torch::randn({c, r + 4}).narrow(1, 2, r).t(); }},
      {"every other row and column", [](int64_t r, int64_t c) { return torch::randn({2 * r, 2 * c}).slice(0, 0, 2 * r, 2).slice(1, 0, 2 * c, 2); }},
      {"one row expanded", [](int64_t r, int64_t c) { return torch::randn({1, c}).expand({r, c}); }},
  };
}

bool onednn_expected() { return dlsym(RTLD_DEFAULT, "dnnl_sgemm") != nullptr && std::getenv("ZOO_MATMUL") == nullptr; }

}  // namespace

TEST_CASE("oneDNN's sgemm is installed where LibTorch loads oneDNN", "[onednn_matmul]") {
  // The test's main (tests/unit/catch_main.cpp) installs it as zoo's main does.
  REQUIRE(zoo::onednn_matmul_active() == onednn_expected());
}

TEST_CASE("mm through oneDNN matches float64 over every operand layout", "[onednn_matmul]") {
  torch::manual_seed(3);
  const auto before = zoo::onednn_matmul_products();
  int64_t large = 0;
  // (M, K, N): square-ish, one row, one column, a skinny reduction, a shape past the small cut.
  for (auto [M, K, N] : std::vector<std::array<int64_t, 3>>{{70, 65, 80}, {1, 300, 900}, {900, 300, 1}, {200, 7, 300}, {96, 96, 96}}) {
    for (const auto& left : layouts()) {
      for (const auto& right : layouts()) {
        INFO(M << "x" << K << "x" << N << ", left " << left.name << ", right " << right.name);
        const auto a = left.make(M, K), b = right.make(K, N);
        const auto exact = torch::mm(a.to(torch::kDouble), b.to(torch::kDouble));
        CHECK(max_rel_error(torch::mm(a, b), exact) < 1e-5);
        // out= into a slice of a wider matrix (written in place), and into a tensor of another shape.
        auto wide = torch::full({M, N + 3}, 7.f);
        auto slice = wide.narrow(1, 1, N);
        torch::mm_out(slice, a, b);
        CHECK(max_rel_error(slice, exact) < 1e-5);
        CHECK(wide.select(1, 0).eq(7.f).all().item<bool>());
        CHECK(wide.narrow(1, N + 1, 2).eq(7.f).all().item<bool>());
        auto reshaped = torch::empty({0});
        torch::mm_out(reshaped, a, b);
        CHECK(max_rel_error(reshaped, exact) < 1e-5);
        large += 3;
      }
    }
  }
  if (onednn_expected()) CHECK(zoo::onednn_matmul_products() - before == large);
}

TEST_CASE("addmm through oneDNN: broadcast self, beta, alpha, out= and in place", "[onednn_matmul]") {
  torch::manual_seed(4);
  const int64_t M = 90, K = 70, N = 110;
  const auto a = torch::randn({M, K}), b = torch::randn({N, K}).t();
  const auto a64 = a.to(torch::kDouble), b64 = b.to(torch::kDouble);
  const auto product = torch::mm(a64, b64);
  const auto before = zoo::onednn_matmul_products();
  for (const auto& self : {torch::randn({N}), torch::randn({1, N}), torch::randn({M, 1}), torch::randn({M, N}), torch::randn({N, M}).t()}) {
    INFO("self " << self.sizes());
    const auto self64 = self.to(torch::kDouble);
    CHECK(max_rel_error(torch::addmm(self, a, b), self64 + product) < 1e-5);
    CHECK(max_rel_error(torch::addmm(self, a, b, 0.5, -2.0), 0.5 * self64 - 2.0 * product) < 1e-5);
    auto out = torch::empty({3});
    torch::addmm_out(out, self, a, b, 2.0, 1.0);
    CHECK(max_rel_error(out, 2.0 * self64 + product) < 1e-5);
  }
  // beta 0: self is not read, so its NaN does not reach the result (LibTorch's rule).
  const auto nan_self = torch::full({M, N}, std::numeric_limits<float>::quiet_NaN());
  CHECK(max_rel_error(torch::addmm(nan_self, a, b, 0.0, 1.0), product) < 1e-5);
  auto nan_in_place = nan_self.clone();
  nan_in_place.addmm_(a, b, 0.0, 3.0);
  CHECK(max_rel_error(nan_in_place, 3.0 * product) < 1e-5);
  // In place onto a transposed self (not writable as sgemm writes): LibTorch's kernel, same answer.
  auto self = torch::randn({M, N});
  auto self_t = torch::randn({N, M}).t();
  const auto self64 = self.to(torch::kDouble), self_t64 = self_t.to(torch::kDouble);
  self.addmm_(a, b, 0.25, 2.0);
  self_t.addmm_(a, b, 0.25, 2.0);
  CHECK(max_rel_error(self, 0.25 * self64 + 2.0 * product) < 1e-5);
  CHECK(max_rel_error(self_t, 0.25 * self_t64 + 2.0 * product) < 1e-5);
  if (onednn_expected()) CHECK(zoo::onednn_matmul_products() - before == 5 * 3 + 2 + 1);
}

TEST_CASE("products oneDNN does not take stay with LibTorch", "[onednn_matmul]") {
  torch::manual_seed(5);
  const auto double_a = torch::randn({100, 100}, torch::kDouble);
  const auto float_product = torch::mm(double_a.to(torch::kFloat), double_a.to(torch::kFloat));  // before counting
  const auto before = zoo::onednn_matmul_products();
  const auto tiny_a = torch::randn({8, 8}), tiny_b = torch::randn({8, 8});
  CHECK(max_rel_error(torch::mm(tiny_a, tiny_b), torch::mm(tiny_a.to(torch::kDouble), tiny_b.to(torch::kDouble))) < 1e-5);
  CHECK(max_rel_error(float_product, torch::mm(double_a, double_a)) < 1e-5);
  const auto empty = torch::mm(torch::randn({100, 0}), torch::randn({0, 100}));
  CHECK(empty.eq(0).all().item<bool>());
  CHECK_THROWS(torch::mm(torch::randn({100, 50}), torch::randn({60, 100})));
  CHECK_THROWS(torch::addmm(torch::randn({7}), torch::randn({100, 100}), torch::randn({100, 100})));
  CHECK(zoo::onednn_matmul_products() == before);
}

TEST_CASE("a Linear layer through oneDNN: values and gradients against float64", "[onednn_matmul]") {
  torch::manual_seed(6);
  torch::nn::Linear layer(torch::nn::LinearOptions(96, 160));
  const auto x = torch::randn({4, 30, 96}, torch::requires_grad());
  const auto upstream = torch::randn({4, 30, 160});
  const auto before = zoo::onednn_matmul_products();
  (layer(x) * upstream).sum().backward();
  // Forward (addmm over the folded batch) and both gradients (two mm) at least.
  if (onednn_expected()) CHECK(zoo::onednn_matmul_products() - before >= 3);
  const auto x64 = x.detach().to(torch::kDouble).requires_grad_(true);
  const auto w64 = layer->weight.detach().to(torch::kDouble).requires_grad_(true);
  const auto b64 = layer->bias.detach().to(torch::kDouble).requires_grad_(true);
  const auto y64 = torch::nn::functional::linear(x64, w64, b64);
  (y64 * upstream.to(torch::kDouble)).sum().backward();
  CHECK(max_rel_error(layer(x), y64) < 1e-5);
  CHECK(max_rel_error(x.grad(), x64.grad()) < 1e-5);
  CHECK(max_rel_error(layer->weight.grad(), w64.grad()) < 1e-5);
  CHECK(max_rel_error(layer->bias.grad(), b64.grad()) < 1e-5);
}

}  // namespace test_onednn_matmul
