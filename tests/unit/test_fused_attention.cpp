// The fused scaled dot-product attention (lib/nn/fused_attention.h) against the unfused
// expression softmax(Q K^T scale + mask) V computed by LibTorch in float64: values and the
// gradients of Q, K and V, over head widths that exercise the 16- and 8-wide column blocks, query
// counts that leave a short block of rows, key counts off the vector width, causal masks with and
// without cached keys, padded keys, both entry points (separate heads, one packed projection),
// and through MultiheadAttention (the fused path against the module's own unfused one).
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <ATen/Parallel.h>

#include <limits>

#include "lib/nn/fused_attention.h"
#include "lib/nn/multihead_attention.h"

namespace test_fused_attention {  // this file's own: the unit tests compile in batches (tests/CMakeLists.txt)

namespace {

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) { return (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>(); }

torch::Tensor leaf(const torch::Tensor& t) { return t.detach().clone().set_requires_grad(true); }

// The unfused attention as the models wrote it before the kernel: (B, H, T, D) heads -> (B, T, H, D).
torch::Tensor reference_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, double scale, int64_t causal_past,
                                  const torch::Tensor& key_padding) {
  auto scores = torch::matmul(q, k.transpose(-2, -1)) * scale;
  const double minus_infinity = -std::numeric_limits<double>::infinity();
  if (causal_past >= 0) scores = scores.masked_fill(torch::ones_like(scores, torch::kBool).triu(causal_past + 1), minus_infinity);
  if (key_padding.defined()) scores = scores.masked_fill(key_padding.unsqueeze(1).unsqueeze(2), minus_infinity);
  return torch::matmul(torch::softmax(scores, -1), v).transpose(1, 2);
}

struct Case {
  int64_t B, H, T, S, D, causal_past;
  bool padding;
};

// Fused (float32) against the reference (float64): outputs and the three gradients for one
// random upstream gradient. Heads are strided views of one (B, rows, 3, H, D) projection each, as
// the models hand them over.
void check_case(const Case& c) {
  CAPTURE(c.B, c.H, c.T, c.S, c.D, c.causal_past, c.padding);
  auto heads = [&](int64_t rows) { return torch::randn({c.B, rows, 3, c.H, c.D}).select(2, 1).transpose(1, 2); };
  const auto q = heads(c.T), k = heads(c.S), v = heads(c.S);
  torch::Tensor padding;
  if (c.padding) {
    padding = torch::rand({c.B, c.S}) < 0.3;
    padding.select(1, 0).fill_(false);  // every query keeps a key to attend to
  }
  const double scale = 1.0 / std::sqrt(static_cast<double>(c.D));
  REQUIRE(zoo::nn::fused_attention_applies(q, k, v, padding));
  auto qf = leaf(q), kf = leaf(k), vf = leaf(v);
  auto qd = leaf(q.to(torch::kDouble)), kd = leaf(k.to(torch::kDouble)), vd = leaf(v.to(torch::kDouble));
  auto fused = zoo::nn::fused_attention(qf, kf, vf, scale, c.causal_past, padding);
  auto reference = reference_attention(qd, kd, vd, scale, c.causal_past, padding);
  REQUIRE(fused.sizes() == reference.sizes());
  CHECK(fused.is_contiguous());
  CHECK(max_abs_diff(fused, reference) < 2e-6);
  const auto upstream = torch::randn(reference.sizes());
  (fused * upstream).sum().backward();
  (reference * upstream.to(torch::kDouble)).sum().backward();
  CHECK(max_abs_diff(qf.grad(), qd.grad()) < 1e-5);
  CHECK(max_abs_diff(kf.grad(), kd.grad()) < 1e-5);
  CHECK(max_abs_diff(vf.grad(), vd.grad()) < 1e-5);
}

}  // namespace

