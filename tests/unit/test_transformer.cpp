// The Transformer translator and the attention it is built from, each property checked against
// an independent computation: LibTorch's own nn::MultiheadAttention, recomputation from scratch,
// and the same sentence without padding.
#include <catch2/catch.hpp>

#include <limits>

#include "lib/core/error.h"
#include "lib/core/registry.h"
#include "lib/nn/dropout.h"
#include "lib/nn/multihead_attention.h"
#include "lib/nn/search.h"
#include "models/seq2seq/transformer.h"

namespace test_transformer {  // this file's own: the unit tests compile in batches (tests/CMakeLists.txt)

using namespace zoo;

namespace {

models::TransformerConfig tiny_config(const std::string& norm = "post", const std::string& positions = "sinusoidal") {
  models::TransformerConfig c;
  c.src_vocab = 23, c.tgt_vocab = 19, c.encoder_layers = 2, c.decoder_layers = 2, c.width = 16, c.heads = 4, c.ffn = 24;
  c.max_positions = 64, c.dropout = 0.0, c.norm = norm, c.positions = positions;
  return c;
}

// Source ids (no 0 inside a sentence, 3 = <eos> last) padded with 0.
torch::Tensor example_source() { return torch::tensor({{5, 6, 7, 8, 3}, {9, 10, 3, 0, 0}, {11, 3, 0, 0, 0}}, torch::kInt64); }
torch::Tensor example_target_in() { return torch::tensor({{2, 4, 5, 6}, {2, 7, 8, 0}, {2, 9, 0, 0}}, torch::kInt64); }
torch::Tensor lengths_of(const torch::Tensor& src) { return src.ne(0).sum(1); }

// LibTorch's MultiheadAttention holding the same weights as ours.
torch::nn::MultiheadAttention reference_of(nn::MultiheadAttention& ours, int64_t width, int64_t heads) {
  torch::nn::MultiheadAttention reference(torch::nn::MultiheadAttentionOptions(width, heads));
  torch::NoGradGuard no_grad;
  reference->in_proj_weight.copy_(ours->in_proj->weight);
  reference->in_proj_bias.copy_(ours->in_proj->bias);
  reference->out_proj->weight.copy_(ours->out_proj->weight);
  reference->out_proj->bias.copy_(ours->out_proj->bias);
  return reference;
}

}  // namespace

TEST_CASE("multi-head attention equals LibTorch's MultiheadAttention with the same weights", "[transformer][attention]") {
  torch::manual_seed(1);
  const int64_t width = 12, heads = 3;
  nn::MultiheadAttentionOptions options;
  options.embed_dim = width, options.heads = heads;
  nn::MultiheadAttention ours(options);
  auto reference = reference_of(ours, width, heads);
  ours->eval(), reference->eval();
  ours->keep_weights(true);
  torch::NoGradGuard no_grad;
  auto x = torch::randn({2, 5, width}), memory = torch::randn({2, 7, width});
  auto padding = torch::zeros({2, 7}, torch::kBool);
  padding[1].narrow(0, 4, 3).fill_(true);  // the second memory has 4 real positions
  auto seq_first = [](const torch::Tensor& t) { return t.transpose(0, 1); };

  SECTION("self-attention with a key padding mask") {
    auto self_padding = padding.narrow(1, 0, 5);
    auto out = ours(x, /*causal=*/false, nullptr, nullptr, self_padding);
    auto [expected, weights] = reference(seq_first(x), seq_first(x), seq_first(x), self_padding);
    CHECK(torch::allclose(out, seq_first(expected), 1e-5, 1e-5));
    CHECK(torch::allclose(ours->last_weights().mean(1), weights, 1e-6, 1e-6));  // LibTorch averages over heads
  }
  SECTION("causal self-attention equals an additive -inf mask above the diagonal") {
    auto out = ours(x, /*causal=*/true);
    auto mask = torch::full({5, 5}, -std::numeric_limits<float>::infinity()).triu(1);
    auto [expected, weights] = reference->forward(seq_first(x), seq_first(x), seq_first(x), torch::Tensor(), true, mask);
    CHECK(torch::allclose(out, seq_first(expected), 1e-5, 1e-5));
  }
  SECTION("cross-attention: queries from x, keys and values from the memory, padding never attended") {
    torch::Tensor cross_weights;
    auto out = ours->attend_memory(x, ours->project_memory(memory), padding, &cross_weights);
    auto [expected, weights] = reference(seq_first(x), seq_first(memory), seq_first(memory), padding);
    CHECK(torch::allclose(out, seq_first(expected), 1e-5, 1e-5));
    CHECK(cross_weights.sizes() == torch::IntArrayRef({2, heads, 5, 7}));
    CHECK(cross_weights[1].narrow(-1, 4, 3).abs().sum().item<float>() == 0.0f);
    CHECK(torch::allclose(cross_weights.sum(-1), torch::ones({2, heads, 5}), 1e-6, 1e-6));
  }
}

TEST_CASE("the decoder's masked self-attention never looks ahead", "[transformer]") {
  for (const std::string norm : {"post", "pre"}) {
    CAPTURE(norm);
    torch::manual_seed(2);
    models::Transformer model(tiny_config(norm));
    model->eval();
    torch::NoGradGuard no_grad;
    auto src = example_source(), tgt_in = example_target_in();
    auto logits = model->forward(src, lengths_of(src), tgt_in);
    // Changing the target from position 2 on leaves positions 0 and 1 exactly as they were ...
    auto changed = tgt_in.clone();
    changed.narrow(1, 2, 2).fill_(17);
    auto after = model->forward(src, lengths_of(src), changed);
    CHECK(torch::equal(after.narrow(1, 0, 2), logits.narrow(1, 0, 2)));
    // ... and does change position 2 (the test can fail).
    CHECK_FALSE(torch::allclose(after.select(1, 2), logits.select(1, 2)));
  }
}

TEST_CASE("cached step-by-step decoding equals the teacher-forced pass recomputed from scratch", "[transformer]") {
  for (const std::string norm : {"post", "pre"})
    for (const std::string positions : {"sinusoidal", "learned"}) {
      CAPTURE(norm, positions);
      torch::manual_seed(3);
      models::Transformer model(tiny_config(norm, positions));
      model->eval();
      torch::NoGradGuard no_grad;
      auto src = example_source(), tgt_in = example_target_in();
      auto logits = model->forward(src, lengths_of(src), tgt_in);  // (3, 4, 19)
      REQUIRE(logits.sizes() == torch::IntArrayRef({3, 4, 19}));
      auto state = model->encode(src, lengths_of(src));
      REQUIRE(state.size() == 1 + 4 * 2);
      for (int64_t t = 0; t < 4; ++t) {
        auto step = model->decode_step(tgt_in.select(1, t), state);
        CHECK(torch::allclose(step.log_probs, torch::log_softmax(logits.select(1, t), 1), 1e-5, 1e-5));
        // The alignment: a distribution over the source, zero on its padding.
        CHECK(torch::allclose(step.attention.sum(1), torch::ones({3}), 1e-5, 1e-5));
        CHECK(step.attention.select(0, 2).narrow(0, 2, 3).abs().sum().item<float>() == 0.0f);
        CHECK(step.state.at(3).size(2) == t + 1);  // the self-attention cache grows by one position a step
        state = step.state;
      }
    }
}

TEST_CASE("a padded batch gives each sentence what it gets alone", "[transformer]") {
  for (const std::string norm : {"post", "pre"}) {
    CAPTURE(norm);
    torch::manual_seed(4);
    models::Transformer model(tiny_config(norm));
    model->eval();
    torch::NoGradGuard no_grad;
    auto src = example_source(), tgt_in = example_target_in();
    auto batch = model->forward(src, lengths_of(src), tgt_in);
    for (int64_t b = 0; b < 3; ++b) {
      CAPTURE(b);
      const int64_t s = lengths_of(src)[b].item<int64_t>(), t = tgt_in[b].ne(0).sum().item<int64_t>();
      auto alone_src = src.narrow(0, b, 1).narrow(1, 0, s), alone_tgt = tgt_in.narrow(0, b, 1).narrow(1, 0, t);
      auto alone = model->forward(alone_src, lengths_of(alone_src), alone_tgt);
      CHECK(torch::allclose(alone.select(0, 0), batch.select(0, b).narrow(0, 0, t), 1e-5, 1e-5));
    }
    // Batched greedy search finds, for each sentence, what it finds alone.
    nn::SearchOptions options;
    const nn::StepFunction step = [&](const torch::Tensor& tokens, const std::vector<torch::Tensor>& state) { return model->decode_step(tokens, state); };
    auto together = nn::greedy_search(step, model->encode(src, lengths_of(src)), {5, 3, 2}, options);
    for (int64_t b = 0; b < 3; ++b) {
      const int64_t s = lengths_of(src)[b].item<int64_t>();
      auto alone_src = src.narrow(0, b, 1).narrow(1, 0, s);
      auto alone = nn::greedy_search(step, model->encode(alone_src, lengths_of(alone_src)), {s}, options);
      CHECK(alone.at(0).tokens == together.at(static_cast<size_t>(b)).tokens);
    }
  }
}

TEST_CASE("the Transformer's gradients reach every parameter, and shared embeddings are one matrix", "[transformer]") {
  torch::manual_seed(5);
  auto config = tiny_config("pre", "learned");
  config.dropout = 0.1;
  models::Transformer model(config);
  model->train();
  auto src = example_source(), tgt_in = example_target_in();
  model->forward(src, lengths_of(src), tgt_in).logsumexp(-1).sum().backward();
  for (const auto& p : model->named_parameters()) {
    CAPTURE(p.key());
    REQUIRE(p.value().grad().defined());
    CHECK(p.value().grad().abs().sum().item<double>() > 0);
  }

  auto shared = tiny_config();
  shared.tgt_vocab = shared.src_vocab, shared.share_embeddings = true;
  models::Transformer joint(shared);
  auto separate_config = shared;
  separate_config.share_embeddings = false;
  models::Transformer separate(separate_config);
  CHECK(count_parameters(*separate) - count_parameters(*joint) == shared.src_vocab * shared.width);
  CHECK(joint->named_parameters().find("tgt_embed.weight") == nullptr);
  auto mismatched = tiny_config();
  mismatched.share_embeddings = true;
  CHECK_THROWS_AS(models::Transformer(mismatched), UsageError);
}

TEST_CASE("invalid Transformer options are usage errors naming the option", "[transformer]") {
  auto expect_usage_error = [](models::TransformerConfig c, const std::string& fragment) {
    try {
      models::Transformer model(c);
      FAIL("no error for " + fragment);
    } catch (const UsageError& e) {
      CHECK_THAT(e.what(), Catch::Contains(fragment));
    }
  };
  auto c = tiny_config();
  c.heads = 5;
  expect_usage_error(c, "heads 5");
  c = tiny_config(), c.norm = "middle";
  expect_usage_error(c, "norm 'middle'");
  c = tiny_config(), c.positions = "rotary";
  expect_usage_error(c, "positions 'rotary'");
  c = tiny_config(), c.activation = "tanh";
  expect_usage_error(c, "activation 'tanh'");
  c = tiny_config(), c.dropout = 1.0;
  expect_usage_error(c, "dropout");
}

TEST_CASE("dropout zeroes a fraction p, scales the rest by 1/(1-p), and is the identity in evaluation", "[transformer][dropout]") {
  torch::manual_seed(6);
  auto x = torch::ones({200000}, torch::requires_grad());
  auto y = nn::dropout(x, 0.25, /*training=*/true);
  const double dropped = y.eq(0).to(torch::kFloat64).mean().item<double>();
  CHECK(dropped == Approx(0.25).margin(0.005));
  CHECK(torch::equal(y.masked_select(y.ne(0)), torch::full({y.ne(0).sum().item<int64_t>()}, 1.0f / 0.75f)));
  CHECK(y.mean().item<double>() == Approx(1.0).margin(0.01));
  y.sum().backward();
  CHECK(torch::equal(x.grad(), y.detach()));  // d(x * keep)/dx = keep
  CHECK(nn::dropout(x, 0.25, /*training=*/false).data_ptr() == x.data_ptr());
  // The same seed draws the same mask (resumed runs rely on it).
  torch::manual_seed(7);
  auto a = nn::dropout(x.detach(), 0.5, true);
  torch::manual_seed(7);
  CHECK(torch::equal(a, nn::dropout(x.detach(), 0.5, true)));
  CHECK_THROWS_AS(nn::Dropout(1.0), UsageError);
}

TEST_CASE("dropout's keep mask: any thread count, independent elements and draws, odd sizes, other dtypes", "[transformer][dropout]") {
  const int threads = torch::get_num_threads();
  const double p = 0.3;
  torch::manual_seed(11);
  torch::set_num_threads(1);
  const auto one_thread = nn::keep_mask({100001}, torch::kFloat, p);
  torch::manual_seed(11);
  torch::set_num_threads(2);
  const auto two_threads = nn::keep_mask({100001}, torch::kFloat, p);
  torch::set_num_threads(threads);
  CHECK(torch::equal(one_thread, two_threads));
  const auto dropped = one_thread.eq(0).to(torch::kFloat64);
  CHECK(dropped.mean().item<double>() == Approx(p).margin(0.006));
  const float last = one_thread[100000].item<float>();  // the odd last element is drawn too
  CHECK((last == 0.f || last == Approx(1 / (1 - p))));
  // Neighbours (the two halves of one 64-bit draw, and across draws) and the next call's mask
  // are independent: both dropped with probability p^2.
  CHECK((dropped.slice(0, 0, 100000, 2) * dropped.slice(0, 1, 100001, 2)).mean().item<double>() == Approx(p * p).margin(0.006));
  CHECK((dropped.slice(0, 1, 99999, 2) * dropped.slice(0, 2, 100000, 2)).mean().item<double>() == Approx(p * p).margin(0.006));
  const auto next = nn::keep_mask({100001}, torch::kFloat, p).eq(0).to(torch::kFloat64);
  CHECK((dropped * next).mean().item<double>() == Approx(p * p).margin(0.006));
  // The threshold is exact at the ends: p = 0 keeps everything.
  CHECK(nn::keep_mask({1000}, torch::kFloat, 0.0).eq(1.f).all().item<bool>());
  const auto bf16 = nn::keep_mask({7, 9}, torch::kBFloat16, 0.5);
  CHECK(bf16.scalar_type() == torch::kBFloat16);
  CHECK(bf16.sizes() == torch::IntArrayRef{7, 9});
  CHECK((bf16.eq(0) | bf16.eq(2)).all().item<bool>());
}

}  // namespace test_transformer
