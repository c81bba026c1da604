// Text recognition (issue 26): the CTC loss against a brute-force sum over every alignment, its
// gradient against finite differences, best-path and prefix beam-search decoding against exact
// labelling probabilities, CER/WER/exact match on hand-worked lines, labels.tsv, and synth:lines.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <map>
#include <opencv2/imgproc.hpp>
#include <set>

#include "data/text_lines.h"
#include "lib/core/registry.h"
#include "lib/nn/ctc.h"
#include "lib/tasks/builtin.h"
#include "lib/text/recognition_metrics.h"
#include "lib/text/utf8.h"
#include "models/ocr/attention_ocr.h"
#include "models/ocr/crnn.h"
#include "models/ocr/ctc_transformer.h"

namespace test_ocr {  // this file's own: the unit tests compile in batches (tests/CMakeLists.txt)

using namespace zoo;

namespace {

// Every alignment of length T over C labels, in order: (0,..,0), (0,..,1), ...
std::vector<std::vector<int64_t>> all_alignments(int64_t T, int64_t C) {
  std::vector<std::vector<int64_t>> alignments{{}};
  for (int64_t t = 0; t < T; ++t) {
    std::vector<std::vector<int64_t>> longer;
    for (const auto& a : alignments)
      for (int64_t c = 0; c < C; ++c) {
        auto b = a;
        b.push_back(c);
        longer.push_back(b);
      }
    alignments = longer;
  }
  return alignments;
}

// p(y | x) for every labelling y with p > 0: the seeds' sum over the alignments that collapse to y
// of the product of the per-position probabilities, by enumeration. log_probs (T, C), blank 0.
std::map<std::vector<int64_t>, double> labelling_probabilities(const torch::Tensor& log_probs, int64_t T) {
  const auto p = log_probs.exp().to(torch::kFloat64);
  const auto a = p.accessor<double, 2>();
  std::map<std::vector<int64_t>, double> result;
  for (const auto& alignment : all_alignments(T, p.size(1))) {
    double product = 1;
    for (int64_t t = 0; t < T; ++t) product *= a[t][alignment[static_cast<size_t>(t)]];
    result[nn::ctc_collapse(alignment)] += product;
  }
  return result;
}

// Non-trivial batch-norm statistics and affine parameters, so that a padded column's features
// after BN and ReLU are not 0 by chance (eval mode is what is checked).
void randomize_batch_norms(torch::nn::Module& model) {
  torch::NoGradGuard no_grad;
  for (const auto& m : model.modules())
    if (auto bn = std::dynamic_pointer_cast<torch::nn::BatchNorm2dImpl>(m)) {
      bn->running_mean.uniform_(-0.5, 0.5), bn->running_var.uniform_(0.5, 2.0);
      bn->weight.uniform_(0.5, 1.5), bn->bias.uniform_(-0.5, 0.5);
    }
}

// Each line's scores in a padded batch (T, B, C) equal those of the line alone at its own width.
void check_each_line_as_if_alone(models::CtcRecognizerImpl& model, const torch::Tensor& images, const torch::Tensor& widths) {
  const auto batched = model.forward(images, widths);
  const auto lengths = model.output_lengths(widths);
  for (int64_t b = 0; b < images.size(0); ++b) {
    const int64_t w = widths[b].item<int64_t>(), t = lengths[b].item<int64_t>();
    const auto alone = model.forward(images.narrow(0, b, 1).narrow(3, 0, w), widths.narrow(0, b, 1));
    REQUIRE(alone.size(0) == t);
    CHECK(torch::allclose(batched.narrow(0, 0, t).narrow(1, b, 1), alone, 1e-5, 1e-6));
  }
}

}  // namespace

TEST_CASE("CTC loss: -log of the brute-force sum over all alignments, batched with unequal lengths", "[ocr]") {
  torch::manual_seed(5);
  // 5 positions, blank + 2 labels, 4 examples; example 3 uses only its first 3 positions.
  const int64_t T = 5, B = 4, C = 3;
  const auto log_probs = torch::randn({T, B, C}, torch::kFloat64).mul(1.5).log_softmax(2);
  // Targets: "1", "1 1" (a repeat needs a blank between), "1 2 2" (needs 4 positions of 5), "2" in 3 positions.
  const auto targets = torch::tensor({1, 0, 0, 1, 1, 0, 1, 2, 2, 2, 0, 0}, torch::kLong).view({B, 3});
  const auto target_lengths = torch::tensor({1, 2, 3, 1}, torch::kLong);
  const auto input_lengths = torch::tensor({5, 5, 5, 3}, torch::kLong);
  const auto loss = nn::ctc_loss(log_probs, targets, input_lengths, target_lengths);
  REQUIRE(loss.sizes() == torch::IntArrayRef{B});
  for (int64_t b = 0; b < B; ++b) {
    const int64_t length = input_lengths[b].item<int64_t>();
    const auto probabilities = labelling_probabilities(log_probs.select(1, b), length);
    std::vector<int64_t> target;
    for (int64_t s = 0; s < target_lengths[b].item<int64_t>(); ++s) target.push_back(targets[b][s].item<int64_t>());
    INFO("example " << b);
    REQUIRE(probabilities.count(target));
    CHECK(loss[b].item<double>() == Approx(-std::log(probabilities.at(target))).epsilon(1e-12));
  }
  // Every labelling's probabilities sum to 1: the alignments partition the paths.
  double total = 0;
  for (const auto& [labels, p] : labelling_probabilities(log_probs.select(1, 0), T)) total += p;
  CHECK(total == Approx(1.0).epsilon(1e-12));

  // A target no alignment reaches ("1 1 1" needs 5 positions, only 4 given): +inf, or 0 and no
  // gradient with zero_infinity.
  const auto short_input = torch::randn({4, 1, C}, torch::kFloat64).log_softmax(2).requires_grad_();
  const auto ones = torch::tensor({{1, 1, 1}}, torch::kLong);
  CHECK(std::isinf(nn::ctc_loss(short_input, ones, torch::tensor({4}), torch::tensor({3})).item<double>()));
  const auto zeroed = nn::ctc_loss(short_input, ones, torch::tensor({4}), torch::tensor({3}), 0, /*zero_infinity=*/true);
  CHECK(zeroed.item<double>() == 0);
  zeroed.sum().backward();
  CHECK(short_input.grad().abs().max().item<double>() == 0);
}

TEST_CASE("CTC loss gradient equals finite differences through the log-softmax", "[ocr]") {
  torch::manual_seed(11);
  const int64_t T = 6, B = 2, C = 4;
  const auto logits = torch::randn({T, B, C}, torch::kFloat64).requires_grad_();
  const auto targets = torch::tensor({{1, 3, 3}, {2, 1, 0}}, torch::kLong);
  const auto input_lengths = torch::tensor({6, 5}), target_lengths = torch::tensor({3, 2});
  auto total_loss = [&](const torch::Tensor& x) { return nn::ctc_loss(x.log_softmax(2), targets, input_lengths, target_lengths).sum(); };
  total_loss(logits).backward();
  const auto analytic = logits.grad().clone();
  torch::NoGradGuard no_grad;
  const double eps = 1e-6;
  auto numeric = torch::zeros_like(analytic);
  auto flat = logits.detach().clone().view(-1);
  for (int64_t i = 0; i < flat.numel(); ++i) {
    const double x = flat[i].item<double>();
    flat[i] = x + eps;
    const double up = total_loss(flat.view({T, B, C})).item<double>();
    flat[i] = x - eps;
    const double down = total_loss(flat.view({T, B, C})).item<double>();
    flat[i] = x;
    numeric.view(-1)[i] = (up - down) / (2 * eps);
  }
  CHECK((analytic - numeric).abs().max().item<double>() < 1e-7);
  // Example 1's sixth position is past its length: no gradient there.
  CHECK(analytic[5][1].abs().max().item<double>() == 0);
}

TEST_CASE("CTC decoding: collapse, best path, and prefix beam search against exact labelling probabilities", "[ocr]") {
  CHECK(nn::ctc_collapse({1, 1, 0, 1, 2, 2}) == std::vector<int64_t>{1, 1, 2});
  CHECK(nn::ctc_collapse({0, 0, 0}).empty());
  CHECK(nn::ctc_collapse({3, 3, 3}, /*blank=*/3).empty());

  // Hand-worked: two positions, each blank 0.6 and "a" 0.4. Best path reads blank, blank: the
  // empty line (0.36). But "a" has three alignments, (a, a), (a, -), (-, a): 0.16 + 0.24 + 0.24 =
  // 0.64, the most probable labelling. Beam 1 keeps the empty prefix after the first position
  // (0.6 against 0.4) and so agrees with best path; beam 2 finds "a" with its exact probability.
  const auto two = torch::tensor({{0.6, 0.4}, {0.6, 0.4}}, torch::kFloat64).log();
  CHECK(nn::ctc_best_path(two, 2).empty());
  const auto beam1 = nn::ctc_prefix_beam_search(two, 2, 1);
  REQUIRE(beam1.size() == 1);
  CHECK(beam1[0].labels.empty());
  CHECK(std::exp(beam1[0].log_prob) == Approx(0.36));
  const auto beam2 = nn::ctc_prefix_beam_search(two, 2, 2);
  REQUIRE(beam2.size() == 2);
  CHECK(beam2[0].labels == std::vector<int64_t>{1});
  CHECK(std::exp(beam2[0].log_prob) == Approx(0.64));
  CHECK(std::exp(beam2[1].log_prob) == Approx(0.36));

  torch::manual_seed(3);
  SECTION("an unpruned beam gives every labelling's exact probability, the most probable first") {
    // 5 positions over blank + 2 labels: 63 prefixes at most, so a beam of 100 prunes nothing.
    for (int trial = 0; trial < 20; ++trial) {
      const auto log_probs = torch::randn({5, 3}, torch::kFloat64).mul(2).log_softmax(1);
      const auto exact = labelling_probabilities(log_probs, 5);
      const auto hypotheses = nn::ctc_prefix_beam_search(log_probs, 5, 100);
      REQUIRE(hypotheses.size() == exact.size());
      for (const auto& h : hypotheses) CHECK(std::exp(h.log_prob) == Approx(exact.at(h.labels)).epsilon(1e-12));
      double best = 0;
      for (const auto& [labels, p] : exact) best = std::max(best, p);
      CHECK(std::exp(hypotheses[0].log_prob) == Approx(best).epsilon(1e-12));
      // A length shorter than the posteriors reads only its positions.
      const auto first_three = nn::ctc_prefix_beam_search(log_probs, 3, 100);
      CHECK(first_three.size() == labelling_probabilities(log_probs.slice(0, 0, 3), 3).size());
    }
  }
  SECTION("beam 1 equals best path when every position is confident") {
    // Each position's top label above 0.9 (the condition in lib/nn/ctc.h): the one prefix beam 1
    // keeps is the one best path builds, repeats and blanks included.
    for (int trial = 0; trial < 200; ++trial) {
      const int64_t T = 12, C = 4;
      const auto top = torch::randint(C, {T}, torch::kLong);
      auto probs = torch::rand({T, C}, torch::kFloat64);
      probs = probs / probs.sum(1, true) * 0.08;  // the others share 0.08
      for (int64_t t = 0; t < T; ++t) probs[t][top[t].item<int64_t>()] += 0.92;
      const auto log_probs = probs.log();
      const auto greedy = nn::ctc_best_path(log_probs, T);
      const auto beam = nn::ctc_prefix_beam_search(log_probs, T, 1);
      REQUIRE(beam.size() == 1);
      CHECK(beam[0].labels == greedy);
    }
  }
  CHECK_THROWS(nn::ctc_prefix_beam_search(two, 3, 2));  // longer than the posteriors
  CHECK_THROWS(nn::ctc_prefix_beam_search(two, 2, 0));
}

TEST_CASE("CER, WER and exact match as edit distances summed over the corpus", "[ocr]") {
  CHECK(text::edit_distance(std::vector<int64_t>{1, 2, 3}, std::vector<int64_t>{1, 3}) == 1);
  CHECK(text::edit_distance(std::vector<int64_t>{}, std::vector<int64_t>{4, 5}) == 2);
  CHECK(text::edit_distance(std::vector<int64_t>{1, 2}, std::vector<int64_t>{2, 1}) == 2);  // no transpositions
  text::RecognitionTally tally;
  // "the cat sat" read as "the bat sat on": c -> b and " on" inserted, 4 of 11 characters; cat ->
  // bat and "on" inserted, 2 of 3 words.
  tally.add("the bat sat on", "the cat sat");
  CHECK(tally.char_errors == 4);
  CHECK(tally.chars == 11);
  CHECK(tally.word_errors == 2);
  CHECK(tally.words == 3);
  // Code points, not bytes: a is one substitution for ä (two bytes in UTF-8).
  tally.add("Manner", "Männer");
  CHECK(tally.char_errors == 5);
  CHECK(tally.chars == 17);
  // Words are the runs between whitespace, however long.
  tally.add("  0451 \t 72 ", "0451 72");
  CHECK(tally.word_errors == 3);
  CHECK(tally.words == 6);
  CHECK(tally.exact == 0);
  tally.add("Zoo", "Zoo");
  CHECK(tally.exact == 1);
  CHECK(tally.lines == 4);
  // Corpus rates: summed errors over summed lengths ((4 + 1 + 5 + 0) / (11 + 6 + 7 + 3)).
  CHECK(tally.cer() == Approx(10.0 / 27));
  CHECK(tally.wer() == Approx(3.0 / 7));
  CHECK(tally.exact_match() == Approx(0.25));
  text::RecognitionTally other;
  other.add("", "");
  CHECK(other.cer() == 0);
  CHECK(other.exact_match() == 1);
  tally += other;
  CHECK(tally.lines == 5);
  CHECK_THROWS(tally.add(std::string("\xff"), "x"));
}

TEST_CASE("labels.tsv: file<TAB>text per line, with one clear error naming the line", "[ocr]") {
  const auto labels = data::parse_line_labels("\xEF\xBB\xBF" "a.png\tthe cat  sat\r\n\n   \nsub/b.png\t12,500\nc.png\t\n", "L.tsv");
  REQUIRE(labels.size() == 3);
  CHECK(labels[0].file == "a.png");
  CHECK(labels[0].text == "the cat  sat");  // spaces kept, the CR dropped
  CHECK(labels[0].line == 1);
  CHECK(labels[1].file == "sub/b.png");
  CHECK(labels[1].line == 4);
  CHECK(labels[2].text.empty());  // a line with nothing written is allowed
  CHECK_THROWS_WITH(data::parse_line_labels("a.png\tx\nb.png x\n", "L.tsv"), "L.tsv:2: expected file<TAB>text, found no tab");
  CHECK_THROWS_WITH(data::parse_line_labels("a.png\tx\ty\n", "L.tsv"), "L.tsv:1: more than one tab (expected file<TAB>text)");
  CHECK_THROWS_WITH(data::parse_line_labels("\tx\n", "L.tsv"), "L.tsv:1: the file before the tab is empty");
  CHECK_THROWS_WITH(data::parse_line_labels("a.png\t\xff\n", "L.tsv"), "L.tsv:1: not UTF-8 (byte 7 of the line)");
  CHECK_THROWS_WITH(data::parse_line_labels("\n\n", "L.tsv"), Catch::Contains("L.tsv holds no line"));
  // Found by fuzz_line_labels: a carriage return inside a line (here before the CRLF) would have
  // ended a transcript, and a byte-order mark further down would have begun a file name.
  CHECK_THROWS_WITH(data::parse_line_labels("a.png\t12,500\r\r\n", "L.tsv"), "L.tsv:1: holds a control character (U+000D)");
  CHECK_THROWS_WITH(data::parse_line_labels("\n\n\xEF\xBB\xBF" "a.png\tx\n", "L.tsv"), Catch::Contains("L.tsv:3: a byte-order mark inside the file"));
}

TEST_CASE("synth:lines: deterministic per seed, written as a line folder and read back", "[ocr]") {
  const data::SynthLines lines(24, 32, 7), again(24, 32, 7), other(24, 32, 8);
  std::set<char32_t> alphabet;
  for (char32_t c : text::decode_utf8(data::SynthLines::alphabet())) alphabet.insert(c);
  int64_t different = 0;
  for (int64_t i = 0; i < lines.size(); ++i) {
    INFO(lines.describe(i) << ": " << lines.text(i));
    const auto image = lines.image(i);
    CHECK(image.rows == 32);
    CHECK(image.type() == CV_8UC3);
    CHECK(cv::norm(image, again.image(i), cv::NORM_INF) == 0);
    CHECK(lines.text(i) == again.text(i));
    different += lines.text(i) != other.text(i);
    REQUIRE(!lines.text(i).empty());
    for (char32_t c : text::decode_utf8(lines.text(i))) CHECK(alphabet.count(c));
    // Ink on the background: the darkest pixels well below the lightest.
    double darkest = 0, lightest = 0;
    cv::Mat grey;
    cv::cvtColor(image, grey, cv::COLOR_RGB2GRAY);
    cv::minMaxLoc(grey, &darkest, &lightest);
    CHECK(lightest - darkest > 60);
  }
  CHECK(different > 20);
  // Longer texts make wider lines (same fonts and sizes on average): the widths follow the lengths.
  double longer_wider = 0, pairs = 0;
  for (int64_t i = 0; i < lines.size(); ++i)
    for (int64_t j = 0; j < lines.size(); ++j)
      if (lines.text(i).size() > 2 * lines.text(j).size()) pairs += 1, longer_wider += lines.image(i).cols > lines.image(j).cols;
  REQUIRE(pairs > 10);
  CHECK(longer_wider / pairs > 0.9);

  const auto dir = std::filesystem::temp_directory_path() / "zoo_test_ocr_lines";
  std::filesystem::remove_all(dir);
  data::write_line_folder(lines, (dir / "all").string());
  const data::LineFolder folder((dir / "all").string());
  REQUIRE(folder.size() == lines.size());
  for (int64_t i = 0; i < folder.size(); ++i) {
    CHECK(folder.text(i) == lines.text(i));
    CHECK(cv::norm(folder.image(i), lines.image(i), cv::NORM_INF) == 0);  // PNG: lossless
  }
  CHECK(folder.describe(3) == (dir / "all" / "labels.tsv").string() + ":4 (000003.png)");
  // One folder: the held-out split is the last 10% of a fixed shuffle, the rest trains.
  const auto train = data::open_line_folder_split((dir / "all").string(), "train", 0.1);
  const auto val = data::open_line_folder_split((dir / "all").string(), "val", 0.1);
  CHECK(train->size() + val->size() == 24);
  CHECK(val->size() == 2);
  // Split folders: DIR/train and DIR/val.
  data::write_line_folder(data::SynthLines(5, 32, 1), (dir / "split" / "train").string());
  data::write_line_folder(data::SynthLines(3, 32, 2), (dir / "split" / "val").string());
  CHECK(data::open_line_folder_split((dir / "split").string(), "val", 0.1)->size() == 3);
  // A missing image is an error naming it, when it is read.
  std::filesystem::remove(dir / "split" / "val" / "000001.png");
  const auto damaged = data::open_line_folder_split((dir / "split").string(), "val", 0.1);
  CHECK_THROWS_WITH(damaged->image(1), Catch::Contains("000001.png"));
  CHECK_THROWS_WITH(data::LineFolder((dir / "nothing").string()), Catch::Contains("line folder not found"));
}

TEST_CASE("bidirectional_lstm: each padded sequence as if alone; PyTorch's bidirectional LSTM at equal lengths", "[ocr]") {
  torch::manual_seed(2);
  torch::nn::LSTM lstm(torch::nn::LSTMOptions(5, 7).bidirectional(true));
  const auto x = torch::randn({9, 3, 5});
  // Equal lengths: the module's own bidirectional forward.
  const auto whole = models::bidirectional_lstm(lstm, x, torch::tensor({9, 9, 9}));
  CHECK(torch::allclose(whole, std::get<0>(lstm->forward(x)), 1e-6, 1e-6));
  // Lengths 9, 4, 6: each sequence's outputs equal those of the sequence alone, padding anything.
  const auto lengths = torch::tensor({9, 4, 6});
  auto padded = x.clone();
  padded.slice(0, 4).select(1, 1).fill_(100.0);
  padded.slice(0, 6).select(1, 2).normal_();
  const auto batched = models::bidirectional_lstm(lstm, padded, lengths);
  for (int64_t b = 0; b < 3; ++b) {
    const int64_t n = lengths[b].item<int64_t>();
    const auto alone = std::get<0>(lstm->forward(x.slice(0, 0, n).select(1, b).unsqueeze(1)));
    CHECK(torch::allclose(batched.slice(0, 0, n).select(1, b), alone.select(1, 0), 1e-6, 1e-6));
  }
}

TEST_CASE("CRNN: the published layout (8,331,301 parameters, the port's names), W/4 + 1 columns, each line of a batch as alone", "[ocr]") {
  models::Crnn crnn(models::CrnnConfig{});
  int64_t count = 0;
  for (const auto& p : crnn->parameters()) count += p.numel();
  CHECK(count == 8331301);  // tests/python/crnn_reference.py --count
  const auto names = crnn->named_parameters().keys();
  for (const char* name : {"cnn.conv0.weight", "cnn.batchnorm6.bias", "cnn.conv6.weight", "rnn.0.rnn.weight_hh_l0_reverse", "rnn.0.embedding.weight",
                           "rnn.1.embedding.bias"})
    CHECK(std::find(names.begin(), names.end(), name) != names.end());
  CHECK(crnn->named_buffers().contains("cnn.batchnorm2.running_mean"));
  crnn->eval();
  torch::NoGradGuard no_grad;
  const auto scores = crnn->forward(torch::randn({2, 1, 32, 100}), torch::tensor({100, 60}));
  CHECK(scores.sizes() == torch::IntArrayRef({26, 2, 37}));
  CHECK(torch::equal(crnn->output_lengths(torch::tensor({100, 60, 3})), torch::tensor({26, 16, 1})));
  // Widths 100, 61, 37 and 6 in one batch: each line reads as it does alone.
  randomize_batch_norms(*crnn);
  check_each_line_as_if_alone(*crnn, torch::randn({4, 1, 32, 100}), torch::tensor({100, 61, 37, 6}));
  CHECK_THROWS_WITH(crnn->forward(torch::randn({1, 1, 48, 100}), torch::tensor({100})), Catch::Contains("(B, 1, 32, W)"));
}

TEST_CASE("CTC Transformer: ceil(W / 4) columns; in a padded batch each line reads as it does alone", "[ocr]") {
  torch::manual_seed(3);
  models::CtcTransformerConfig config;
  config.num_classes = 11, config.base_width = 8, config.width = 32, config.layers = 2, config.heads = 4, config.ffn = 64;
  models::CtcTransformer model(config);
  model->eval();
  torch::NoGradGuard no_grad;
  CHECK(torch::equal(model->output_lengths(torch::tensor({200, 40, 3, 4, 5})), torch::tensor({50, 10, 1, 1, 2})));
  auto images = torch::randn({2, 1, 32, 200});
  const auto widths = torch::tensor({200, 40});
  const auto scores = model->forward(images, widths);
  CHECK(scores.sizes() == torch::IntArrayRef({50, 2, 11}));
  // Pixels from x = 120 on are 80 pixels past line 1's end, beyond any column's receptive field:
  // only self-attention could carry them to line 1's columns, and the padding mask stops it.
  images.select(0, 1).narrow(2, 120, 80).normal_(0.0, 5.0);
  const auto again = model->forward(images, widths);
  CHECK(torch::allclose(again.narrow(0, 0, 10).select(1, 1), scores.narrow(0, 0, 10).select(1, 1), 1e-5, 1e-5));
  // Every line reads in a batch as it reads alone, at any width.
  randomize_batch_norms(*model);
  check_each_line_as_if_alone(*model, torch::randn({4, 1, 32, 101}), torch::tensor({101, 62, 37, 5}));
  CHECK_THROWS_WITH(model->forward(torch::randn({1, 1, 48, 100}), torch::tensor({100})), Catch::Contains("(B, 1, 32, W)"));
}

TEST_CASE("attention OCR: teacher forcing equals step-by-step decoding, a line of a batch reads as alone, location moves forward",
          "[ocr]") {
  for (const std::string encoder : {"crnn", "transformer"})
    for (const std::string attention : {"bahdanau", "location"}) {
      DYNAMIC_SECTION(encoder << " + " << attention) {
        torch::manual_seed(4);
        models::AttentionOcrConfig config;
        config.num_classes = 9, config.encoder = encoder, config.attention = attention, config.cell = attention == "location" ? "lstm" : "gru";
        config.base_width = 8, config.encoder_hidden = 16, config.encoder_layers = 1, config.heads = 2, config.ffn = 32, config.memory = 16;
        config.attention_hidden = 16, config.embedding = 8, config.hidden = 24;
        models::AttentionOcr model(config);
        model->eval();
        torch::NoGradGuard no_grad;
        auto images = torch::randn({2, 1, 32, 200});
        const auto widths = torch::tensor({200, 40});
        const auto labels_in = torch::tensor({{0, 3, 1, 4, 1}, {0, 5, 2, 6, 8}});
        const auto logits = model->forward(images, widths, labels_in);  // (2, 5, 9)
        REQUIRE(logits.sizes() == torch::IntArrayRef({2, 5, 9}));
        auto state = model->encode(images, widths);
        std::vector<torch::Tensor> steps, weights;
        for (int64_t i = 0; i < 5; ++i) {
          auto step = model->decode_step(labels_in.select(1, i), state);
          steps.push_back(step.log_probs), weights.push_back(step.attention);
          state = step.state;
        }
        CHECK(torch::allclose(torch::stack(steps, 1), torch::log_softmax(logits, 2), 1e-5, 1e-5));
        // Line 1 has T = 10 (transformer) or 11 (crnn) columns: no weight beyond them.
        const int64_t columns = model->output_lengths(widths)[1].item<int64_t>();
        const auto on_line_1 = torch::stack(weights, 0).select(1, 1);  // (5, T)
        CHECK(on_line_1.narrow(1, columns, on_line_1.size(1) - columns).abs().max().item<float>() == 0.0f);
        CHECK(torch::allclose(on_line_1.sum(1), torch::ones({5}), 1e-5, 1e-5));
        // The transformer encoder's padding mask keeps pixels far past line 1 out of its reading; a
        // CRNN's LSTMs stop at each line's own length.
        images.select(0, 1).narrow(2, 120, 80).normal_(0.0, 5.0);
        CHECK(torch::allclose(model->forward(images, widths, labels_in).select(0, 1), logits.select(0, 1), 1e-5, 1e-5));
        // ... and reads it as it reads line 1 alone, 40 pixels wide.
        randomize_batch_norms(*model);
        const auto alone = model->forward(images.narrow(0, 1, 1).narrow(3, 0, 40), widths.narrow(0, 1, 1), labels_in.narrow(0, 1, 1));
        CHECK(torch::allclose(model->forward(images, widths, labels_in).narrow(0, 1, 1), alone, 1e-5, 1e-5));
        if (attention == "location") {
          // The window's centres only move forward: kappa_i = kappa_{i-1} + exp(.)
          auto s = model->encode(images, widths);
          auto previous = s[5].clone();
          for (int64_t i = 0; i < 5; ++i) {
            s = model->decode_step(labels_in.select(1, i), s).state;
            CHECK((s[5] > previous).all().item<bool>());
            previous = s[5].clone();
          }
        }
      }
    }
}

TEST_CASE("OCR models: the registry's parameter counts, ctc_transformer's worked out by hand", "[ocr]") {
  std::map<std::string, int64_t> counts;
  for (const auto* spec : registry().models("ocr")) {
    INFO(spec->name);
    counts[spec->name] = count_parameters(*registry().create_model(spec->name, Json::object()));
    CHECK(counts[spec->name] == spec->params);
  }
  // Stem: 3x3 convolutions without bias 1->64->128->256->256 and their batch norms (2 per channel);
  // proj 512->256; per block: in_proj 3 x 256 x 256 + 768, out_proj 256 x 256 + 256, the
  // feed-forward 256->1024->256 with biases, two LayerNorms; the final LayerNorm; head 256->37.
  const int64_t stem = 9 * (1 * 64 + 64 * 128 + 128 * 256 + 256 * 256) + 2 * (64 + 128 + 256 + 256);
  const int64_t block = (3 * 256 * 256 + 3 * 256) + (256 * 256 + 256) + (256 * 1024 + 1024) + (1024 * 256 + 256) + 2 * 2 * 256;
  CHECK(counts.at("ctc_transformer") == stem + (512 * 256 + 256) + 4 * block + 2 * 256 + (256 * 37 + 37));
  // attention_ocr: CRNN with a 256-wide output layer as the encoder; embedding 37 x 64; the GRU
  // cell over [E y; c] (64 + 256) to 256 with both biases; bahdanau's W (256->256, no bias), U
  // (256->256) and v;
  // the bridge 256->256; the output layer over [s; c; E y] (576) to 37.
  const int64_t crnn_encoder = counts.at("crnn") - (2 * 256 * 37 + 37) + (2 * 256 * 256 + 256);
  const int64_t gru = 3 * 256 * (64 + 256) + 3 * 256 * 256 + 2 * 3 * 256;
  const int64_t bahdanau = 256 * 256 + (256 * 256 + 256) + 256;
  CHECK(counts.at("attention_ocr") == crnn_encoder + 37 * 64 + gru + bahdanau + (256 * 256 + 256) + (576 * 37 + 37));
}

TEST_CASE("line preprocessing: scaled to the height keeping the aspect, grey or RGB, normalised; padded batches", "[ocr]") {
  data::LinePreprocess pre;  // height 32, max_width 512, (x - 0.5) / 0.5
  cv::Mat rgb(20, 50, CV_8UC3);
  cv::randu(rgb, 0, 256);
  const auto grey = pre.to_tensor(rgb, 1);
  REQUIRE(grey.sizes() == torch::IntArrayRef({1, 32, 80}));  // 50 x 32 / 20
  cv::Mat scaled = pre.scaled(rgb), expected;
  cv::cvtColor(scaled, expected, cv::COLOR_RGB2GRAY);
  for (int y : {0, 13, 31})
    for (int x : {0, 40, 79}) CHECK(grey[0][y][x].item<float>() == Approx((expected.at<uint8_t>(y, x) / 255.0 - 0.5) / 0.5).margin(1e-6));
  const auto colour = pre.to_tensor(rgb, 3);
  REQUIRE(colour.sizes() == torch::IntArrayRef({3, 32, 80}));
  CHECK(colour[2][5][7].item<float>() == Approx((scaled.at<cv::Vec3b>(5, 7)[2] / 255.0 - 0.5) / 0.5).margin(1e-6));  // channel 2 is blue
  CHECK(pre.to_tensor(cv::Mat(10, 1000, CV_8UC3, cv::Scalar::all(9)), 1).size(2) == 512);  // squeezed
  CHECK(pre.to_tensor(cv::Mat(64, 2, CV_8UC3, cv::Scalar::all(9)), 1).size(2) == 8);       // widened
  const auto [batch, widths] = data::pad_lines({grey, pre.to_tensor(cv::Mat(32, 20, CV_8UC3, cv::Scalar::all(255)), 1)});
  REQUIRE(batch.sizes() == torch::IntArrayRef({2, 1, 32, 80}));
  CHECK(torch::equal(widths, torch::tensor({80, 20})));
  CHECK(torch::equal(batch[0], grey));
  CHECK(batch[1].narrow(2, 0, 20).min().item<float>() == Approx(1.0));  // white
  CHECK(batch[1].narrow(2, 20, 60).abs().max().item<float>() == 0.0f);  // the padding: mid-grey

  const data::LineAlphabet alphabet = data::LineAlphabet::of_texts({"ab a", "Z\xC3\xA4" "b"});
  CHECK(alphabet.chars() == std::string(" Zab") + "\xC3\xA4");  // code-point order: space, Z, a, b, ä
  CHECK(alphabet.num_labels() == 6);
  int64_t unknown = 0;
  CHECK(alphabet.encode("bad \xC3\xA4!", &unknown) == std::vector<int64_t>{4, 3, 1, 5});
  CHECK(unknown == 2);  // d and !
  CHECK(alphabet.decode({4, 3, 1, 5}) == "ba \xC3\xA4");
  CHECK_THROWS(data::LineAlphabet("ba"));
}

}  // namespace test_ocr
