// BERT (issue 26): the published checkpoints' sizes and module names, a bidirectional encoder that
// ignores padding, the masked-language-model head tied to the word embeddings.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include "lib/core/checkpoint.h"
#include "lib/core/registry.h"
#include "lib/tasks/builtin.h"
#include "lib/tasks/mlm.h"
#include "lib/tasks/text_classify.h"
#include "lib/text/wordpiece_vocab.h"
#include "data/labelled_text.h"
#include "data/mlm_masking.h"
#include "data/play_speeches.h"
#include "lib/text/wordpiece.h"
#include "models/bert/bert.h"

namespace test_bert {  // this file's own: the unit tests compile in batches (tests/CMakeLists.txt)

using namespace zoo;
namespace fs = std::filesystem;

namespace {

models::BertConfig sized(int64_t layers, int64_t width) {
  models::BertConfig c;
  c.layers = layers, c.width = width, c.heads = width / 64, c.ffn = 4 * width;
  return c;
}

}  // namespace

TEST_CASE("BERT: Google's BERT-Tiny/Mini/Small/Base sizes and the published names", "[bert]") {
  // BertModel's counts (embeddings, blocks, pooler) at the uncased vocabulary of 30,522 word
  // pieces; worked out from the layout: the embeddings V x H + 512 x H + 2 x H and their LayerNorm,
  // per block 4 (H x H + H) + (H x 4H + 4H) + (4H x H + H) + 2 LayerNorms, the pooler H x H + H.
  auto expected = [](int64_t L, int64_t H) {
    const int64_t embeddings = 30522 * H + 512 * H + 2 * H + 2 * H;
    const int64_t block = 4 * (H * H + H) + (H * 4 * H + 4 * H) + (4 * H * H + H) + 2 * 2 * H;
    return embeddings + L * block + H * H + H;
  };
  const std::map<std::string, std::pair<int64_t, int64_t>> sizes{{"tiny", {2, 128}}, {"mini", {4, 256}}, {"small", {4, 512}}, {"base", {12, 768}}};
  std::map<std::string, int64_t> counts;
  for (const auto& [name, size] : sizes) {
    auto c = sized(size.first, size.second);
    if (name == "tiny") c.heads = 2;  // BERT-Tiny: 2 heads of 64
    counts[name] = count_parameters(*models::Bert(c));
    CHECK(counts[name] == expected(size.first, size.second));
  }
  // The counts Hugging Face reports for google/bert_uncased_L-2_H-128_A-2 and bert-base-uncased.
  CHECK(counts["tiny"] == 4385920);
  CHECK(counts["base"] == 109482240);
  models::BertForMaskedLm mlm(sized(2, 128));
  const auto names = mlm->named_parameters().keys();
  for (const char* name : {"embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight", "embeddings.token_type_embeddings.weight",
                           "embeddings.LayerNorm.weight", "encoder.layer.0.attention.self.query.weight", "encoder.layer.1.attention.self.value.bias",
                           "encoder.layer.0.attention.output.dense.weight", "encoder.layer.0.attention.output.LayerNorm.bias",
                           "encoder.layer.1.intermediate.dense.weight", "encoder.layer.1.output.dense.bias", "encoder.layer.1.output.LayerNorm.weight",
                           "pooler.dense.weight", "cls.predictions.transform.dense.weight", "cls.predictions.transform.LayerNorm.bias",
                           "cls.predictions.bias"})
    CHECK(std::find(names.begin(), names.end(), name) != names.end());
  // The MLM head adds its transform and bias only: its output matrix is the word embeddings.
  CHECK(count_parameters(*mlm) == counts["tiny"] + (128 * 128 + 128) + 2 * 128 + 30522);
}

TEST_CASE("BERT: padding is never attended to, so a padded sequence reads as alone; the MLM head is tied", "[bert]") {
  torch::manual_seed(5);
  auto c = sized(2, 64);
  c.heads = 4, c.vocab = 50;
  models::BertForMaskedLm bert(c);
  bert->eval();
  torch::NoGradGuard no_grad;
  const auto tokens = torch::tensor({{2, 7, 9, 11, 3, 0, 0}, {2, 5, 6, 8, 10, 12, 3}});
  const auto types = torch::tensor({{0, 0, 0, 1, 1, 0, 0}, {0, 0, 0, 0, 1, 1, 1}});
  bert->keep_attention(true);
  const auto states = bert->forward(tokens, types);  // (2, 7, 64)
  const auto maps = bert->attention_maps();
  REQUIRE(maps.size() == 2);
  for (const auto& map : maps) {
    CHECK(map.sizes() == torch::IntArrayRef({2, 4, 7, 7}));
    CHECK(map.select(0, 0).narrow(2, 5, 2).abs().max().item<float>() == 0.0f);  // no query looks at the pads
  }
  const auto alone = bert->forward(tokens.narrow(0, 0, 1).narrow(1, 0, 5), types.narrow(0, 0, 1).narrow(1, 0, 5));
  CHECK(torch::allclose(states.narrow(0, 0, 1).narrow(1, 0, 5), alone, 1e-5, 1e-5));
  // Every position sees the whole sequence: changing the last token changes the first state.
  auto changed = tokens.clone();
  changed[1][5] = 13;
  CHECK_FALSE(torch::allclose(bert->forward(changed, types).select(0, 1).select(0, 0), states.select(0, 1).select(0, 0), 1e-4, 1e-4));
  // Tied: the head's scores move with the word embeddings.
  const auto logits = bert->predict_tokens(states.select(0, 1));
  bert->embeddings->word_embeddings->weight.mul_(2.0);
  CHECK_FALSE(torch::allclose(bert->predict_tokens(states.select(0, 1)), logits, 1e-3, 1e-3));
  CHECK_THROWS_WITH(bert->forward(torch::ones({1, 600}, torch::kLong)), Catch::Contains("longer than this BERT's 512 positions"));
}

TEST_CASE("WordPiece: BERT's basic tokenizer and greedy longest-match pieces (tokenization_test.py's cases)", "[bert]") {
  const text::WordPieceTokenizer uncased({"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "want", "##want", "##ed", "wa", "un", "runn", "##ing", ",", "hello",
                                          "!", "how", "are", "you", "?"},
                                         true);
  using Words = std::vector<std::string>;
  // Whitespace of every kind, punctuation split off, lowercased.
  CHECK(uncased.basic_tokenize(" \tHeLLo!how  \n Are yoU?  ") == Words{"hello", "!", "how", "are", "you", "?"});
  // Accents stripped with the lowercasing (NFD, marks dropped): "Héllo" -> "hello".
  CHECK(uncased.basic_tokenize("H\u00E9llo") == Words{"hello"});
  // CJK ideographs become words of their own; control characters vanish; ASCII symbols split.
  CHECK(uncased.basic_tokenize("ah\u535A\u63A8zz") == Words{"ah", "\u535A", "\u63A8", "zz"});
  CHECK(uncased.basic_tokenize("a\u0007b\u200Bc $5^") == Words{"abc", "$", "5", "^"});
  const text::WordPieceTokenizer cased(uncased.pieces(), false);
  CHECK(cased.basic_tokenize(" \tHeLLo!how  \n Are yoU?  ") == Words{"HeLLo", "!", "how", "Are", "yoU", "?"});
  // WordPiece: the longest piece from the left, "##" after the first; no split -> [UNK].
  CHECK(uncased.wordpiece("unwanted") == Words{"un", "##want", "##ed"});
  CHECK(uncased.wordpiece("running") == Words{"runn", "##ing"});
  CHECK(uncased.wordpiece("unwantedx") == Words{"[UNK]"});
  CHECK(uncased.wordpiece(std::string(101, 'a')) == Words{"[UNK]"});
  const auto ids = uncased.encode("UNwant\u00E9d,running");
  CHECK(ids == std::vector<int64_t>{9, 6, 7, 12, 10, 11});
  CHECK(uncased.decode(ids) == "unwanted , running");
  CHECK(uncased.id("nowhere") == uncased.unk());
  CHECK(uncased.mask() == 4);
}

TEST_CASE("vocab.txt: one piece per line, errors naming the line", "[bert]") {
  const auto vocab = text::WordPieceTokenizer::parse("\xEF\xBB\xBF[PAD]\r\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\n##s\n", "v.txt", true);
  CHECK(vocab.size() == 7);
  CHECK(vocab.encode("The") == std::vector<int64_t>{5});
  CHECK_THROWS_WITH(text::WordPieceTokenizer::parse("[PAD]\n[UNK]\n\n", "v.txt", true), Catch::Contains("v.txt:3: an empty word piece"));
  CHECK_THROWS_WITH(text::WordPieceTokenizer::parse("[PAD]\n[UNK]\n\xFF\n", "v.txt", true), Catch::Contains("v.txt:3: not UTF-8"));
  CHECK_THROWS_WITH(text::WordPieceTokenizer::parse("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n[UNK]\n", "v.txt", true), Catch::Contains("repeats piece 1"));
  CHECK_THROWS_WITH(text::WordPieceTokenizer::parse("[PAD]\n[UNK]\n[CLS]\n[SEP]\n", "v.txt", true), Catch::Contains("v.txt: the vocabulary has no [MASK]"));
  CHECK_THROWS_WITH(text::WordPieceTokenizer::parse("[UNK]\n[PAD]\n", "v.txt", true), Catch::Contains("must be [PAD]"));
}

TEST_CASE("MLM masking: 15% of the maskable pieces predicted, 80/10/10, whole words together", "[bert]") {
  std::mt19937_64 rng(7);
  // 2,000 sequences per mode of [CLS], 38 pieces, [SEP]; words of 1-3 pieces.
  int64_t predicted = 0, masked = 0, random = 0, kept = 0, maskable = 0, split_words = 0;
  for (const bool whole_word : {false, true}) {
    data::MaskingOptions options;
    options.whole_word = whole_word;
    for (int n = 0; n < 2000; ++n) {
      std::vector<int64_t> ids{2};
      std::vector<bool> can{false}, continues{false};
      while (ids.size() < 39) {
        const int pieces = 1 + static_cast<int>(rng() % 3);
        for (int p = 0; p < pieces && ids.size() < 39; ++p) ids.push_back(10 + static_cast<int64_t>(rng() % 990)), can.push_back(true), continues.push_back(p > 0);
      }
      ids.push_back(3), can.push_back(false), continues.push_back(false);
      const auto m = data::mask_pieces(ids, can, continues, 4, 1000, options, rng);
      int64_t here = 0;
      for (size_t i = 0; i < ids.size(); ++i) {
        if (m.labels[i] < 0) {
          CHECK(m.input[i] == ids[i]);
          continue;
        }
        REQUIRE(can[i]);  // [CLS] and [SEP] are never predicted
        CHECK(m.labels[i] == ids[i]);
        ++here;
        if (m.input[i] == 4) ++masked;
        else if (m.input[i] == ids[i]) ++kept;
        else ++random;
        // Whole words: a chosen piece's whole word is chosen.
        if (whole_word && ((i > 0 && continues[i] && m.labels[i - 1] < 0) || (i + 1 < ids.size() && continues[i + 1] && m.labels[i + 1] < 0))) ++split_words;
      }
      CHECK(here <= 6);  // round(38 x 0.15) = 6, never more
      if (!whole_word) CHECK(here == 6);
      predicted += here, maskable += 38;
    }
  }
  CHECK(split_words == 0);
  const double share = static_cast<double>(predicted) / static_cast<double>(maskable);
  CHECK(share > 0.14);  // whole-word masking may fall short of 6 when the words left are too long
  CHECK(share <= 6.0 / 38.0);
  // 80/10/10 (a random piece equal to the original counts as kept: 1/1000 of the random ones)
  CHECK(std::abs(static_cast<double>(masked) / predicted - 0.8) < 0.015);
  CHECK(std::abs(static_cast<double>(random) / predicted - 0.1) < 0.01);
  CHECK(std::abs(static_cast<double>(kept) / predicted - 0.1) < 0.01);
}

TEST_CASE("speakers: a play's speeches, each line with its speaker; the most frequent speakers", "[bert]") {
  const std::string play =
      "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n"
      "First Citizen:\r\nYou are all resolved rather to die than to famish?\r\nIs't a verdict?\r\n\n"
      "A stage direction: no speaker\nwhose lines are skipped\n\nMENENIUS:\n\nAll:\nResolved. resolved.\n";
  const auto lines = data::parse_play(play, "play.txt");
  REQUIRE(lines.size() == 5);
  CHECK(lines[0].speaker == "First Citizen");
  CHECK(lines[0].text == "Before we proceed any further, hear me speak.");
  CHECK(lines[0].line == 2);
  CHECK(lines[2].text == "You are all resolved rather to die than to famish?");
  CHECK(lines[3].text == "Is't a verdict?");
  CHECK(lines[2].speech == lines[3].speech);
  CHECK(lines[3].speech == 2);
  CHECK(lines[4].speaker == "All");
  CHECK(lines[4].line == 17);
  CHECK(data::top_speakers(lines, 1) == std::vector<std::string>{"First Citizen"});
  CHECK(data::top_speakers(lines, 5) == std::vector<std::string>{"First Citizen", "All"});
  CHECK_THROWS_WITH(data::parse_play("a\nb\n", "p.txt"), Catch::Contains("p.txt holds no speech"));
  CHECK_THROWS_WITH(data::parse_play("A:\nok\n\nB:\nbad \xC3\n", "p.txt"), Catch::Contains("p.txt:5: not UTF-8"));
}

namespace {

std::unique_ptr<MlmTask> tiny_mlm(const std::string& data, int64_t batch, std::vector<std::string> extra = {}) {
  std::vector<std::string> sets{"layers=1", "width=32", "heads=2", "ffn=64", "dropout=0", "learnt_vocab=64", "seq_len=16"};
  sets.insert(sets.end(), extra.begin(), extra.end());
  Json config = {{"model", "bert_tiny"}, {"data", data}, {"batch_size", batch}, {"workers", 0}, {"seed", 3}, {"val_fraction", 0.1},
                 {"synth_size", 256}, {"set", sets}};
  torch::manual_seed(3);
  auto task = std::make_unique<MlmTask>();
  task->setup_training(Options(config), torch::kCPU);
  return task;
}

}  // namespace

TEST_CASE("WordPiece learnt from the training text: specials, every character in both forms, SentencePiece's pieces", "[bert]") {
  std::vector<std::string> lines;
  for (int i = 0; i < 30; ++i) lines.push_back("To be, or not to be: that is the question. Whether 'tis nobler in the mind to suffer");
  const auto learnt = text::learn_wordpiece(lines, 200, true);
  CHECK(learnt.size() <= 200);
  for (int64_t id = 0; id < 5; ++id) CHECK(learnt.piece(id) == std::vector<std::string>{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}[static_cast<size_t>(id)]);
  for (const char* c : {"t", "##t", "q", "##q", ",", "##,", "'", "##'"}) CHECK(learnt.id(c) != learnt.unk());
  // Every word of the text splits without [UNK], and words seen 30 times became pieces of their own.
  for (const auto& line : lines)
    for (int64_t id : learnt.encode(line)) CHECK(id != learnt.unk());
  CHECK(learnt.wordpiece("question") == std::vector<std::string>{"question"});
  CHECK(learnt.wordpiece("the") == std::vector<std::string>{"the"});
  // Lowercased as asked; an unseen character is [UNK].
  CHECK(learnt.encode("TO BE") == learnt.encode("to be"));
  CHECK(learnt.encode("zebra") == std::vector<int64_t>{learnt.unk()});
  // Deterministic, and it travels in a checkpoint's meta.
  CHECK(text::learn_wordpiece(lines, 200, true).pieces() == learnt.pieces());
  const auto back = text::wordpiece_from_json(text::wordpiece_to_json(learnt));
  CHECK(back.pieces() == learnt.pieces());
  CHECK(back.lowercases());
  CHECK_THROWS_WITH(text::learn_wordpiece(lines, 20, true), Catch::Contains("learnt_vocab"));
  CHECK_THROWS_WITH(text::wordpiece_from_json(Json{{"kind", "wordpiece"}, {"lowercase", true}, {"pieces", {"[UNK]"}}}), Catch::Contains("[PAD]"));
}

TEST_CASE("mlm task: windows masked by BERT's rule, the loss over the masked pieces only, the same evaluation at any batch size", "[bert]") {
  auto task = tiny_mlm("synth:additions", 4);
  const auto& tokenizer = task->tokenizer();
  auto first = task->train_batches(0, 0)->next();
  REQUIRE(first);
  const auto input = first->tensors.at(0), labels = first->tensors.at(1);
  REQUIRE(input.sizes() == torch::IntArrayRef({4, 16}));
  for (int64_t r = 0; r < 4; ++r) {
    CHECK(input[r][0].item<int64_t>() == tokenizer.cls());
    CHECK(input[r][15].item<int64_t>() == tokenizer.sep());
    CHECK(labels[r][0].item<int64_t>() == -1);
    CHECK(labels[r][15].item<int64_t>() == -1);
    // round(15% of 14 pieces) = 2 to predict in every window
    CHECK(labels[r].ge(0).sum().item<int64_t>() == 2);
  }
  CHECK(task->loss_weight(*first) == 8.0);
  // The same batch for the same (seed, epoch, batch); another epoch draws other windows.
  auto again = task->train_batches(0, 0)->next();
  CHECK(torch::equal(again->tensors.at(0), input));
  CHECK(torch::equal(again->tensors.at(1), labels));
  CHECK_FALSE(torch::equal(task->train_batches(1, 0)->next()->tensors.at(1), labels));

  // The loss: cross-entropy of the head's scores at the masked positions, nothing else.
  auto& model = dynamic_cast<models::BertForMaskedLmImpl&>(*task->model());
  const auto scores = model.predict_tokens(model.forward(input));  // (4, 16, V)
  const auto expected = torch::nn::functional::cross_entropy(scores.flatten(0, 1), labels.flatten(),
                                                             torch::nn::functional::CrossEntropyFuncOptions().ignore_index(-1));
  CHECK(task->loss(*first).item<double>() == Approx(expected.item<double>()).epsilon(1e-5));

  // Every checkpoint is scored on the same masked pieces, whatever the batch size.
  const auto at2 = task->evaluate("val");
  task->set_loader(7, 0);
  const auto at7 = task->evaluate("val");
  CHECK(at2.at("examples") == at7.at("examples"));
  CHECK(at2.at("metrics").at("loss").get<double>() == Approx(at7.at("metrics").at("loss").get<double>()).epsilon(1e-5));
  CHECK(at2.at("metrics").at("ppl").get<double>() == Approx(std::exp(at2.at("metrics").at("loss").get<double>())));

  // Fill-mask: each [MASK] gets the head's top pieces, most likely first.
  const auto filled = task->predict({"1+2=[MASK]"}, Options(Json::object()));
  const auto& masks = filled.at("predictions").at(0).at("masks");
  REQUIRE(masks.size() == 1);
  CHECK(masks.at(0).at("candidates").size() == 5);
  CHECK(masks.at(0).at("candidates").at(0).at("probability").get<double>() >= masks.at(0).at("candidates").at(1).at("probability").get<double>());
  CHECK_THROWS_WITH(task->predict({"no mask here"}, Options(Json::object())), Catch::Contains("no [MASK]"));
}

TEST_CASE("text_classify: [CLS] text [SEP] rows, metrics by hand, --init keeps an MLM checkpoint's encoder and vocabulary", "[bert]") {
  const fs::path dir = fs::temp_directory_path() / ("zoo_bert_init_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  auto mlm = tiny_mlm("synth:additions", 4);
  const std::string checkpoint = (dir / "mlm.ckpt").string();
  save_checkpoint(checkpoint, {mlm->meta(), state_dict(*mlm->model()), nullptr, false});

  std::string tsv;
  for (int i = 0; i < 60; ++i) tsv += std::to_string(i) + "+" + std::to_string(i % 7) + "=" + std::to_string(i + i % 7) + "\t" + (i % 3 ? "sum" : "other") + "\n";
  const std::string file = (dir / "sums.tsv").string();
  std::ofstream(file) << tsv;
  Json config = {{"model", "bert_tiny"}, {"data", file}, {"batch_size", 8}, {"workers", 0}, {"seed", 3}, {"val_fraction", 0.3}, {"synth_size", 0},
                 {"init", checkpoint}, {"set", {"layers=1", "width=32", "heads=2", "ffn=64", "dropout=0", "seq_len=16"}}};
  TextClassifyTask task;
  task.setup_training(Options(config), torch::kCPU);
  // The vocabulary is the checkpoint's; the weights load once the MLM head is left out.
  CHECK(task.meta().at("tokenizer") == mlm->meta().at("tokenizer"));
  CHECK(task.meta().at("classes") == Json::array({"other", "sum"}));
  NamedTensors weights = CheckpointReader(checkpoint).weights();
  task.adapt_init_weights(mlm->meta(), weights);
  CHECK(weights.count("cls.predictions.bias") == 0);
  CHECK(weights.count("classifier.weight") == 1);
  load_state_dict(*task.model(), weights, checkpoint, task.head_prefixes());
  CHECK(torch::equal(state_dict(*task.model()).at("encoder.layer.0.attention.self.query.weight"),
                     state_dict(*mlm->model()).at("encoder.layer.0.attention.self.query.weight")));
  Json wrong_meta = mlm->meta();
  wrong_meta["model"] = "bert_base";
  NamedTensors again = CheckpointReader(checkpoint).weights();
  CHECK_THROWS_WITH(task.adapt_init_weights(wrong_meta, again), Catch::Contains("--model bert_base"));

  // A batch: [CLS] pieces [SEP], padded with [PAD] to the longest.
  auto batch = task.train_batches(0, 0)->next();
  REQUIRE(batch);
  CHECK(batch->tensors.at(0).select(1, 0).eq(mlm->tokenizer().cls()).all().item<bool>());
  // Accuracy, macro-F1 and the largest class's share, worked out here from predict's labels.
  const auto result = task.evaluate("val");
  const auto val = data::load_labelled_text(file, "val", 0.3, 0, 3);
  REQUIRE(result.at("examples").get<size_t>() == val.texts.size());
  const auto predicted = task.predict(val.texts, Options(Json::object())).at("predictions");
  std::map<std::string, double> tp, predicted_count, actual_count;
  double correct = 0;
  for (size_t i = 0; i < val.texts.size(); ++i) {
    const std::string p = predicted.at(i).at("label").get<std::string>();
    CHECK(predicted.at(i).at("top").size() == 2);
    predicted_count[p] += 1, actual_count[val.labels[i]] += 1;
    if (p == val.labels[i]) tp[p] += 1, correct += 1;
  }
  double f1 = 0;
  for (const char* c : {"other", "sum"})
    if (predicted_count[c] + actual_count[c] > 0) f1 += 2 * tp[c] / (predicted_count[c] + actual_count[c]);
  const auto& m = result.at("metrics");
  const double n = static_cast<double>(val.texts.size());
  CHECK(m.at("accuracy").get<double>() == Approx(100.0 * correct / n));
  CHECK(m.at("macro_f1").get<double>() == Approx(100.0 * f1 / 2));
  // The majority baseline: always "sum", the training lines' most frequent label.
  CHECK(m.at("majority").get<double>() == Approx(100.0 * actual_count["sum"] / n));
  fs::remove_all(dir);
}

TEST_CASE("bert_* in the registry: BertForMaskedLM's counts with the pooler, the same sizes for text_classify", "[bert]") {
  // BertModel (the formula of the first test) + the head's transform H x H + H, its LayerNorm 2H and
  // its bias V; tests/python/bert_reference.py's BertForMaskedLM prints the same four numbers.
  const std::map<std::string, int64_t> expected{{"bert_tiny", 4433210}, {"bert_mini", 11267386}, {"bert_small", 29057850}, {"bert_base", 110104890}};
  torch::NoGradGuard no_grad;
  REQUIRE(registry().models("mlm").size() == expected.size());
  for (const auto* spec : registry().models("mlm")) {
    INFO(spec->name);
    CHECK(spec->params == expected.at(spec->name));
    if (spec->name == "bert_base") continue;  // 110M parameters: built once in the first test's formula already
    CHECK(count_parameters(*registry().create_model(spec->name, Json::object())) == spec->params);
  }
  // The classifier: the same encoder and pooler, a classifier instead of the masked-LM head.
  auto classifier = registry().create_model("bert_tiny", Json{{"num_classes", 10}}, "text_classify");
  CHECK(count_parameters(*classifier) == 4385920 + 128 * 10 + 10);
}

}  // namespace test_bert
