#include "lib/text/wordpiece_vocab.h"

#include <algorithm>
#include <map>

#include "lib/core/error.h"
#include "lib/text/sentencepiece.h"
#include "lib/text/utf8.h"

namespace zoo::text {

namespace {

const std::vector<std::string>& specials() {
  static const std::vector<std::string> names{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  return names;
}

// Pieces by count, most first; ties by the piece, so the order is the same on every machine.
std::vector<std::string> by_count(const std::map<std::string, int64_t>& counts) {
  std::vector<std::pair<int64_t, std::string>> order;
  for (const auto& [piece, count] : counts) order.emplace_back(-count, piece);
  std::sort(order.begin(), order.end());
  std::vector<std::string> pieces;
  for (auto& [count, piece] : order) pieces.push_back(std::move(piece));
  return pieces;
}

}  // namespace

WordPieceTokenizer learn_wordpiece(const std::vector<std::string>& lines, int64_t size, bool lowercase) {
  const WordPieceTokenizer basic(specials(), lowercase);  // only its basic tokenizer is used
  std::vector<std::string> sentences;
  std::map<std::string, int64_t> characters;  // "c" and "##c" counted apart
  for (const auto& line : lines) {
    std::string sentence;
    for (const auto& word : basic.basic_tokenize(line)) {
      const auto chars = decode_utf8(word);
      for (size_t i = 0; i < chars.size(); ++i) ++characters[(i ? "##" : "") + encode_utf8(chars[i])];
      sentence += (sentence.empty() ? "" : " ") + word;
    }
    if (!sentence.empty()) sentences.push_back(std::move(sentence));
  }
  if (sentences.empty()) throw Error("the training text holds no word to learn a vocabulary from");
  // Every character in both forms (a character seen only inside words may still begin one).
  std::map<std::string, int64_t> single;
  for (const auto& [piece, count] : characters) {
    const std::string bare = piece.rfind("##", 0) == 0 ? piece.substr(2) : piece;
    single[bare] += count, single["##" + bare] += count;
  }
  const auto base = static_cast<int64_t>(specials().size() + single.size());
  if (size < base)
    throw UsageError("a vocabulary of " + std::to_string(size) + " pieces cannot hold the 5 special pieces and the training text's " +
                     std::to_string(single.size()) + " characters (in both forms): raise --set learnt_vocab to at least " + std::to_string(base));
  std::vector<std::string> pieces = specials();
  for (auto& piece : by_count(single)) pieces.push_back(std::move(piece));
  if (size > base) {
    // SentencePiece BPE on the words; its pieces, rewritten in WordPiece's form, counted over the text.
    // SentencePiece's vocabulary holds its characters, "▁" and <unk> besides the merged pieces.
    const auto distinct = static_cast<int64_t>(single.size() / 2);
    SentencePieceTokenizer sp(train_sentencepiece(sentences, "bpe", std::max<int64_t>(8, size - base + distinct + 2), false), false);
    std::map<std::string, int64_t> learnt;
    for (const auto& sentence : sentences) {
      bool word_start = false;
      for (const auto& piece : sp.tokenize(sentence)) {
        static const std::string marker = "\xE2\x96\x81";  // "▁"
        std::string bare = piece;
        if (bare.rfind(marker, 0) == 0) bare = bare.substr(marker.size()), word_start = true;
        if (bare.empty()) continue;  // a lone "▁": the next piece starts the word
        const std::string form = word_start ? bare : "##" + bare;
        word_start = false;
        if (!single.count(form)) ++learnt[form];
      }
    }
    for (auto& piece : by_count(learnt)) {
      if (static_cast<int64_t>(pieces.size()) >= size) break;
      pieces.push_back(std::move(piece));
    }
  }
  return WordPieceTokenizer(std::move(pieces), lowercase);
}

Json wordpiece_to_json(const WordPieceTokenizer& tokenizer) {
  return {{"kind", "wordpiece"}, {"lowercase", tokenizer.lowercases()}, {"pieces", tokenizer.pieces()}};
}

WordPieceTokenizer wordpiece_from_json(const Json& j) {
  // Each field's type is checked before it is read: nlohmann's value() and get() throw their own
  // type_error on a mistyped field (found by fuzz_bert_text), which is not a zoo::Error.
  const bool wordpiece = j.is_object() && j.contains("kind") && j.at("kind").is_string() && j.at("kind").get<std::string>() == "wordpiece";
  if (!wordpiece) throw Error("tokenizer: expected {\"kind\": \"wordpiece\", ...}");
  if (!j.contains("pieces") || !j.at("pieces").is_array()) throw Error("tokenizer: no \"pieces\" list");
  if (!j.contains("lowercase") || !j.at("lowercase").is_boolean()) throw Error("tokenizer: no boolean \"lowercase\"");
  std::vector<std::string> pieces;
  for (const auto& p : j.at("pieces")) {
    if (!p.is_string()) throw Error("tokenizer: a piece is not a string");
    pieces.push_back(p.get<std::string>());
  }
  try {
    return WordPieceTokenizer(std::move(pieces), j.at("lowercase").get<bool>());
  } catch (const Error& e) {
    throw Error(std::string("tokenizer: ") + e.what());
  }
}

}  // namespace zoo::text
