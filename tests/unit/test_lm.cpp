// Language models: the properties the lm task relies on, each checked against an independent
// computation: the seeds' cell equations against LibTorch's fused layers, truncated BPTT's
// carried and detached state, the causal mask, the key/value cache, positions, sampling, and the
// text corpus and its split.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "data/text_corpus.h"
#include "lib/core/checkpoint.h"
#include "lib/core/error.h"
#include "lib/core/registry.h"
#include "lib/nn/positional.h"
#include "lib/nn/sampling.h"
#include "lib/tasks/builtin.h"
#include "lib/tasks/lm.h"
#include "models/lm/char_rnn.h"
#include "models/lm/gpt.h"

namespace test_lm {  // this file's own: the unit tests compile in batches (tests/CMakeLists.txt)

using namespace zoo;
namespace fs = std::filesystem;

namespace {

models::CharRnnConfig tiny_rnn(const std::string& cell, const std::string& impl) {
  models::CharRnnConfig c;
  c.vocab = 17, c.embedding = 6, c.hidden = 8, c.layers = 2, c.cell = cell, c.impl = impl, c.dropout = 0.0;
  return c;
}

models::GptConfig tiny_gpt(const std::string& positions) {
  models::GptConfig c;
  c.vocab = 19, c.layers = 2, c.heads = 2, c.width = 8, c.context = 12, c.dropout = 0.0, c.positions = positions;
  return c;
}

// An lm task trained on nothing yet: char_rnn or gpt_mini shrunk, on synth:additions.
std::unique_ptr<LmTask> tiny_task(const std::string& model, std::vector<std::string> sets, int64_t batch = 4) {
  Json config = {{"model", model}, {"data", "synth:additions"}, {"batch_size", batch}, {"workers", 0}, {"seed", 3},
                 {"val_fraction", 0.1}, {"synth_size", 256}, {"set", sets}};
  // The weights from a fixed seed: LibTorch's default generator starts from a random one, and a
  // test's margins must not depend on the draw.
  torch::manual_seed(3);
  auto task = std::make_unique<LmTask>();
  task->setup_training(Options(config), torch::kCPU);
  return task;
}

std::string write_file(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
  return path.string();
}

}  // namespace

TEST_CASE("char_rnn: the cells from the seeds' equations equal the fused layers (zoo's LSTM layer, LibTorch's GRU and RNN) with the same weights", "[lm][cells]") {
  for (const std::string cell : {"rnn", "lstm", "gru"}) {
    CAPTURE(cell);
    torch::manual_seed(7);
    models::CharRnn fused(tiny_rnn(cell, "fused")), cells(tiny_rnn(cell, "cells"));
    // The same names in both: one loads the other's weights.
    load_state_dict(*cells, state_dict(*fused), "fused");
    fused->eval(), cells->eval();
    auto tokens = torch::randint(0, 17, {3, 9}, torch::kInt64);
    auto state = fused->initial_state(3, torch::kCPU);
    for (auto& s : state) s.normal_();
    auto a = fused->forward(tokens, state), b = cells->forward(tokens, state);
    CHECK(torch::allclose(a.logits, b.logits, 1e-5, 1e-5));
    REQUIRE(a.state.size() == (cell == "lstm" ? 2u : 1u));
    for (size_t i = 0; i < a.state.size(); ++i) CHECK(torch::allclose(a.state[i], b.state[i], 1e-5, 1e-5));
    // And the same gradients.
    fused->train(), cells->train();
    fused->forward(tokens, state).logits.square().sum().backward();
    cells->forward(tokens, state).logits.square().sum().backward();
    auto fused_params = fused->named_parameters(), cell_params = cells->named_parameters();
    for (const auto& item : fused_params) {
      CAPTURE(item.key());
      CHECK(torch::allclose(item.value().grad(), cell_params[item.key()].grad(), 1e-4, 1e-5));
    }
    // The state after 9 tokens equals the state after 5 then 4: forward continues a sequence.
    fused->eval();
    auto first = fused->forward(tokens.narrow(1, 0, 5), state);
    auto rest = fused->forward(tokens.narrow(1, 5, 4), first.state);
    CHECK(torch::allclose(rest.logits, a.logits.narrow(1, 5, 4), 1e-5, 1e-5));
  }
}

TEST_CASE("char_rnn: trace_units shows the LSTM's gates, and h = o * tanh(c)", "[lm][cells]") {
  torch::manual_seed(2);
  models::CharRnn rnn(tiny_rnn("lstm", "fused"));
  rnn->eval();
  auto traces = rnn->trace_units(torch::randint(0, 17, {1, 7}, torch::kInt64));
  for (const char* name : {"h", "c", "i", "f", "o", "g"}) {
    REQUIRE(traces.count(name));
    CHECK(traces.at(name).sizes() == torch::IntArrayRef({2, 7, 8}));
  }
  CHECK(torch::allclose(traces.at("h"), traces.at("o") * traces.at("c").tanh(), 1e-6, 1e-6));
  CHECK((traces.at("f") > 0).all().item<bool>());
  CHECK((traces.at("f") < 1).all().item<bool>());
}

TEST_CASE("char_rnn: tied weights share the embedding matrix and need embedding == hidden", "[lm]") {
  auto config = tiny_rnn("gru", "fused");
  config.tie_weights = true;
  CHECK_THROWS_AS(models::CharRnn(config), UsageError);
  config.embedding = config.hidden;
  models::CharRnn tied(config);
  auto names = tied->named_parameters();
  CHECK(names.find("decoder.weight") == nullptr);
  CHECK(names.find("decoder.bias") != nullptr);
  tied->forward(torch::randint(0, 17, {2, 3}, torch::kInt64), {}).logits.sum().backward();
  CHECK(tied->encoder->weight.grad().abs().sum().item<float>() > 0);
}

TEST_CASE("truncated BPTT carries each stream's state to its next chunk, detached", "[lm][bptt]") {
  auto task = tiny_task("char_rnn", {"hidden=16", "embedding=8", "layers=1", "dropout=0", "bptt=6"});
  auto model = std::dynamic_pointer_cast<models::CharRnnImpl>(task->model());
  REQUIRE(model);
  auto stream = task->train_batches(0, 0);
  Batch first = *stream->next(), second = *stream->next();
  auto in1 = first.tensors[0], out1 = first.tensors[1], in2 = second.tensors[0];
  // Each row continues where it stopped: chunk 2 starts with chunk 1's last target.
  CHECK(torch::equal(in2.select(1, 0), out1.select(1, out1.size(1) - 1)));
  CHECK(torch::equal(in1.narrow(1, 1, in1.size(1) - 1), out1.narrow(1, 0, out1.size(1) - 1)));

  model->train();
  task->loss(first);
  auto carried = task->training_state();
  REQUIRE(carried.size() == 2);  // h and c
  for (const auto& [name, tensor] : carried) CHECK_FALSE(tensor.requires_grad());
  // Independently: the state after chunk 1 from zeros, then chunk 2's loss from it.
  auto expected_state = model->forward(in1, {}).state;
  CHECK(torch::allclose(expected_state[0], carried.at("carried_state.0")));
  auto ce = [](const models::LmOutput& out, const torch::Tensor& target) {
    return torch::nn::functional::cross_entropy(out.logits.flatten(0, 1), target.flatten());
  };
  const double carried_loss = ce(model->forward(in2, {expected_state[0].detach(), expected_state[1].detach()}), second.tensors[1]).item<double>();
  const double reset_loss = ce(model->forward(in2, {}), second.tensors[1]).item<double>();
  model->zero_grad();
  auto loss2 = task->loss(second);
  CHECK(loss2.item<double>() == Approx(carried_loss).epsilon(1e-6));
  CAPTURE(carried_loss, reset_loss);
  CHECK(std::abs(carried_loss - reset_loss) > 1e-4);  // so the check above can tell them apart
  // Detached: the gradient of chunk 2's loss equals the one computed from a detached state, and
  // differs from backpropagating into chunk 1.
  loss2.backward();
  auto grad = model->encoder->weight.grad().clone();
  model->zero_grad();
  ce(model->forward(in2, {expected_state[0].detach(), expected_state[1].detach()}), second.tensors[1]).backward();
  CHECK(torch::allclose(grad, model->encoder->weight.grad(), 1e-6, 1e-7));
  model->zero_grad();
  auto through = model->forward(in1, {}).state;
  ce(model->forward(in2, through), second.tensors[1]).backward();
  CHECK_FALSE(torch::allclose(grad, model->encoder->weight.grad(), 1e-6, 1e-7));
  // A new epoch starts from zeros again.
  auto next_epoch = task->train_batches(1, 0);
  model->zero_grad();
  Batch epoch_start = *next_epoch->next();
  CHECK(task->loss(epoch_start).item<double>() == Approx(ce(model->forward(epoch_start.tensors[0], {}), epoch_start.tensors[1]).item<double>()).epsilon(1e-6));
}

TEST_CASE("gpt: the causal mask never looks ahead", "[lm][gpt]") {
  for (const std::string positions : {"learned", "sinusoidal", "rotary"}) {
    CAPTURE(positions);
    torch::manual_seed(5);
    models::Gpt gpt(tiny_gpt(positions));
    gpt->eval();
    auto tokens = torch::randint(0, 19, {2, 10}, torch::kInt64);
    auto logits = gpt->forward(tokens, {}).logits;
    CHECK(logits.sizes() == torch::IntArrayRef({2, 10, 19}));
    for (int64_t j : {3, 9}) {
      auto changed = tokens.clone();
      changed.select(1, j).add_(1).remainder_(19);
      auto other = gpt->forward(changed, {}).logits;
      CHECK(torch::allclose(other.narrow(1, 0, j), logits.narrow(1, 0, j), 1e-6, 1e-6));
      CHECK_FALSE(torch::allclose(other.select(1, j), logits.select(1, j), 1e-4, 1e-4));
    }
  }
}

TEST_CASE("gpt: generating with the key/value cache equals recomputing the whole sequence", "[lm][gpt]") {
  for (const std::string positions : {"learned", "sinusoidal", "rotary"}) {
    CAPTURE(positions);
    torch::manual_seed(6);
    models::Gpt gpt(tiny_gpt(positions));
    gpt->eval();
    torch::NoGradGuard no_grad;
    auto tokens = torch::randint(0, 19, {2, 12}, torch::kInt64);
    auto full = gpt->forward(tokens, {}).logits;
    auto out = gpt->forward(tokens.narrow(1, 0, 4), {});  // a prompt of 4, then one at a time
    CHECK(torch::allclose(out.logits, full.narrow(1, 0, 4), 1e-5, 1e-5));
    REQUIRE(out.state.size() == 4);  // k and v of 2 layers
    for (int64_t t = 4; t < 12; ++t) {
      out = gpt->forward(tokens.narrow(1, t, 1), out.state);
      CHECK(torch::allclose(out.logits.select(1, 0), full.select(1, t), 1e-5, 1e-5));
    }
    CHECK(out.state[0].size(2) == 12);
    CHECK_THROWS_AS(gpt->forward(tokens.narrow(1, 0, 1), out.state), Error);  // past the context
  }
}

TEST_CASE("gpt: a reserved cache is written in place and gives the same logits and samples", "[lm][gpt]") {
  // Head width 4 takes the unfused attention, 16 the fused kernel (which reads the strided views).
  for (const int64_t width : {8, 32}) {
    CAPTURE(width);
    torch::manual_seed(7);
    auto config = tiny_gpt("learned");
    config.width = width;
    models::Gpt gpt(config);
    gpt->eval();
    torch::NoGradGuard no_grad;
    auto tokens = torch::randint(0, 19, {2, 12}, torch::kInt64);
    auto full = gpt->forward(tokens, {}).logits;
    auto reserved = gpt->reserve_state(2);
    REQUIRE(reserved.size() == 5);  // k and v of 2 layers and the marker
    CHECK(reserved[0].size(2) == 0);
    const void* buffer = reserved[0].storage().data();  // (an empty view's data_ptr() is null)
    auto out = gpt->forward(tokens.narrow(1, 0, 4), reserved);
    CHECK(torch::allclose(out.logits, full.narrow(1, 0, 4), 1e-5, 1e-5));
    for (int64_t t = 4; t < 12; ++t) {
      out = gpt->forward(tokens.narrow(1, t, 1), out.state);
      CHECK(torch::allclose(out.logits.select(1, 0), full.select(1, t), 1e-5, 1e-5));
    }
    CHECK(out.state.size() == 5);
    CHECK(out.state[0].size(2) == 12);
    CHECK(out.state[0].storage().data() == buffer);  // no copy: the keys were written into the reserved rows
    CHECK_THROWS_AS(gpt->forward(tokens.narrow(1, 0, 1), out.state), Error);  // past the context

    // Without the marker, a view with room after it is only read: the new keys go to a new tensor.
    auto unmarked = gpt->reserve_state(2);
    unmarked.pop_back();
    const void* untouched = unmarked[0].storage().data();
    auto plain = gpt->forward(tokens.narrow(1, 0, 4), unmarked);
    CHECK(plain.state.size() == 4);
    CHECK(plain.state[0].storage().data() != untouched);
    CHECK(torch::allclose(plain.logits, full.narrow(1, 0, 4), 1e-5, 1e-5));

    // Sampling through zoo::generate_tokens: 30 tokens restart the 12-token window twice; the
    // same seed gives the same tokens with reserved caches as with concatenated ones.
    const LmRunner run = [&](const torch::Tensor& x, const std::vector<torch::Tensor>& state) { return gpt->forward(x, state); };
    const nn::SamplingOptions sampling{1.0, 0, 1.0};
    Rng rng_a(5), rng_b(5);
    const auto concatenated = generate_tokens(run, {1, 2, 3}, 12, 30, sampling, rng_a);
    const auto in_place = generate_tokens(run, {1, 2, 3}, 12, 30, sampling, rng_b, -1, [&] { return gpt->reserve_state(1); });
    CHECK(concatenated.size() == 30);
    CHECK(in_place == concatenated);
  }
}

TEST_CASE("gpt: nanoGPT's parameter names and counts", "[lm][gpt][models]") {
  // gpt_mini with 69 tokens: wte 69*128 + wpe 64*128 + 4 blocks of (2 LayerNorms 2*256, c_attn
  // 128*384+384, c_proj 128*128+128, c_fc 128*512+512, mlp c_proj 512*128+128) + ln_f 256
  //   = 8,832 + 8,192 + 4 * 198,272 + 256 = 810,368.
  // gpt (6 x 384, context 256): 26,496 + 98,304 + 6 * 1,774,464 + 768 = 10,772,352 (nanoGPT
  // prints 10.67M for it: the count without position embeddings).
  // char_rnn (LSTM 2 x 512, embedding 128): 69*128 + 4*512*(128+512) + 2*2048 + 4*512*(512+512)
  //   + 2*2048 + 512*69 + 69 = 3,460,293.
  const std::map<std::string, int64_t> reference{{"gpt_mini", 810368}, {"gpt", 10772352}, {"char_rnn", 3460293}};
  for (const auto* spec : registry().models("lm")) {
    CAPTURE(spec->name);
    auto model = registry().create_model(spec->name, Json::object());
    CHECK(count_parameters(*model) == spec->params);
    if (reference.count(spec->name)) CHECK(count_parameters(*model) == reference.at(spec->name));
  }
  auto names = registry().create_model("gpt_mini", Json::object())->named_parameters();
  for (const char* name : {"transformer.wte.weight", "transformer.wpe.weight", "transformer.h.0.ln_1.weight", "transformer.h.0.attn.c_attn.weight",
                           "transformer.h.0.attn.c_proj.bias", "transformer.h.3.mlp.c_fc.weight", "transformer.h.3.mlp.c_proj.weight",
                           "transformer.ln_f.bias"})
    CHECK(names.find(name) != nullptr);
}

TEST_CASE("positions: sinusoids follow the formula and rotary scores depend only on the distance", "[lm][positions]") {
  auto table = nn::sinusoidal_table(50, 6);
  CHECK(table[7][2].item<double>() == Approx(std::sin(7 / std::pow(10000.0, 2.0 / 6))).margin(1e-6));
  CHECK(table[7][3].item<double>() == Approx(std::cos(7 / std::pow(10000.0, 2.0 / 6))).margin(1e-6));
  auto rotary = nn::rotary_table(40, 8);
  auto q = torch::randn({8}), k = torch::randn({8});
  auto score = [&](int64_t m, int64_t n) {
    auto rq = nn::apply_rotary(q.view({1, 8}), rotary.cos.narrow(0, m, 1), rotary.sin.narrow(0, m, 1));
    auto rk = nn::apply_rotary(k.view({1, 8}), rotary.cos.narrow(0, n, 1), rotary.sin.narrow(0, n, 1));
    return (rq * rk).sum().item<double>();
  };
  CHECK(score(5, 2) == Approx(score(33, 30)).margin(1e-4));
  CHECK(std::abs(score(5, 2) - score(5, 4)) > 1e-4);
  // A rotation keeps the norm.
  CHECK(nn::apply_rotary(q.view({1, 8}), rotary.cos.narrow(0, 9, 1), rotary.sin.narrow(0, 9, 1)).norm().item<double>() ==
        Approx(q.norm().item<double>()).epsilon(1e-5));
  CHECK_THROWS_AS(nn::parse_positions("absolute"), UsageError);
}

TEST_CASE("sampling: temperature 0 and top-k 1 are greedy, top-k and top-p keep the right tokens", "[lm][sampling]") {
  const std::vector<float> logits{0.5f, 2.0f, -1.0f, 1.5f, 2.0f};
  Rng rng(1);
  for (int i = 0; i < 50; ++i) {
    CHECK(nn::sample_token(logits, {0.0, 0, 1.0}, rng) == 1);   // first maximum
    CHECK(nn::sample_token(logits, {1.0, 1, 1.0}, rng) == 1);   // top-k 1
    CHECK(nn::sample_token(logits, {5.0, 1, 0.5}, rng) == 1);
  }
  auto p = nn::sampling_distribution(logits, {1.0, 0, 1.0});
  double z = 0;
  for (float l : logits) z += std::exp(l);
  for (size_t i = 0; i < logits.size(); ++i) CHECK(p[i] == Approx(std::exp(logits[i]) / z));
  // top-k 3 keeps 2.0, 2.0, 1.5.
  auto k3 = nn::sampling_distribution(logits, {1.0, 3, 1.0});
  CHECK(k3[0] == 0.0);
  CHECK(k3[2] == 0.0);
  CHECK(k3[1] + k3[3] + k3[4] == Approx(1.0));
  // top-p 0.6: the two 2.0 logits hold 2 * 0.344 = 0.69 of the mass, so they alone are kept.
  auto nucleus = nn::sampling_distribution(logits, {1.0, 0, 0.6});
  CHECK(nucleus[1] == Approx(0.5));
  CHECK(nucleus[4] == Approx(0.5));
  CHECK(nucleus[3] == 0.0);
  // A higher temperature flattens the distribution; sampling follows it.
  auto hot = nn::sampling_distribution(logits, {10.0, 0, 1.0});
  CHECK(hot[2] > p[2]);
  std::vector<int> counts(5, 0);
  for (int i = 0; i < 20000; ++i) ++counts[static_cast<size_t>(nn::sample_token(logits, {1.0, 0, 1.0}, rng))];
  for (size_t i = 0; i < 5; ++i) CHECK(counts[i] / 20000.0 == Approx(p[i]).margin(0.015));
  CHECK_THROWS_AS(nn::check_sampling({-1.0, 0, 1.0}), UsageError);
  CHECK_THROWS_AS(nn::check_sampling({std::nan(""), 0, 1.0}), UsageError);
  CHECK_THROWS_AS(nn::check_sampling({1.0, -2, 1.0}), UsageError);
  CHECK_THROWS_AS(nn::check_sampling({1.0, 0, 0.0}), UsageError);
  CHECK_THROWS_AS(nn::check_sampling({1.0, 0, 1.5}), UsageError);
}

TEST_CASE("text corpus: files and folders, the split from the end, and errors naming the file", "[lm][data]") {
  const fs::path dir = fs::temp_directory_path() / ("zoo_lm_corpus_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  const std::string file = write_file(dir / "a.txt", "first line\nsecond line\nthird line\nfourth line\n");
  auto corpus = data::read_text_corpus(file);
  REQUIRE(corpus.lines.size() == 4);
  CHECK(corpus.characters() == 46);
  CHECK(corpus.origin(2) == file + ":3");
  // 46 * 0.75 = 34.5 characters for training: the cut moves forward to the start of line 4.
  auto train = data::split_corpus(corpus, "train", 0.25, file), val = data::split_corpus(corpus, "val", 0.25, file);
  CHECK(train.lines == std::vector<std::string>{"first line", "second line", "third line"});
  CHECK(val.lines == std::vector<std::string>{"fourth line"});
  CHECK(val.origin(0) == file + ":4");
  // One line: the cut falls inside it.
  const std::string one = write_file(dir / "one.txt", "abcdefghij");
  auto head = data::split_corpus(data::read_text_corpus(one), "train", 0.3, one), tail = data::split_corpus(data::read_text_corpus(one), "val", 0.3, one);
  CHECK(head.lines == std::vector<std::string>{"abcdefg"});
  CHECK(tail.lines == std::vector<std::string>{"hij"});
  // A folder: its files in name order, hidden ones skipped.
  write_file(dir / "folder" / "b.txt", "bee\n");
  write_file(dir / "folder" / "a.txt", "ay\n");
  write_file(dir / "folder" / ".hidden", "no\n");
  auto folder = data::read_text_corpus((dir / "folder").string());
  CHECK(folder.lines == std::vector<std::string>{"ay", "bee"});
  // Errors name the culprit.
  const std::string bad = write_file(dir / "bad.txt", "good\nbad \xff byte\n");
  CHECK_THROWS_WITH(data::read_text_corpus(bad), Catch::Contains(bad + ":2") && Catch::Contains("UTF-8"));
  const std::string empty = write_file(dir / "empty.txt", "\n\n");
  CHECK_THROWS_WITH(data::read_text_corpus(empty), Catch::Contains(empty) && Catch::Contains("no text"));
  CHECK_THROWS_WITH(data::read_text_corpus((dir / "missing.txt").string()), Catch::Contains("missing.txt"));
  const std::string tiny = write_file(dir / "tiny.txt", "ab\n");
  CHECK_THROWS_WITH(data::split_corpus(data::read_text_corpus(tiny), "val", 0.01, tiny), Catch::Contains(tiny));
  fs::remove_all(dir);
}

TEST_CASE("synth:additions: lines a+b=c with the right sums, deterministic for a seed", "[lm][data]") {
  auto a = data::synth_additions(100, 2, 9), b = data::synth_additions(100, 2, 9), c = data::synth_additions(100, 2, 10);
  CHECK(a.lines == b.lines);
  CHECK(a.lines != c.lines);
  for (const auto& line : a.lines) {
    const size_t plus = line.find('+'), equals = line.find('=');
    REQUIRE(plus != std::string::npos);
    REQUIRE(equals != std::string::npos);
    const int x = std::stoi(line.substr(0, plus)), y = std::stoi(line.substr(plus + 1, equals - plus - 1));
    CHECK(x < 100);
    CHECK(y < 100);
    CHECK(std::stoi(line.substr(equals + 1)) == x + y);
  }
}

TEST_CASE("lm task: text <-> ids round trip with line breaks, and batches as the options say", "[lm]") {
  auto task = tiny_task("gpt_mini", {"context=16", "layers=1", "width=16", "heads=2"}, 3);
  const std::string text = "12+34=46\n5+6=11";
  CHECK(task->decode(task->encode(text)) == text);
  CHECK(task->encode("").empty());
  auto stream = task->train_batches(0, 0);
  Batch batch = *stream->next();
  CHECK(batch.tensors[0].sizes() == torch::IntArrayRef({3, 16}));
  CHECK(torch::equal(batch.tensors[0].narrow(1, 1, 15), batch.tensors[1].narrow(1, 0, 15)));
  // The same (seed, epoch, batch) gives the same windows; another epoch others.
  CHECK(torch::equal(task->train_batches(0, 0)->next()->tensors[0], batch.tensors[0]));
  CHECK_FALSE(torch::equal(task->train_batches(1, 0)->next()->tensors[0], batch.tensors[0]));
  CHECK(task->describe_sample(0).rfind("synth:additions:1 ", 0) == 0);
  // Greedy generation through the model is deterministic and stops at the stop token.
  Rng rng(0);
  auto prompt = task->encode("12+");
  auto a = task->generate(prompt, 10, {0.0, 0, 1.0}, rng), b = task->generate(prompt, 10, {0.0, 0, 1.0}, rng);
  CHECK(a == b);
  CHECK(a.size() == 10);
  // Past the context of 16, generation slides along.
  CHECK(task->generate(prompt, 30, {1.0, 0, 1.0}, rng).size() == 30);
  auto metrics = task->evaluate("val");
  CHECK(metrics.at("metrics").at("loss").get<double>() > 0);
  CHECK(metrics.at("metrics").at("bpc").get<double>() == Approx(metrics.at("metrics").at("loss").get<double>() / std::log(2.0)));
  CHECK(metrics.at("metrics").contains("correct"));
}

TEST_CASE("lm task: bad options are usage errors naming the option", "[lm]") {
  CHECK_THROWS_WITH(tiny_task("char_rnn", {"cell=transformer"}), Catch::Contains("cell"));
  CHECK_THROWS_WITH(tiny_task("gpt_mini", {"positions=absolute"}), Catch::Contains("positions"));
  CHECK_THROWS_WITH(tiny_task("gpt_mini", {"heads=3"}), Catch::Contains("heads"));
  CHECK_THROWS_WITH(tiny_task("char_rnn", {"impl=cudnn"}), Catch::Contains("impl"));
  CHECK_THROWS_WITH(tiny_task("gpt_mini", {"context=100000"}), Catch::Contains("context"));
  CHECK_THROWS_WITH(tiny_task("char_rnn", {"bptt=0"}), Catch::Contains("bptt"));
  CHECK_THROWS_WITH(tiny_task("char_rnn", {"tie_weights=true"}), Catch::Contains("tie_weights"));
}

TEST_CASE("lm task: word tokens with a line-break token, the vocabulary comes from the training part", "[lm]") {
  const fs::path dir = fs::temp_directory_path() / ("zoo_lm_words_" + std::to_string(::getpid()));
  std::string text;
  for (int i = 0; i < 40; ++i) text += "To be, or not to be: that is the question.\nWhether it is nobler in the mind to suffer\n";
  text += "The slings and arrows of outrageous fortune\n";
  const std::string file = write_file(dir / "hamlet.txt", text);
  Json config = {{"model", "char_rnn"}, {"data", file}, {"batch_size", 2}, {"workers", 0}, {"seed", 1}, {"val_fraction", 0.02},
                 {"synth_size", 0}, {"set", {"tokenizer=word", "hidden=8", "embedding=8", "layers=1", "bptt=5"}}};
  LmTask task;
  task.setup_training(Options(config), torch::kCPU);
  const std::string lines = "To be, or not to be: that is the question.\nWhether it is nobler in the mind to suffer";
  CHECK(task.decode(task.encode(lines)) == lines);
  // "To" "be" "," "or" "not" "to" "be" ":" "that" "is" "the" "question" "." and the line break.
  CHECK(task.encode("To be, or not to be: that is the question.\n").size() == 14);
  // The held-out last line's words were never seen: unknown, shown as U+FFFD.
  CHECK(task.decode(task.encode("outrageous fortune")) == "\uFFFD \uFFFD");
  CHECK(task.meta().at("tokenizer").at("kind") == "word");
  fs::remove_all(dir);
}

}  // namespace test_lm
