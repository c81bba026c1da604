#include "data/line_labels.h"

#include <algorithm>
#include <cstdio>

#include "lib/core/error.h"
#include "lib/text/utf8.h"

namespace zoo::data {

std::vector<TabPair> parse_tab_pairs(std::string_view content, const std::string& source, const TabColumns& columns) {
  const std::string format = columns.first + "<TAB>" + columns.second;
  if (content.substr(0, 3) == "\xEF\xBB\xBF") content.remove_prefix(3);  // a byte-order mark
  std::vector<TabPair> pairs;
  int64_t number = 0;
  for (std::string_view line; text::next_line(content, line);) {
    ++number;
    const std::string where = source + ":" + std::to_string(number);
    if (std::all_of(line.begin(), line.end(), [](char c) { return c == ' ' || c == '\t' || c == '\r'; })) continue;  // blank
    if (const size_t bad = text::find_invalid_utf8(line); bad != std::string_view::npos)
      throw Error(where + ": not UTF-8 (byte " + std::to_string(bad + 1) + " of the line)");
    // Control characters (a NUL, a stray carriage return) belong in neither a file name nor a
    // transcript; the tab is the separator.
    for (const char c : line)
      if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7F) {
        char code[8];
        std::snprintf(code, sizeof code, "%02X", static_cast<unsigned>(static_cast<unsigned char>(c)));
        throw Error(where + ": holds a control character (U+00" + code + ")");
      }
    // A byte-order mark belongs at the start of the file only; one further down (files
    // concatenated) would become part of a file name.
    if (line.substr(0, 3) == "\xEF\xBB\xBF") throw Error(where + ": a byte-order mark inside the file (were two files joined?)");
    const size_t tab = line.find('\t');
    if (tab == std::string_view::npos) throw Error(where + ": expected " + format + ", found no tab");
    if (line.find('\t', tab + 1) != std::string_view::npos) throw Error(where + ": more than one tab (expected " + format + ")");
    if (tab == 0) throw Error(where + ": the " + columns.first + " before the tab is empty");
    if (columns.second_required && tab + 1 == line.size()) throw Error(where + ": the " + columns.second + " after the tab is empty");
    pairs.push_back({std::string(line.substr(0, tab)), std::string(line.substr(tab + 1)), number});
  }
  if (pairs.empty()) throw Error(source + " holds no line (expected " + format + " per line)");
  return pairs;
}

std::vector<LineLabel> parse_line_labels(std::string_view content, const std::string& source) {
  std::vector<LineLabel> labels;
  for (auto& pair : parse_tab_pairs(content, source, TabColumns{"file", "text", false}))
    labels.push_back({std::move(pair.first), std::move(pair.second), pair.line});
  return labels;
}

}  // namespace zoo::data