TEST_CASE("fused attention matches the unfused expression, values and gradients", "[fused_attention]") {
  torch::manual_seed(5);
  // D = 8 (one 8-wide block), 16, 24 (16 + 8), 64; T = 1, 5, 13 (short last row blocks); S off 8.
  for (int64_t D : {8, 16, 24, 64})
    for (int64_t T : {1, 5, 13})
      for (bool padding : {false, true}) {
        check_case({2, 3, T, T, D, -1, padding});   // self-attention
        check_case({2, 3, T, T, D, 0, padding});    // causal
        check_case({2, 3, T, 11, D, -1, padding});  // cross-attention, 11 keys
        check_case({1, 2, T, T + 7, D, 7, false});  // causal after 7 cached keys (a KV cache)
      }
  // Without a causal mask and with 24 or more queries and keys, the products are oneDNN's sgemm
  // where LibTorch carries it (attention_own_loops runs these on the kernel's own loops).
  for (bool padding : {false, true}) {
    check_case({2, 3, 30, 30, 64, -1, padding});  // self-attention
    check_case({2, 3, 25, 41, 24, -1, padding});  // cross-attention, more keys than queries
    check_case({2, 2, 33, 24, 8, -1, padding});   // cross-attention, fewer
  }
  check_case({3, 4, 65, 65, 64, -1, false});  // vit_cifar's slice: 64 patches + the class token
}

TEST_CASE("fused attention: the packed projection's gradient is the three heads' gradients", "[fused_attention]") {
  torch::manual_seed(6);
  const int64_t B = 2, T = 9, H = 2, D = 16;
  const auto qkv = torch::randn({B, T, 3, H, D});
  const double scale = 0.25;
  for (int64_t causal : {-1, 0}) {
    auto packed = leaf(qkv), separate = leaf(qkv);
    auto part = [](const torch::Tensor& t, int64_t i) { return t.select(2, i).transpose(1, 2); };
    auto a = zoo::nn::fused_self_attention(packed, scale, causal);
    auto b = zoo::nn::fused_attention(part(separate, 0), part(separate, 1), part(separate, 2), scale, causal);
    CHECK(torch::equal(a, b));
    const auto upstream = torch::randn(a.sizes());
    (a * upstream).sum().backward();
    (b * upstream).sum().backward();
    CHECK(torch::equal(packed.grad(), separate.grad()));
    CHECK(max_abs_diff(packed.grad(), torch::zeros_like(qkv)) > 0);
  }
}

TEST_CASE("fused attention: a query with no key to see is NaN, as LibTorch's softmax gives", "[fused_attention]") {
  const auto q = torch::randn({1, 1, 2, 8}), k = torch::randn({1, 1, 3, 8}), v = torch::randn({1, 1, 3, 8});
  const auto padding = torch::ones({1, 3}, torch::kBool);
  const auto fused = zoo::nn::fused_attention(q, k, v, 0.5, -1, padding);
  const auto reference = reference_attention(q, k, v, 0.5, -1, padding);
  CHECK(torch::isnan(reference).all().item<bool>());
  CHECK(torch::isnan(fused).all().item<bool>());
}

TEST_CASE("fused attention: the same bits on one thread and two", "[fused_attention]") {
  torch::manual_seed(8);
  // 17 tokens with a causal mask (the kernel's loops), 40 without (oneDNN's products, if present)
  for (int64_t tokens : {17, 40}) {
    CAPTURE(tokens);
    const auto q = torch::randn({4, 3, tokens, 32}), k = torch::randn({4, 3, tokens, 32}), v = torch::randn({4, 3, tokens, 32});
    const int threads = at::get_num_threads();
    auto run = [&](int n) {
      at::set_num_threads(n);
      auto qf = leaf(q), kf = leaf(k), vf = leaf(v);
      auto out = zoo::nn::fused_attention(qf, kf, vf, 0.2, tokens == 17 ? 0 : -1);
      out.pow(2).sum().backward();
      return std::vector<torch::Tensor>{out, qf.grad(), kf.grad(), vf.grad()};
    };
    const auto one = run(1), two = run(2);
    at::set_num_threads(threads);
    for (size_t i = 0; i < one.size(); ++i) CHECK(torch::equal(one[i], two[i]));
  }
}

