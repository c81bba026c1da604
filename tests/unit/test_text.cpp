// UTF-8 handling and sacreBLEU-compatible BLEU. The expected scores are worked out by hand in
// the comments from the definitions in lib/text/bleu.h.
#include <catch2/catch.hpp>

#include <cmath>

#include "lib/core/error.h"
#include "lib/text/bleu.h"
#include "lib/text/utf8.h"
#include "lib/text/tokenizer.h"
#include "lib/text/vocab.h"

namespace test_text {  // this file's own: the unit tests compile in batches (tests/CMakeLists.txt)

using namespace zoo::text;

TEST_CASE("UTF-8 decodes, re-encodes and rejects malformed bytes with their offset", "[text]") {
  const std::string mixed = "Grüße, Männer: 東京 🚀";
  const auto code_points = decode_utf8(mixed);
  CHECK(code_points.size() == 19);  // G r ü ß e , _ M ä n n e r : _ 東 京 _ 🚀
  CHECK(code_points[2] == U'ü');
  CHECK(code_points[18] == U'🚀');
  CHECK(encode_utf8(code_points) == mixed);
  CHECK(find_invalid_utf8(mixed) == std::string::npos);

  CHECK(find_invalid_utf8("ab\xC3\x28") == 2);       // a lead byte without its continuation
  CHECK(find_invalid_utf8("\xC0\xAF") == 0);         // overlong "/"
  CHECK(find_invalid_utf8("x\xED\xA0\x80") == 1);    // a UTF-16 surrogate
  CHECK(find_invalid_utf8("\xF4\x90\x80\x80") == 0); // past U+10FFFF
  CHECK(find_invalid_utf8("ok\x80") == 2);           // a stray continuation byte
  CHECK(find_invalid_utf8("caf\xC3") == 3);          // cut off mid-character
  CHECK_THROWS_WITH(decode_utf8("ab\xFF"), Catch::Contains("byte 2"));
}

TEST_CASE("whitespace splitting and stripping follow Python's str.split() and str.rstrip()", "[text]") {
  CHECK(split_whitespace("  a\tb\u00A0c\u3000d \n") == std::vector<std::string>{"a", "b", "c", "d"});
  CHECK(split_whitespace("").empty());
  CHECK(split_whitespace(" \u2009 ").empty());
  CHECK(rstrip_space("Männer \u00A0\n") == "Männer");
  CHECK(rstrip_space(" a b ") == " a b");
}

TEST_CASE("13a tokenization splits punctuation but not inside numbers", "[text][bleu]") {
  CHECK(tokenize_13a("Hello, world.") == "Hello , world .");
  CHECK(tokenize_13a("It costs $3.14, or 1,000 yen.") == "It costs $ 3.14 , or 1,000 yen .");
  CHECK(tokenize_13a("a 5-year-old (really)") == "a 5 - year-old ( really )");
  CHECK(tokenize_13a("&quot;Hi&quot; &amp; bye") == "\" Hi \" & bye");
  CHECK(tokenize_13a("Männer, die.") == "Männer , die .");
  CHECK(tokenize_13a("don't stop") == "don't stop");  // the apostrophe is not split off
  CHECK(tokenize_13a("  spaced   out  ") == "spaced out");
}

TEST_CASE("BLEU of a perfect match is 100 and of an empty output is 0", "[text][bleu]") {
  const auto perfect = corpus_bleu({"The cat sat on the mat.", "Zwei Männer stehen."},
                                   {{"The cat sat on the mat.", "Zwei Männer stehen."}});
  CHECK(perfect.score == Approx(100.0).margin(1e-9));
  CHECK(perfect.brevity_penalty == 1.0);

  const auto empty = corpus_bleu({""}, {{"a b c d e"}});
  CHECK(empty.score == 0.0);
  CHECK(empty.brevity_penalty == 0.0);
  CHECK(empty.hypothesis_length == 0);
  CHECK(empty.reference_length == 5);
}

TEST_CASE("BLEU's brevity penalty: a hypothesis one token short", "[text][bleu]") {
  // c = 6, r = 7, every precision 100%: BLEU = 100 * exp(1 - 7/6).
  const auto short_output = corpus_bleu({"the cat sat on the mat"}, {{"the cat sat on the mat today"}});
  CHECK(short_output.precisions == std::array<double, 4>{100, 100, 100, 100});
  CHECK(short_output.brevity_penalty == Approx(std::exp(-1.0 / 6.0)).epsilon(1e-12));
  CHECK(short_output.score == Approx(84.64817248906141).epsilon(1e-12));
}

TEST_CASE("BLEU's exp smoothing and clipping", "[text][bleu]") {
  // "a b c d" vs "a b c e": p1 = 3/4, p2 = 2/3, p3 = 1/2, p4 = 0/1 -> 1/(2*1).
  // BLEU = (75 * 66.67 * 50 * 50)^(1/4) = 12,500,000^(1/4) = 59.4603557501...
  const auto one_wrong = corpus_bleu({"a b c d"}, {{"a b c e"}});
  CHECK(one_wrong.precisions[0] == Approx(75.0));
  CHECK(one_wrong.precisions[1] == Approx(200.0 / 3.0));
  CHECK(one_wrong.precisions[2] == Approx(50.0));
  CHECK(one_wrong.precisions[3] == Approx(50.0));
  CHECK(one_wrong.score == Approx(59.460355750136).epsilon(1e-10));

  // "the the the the" vs "the cat": "the" is clipped to 1 of 4; the three zero precisions are
  // smoothed to 1/(2*3), 1/(4*2), 1/(8*1); c = 4 > r = 2 so BP = 1.
  const auto repeated = corpus_bleu({"the the the the"}, {{"the cat"}});
  CHECK(repeated.precisions[0] == Approx(25.0));
  CHECK(repeated.precisions[1] == Approx(100.0 / 6.0));
  CHECK(repeated.precisions[2] == Approx(12.5));
  CHECK(repeated.precisions[3] == Approx(12.5));
  CHECK(repeated.score == Approx(std::pow(25.0 * (100.0 / 6.0) * 12.5 * 12.5, 0.25)).epsilon(1e-12));
}

TEST_CASE("BLEU with several references uses the closest length, the shorter on a tie", "[text][bleu]") {
  // c = 3; references of 4 and 2 tokens are both 1 away: r = 2, so BP = 1. With no 4-gram in
  // the output the corpus score is 0, as sacreBLEU gives without effective order.
  const auto score = corpus_bleu({"a b c"}, {{"a b c d"}, {"a b"}});
  CHECK(score.reference_length == 2);
  CHECK(score.brevity_penalty == 1.0);
  CHECK(score.precisions[2] == Approx(100.0));
  CHECK(score.score == 0.0);
}

TEST_CASE("corpus BLEU pools the statistics of its sentences", "[text][bleu]") {
  auto stats = sentence_stats("a b c d", {"a b c e"});
  stats += sentence_stats("the cat sat on the mat", {"the cat sat on the mat"});
  CHECK(stats.matches == std::array<int64_t, 4>{9, 7, 5, 3});
  CHECK(stats.totals == std::array<int64_t, 4>{10, 8, 6, 4});
  const auto pooled = corpus_bleu({"a b c d", "the cat sat on the mat"}, {{"a b c e", "the cat sat on the mat"}});
  CHECK(pooled.score == Approx(bleu_from_stats(stats).score));
  CHECK(pooled.score == Approx(100.0 * std::pow(0.9 * 7.0 / 8 * 5.0 / 6 * 3.0 / 4, 0.25)).epsilon(1e-12));
  CHECK_THROWS_AS(corpus_bleu({"a", "b"}, {{"a"}}), zoo::UsageError);
}

TEST_CASE("the character tokenizer splits code points and round-trips", "[text][tokenizer]") {
  CharTokenizer chars;
  const std::string text = "Männer 東京!";
  const auto tokens = chars.tokenize(text);
  CHECK(tokens == std::vector<std::string>{"M", "ä", "n", "n", "e", "r", " ", "東", "京", "!"});
  CHECK(chars.detokenize(tokens) == text);
  CHECK_THROWS_WITH(chars.tokenize("ok\xC3"), Catch::Contains("byte 2"));
}

TEST_CASE("the word tokenizer splits punctuation off words and its detokenizer undoes it", "[text][tokenizer]") {
  WordTokenizer words;
  const std::string sentence = "Zwei junge Männer, die draußen (im Park) spielen.";
  const auto tokens = words.tokenize(sentence);
  CHECK(tokens == std::vector<std::string>{"Zwei", "junge", "Männer", ",", "die", "draußen", "(", "im", "Park", ")", "spielen", "."});
  CHECK(words.detokenize(tokens) == sentence);

  // Apostrophes, hyphens and periods stay inside words and numbers.
  CHECK(words.tokenize("Don't buy a 5-year-old car for $3.14!") ==
        std::vector<std::string>{"Don't", "buy", "a", "5-year-old", "car", "for", "$", "3.14", "!"});
  for (const std::string s : {"Don't buy a 5-year-old car for $3.14!", "Er sagte: \"Hallo, Welt!\" und ging.",
                              "Un homme (en rouge) court... vite?", "¿Qué pasa? ¡Nada!", "Déjà vu: 100% sûr; «oui»."})
    CHECK(words.detokenize(words.tokenize(s)) == s);
}

TEST_CASE("lowercasing is Unicode's full case mapping", "[text][tokenizer]") {
  CHECK(lowercase("MÄNNER Straße ÉTÉ") == "männer straße été");
  CHECK(lowercase("STRAẞE") == "straße");
  CHECK(lowercase("ΟΔΟΣ") == "οδος");  // the last sigma becomes the final form ς
  CHECK(lowercase("ΟΔΟΣ") != "οδοσ");
  WordTokenizer lower(true);
  CHECK(lower.tokenize("Zwei MÄNNER.") == std::vector<std::string>{"zwei", "männer", "."});
  CHECK_THROWS_AS(lowercase("\xFF"), zoo::Error);
}

TEST_CASE("tokenizers serialise to JSON and back", "[text][tokenizer]") {
  const auto word = tokenizer_from_json(WordTokenizer(true).to_json());
  CHECK(word->tokenize("A b") == std::vector<std::string>{"a", "b"});
  CHECK(tokenizer_from_json(CharTokenizer().to_json())->tokenize("ab").size() == 2);
  CHECK_THROWS_WITH(tokenizer_from_json({{"kind", "bpe?"}}), Catch::Contains("unknown kind 'bpe?'"));
  CHECK_THROWS_WITH(tokenizer_from_json({{"kind", "word"}}), Catch::Contains("lowercase"));
}

TEST_CASE("vocabularies keep specials first, then tokens by frequency, with limits", "[text][vocab]") {
  const std::vector<std::vector<std::string>> corpus{{"a", "b", "a", "c"}, {"b", "a", "d", "<eos>"}};
  const auto all = Vocab::build(corpus);
  CHECK(all.size() == 8);
  CHECK(all.token(0) == "<pad>");
  CHECK(all.token(3) == "<eos>");
  CHECK(all.token(4) == "a");  // 3 times
  CHECK(all.token(5) == "b");  // 2 times
  CHECK(all.token(6) == "c");  // 1 time, before "d" in byte order
  CHECK(all.id("zzz") == Vocab::kUnk);

  const auto frequent = Vocab::build(corpus, /*min_frequency=*/2);
  CHECK(frequent.size() == 6);
  CHECK(frequent.id("c") == Vocab::kUnk);
  const auto capped = Vocab::build(corpus, 1, /*max_size=*/5);
  CHECK(capped.size() == 5);
  CHECK(capped.token(4) == "a");

  CHECK(all.decode({Vocab::kBos, 4, 5, Vocab::kPad, 6, Vocab::kEos, 4}) == std::vector<std::string>{"a", "b", "c"});
  CHECK(all.encode({"a", "q"}) == std::vector<int64_t>{4, Vocab::kUnk});
  const auto restored = Vocab::from_json(all.to_json());
  CHECK(restored.size() == all.size());
  CHECK(restored.id("d") == all.id("d"));
  CHECK_THROWS_WITH(Vocab::from_json(zoo::Json::array({"a", "b"})), Catch::Contains("<pad> <unk> <bos> <eos>"));
  CHECK_THROWS_WITH(all.token(99), Catch::Contains("99"));
  CHECK_THROWS_AS(Vocab::build(corpus, 0), zoo::UsageError);
}

}  // namespace test_text
