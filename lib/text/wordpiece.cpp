#include "lib/text/wordpiece.h"

#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>

#include <fstream>
#include <sstream>

#include "lib/core/error.h"
#include "lib/text/tokenizer.h"
#include "lib/text/utf8.h"

namespace zoo::text {

namespace {

// tokenization.py's _is_whitespace: space, tab, newline, carriage return, or category Zs.
bool is_bert_whitespace(char32_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || u_charType(static_cast<UChar32>(c)) == U_SPACE_SEPARATOR; }

// _is_control: categories Cc and Cf, except the whitespace above.
bool is_bert_control(char32_t c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;
  const auto type = u_charType(static_cast<UChar32>(c));
  return type == U_CONTROL_CHAR || type == U_FORMAT_CHAR;
}

// _is_punctuation: every non-letter/number ASCII symbol ("^", "$", "`" too), or category P*.
bool is_bert_punctuation(char32_t c) {
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)) return true;
  const auto mask = U_GET_GC_MASK(static_cast<UChar32>(c));
  return (mask & U_GC_P_MASK) != 0;
}

// _is_chinese_char: the CJK Unified Ideographs blocks (not Hiragana, Katakana or Hangul, which
// are written with spaces).
bool is_cjk(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) || (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

// _run_strip_accents: NFD, then without the nonspacing marks (Mn).
std::u32string strip_accents(const std::string& word) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* nfd = icu::Normalizer2::getNFDInstance(status);
  if (U_FAILURE(status)) throw Error("ICU has no NFD normaliser");
  icu::UnicodeString decomposed = nfd->normalize(icu::UnicodeString::fromUTF8(icu::StringPiece(word.data(), static_cast<int32_t>(word.size()))), status);
  if (U_FAILURE(status)) throw Error("ICU could not normalise a word");
  std::u32string out;
  for (int32_t i = 0; i < decomposed.length(); i = decomposed.moveIndex32(i, 1)) {
    const UChar32 c = decomposed.char32At(i);
    if (u_charType(c) != U_NON_SPACING_MARK) out.push_back(static_cast<char32_t>(c));
  }
  return out;
}

}  // namespace

WordPieceTokenizer::WordPieceTokenizer(std::vector<std::string> pieces, bool lowercase) : pieces_(std::move(pieces)), lowercase_(lowercase) {
  for (size_t i = 0; i < pieces_.size(); ++i) {
    if (pieces_[i].empty()) throw Error("word piece " + std::to_string(i) + " is empty");
    if (!ids_.emplace(pieces_[i], static_cast<int64_t>(i)).second)
      throw Error("word piece " + std::to_string(i) + " '" + pieces_[i] + "' repeats piece " + std::to_string(ids_.at(pieces_[i])));
  }
  auto special = [&](const char* name) {
    const auto at = ids_.find(name);
    if (at == ids_.end()) throw Error(std::string("the vocabulary has no ") + name);
    return at->second;
  };
  if (pieces_.empty() || pieces_[0] != "[PAD]") throw Error("the vocabulary's first piece (id 0) must be [PAD], as in every BERT vocabulary");
  unk_ = special("[UNK]"), cls_ = special("[CLS]"), sep_ = special("[SEP]"), mask_ = special("[MASK]");
}

WordPieceTokenizer WordPieceTokenizer::parse(std::string_view text, const std::string& name, bool lowercase) {
  std::vector<std::string> pieces;
  int64_t line = 0;
  for (std::string_view piece, rest = text; next_line(rest, piece);) {
    ++line;
    if (line == 1 && piece.substr(0, 3) == "\xEF\xBB\xBF") piece.remove_prefix(3);
    if (const size_t bad = find_invalid_utf8(piece); bad != std::string::npos)
      throw Error(name + ":" + std::to_string(line) + ": not UTF-8 (byte " + std::to_string(bad + 1) + ")");
    if (piece.empty()) throw Error(name + ":" + std::to_string(line) + ": an empty word piece");
    pieces.emplace_back(piece);
  }
  try {
    return WordPieceTokenizer(std::move(pieces), lowercase);
  } catch (const Error& e) {
    throw Error(name + ": " + e.what());
  }
}

WordPieceTokenizer WordPieceTokenizer::from_file(const std::string& path, bool lowercase) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot read vocabulary " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return parse(text.str(), path, lowercase);
}

int64_t WordPieceTokenizer::id(const std::string& piece) const {
  const auto at = ids_.find(piece);
  return at == ids_.end() ? unk_ : at->second;
}

std::vector<std::string> WordPieceTokenizer::basic_tokenize(std::string_view text) const {
  // Clean (controls dropped, whitespace to spaces), CJK ideographs spaced apart, then words.
  std::u32string cleaned;
  for (char32_t c : decode_utf8(text)) {
    if (c == 0 || c == 0xFFFD || is_bert_control(c)) continue;
    if (is_bert_whitespace(c)) cleaned.push_back(' ');
    else if (is_cjk(c)) cleaned += {U' ', c, U' '};
    else cleaned.push_back(c);
  }
  std::vector<std::string> words;
  std::u32string word;
  auto flush = [&] {
    if (!word.empty()) words.push_back(encode_utf8(std::vector<char32_t>(word.begin(), word.end())));
    word.clear();
  };
  size_t i = 0;
  while (i < cleaned.size()) {
    size_t end = cleaned.find(U' ', i);
    if (end == std::u32string::npos) end = cleaned.size();
    std::u32string token = cleaned.substr(i, end - i);
    i = end + 1;
    if (token.empty()) continue;
    if (lowercase_) {
      // lower(), then the accents stripped (BERT's uncased models)
      const auto lower = lowercase(encode_utf8(std::vector<char32_t>(token.begin(), token.end())));
      token = strip_accents(lower);
    }
    // Punctuation split off, one character a word.
    for (char32_t c : token) {
      if (is_bert_punctuation(c)) {
        flush();
        word.push_back(c);
        flush();
      } else {
        word.push_back(c);
      }
    }
    flush();
  }
  return words;
}

std::vector<std::string> WordPieceTokenizer::wordpiece(const std::string& word) const {
  const auto chars = decode_utf8(word);
  if (chars.size() > 100) return {"[UNK]"};
  std::vector<std::string> pieces;
  size_t start = 0;
  while (start < chars.size()) {
    // The longest piece of the vocabulary from `start`, "##"-marked after the first.
    size_t end = chars.size();
    std::string found;
    while (start < end) {
      std::string piece = encode_utf8(std::vector<char32_t>(chars.begin() + static_cast<std::ptrdiff_t>(start), chars.begin() + static_cast<std::ptrdiff_t>(end)));
      if (start > 0) piece = "##" + piece;
      if (ids_.count(piece)) {
        found = std::move(piece);
        break;
      }
      --end;
    }
    if (found.empty()) return {"[UNK]"};  // no split of the whole word
    pieces.push_back(std::move(found));
    start = end;
  }
  return pieces;
}

std::vector<int64_t> WordPieceTokenizer::encode(std::string_view text) const {
  std::vector<int64_t> ids;
  for (const auto& word : basic_tokenize(text))
    for (const auto& piece : wordpiece(word)) ids.push_back(id(piece));
  return ids;
}

std::string WordPieceTokenizer::decode(const std::vector<int64_t>& ids) const {
  std::string text;
  for (int64_t i : ids) {
    const std::string& p = piece(i);
    if (p.rfind("##", 0) == 0 && !text.empty()) text += p.substr(2);
    else text += (text.empty() ? "" : " ") + p;
  }
  return text;
}

}  // namespace zoo::text
