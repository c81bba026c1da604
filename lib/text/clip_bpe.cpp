#include "lib/text/clip_bpe.h"

#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>

#include <array>
#include <cstdlib>
#include <filesystem>
#include <limits>

#include "lib/core/error.h"
#include "lib/core/files.h"
#include "lib/text/tokenizer.h"
#include "lib/text/utf8.h"

namespace zoo::text {

namespace {

constexpr const char* kStart = "<|startoftext|>";
constexpr const char* kEnd = "<|endoftext|>";
constexpr const char* kWordEnd = "</w>";

// GPT-2's byte alphabet: the printable bytes ! .. ~, ¡ .. ¬ and ® .. ÿ stand for themselves; the
// other 68 bytes, in order, become U+0100 onwards, so every byte is one visible character.
// code_point[b] for each byte b; the vocabulary lists them printable ones first.
struct ByteAlphabet {
  std::array<char32_t, 256> code_point{};
  std::array<int, 256> byte_order{};  // the bytes in vocabulary order
  std::array<int, 512> byte_of{};     // code point -> byte, -1 for none
  ByteAlphabet() {
    byte_of.fill(-1);
    auto printable = [](int b) { return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); };
    int position = 0, extra = 0;
    for (int b = 0; b < 256; ++b)
      if (printable(b)) code_point[b] = static_cast<char32_t>(b), byte_order[position++] = b;
    for (int b = 0; b < 256; ++b)
      if (!printable(b)) code_point[b] = static_cast<char32_t>(256 + extra++), byte_order[position++] = b;
    for (int b = 0; b < 256; ++b) byte_of[code_point[b]] = b;
  }
};

const ByteAlphabet& alphabet() {
  static const ByteAlphabet table;
  return table;
}

bool is_letter(char32_t c) {  // \p{L}
  const auto type = u_charType(static_cast<UChar32>(c));
  return type == U_UPPERCASE_LETTER || type == U_LOWERCASE_LETTER || type == U_TITLECASE_LETTER || type == U_MODIFIER_LETTER ||
         type == U_OTHER_LETTER;
}

bool is_number(char32_t c) {  // \p{N}
  const auto type = u_charType(static_cast<UChar32>(c));
  return type == U_DECIMAL_DIGIT_NUMBER || type == U_LETTER_NUMBER || type == U_OTHER_NUMBER;
}

// Python's html.unescape for numeric references and the named entities of ordinary text: the
// code point, or 0 when `s` at `at` starts none (then `length` is untouched).
char32_t html_entity(const std::u32string& s, size_t at, size_t& length) {
  if (s[at] != U'&') return 0;
  size_t i = at + 1;
  if (i < s.size() && s[i] == U'#') {
    ++i;
    const bool hex = i < s.size() && (s[i] == U'x' || s[i] == U'X');
    if (hex) ++i;
    const size_t digits_start = i;
    uint64_t value = 0;
    while (i < s.size() && i - digits_start < 8) {
      const char32_t c = s[i];
      int digit = -1;
      if (c >= U'0' && c <= U'9') digit = static_cast<int>(c - U'0');
      else if (hex && c >= U'a' && c <= U'f') digit = static_cast<int>(c - U'a' + 10);
      else if (hex && c >= U'A' && c <= U'F') digit = static_cast<int>(c - U'A' + 10);
      if (digit < 0) break;
      value = value * (hex ? 16 : 10) + static_cast<uint64_t>(digit);
      ++i;
    }
    if (i == digits_start) return 0;
    if (i < s.size() && s[i] == U';') ++i;
    length = i - at;
    // Python: NUL, surrogates and values past U+10FFFF become U+FFFD.
    if (value == 0 || (value >= 0xD800 && value <= 0xDFFF) || value > 0x10FFFF) return U'\uFFFD';
    return static_cast<char32_t>(value);
  }
  struct Named {
    const char32_t* name;
    char32_t code_point;
    bool without_semicolon;  // HTML's legacy forms that also stand without ';'
  };
  static const Named named[] = {{U"amp", U'&', true},         {U"lt", U'<', true},          {U"gt", U'>', true},
                                {U"quot", U'"', true},        {U"apos", U'\'', false},      {U"nbsp", U'\u00A0', true},
                                {U"copy", U'\u00A9', true},   {U"reg", U'\u00AE', true},    {U"deg", U'\u00B0', true},
                                {U"hellip", U'\u2026', false}, {U"mdash", U'\u2014', false}, {U"ndash", U'\u2013', false},
                                {U"lsquo", U'\u2018', false}, {U"rsquo", U'\u2019', false}, {U"ldquo", U'\u201C', false},
                                {U"rdquo", U'\u201D', false}, {U"times", U'\u00D7', true},  {U"eacute", U'\u00E9', true}};
  for (const auto& entity : named) {
    const std::u32string name(entity.name);
    if (s.compare(i, name.size(), name) != 0) continue;
    const size_t end = i + name.size();
    if (end < s.size() && s[end] == U';') {
      length = end + 1 - at;
      return entity.code_point;
    }
    if (entity.without_semicolon) {
      length = end - at;
      return entity.code_point;
    }
  }
  return 0;
}

std::u32string html_unescape(const std::u32string& s) {
  std::u32string out;
  for (size_t i = 0; i < s.size();) {
    size_t length = 0;
    const char32_t c = html_entity(s, i, length);
    if (c) {
      out.push_back(c);
      i += length;
    } else {
      out.push_back(s[i++]);
    }
  }
  return out;
}

// ftfy.fix_text's repairs of ordinary text: control characters removed, Latin ligatures and
// full-width forms spelt out, curly quotes made straight.
std::u32string fix_text(const std::u32string& s) {
  std::u32string out;
  for (char32_t c : s) {
    if ((c <= 0x08) || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F || c == 0xFEFF) continue;
    switch (c) {
      case U'\uFB00': out += U"ff"; continue;
      case U'\uFB01': out += U"fi"; continue;
      case U'\uFB02': out += U"fl"; continue;
      case U'\uFB03': out += U"ffi"; continue;
      case U'\uFB04': out += U"ffl"; continue;
      case U'\uFB06': out += U"st"; continue;
      case U'\u0132': out += U"IJ"; continue;
      case U'\u0133': out += U"ij"; continue;
      case U'\u3000': out += U' '; continue;
      default: break;
    }
    if (c >= 0xFF01 && c <= 0xFF5E) c = c - 0xFF01 + 0x21;  // full-width ASCII
    if (c == 0x02BC || (c >= 0x2018 && c <= 0x201B)) c = U'\'';
    if (c >= 0x201C && c <= 0x201F) c = U'"';
    out.push_back(c);
  }
  return out;
}

std::string nfc(const std::string& utf8) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* normalizer = icu::Normalizer2::getNFCInstance(status);
  if (U_FAILURE(status)) throw Error(std::string("ICU has no NFC normaliser: ") + u_errorName(status));
  const auto text = icu::UnicodeString::fromUTF8(icu::StringPiece(utf8.data(), static_cast<int32_t>(utf8.size())));
  icu::UnicodeString normalised = normalizer->normalize(text, status);
  if (U_FAILURE(status)) throw Error(std::string("NFC normalisation failed: ") + u_errorName(status));
  std::string out;
  normalised.toUTF8String(out);
  return out;
}

