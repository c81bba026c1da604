// Attention, recurrent cells, the RNN encoder-decoders and search: the properties the
// translation task relies on, each checked against an independent computation.
#include <catch2/catch.hpp>

#include <map>

#include "lib/core/error.h"
#include "lib/core/registry.h"
#include "lib/nn/attention.h"
#include "lib/nn/recurrent_cell.h"
#include "lib/nn/search.h"
#include "lib/tasks/builtin.h"
#include "models/seq2seq/rnn_seq2seq.h"

namespace test_seq2seq {  // this file's own: the unit tests compile in batches (tests/CMakeLists.txt)

using namespace zoo;

namespace {

// Two sources of lengths 5 and 3 in a batch padded to 5: mask (2, 5).
torch::Tensor example_mask() { return torch::tensor({{1, 1, 1, 1, 1}, {1, 1, 1, 0, 0}}, torch::kBool); }

models::RnnSeq2SeqConfig tiny_config(const std::string& attention, const std::string& cell = "gru", int64_t layers = 1) {
  models::RnnSeq2SeqConfig c;
  c.src_vocab = 23, c.tgt_vocab = 19, c.embedding = 8, c.encoder_hidden = 6, c.hidden = 12, c.attention_hidden = 10;
  c.layers = layers, c.cell = cell, c.dropout = 0.0, c.attention = attention;
  return c;
}

// Source ids (no 0 inside a sentence) padded with 0, and lengths.
std::pair<torch::Tensor, torch::Tensor> example_source() {
  auto src = torch::tensor({{5, 6, 7, 8, 3}, {9, 10, 3, 0, 0}, {11, 3, 0, 0, 0}}, torch::kInt64);
  return {src, torch::tensor({5, 3, 2}, torch::kInt64)};
}

}  // namespace

TEST_CASE("every attention variant puts weight 1 on real tokens, exactly 0 on pads, and passes gradients", "[attention]") {
  torch::manual_seed(1);
  for (const auto& name : nn::attention_names()) {
    CAPTURE(name);
    const int64_t dk = 12;
    nn::Attention attention(nn::parse_attention(name), /*query=*/12, dk, /*hidden=*/7, /*mixtures=*/3);
    auto memory = torch::randn({2, 5, dk}, torch::requires_grad());
    auto query = torch::randn({2, 12}, torch::requires_grad());
    auto mask = example_mask();
    auto keys = attention->precompute(memory);
    auto out = attention->forward(query, memory, keys, mask, attention->initial_state(memory));
    REQUIRE(out.weights.sizes() == torch::IntArrayRef({2, 5}));
    REQUIRE(out.context.sizes() == torch::IntArrayRef({2, dk}));
    CHECK(torch::allclose(out.weights.sum(1), torch::ones({2}), 1e-6, 1e-6));
    CHECK(out.weights[1][3].item<float>() == 0.0f);
    CHECK(out.weights[1][4].item<float>() == 0.0f);
    CHECK((out.weights.select(0, 0) > 0).all().item<bool>());
    // The context is the weighted sum of the memory.
    CHECK(torch::allclose(out.context, (out.weights.unsqueeze(2) * memory).sum(1), 1e-5, 1e-5));
    // A pad's memory never matters.
    auto changed = memory.detach().clone();
    changed[1][4] += 100.0;
    auto again = attention->forward(query, changed, attention->precompute(changed), mask, attention->initial_state(memory));
    CHECK(torch::allclose(again.context[1], out.context[1], 1e-5, 1e-5));

    out.context.sum().backward();
    CHECK(memory.grad().abs().sum().item<float>() > 0);
    CHECK(query.grad().abs().sum().item<float>() > 0);
    for (const auto& p : attention->parameters()) CHECK(p.grad().defined());
  }
}

TEST_CASE("location attention moves its Gaussian window forward monotonically", "[attention]") {
  torch::manual_seed(2);
  nn::Attention attention(nn::AttentionKind::Location, 4, 6, 5, 2);
  auto memory = torch::randn({1, 8, 6});
  auto mask = torch::ones({1, 8}, torch::kBool);
  auto state = attention->initial_state(memory);
  auto keys = attention->precompute(memory);
  for (int step = 0; step < 4; ++step) {
    auto out = attention->forward(torch::randn({1, 4}), memory, keys, mask, state);
    CHECK((out.state > state).all().item<bool>());  // kappa_t = kappa_{t-1} + exp(.)
    state = out.state;
  }
}

TEST_CASE("recurrent cells from the equations equal LibTorch's cells with the same weights", "[cells]") {
  torch::manual_seed(3);
  auto x = torch::randn({4, 5}), h = torch::randn({4, 7}), c = torch::randn({4, 7});
  for (const std::string kind : {"rnn", "gru", "lstm"}) {
    CAPTURE(kind);
    nn::RecurrentCell cell(nn::parse_cell(kind), 5, 7);
    torch::Tensor expected_h, expected_c;
    torch::NoGradGuard no_grad;
    auto copy = [&](torch::nn::Module& reference) {
      reference.named_parameters()["weight_ih"].copy_(cell->weight_ih);
      reference.named_parameters()["weight_hh"].copy_(cell->weight_hh);
      reference.named_parameters()["bias_ih"].copy_(cell->bias_ih);
      reference.named_parameters()["bias_hh"].copy_(cell->bias_hh);
    };
    if (kind == "rnn") {
      torch::nn::RNNCell reference(5, 7);
      copy(*reference);
      expected_h = reference->forward(x, h);
    } else if (kind == "gru") {
      torch::nn::GRUCell reference(5, 7);
      copy(*reference);
      expected_h = reference->forward(x, h);
    } else {
      torch::nn::LSTMCell reference(5, 7);
      copy(*reference);
      std::tie(expected_h, expected_c) = reference->forward(x, std::make_tuple(h, c));
    }
    // The input projection may be split by columns: W [a; b] = W_a a + W_b b.
    auto projected = cell->project_input(x.narrow(1, 0, 2)) + cell->project_input(x.narrow(1, 2, 3), 2, false);
    auto got = cell->step(projected, {h, kind == "lstm" ? c : torch::Tensor()});
    CHECK(torch::allclose(got.h, expected_h, 1e-5, 1e-6));
    if (kind == "lstm") CHECK(torch::allclose(got.c, expected_c, 1e-5, 1e-6));
  }
}

TEST_CASE("teacher-forced logits equal step-by-step decoding, and padding changes nothing", "[seq2seq]") {
  struct Variant {
    std::string attention, cell, context;
    int64_t layers;
    bool bidirectional, reverse;
  };
  const std::vector<Variant> variants{{"bahdanau", "gru", "final", 1, true, false},   {"luong_general", "lstm", "final", 2, true, false},
                                      {"luong_dot", "gru", "final", 1, false, false}, {"location", "rnn", "final", 1, true, false},
                                      {"none", "gru", "every_step", 1, true, false},  {"none", "lstm", "final", 2, false, true}};
  for (const auto& v : variants) {
    CAPTURE(v.attention, v.cell, v.context, v.layers);
    torch::manual_seed(4);
    auto config = tiny_config(v.attention, v.cell, v.layers);
    config.context = v.context, config.bidirectional = v.bidirectional, config.reverse_source = v.reverse;
    if (v.attention == "luong_dot") config.hidden = config.encoder_hidden;  // q^T k needs equal widths
    models::RnnSeq2Seq model(config);
    model->eval();
    torch::NoGradGuard no_grad;
    auto [src, lengths] = example_source();
    auto tgt_in = torch::tensor({{2, 4, 5, 6}, {2, 7, 8, 0}, {2, 9, 0, 0}}, torch::kInt64);
    auto logits = model->forward(src, lengths, tgt_in);  // (3, 4, 19)
    REQUIRE(logits.sizes() == torch::IntArrayRef({3, 4, 19}));

    auto state = model->encode(src, lengths);
    for (int64_t t = 0; t < 4; ++t) {
      auto step = model->decode_step(tgt_in.select(1, t), state);
      CHECK(torch::allclose(step.log_probs, torch::log_softmax(logits.select(1, t), 1), 1e-5, 1e-5));
      if (v.attention != "none") CHECK(step.attention.select(0, 2).narrow(0, 2, 3).abs().sum().item<float>() == 0.0f);
      state = step.state;
    }
    // The third sentence alone, unpadded, gives the same first-step distribution.
    auto alone = model->forward(src.narrow(0, 2, 1).narrow(1, 0, 2), lengths.narrow(0, 2, 1), tgt_in.narrow(0, 2, 1).narrow(1, 0, 2));
    CHECK(torch::allclose(alone.select(0, 0), logits.select(0, 2).narrow(0, 0, 2), 1e-5, 1e-5));
  }
}

TEST_CASE("teacher-forced gradients (weights' gradients formed once per sequence) equal step-by-step ones", "[seq2seq]") {
  // forward() forms W_hh's and the extra input's W_ih gradients as one product over all steps
  // (lib/nn/step_gradient.h); decode_step() runs plain per-step products. Same loss, same gradients.
  struct Variant {
    std::string attention, cell, context;
    int64_t layers;
    bool input_feeding;
  };
  const std::vector<Variant> variants{{"bahdanau", "gru", "final", 2, false}, {"luong_general", "lstm", "final", 1, true},
                                      {"none", "gru", "every_step", 1, false}, {"location", "rnn", "final", 1, false}};
  for (const auto& v : variants) {
    CAPTURE(v.attention, v.cell, v.context, v.layers);
    torch::manual_seed(6);
    auto config = tiny_config(v.attention, v.cell, v.layers);
    config.context = v.context, config.input_feeding = v.input_feeding;
    models::RnnSeq2Seq model(config);
    auto [src, lengths] = example_source();
    auto tgt_in = torch::tensor({{2, 4, 5, 6}, {2, 7, 8, 0}, {2, 9, 1, 0}}, torch::kInt64);
    const auto upstream = torch::randn({3, 4, 19});
    auto gradients = [&](bool whole_sequence) {
      model->zero_grad();
      torch::Tensor log_probs;
      if (whole_sequence) {
        log_probs = torch::log_softmax(model->forward(src, lengths, tgt_in), 2);
      } else {
        auto state = model->encode(src, lengths);
        std::vector<torch::Tensor> steps;
        for (int64_t t = 0; t < 4; ++t) {
          auto step = model->decode_step(tgt_in.select(1, t), state);
          steps.push_back(step.log_probs), state = step.state;
        }
        log_probs = torch::stack(steps, 1);
      }
      (log_probs * upstream).sum().backward();
      std::map<std::string, torch::Tensor> out;
      for (const auto& p : model->named_parameters()) out[p.key()] = p.value().grad().clone();
      return out;
    };
    const auto whole = gradients(true), stepwise = gradients(false);
    for (const auto& [name, grad] : whole) {
      CAPTURE(name);
      CHECK(grad.abs().sum().item<float>() > 0);
      CHECK(torch::allclose(grad, stepwise.at(name), 1e-4, 1e-5));
    }
  }
}

TEST_CASE("gradients reach every parameter of seq2seq_attn", "[seq2seq]") {
  torch::manual_seed(5);
  auto config = tiny_config("bahdanau", "gru", 2);
  models::RnnSeq2Seq model(config);
  auto [src, lengths] = example_source();
  auto tgt_in = torch::tensor({{2, 4, 5}, {2, 7, 8}, {2, 9, 1}}, torch::kInt64);
  model->forward(src, lengths, tgt_in).logsumexp(2).sum().backward();
  for (const auto& p : model->named_parameters()) {
    CAPTURE(p.key());
    REQUIRE(p.value().grad().defined());
    CHECK(p.value().grad().abs().sum().item<float>() > 0);
  }
}

TEST_CASE("beam search with beam 1 equals greedy search and wider beams find hypotheses at least as likely", "[search]") {
  torch::manual_seed(6);
  models::RnnSeq2Seq model(tiny_config("luong_general"));
  model->eval();
  torch::NoGradGuard no_grad;
  auto [src, lengths] = example_source();
  nn::StepFunction step = [&](const torch::Tensor& tokens, const std::vector<torch::Tensor>& state) { return model->decode_step(tokens, state); };
  nn::SearchOptions options;
  options.max_len_ratio = 1.5, options.max_len_extra = 2;
  const std::vector<int64_t> lens{5, 3, 2};
  auto greedy = nn::greedy_search(step, model->encode(src, lengths), lens, options);
  auto beam1 = nn::beam_search(step, model->encode(src, lengths), lens, options);
  REQUIRE(greedy.size() == 3);
  for (size_t i = 0; i < 3; ++i) {
    CAPTURE(i);
    CHECK(greedy[i].tokens == beam1[i].tokens);
    CHECK(greedy[i].log_prob == Approx(beam1[i].log_prob).epsilon(1e-5));
    // Lengths respect the limit (tokens + <eos> <= floor(1.5 * len) + 2), attention has a row each.
    CHECK(static_cast<int64_t>(greedy[i].tokens.size()) + 1 <= static_cast<int64_t>(1.5 * lens[i]) + 2);
    CHECK(greedy[i].attention.size(0) == static_cast<int64_t>(greedy[i].tokens.size()) + 1);
  }
  // With no length normalisation, a beam of 8 ranks by log P and never does worse than greedy
  // on these short outputs (a full search of 19^3 sequences would be the exact optimum).
  options.length_penalty = 0.0;
  options.beam = 8;
  auto wide = nn::beam_search(step, model->encode(src, lengths), lens, options);
  auto narrow = nn::greedy_search(step, model->encode(src, lengths), lens, options);
  for (size_t i = 0; i < 3; ++i) CHECK(wide[i].log_prob >= narrow[i].log_prob - 1e-5);
  // The batch does not change a sentence's result.
  auto single = nn::beam_search(step, model->encode(src.narrow(0, 1, 1).narrow(1, 0, 3), lengths.narrow(0, 1, 1)), {3}, options);
  CHECK(single[0].tokens == wide[1].tokens);
}

TEST_CASE("invalid seq2seq options are usage errors naming the option", "[seq2seq]") {
  auto config = tiny_config("bahdanau");
  config.cell = "transformer";
  CHECK_THROWS_AS(models::RnnSeq2Seq(config), UsageError);
  config = tiny_config("luong_dot");  // decoder 12 vs encoder 12 (bidirectional 6 x 2) is fine
  CHECK_NOTHROW(models::RnnSeq2Seq(config));
  config.hidden = 10;
  CHECK_THROWS_WITH(models::RnnSeq2Seq(config), Catch::Contains("as wide as the encoder output"));
  config = tiny_config("nonsense");
  CHECK_THROWS_WITH(models::RnnSeq2Seq(config), Catch::Contains("bahdanau"));
}

TEST_CASE("the translation models' parameter counts match the counts worked out by hand", "[seq2seq][models]") {
  // Defaults: vocabularies 8000/6000, embeddings 256, bidirectional GRU encoder 256 per direction,
  // GRU decoder 512, additive attention 512 (the gru_bahdanau benchmark's model).
  //   embeddings        8000*256 + 6000*256                                 = 3,584,000
  //   encoder GRUs      2 * (3*256*(256+256) + 2*3*256)                     =   789,504
  //   bridge            512*512 + 512                                       =   262,656
  //   seq2seq_attn: decoder cell on [emb; c] 3*512*(768+512) + 2*3*512     = 1,969,152
  //                 attention W 512*512, U 512*512+512, v 512               =   525,312
  //                 output over [s; c; emb] 1280*6000 + 6000                = 7,686,000  -> 14,816,624
  //   seq2seq:      decoder cell on emb 3*512*(256+512) + 2*3*512           = 1,182,720
  //                 output over s 512*6000 + 6000                           = 3,078,000  ->  8,896,880
  // transformer_small (width 256, feed-forward 1024, 3+3 layers, tied output layer):
  //   embeddings        8000*256 + 6000*256                                 = 3,584,000
  //   encoder layer     in-proj 3*256*256+3*256, out-proj 256*256+256,
  //                     FFN 256*1024+1024 + 1024*256+256, 2 LayerNorms 2*512 =   789,760  (x3)
  //   decoder layer     2 attentions 2*263,168, FFN 525,568, 3 LayerNorms     = 1,053,440  (x3)
  //   output bias       6000                                  -> 3,584,000 + 2,369,280 + 3,160,320 + 6,000 = 9,119,600
  // transformer_base (512, 2048, 6+6): embeddings 7,168,000, encoder layer 3,152,384 (x6),
  //   decoder layer 4,204,032 (x6), output bias 6,000                                             = 51,312,496
  const std::map<std::string, int64_t> reference{
      {"seq2seq_attn", 14816624}, {"seq2seq", 8896880}, {"transformer_small", 9119600}, {"transformer_base", 51312496}};
  for (const auto* spec : registry().models("translate")) {
    CAPTURE(spec->name);
    auto model = registry().create_model(spec->name, Json::object());
    CHECK(count_parameters(*model) == spec->params);
    if (reference.count(spec->name)) CHECK(count_parameters(*model) == reference.at(spec->name));
  }
}

}  // namespace test_seq2seq
