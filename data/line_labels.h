// labels.tsv, the transcripts of a folder of text-line images (--task ocr): parsed without
// LibTorch, so that its fuzz target (tests/fuzz/fuzz_line_labels.cpp) builds on it alone.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace zoo::data {

// One line of a labels.tsv: an image file (relative to the folder, or absolute) and its text.
struct LineLabel {
  std::string file;
  std::string text;
  int64_t line = 0;  // 1-based, for messages
};

// The entries of a labels.tsv's content: one `file<TAB>text` per line, UTF-8, the text exactly as
// written after the tab (spaces kept). A byte-order mark and CRLF line ends are accepted, blank
// lines skipped. Error naming `source`:LINE for a line without a tab, with a second tab, with an
// empty file name, not UTF-8, holding a control character (a NUL, a stray carriage return) or
// starting with a byte-order mark (only the file's first line may); and for a file that holds no
// entry.
std::vector<LineLabel> parse_line_labels(std::string_view content, const std::string& source);

}  // namespace zoo::data
