// UTF-8 decoding and encoding, and the Unicode whitespace that Python's str.split() splits on.
// Text tasks read untrusted files: invalid bytes are reported with their offset, never guessed at.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace zoo::text {

// Offset of the first byte that is not part of well-formed UTF-8 (overlong forms, surrogates
// and code points above U+10FFFF included), or std::string::npos when `s` is valid.
size_t find_invalid_utf8(std::string_view s);

// Throws zoo::Error naming the byte offset of the first malformed byte, if any.
void require_utf8(std::string_view s);

// The code points of `s`; throws zoo::Error naming the byte offset when `s` is not valid UTF-8.
std::vector<char32_t> decode_utf8(std::string_view s);

std::string encode_utf8(char32_t code_point);
std::string encode_utf8(const std::vector<char32_t>& code_points);

// Python's str.isspace(): ASCII whitespace, U+001C-U+001F, U+0085, U+00A0, U+1680,
// U+2000-U+200A, U+2028, U+2029, U+202F, U+205F and U+3000.
bool is_space(char32_t c);

// Python's str.split() with no argument: runs of is_space() separate words; none are empty.
std::vector<std::string> split_whitespace(std::string_view s);

// The next line of `rest` (up to a line feed, or the end), without its "\n" or "\r\n", taken off
// `rest`; false when `rest` is empty. How the line-based file readers walk a file's content.
bool next_line(std::string_view& rest, std::string_view& line);

// Python's str.replace(from, to) in place: every occurrence of `from`, left to right, none overlapping.
void replace_all(std::string& s, std::string_view from, std::string_view to);

// Python's str.rstrip() with no argument: `s` without its trailing is_space() characters.
std::string_view rstrip_space(std::string_view s);

}  // namespace zoo::text