TEST_CASE("fused attention: what it does not cover goes back to the caller", "[fused_attention]") {
  const auto h = torch::randn({1, 2, 4, 16});
  CHECK(zoo::nn::fused_attention_applies(h, h, h, {}));
  CHECK_FALSE(zoo::nn::fused_attention_applies(h.to(torch::kDouble), h.to(torch::kDouble), h.to(torch::kDouble), {}));
  CHECK_FALSE(zoo::nn::fused_attention_applies(h.to(torch::kBFloat16), h.to(torch::kBFloat16), h.to(torch::kBFloat16), {}));
  const auto odd = torch::randn({1, 2, 4, 12});  // head width not a multiple of 8
  CHECK_FALSE(zoo::nn::fused_attention_applies(odd, odd, odd, {}));
  const auto strided = torch::randn({1, 2, 16, 4}).transpose(2, 3);  // last dimension not contiguous
  CHECK_FALSE(zoo::nn::fused_attention_applies(strided, strided, strided, {}));
  CHECK_FALSE(zoo::nn::fused_attention_applies(h, h, h, torch::zeros({1, 5}, torch::kBool)));  // padding of the wrong length
}

TEST_CASE("MultiheadAttention: the fused path gives the unfused one's outputs and gradients", "[fused_attention]") {
  torch::manual_seed(9);
  zoo::nn::MultiheadAttentionOptions options;
  options.embed_dim = 48, options.heads = 3;  // D = 16
  zoo::nn::MultiheadAttention attention(options);
  const auto x = torch::randn({2, 10, 48}), memory = torch::randn({2, 7, 48});
  auto padding = torch::zeros({2, 7}, torch::kBool);
  padding[1].slice(0, 4).fill_(true);
  // keep_weights(true) sends every call down the unfused path (the kernel hands out no weights).
  auto run = [&](bool unfused, bool causal) {
    attention->zero_grad();
    attention->keep_weights(unfused);
    auto self = attention->forward(x, causal);
    auto cross = attention->attend_memory(x, attention->project_memory(memory), padding);
    (self.pow(2).sum() + cross.sum()).backward();
    std::vector<torch::Tensor> out{self.detach(), cross.detach()};
    for (const auto& p : attention->parameters()) out.push_back(p.grad().clone());
    return out;
  };
  for (bool causal : {false, true}) {
    const auto fused = run(false, causal), unfused = run(true, causal);
    for (size_t i = 0; i < fused.size(); ++i) CHECK(max_abs_diff(fused[i], unfused[i]) < 2e-5);
  }
}

TEST_CASE("MultiheadAttention: dropout on the weights drops what the unfused path drops", "[fused_attention]") {
  zoo::nn::MultiheadAttentionOptions options;
  options.embed_dim = 32, options.heads = 2, options.dropout = 0.3;
  torch::manual_seed(10);
  zoo::nn::MultiheadAttention attention(options);
  attention->train();
  // Self-attention with a causal mask (the kernel's loops); cross-attention over 26 keys from 24
  // queries, no mask (oneDNN's products where present).
  const auto x = torch::randn({3, 24, 32}), memory = torch::randn({3, 26, 32});
  auto run = [&](bool unfused, int64_t seed) {
    attention->zero_grad();
    attention->keep_weights(unfused);
    torch::manual_seed(seed);  // the same generator state: the same uniform draws for the mask
    auto self = attention->forward(x, /*causal=*/true);
    auto cross = attention->attend_memory(x, attention->project_memory(memory));
    (self.pow(2).sum() + cross.sum()).backward();
    std::vector<torch::Tensor> out{self.detach(), cross.detach()};
    for (const auto& p : attention->parameters()) out.push_back(p.grad().clone());
    return out;
  };
  const auto fused = run(false, 3), unfused = run(true, 3), other_mask = run(false, 4);
  for (size_t i = 0; i < fused.size(); ++i) CHECK(max_abs_diff(fused[i], unfused[i]) < 2e-5);
  CHECK(max_abs_diff(fused[0], other_mask[0]) > 1e-2);  // the mask is drawn, not fixed
  attention->eval();  // no dropout in evaluation: the same output whatever the generator
  torch::manual_seed(1);
  const auto a = attention->forward(x, true);
  torch::manual_seed(2);
  CHECK(torch::equal(a, attention->forward(x, true)));
}

}  // namespace test_fused_attention
