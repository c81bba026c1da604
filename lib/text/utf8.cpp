#include "lib/text/utf8.h"

#include "lib/core/error.h"

namespace zoo::text {

namespace {

// Decodes the code point starting at s[i]; returns its length in bytes, 0 if malformed.
size_t decode_one(std::string_view s, size_t i, char32_t* out) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char lead = byte(i);
  if (lead < 0x80) {
    *out = lead;
    return 1;
  }
  size_t length;
  char32_t value, minimum;
  if ((lead & 0xE0) == 0xC0) length = 2, value = lead & 0x1F, minimum = 0x80;
  else if ((lead & 0xF0) == 0xE0) length = 3, value = lead & 0x0F, minimum = 0x800;
  else if ((lead & 0xF8) == 0xF0) length = 4, value = lead & 0x07, minimum = 0x10000;
  else return 0;  // a continuation byte or 0xF8-0xFF where a character should start
  if (i + length > s.size()) return 0;
  for (size_t k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    value = (value << 6) | (byte(i + k) & 0x3F);
  }
  // Overlong encodings, UTF-16 surrogates and values past Unicode are not UTF-8.
  if (value < minimum || (value >= 0xD800 && value <= 0xDFFF) || value > 0x10FFFF) return 0;
  *out = value;
  return length;
}

// decode_one for text already known or allowed to be malformed: a bad byte reads as U+FFFD
// and is stepped over alone, so callers keep every byte and never stall.
size_t decode_lenient(std::string_view s, size_t i, char32_t* out) {
  const size_t n = decode_one(s, i, out);
  if (n > 0) return n;
  *out = 0xFFFD;
  return 1;
}

[[noreturn]] void throw_invalid_utf8(size_t offset) { throw Error("invalid UTF-8 at byte " + std::to_string(offset)); }

}  // namespace

void require_utf8(std::string_view s) {
  const size_t bad = find_invalid_utf8(s);
  if (bad != std::string::npos) throw_invalid_utf8(bad);
}

size_t find_invalid_utf8(std::string_view s) {
  char32_t c;
  for (size_t i = 0; i < s.size();) {
    const size_t n = decode_one(s, i, &c);
    if (n == 0) return i;
    i += n;
  }
  return std::string::npos;
}

std::vector<char32_t> decode_utf8(std::string_view s) {
  std::vector<char32_t> out;
  out.reserve(s.size());
  char32_t c;
  for (size_t i = 0; i < s.size();) {
    const size_t n = decode_one(s, i, &c);
    if (n == 0) throw_invalid_utf8(i);
    out.push_back(c);
    i += n;
  }
  return out;
}

std::string encode_utf8(char32_t c) {
  std::string out;
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
  return out;
}

std::string encode_utf8(const std::vector<char32_t>& code_points) {
  std::string out;
  for (char32_t c : code_points) out += encode_utf8(c);
  return out;
}

bool is_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

std::vector<std::string> split_whitespace(std::string_view s) {
  std::vector<std::string> words;
  std::string word;
  char32_t c;
  for (size_t i = 0; i < s.size();) {
    const size_t n = decode_lenient(s, i, &c);  // a stray byte stays inside its word
    if (is_space(c)) {
      if (!word.empty()) words.push_back(std::move(word)), word.clear();
    } else {
      word.append(s.substr(i, n));
    }
    i += n;
  }
  if (!word.empty()) words.push_back(std::move(word));
  return words;
}

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
}

std::string_view rstrip_space(std::string_view s) {
  size_t end = 0;  // one past the last byte that is not whitespace
  char32_t c;
  for (size_t i = 0; i < s.size();) {
    i += decode_lenient(s, i, &c);
    if (!is_space(c)) end = i;
  }
  return s.substr(0, end);
}

bool next_line(std::string_view& rest, std::string_view& line) {
  if (rest.empty()) return false;
  const size_t end = rest.find('\n');
  line = rest.substr(0, end);
  rest.remove_prefix(end == std::string_view::npos ? rest.size() : end + 1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return true;
}

}  // namespace zoo::text
