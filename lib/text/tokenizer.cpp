#include "lib/text/tokenizer.h"

#include <algorithm>

#include <unicode/locid.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>

#include "lib/core/error.h"
#include "lib/text/sentencepiece.h"
#include "lib/text/utf8.h"

namespace zoo::text {

namespace {

// Letters, digits and combining marks make up words.
bool is_word_char(char32_t c) {
  if (u_isalnum(static_cast<UChar32>(c))) return true;
  const auto type = u_charType(static_cast<UChar32>(c));
  return type == U_NON_SPACING_MARK || type == U_COMBINING_SPACING_MARK || type == U_ENCLOSING_MARK;
}

// May sit inside a word, between two word characters.
bool is_word_joiner(char32_t c) { return c == U'\'' || c == U'\u2019' || c == U'-' || c == U'.'; }

bool attaches_left(const std::string& token) {  // no space before it
  static const std::vector<std::string> closing{".", ",", "!", "?", ";", ":", "%", ")", "]", "}", "»", "”", "’", "'", "…"};
  return std::find(closing.begin(), closing.end(), token) != closing.end();
}

bool attaches_right(const std::string& token) {  // no space after it
  static const std::vector<std::string> opening{"(", "[", "{", "«", "„", "“", "‘", "¿", "¡", "$"};
  return std::find(opening.begin(), opening.end(), token) != opening.end();
}

}  // namespace

std::string lowercase(std::string_view text) {
  require_utf8(text);
  std::string out;
  icu::UnicodeString::fromUTF8(icu::StringPiece(text.data(), static_cast<int32_t>(text.size())))
      .toLower(icu::Locale::getRoot())
      .toUTF8String(out);
  return out;
}

std::vector<std::string> CharTokenizer::tokenize(std::string_view text) const {
  std::vector<std::string> tokens;
  for (char32_t c : decode_utf8(text)) tokens.push_back(encode_utf8(c));
  return tokens;
}

std::string CharTokenizer::detokenize(const std::vector<std::string>& tokens) const {
  std::string out;
  for (const auto& t : tokens) out += t;
  return out;
}

std::vector<std::string> WordTokenizer::tokenize(std::string_view text) const {
  const std::string lowered = lowercase_ ? lowercase(text) : std::string();
  const auto chars = decode_utf8(lowercase_ ? std::string_view(lowered) : text);
  std::vector<std::string> tokens;
  for (size_t i = 0; i < chars.size();) {
    if (is_space(chars[i])) {
      ++i;
    } else if (is_word_char(chars[i])) {
      size_t end = i + 1;
      while (end < chars.size() &&
             (is_word_char(chars[end]) || (is_word_joiner(chars[end]) && end + 1 < chars.size() && is_word_char(chars[end + 1]))))
        ++end;
      tokens.push_back(encode_utf8(std::vector<char32_t>(chars.begin() + static_cast<std::ptrdiff_t>(i), chars.begin() + static_cast<std::ptrdiff_t>(end))));
      i = end;
    } else {
      tokens.push_back(encode_utf8(chars[i++]));
    }
  }
  return tokens;
}

std::string WordTokenizer::detokenize(const std::vector<std::string>& tokens) const {
  std::string out;
  bool glue_next = true;    // nothing before the first token
  bool quote_open = false;  // straight double quotes alternate between opening and closing
  for (const auto& token : tokens) {
    bool glue = glue_next || attaches_left(token);
    glue_next = attaches_right(token);
    if (token == "\"") {
      if (quote_open) glue = true;
      else glue_next = true;
      quote_open = !quote_open;
    }
    if (!glue) out += ' ';
    out += token;
  }
  return out;
}

std::unique_ptr<Tokenizer> make_tokenizer(const std::string& kind, bool lowercase, const std::vector<std::string>& sentences,
                                          int64_t vocab_cap) {
  if (kind == "char") return std::make_unique<CharTokenizer>();
  if (kind == "word") return std::make_unique<WordTokenizer>(lowercase);
  if (kind == "bpe" || kind == "unigram")
    return std::make_unique<SentencePieceTokenizer>(train_sentencepiece(sentences, kind, vocab_cap - 3, lowercase), lowercase);
  throw UsageError("invalid tokenizer '" + kind + "': expected auto, char, word, bpe or unigram");
}

std::unique_ptr<Tokenizer> tokenizer_from_json(const Json& j) {
  if (!j.is_object() || !j.contains("kind") || !j["kind"].is_string()) throw Error("tokenizer: expected an object with a string 'kind'");
  const auto kind = j["kind"].get<std::string>();
  if (kind == "char") return std::make_unique<CharTokenizer>();
  if (kind == "word") {
    if (!j.contains("lowercase") || !j["lowercase"].is_boolean()) throw Error("tokenizer: 'lowercase' must be true or false");
    return std::make_unique<WordTokenizer>(j["lowercase"].get<bool>());
  }
  if (kind == "sentencepiece") {
    if (!j.contains("model") || !j["model"].is_string()) throw Error("tokenizer: 'model' must be a base64 string");
    if (j.contains("lowercase") && !j["lowercase"].is_boolean()) throw Error("tokenizer: 'lowercase' must be true or false");
    return std::make_unique<SentencePieceTokenizer>(base64_decode(j["model"].get<std::string>()), j.value("lowercase", false));
  }
  throw Error("tokenizer: unknown kind '" + kind + "' (expected char, word or sentencepiece)");
}

}  // namespace zoo::text