std::u32string to_u32(std::string_view utf8) {
  const auto points = decode_utf8(utf8);
  return std::u32string(points.begin(), points.end());
}

std::string to_utf8(const std::u32string& s) { return encode_utf8(std::vector<char32_t>(s.begin(), s.end())); }

// Whether `text` at `at` starts with `literal` (ASCII).
bool starts_with(const std::u32string& text, size_t at, std::string_view literal) {
  if (text.size() - at < literal.size()) return false;
  for (size_t k = 0; k < literal.size(); ++k)
    if (text[at + k] != static_cast<char32_t>(literal[k])) return false;
  return true;
}

}  // namespace

std::string ClipBpe::clean(std::string_view text) {
  require_utf8(text);
  // basic_clean: ftfy.fix_text (NFC last), html.unescape twice.
  auto s = html_unescape(html_unescape(fix_text(to_u32(nfc(std::string(text))))));
  // whitespace_clean: runs of whitespace become one space, then strip.
  std::u32string collapsed;
  for (char32_t c : s) {
    if (is_space(c)) {
      if (!collapsed.empty() && collapsed.back() != U' ') collapsed.push_back(U' ');
    } else {
      collapsed.push_back(c);
    }
  }
  if (!collapsed.empty() && collapsed.back() == U' ') collapsed.pop_back();
  return lowercase(to_utf8(collapsed));
}

