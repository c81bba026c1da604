// A play as tiny-shakespeare writes it, read for `--data speakers:FILE` (text classification:
// "who speaks this line"): speeches separated by blank lines, each headed by its speaker's name
// and a colon on a line of its own ("First Citizen:"), then the lines spoken. Parsed without
// LibTorch, so that its fuzz target (tests/fuzz/fuzz_play_speeches.cpp) builds on it alone.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace zoo::data {

struct SpokenLine {
  std::string speaker;  // as in the heading, without the colon
  std::string text;     // the line as written (CRLF's carriage return dropped)
  int64_t line = 0;     // 1-based, in the file
  int64_t speech = 0;   // which speech, counting from 0, so lines of one speech stay together
};

// Every line of every speech. A block of lines whose first line is not a heading (a name of at
// most 60 characters ending in ":", with no other colon) is not a speech and is skipped, as is a
// heading with nothing after it. Errors naming `source`:LINE for a line that is not UTF-8, and for
// a file with no speech at all.
std::vector<SpokenLine> parse_play(std::string_view content, const std::string& source);

// The `count` speakers with the most lines, most first (ties: by name).
std::vector<std::string> top_speakers(const std::vector<SpokenLine>& lines, size_t count);

}  // namespace zoo::data
