#include "data/play_speeches.h"

#include <algorithm>
#include <map>

#include "lib/core/error.h"
#include "lib/text/utf8.h"

namespace zoo::data {

namespace {

bool blank(std::string_view line) { return std::all_of(line.begin(), line.end(), [](char c) { return c == ' ' || c == '\t'; }); }

// "First Citizen:" -> "First Citizen"; "" when the line is not a speaker's heading.
std::string heading(std::string_view line) {
  while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
  if (line.size() < 2 || line.size() > 61 || line.back() != ':') return "";
  line.remove_suffix(1);
  if (line.find(':') != std::string_view::npos || blank(line)) return "";
  return std::string(line);
}

}  // namespace

std::vector<SpokenLine> parse_play(std::string_view content, const std::string& source) {
  if (content.substr(0, 3) == "\xEF\xBB\xBF") content.remove_prefix(3);
  std::vector<SpokenLine> lines;
  std::string speaker;     // the current speech's, "" outside a speech
  bool block_start = true;  // the next non-blank line opens a block
  int64_t number = 0, speeches = 0;
  bool spoke = false;  // whether the current speech has a line yet
  for (std::string_view line; text::next_line(content, line);) {
    ++number;
    if (const size_t bad = text::find_invalid_utf8(line); bad != std::string_view::npos)
      throw Error(source + ":" + std::to_string(number) + ": not UTF-8 (byte " + std::to_string(bad + 1) + " of the line)");
    if (blank(line)) {
      if (spoke) ++speeches;
      speaker.clear(), block_start = true, spoke = false;
      continue;
    }
    if (block_start) {
      speaker = heading(line);  // "" for a block that is not a speech
      block_start = false;
      continue;
    }
    if (speaker.empty()) continue;
    lines.push_back({speaker, std::string(line), number, speeches});
    spoke = true;
  }
  if (lines.empty()) throw Error(source + " holds no speech (expected blocks of a \"NAME:\" line and the lines spoken, separated by blank lines)");
  return lines;
}

std::vector<std::string> top_speakers(const std::vector<SpokenLine>& lines, size_t count) {
  std::map<std::string, int64_t> spoken;
  for (const auto& l : lines) ++spoken[l.speaker];
  std::vector<std::pair<std::string, int64_t>> ranked(spoken.begin(), spoken.end());
  std::stable_sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) { return a.second > b.second; });  // names already sorted
  std::vector<std::string> top;
  for (size_t i = 0; i < std::min(count, ranked.size()); ++i) top.push_back(ranked[i].first);
  return top;
}

}  // namespace zoo::data