std::vector<std::string> ClipBpe::pre_split(std::string_view raw) {
  const std::u32string text = to_u32(clean(raw));
  std::vector<std::string> pieces;
  size_t i = 0;
  while (i < text.size()) {
    if (is_space(text[i])) {
      ++i;
      continue;
    }
    size_t end = i;
    for (const char* special : {kStart, kEnd})
      if (end == i && starts_with(text, i, special)) end = i + std::char_traits<char>::length(special);
    for (const char* contraction : {"'s", "'t", "'re", "'ve", "'m", "'ll", "'d"})
      if (end == i && starts_with(text, i, contraction)) end = i + std::char_traits<char>::length(contraction);
    if (end == i && is_letter(text[i]))
      while (end < text.size() && is_letter(text[end])) ++end;
    if (end == i && is_number(text[i])) end = i + 1;
    if (end == i)
      while (end < text.size() && !is_space(text[end]) && !is_letter(text[end]) && !is_number(text[end])) ++end;
    pieces.push_back(to_utf8(text.substr(i, end - i)));
    i = end;
  }
  return pieces;
}

ClipBpe ClipBpe::from_file(const std::string& path, int64_t merges) {
  const std::string content = read_maybe_gzip(path);
  const size_t bad = find_invalid_utf8(content);
  if (bad != std::string::npos) throw Error(path + ": invalid UTF-8 at byte " + std::to_string(bad) + " (not a CLIP merges file?)");
  std::vector<std::string> pairs;
  size_t start = 0;
  int64_t line = 0;
  while (start < content.size() && static_cast<int64_t>(pairs.size()) < merges) {
    size_t end = content.find('\n', start);
    if (end == std::string::npos) end = content.size();
    const std::string text = content.substr(start, end - start);
    start = end + 1;
    if (line++ == 0) continue;  // the version line
    const auto parts = split_whitespace(text);
    if (parts.size() != 2)
      throw Error(path + ":" + std::to_string(line) + ": not a merge (expected two symbols separated by a space): " + text.substr(0, 60));
    pairs.push_back(parts[0] + " " + parts[1]);
  }
  if (static_cast<int64_t>(pairs.size()) < merges)
    throw Error(path + " has " + std::to_string(pairs.size()) + " merges; CLIP's tokenizer needs " + std::to_string(merges));
  return ClipBpe(std::move(pairs));
}

ClipBpe::ClipBpe(std::vector<std::string> merges) : merges_(std::move(merges)) {
  const auto& bytes = alphabet();
  for (int b : bytes.byte_order) symbols_.push_back(encode_utf8(bytes.code_point[b]));
  for (int b : bytes.byte_order) symbols_.push_back(encode_utf8(bytes.code_point[b]) + kWordEnd);
  for (size_t rank = 0; rank < merges_.size(); ++rank) {
    const std::string& pair = merges_[rank];
    const size_t space = pair.find(' ');
    if (space == std::string::npos || space == 0 || space + 1 == pair.size() || pair.find(' ', space + 1) != std::string::npos)
      throw Error("CLIP merge " + std::to_string(rank + 1) + " is not two symbols: " + pair.substr(0, 60));
    ranks_.emplace(pair, static_cast<int64_t>(rank));
    symbols_.push_back(pair.substr(0, space) + pair.substr(space + 1));
  }
  symbols_.push_back(kStart);
  symbols_.push_back(kEnd);
  // A symbol listed twice maps to its last id, as the released encoder's dict(zip(vocab, ids)) does.
  for (size_t id = 0; id < symbols_.size(); ++id) ids_[symbols_[id]] = static_cast<int64_t>(id);
}

std::vector<std::string> ClipBpe::merge_piece(const std::string& piece) const {
  // word = (c_1, ..., c_{n-1}, c_n + "</w>")
  std::vector<std::string> word;
  for (char32_t c : decode_utf8(piece)) word.push_back(encode_utf8(c));
  word.back() += kWordEnd;
  while (word.size() > 1) {
    // The adjacent pair of the lowest rank; none ranked: done.
    int64_t best = std::numeric_limits<int64_t>::max();
    std::string first, second;
    for (size_t i = 0; i + 1 < word.size(); ++i) {
      const auto found = ranks_.find(word[i] + " " + word[i + 1]);
      if (found != ranks_.end() && found->second < best) best = found->second, first = word[i], second = word[i + 1];
    }
    if (best == std::numeric_limits<int64_t>::max()) break;
    // Merge every occurrence, left to right, without overlaps.
    std::vector<std::string> merged;
    for (size_t i = 0; i < word.size();) {
      if (i + 1 < word.size() && word[i] == first && word[i + 1] == second) {
        merged.push_back(first + second);
        i += 2;
      } else {
        merged.push_back(word[i++]);
      }
    }
    word = std::move(merged);
  }
  return word;
}

