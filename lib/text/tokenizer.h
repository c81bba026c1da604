// Tokenizers shared by the text tasks: characters and words (SentencePiece in sentencepiece.h). Each serialises to JSON so it
// travels inside a checkpoint with its vocabulary.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "lib/core/option_schema.h"
#include "lib/core/options.h"

namespace zoo::text {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  virtual std::vector<std::string> tokenize(std::string_view text) const = 0;  // throws zoo::Error on invalid UTF-8
  virtual std::string detokenize(const std::vector<std::string>& tokens) const = 0;
  virtual Json to_json() const = 0;  // {"kind": ..., options}
  // Whether tokens are lowercased (then BLEU compares with lowercased references).
  virtual bool lowercases() const { return false; }
};

// Every Unicode code point is a token; detokenize concatenates.
class CharTokenizer : public Tokenizer {
 public:
  std::vector<std::string> tokenize(std::string_view text) const override;
  std::string detokenize(const std::vector<std::string>& tokens) const override;
  Json to_json() const override { return {{"kind", "char"}}; }
};

// Words: runs of letters, digits and combining marks, which may hold an apostrophe, hyphen or
// period between two such characters ("don't", "5-year-old", "3.14"); every other
// non-space character is a token of its own. Lowercasing (optional) is Unicode's full case
// mapping (ICU, root locale: "STRAẞE" -> "straße", "ΟΔΟΣ" -> "οδος" with a final sigma).
// detokenize joins with spaces except before closing and after opening punctuation, and
// pairs straight double quotes, so detokenize(tokenize(s)) == s for ordinarily spaced text.
class WordTokenizer : public Tokenizer {
 public:
  explicit WordTokenizer(bool lowercase = false) : lowercase_(lowercase) {}
  std::vector<std::string> tokenize(std::string_view text) const override;
  std::string detokenize(const std::vector<std::string>& tokens) const override;
  Json to_json() const override { return {{"kind", "word"}, {"lowercase", lowercase_}}; }
  bool lowercases() const override { return lowercase_; }

 private:
  bool lowercase_;
};

// Unicode full lowercasing of UTF-8 text (throws zoo::Error on invalid UTF-8).
std::string lowercase(std::string_view text);

// How text becomes tokens: options of every translation and language model (each task with its
// own defaults). The task learns the tokenizer from its training text; it travels in the
// checkpoint.
struct TokenizerConfig {
  std::string tokenizer = "auto";
  bool lowercase = false;
  int64_t min_freq = 1;
  static const OptionSchema<TokenizerConfig>& options();
};

inline const OptionSchema<TokenizerConfig>& TokenizerConfig::options() {
  static const auto schema =
      OptionSchema<TokenizerConfig>("text")
          .option("tokenizer", &TokenizerConfig::tokenizer, one_of({"auto", "char", "word", "bpe", "unigram"}),
                  "char: every code point; word: Unicode letters/digits as words, punctuation split off (detokenized back); bpe/unigram: "
                  "SentencePiece trained on the training text (needs the plug-in libzoo_sentencepiece.so); auto: char for synth: data "
                  "and for language models, word otherwise; a line break is the token \\n of every language-model tokenizer")
          .option("lowercase", &TokenizerConfig::lowercase,
                  "Unicode full lowercasing before tokenizing (translation: BLEU then compares with lowercased references, sacreBLEU's -lc)")
          .option("min_freq", &TokenizerConfig::min_freq, at_least(1), "a token needs this many occurrences in the training text (char, word)");
  return schema;
}

// A tokenizer of `kind` ("char", "word", "bpe" or "unigram") for `sentences`: SentencePiece
// models are trained on them, with vocab_cap - 3 pieces (a Vocab adds <pad> <bos> <eos>; its
// <unk> is SentencePiece's). UsageError for an unknown kind.
std::unique_ptr<Tokenizer> make_tokenizer(const std::string& kind, bool lowercase, const std::vector<std::string>& sentences,
                                          int64_t vocab_cap);

// The tokenizer a to_json() object describes; errors name the bad key.
std::unique_ptr<Tokenizer> tokenizer_from_json(const Json& j);

}  // namespace zoo::text