std::vector<int64_t> ClipBpe::encode(std::string_view text) const {
  const auto& bytes = alphabet();
  std::vector<int64_t> ids;
  for (const std::string& piece : pre_split(text)) {
    if (piece == kStart || piece == kEnd) {
      ids.push_back(piece == kStart ? start_token() : end_token());
      continue;
    }
    std::string in_alphabet;
    for (unsigned char b : piece) in_alphabet += encode_utf8(bytes.code_point[b]);
    for (const std::string& symbol : merge_piece(in_alphabet)) {
      const auto found = ids_.find(symbol);
      // Every byte and every merge's result is in the vocabulary; a merges list whose pairs name
      // symbols no earlier merge made could still leave one out.
      if (found == ids_.end()) throw Error("CLIP BPE symbol '" + symbol + "' is not in the vocabulary (inconsistent merges)");
      ids.push_back(found->second);
    }
  }
  return ids;
}

const std::string& ClipBpe::symbol(int64_t id) const {
  if (id < 0 || id >= vocab_size())
    throw Error("token id " + std::to_string(id) + " is outside CLIP's vocabulary of " + std::to_string(vocab_size()));
  return symbols_[static_cast<size_t>(id)];
}

std::string ClipBpe::decode(const std::vector<int64_t>& ids) const {
  const auto& bytes = alphabet();
  std::string raw;
  for (int64_t id : ids) {
    for (char32_t c : decode_utf8(symbol(id))) {
      const int b = c < 512 ? bytes.byte_of[c] : -1;
      if (b < 0) throw Error("CLIP symbol of token " + std::to_string(id) + " is outside the byte alphabet");
      raw.push_back(static_cast<char>(b));
    }
  }
  // </w> ends a word: a space.
  std::string spaced;
  for (size_t i = 0; i < raw.size();) {
    if (raw.compare(i, 4, kWordEnd) == 0) {
      spaced += ' ';
      i += 4;
    } else {
      spaced += raw[i++];
    }
  }
  // Bytes that are not UTF-8 become U+FFFD, as Python's decode(errors="replace") does per bad byte.
  std::string out;
  std::string_view rest(spaced);
  while (!rest.empty()) {
    const size_t bad = find_invalid_utf8(rest);
    if (bad == std::string::npos) {
      out += rest;
      break;
    }
    out += rest.substr(0, bad);
    out += "\xEF\xBF\xBD";
    rest.remove_prefix(bad + 1);
  }
  return out;
}

Json ClipBpe::to_json() const { return {{"kind", "clip_bpe"}, {"merges", merges_}}; }

ClipBpe ClipBpe::from_json(const Json& j) {
  // (the kind compared as JSON: .value("kind", "") would throw nlohmann's type_error on a
  // kind that is not a string, found by fuzz_clip_bpe)
  if (!j.is_object() || !j.contains("kind") || j.at("kind") != "clip_bpe" || !j.contains("merges") || !j.at("merges").is_array())
    throw Error("tokenizer is not CLIP's BPE (expected {\"kind\": \"clip_bpe\", \"merges\": [...]})");
  std::vector<std::string> merges;
  for (const auto& m : j.at("merges")) {
    if (!m.is_string()) throw Error("CLIP BPE merges must be strings");
    merges.push_back(m.get<std::string>());
  }
  return ClipBpe(std::move(merges));
}

std::string find_clip_merges_file(const std::string& given) {
  namespace fs = std::filesystem;
  const std::string name = "bpe_simple_vocab_16e6.txt.gz";
  if (!given.empty()) {
    if (!fs::is_regular_file(given)) throw UsageError("CLIP merges file not found: " + given);
    return given;
  }
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("ZOO_CLIP_BPE"); env && *env) candidates.push_back(env);
  if (const char* env = std::getenv("ZOO_SHARED_DATA"); env && *env) candidates.push_back((fs::path(env) / "clip" / name).string());
  candidates.push_back((fs::path("..") / "shared" / "data" / "clip" / name).string());
  for (const auto& path : candidates)
    if (fs::is_regular_file(path)) return path;
  throw UsageError("CLIP's merges file (" + name + ", from openai/CLIP) was not found: name it with --bpe FILE or $ZOO_CLIP_BPE");
}

}  // namespace zoo::text
