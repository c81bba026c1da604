// Two-column tab-separated files: labels.tsv, the transcripts of a folder of text-line images
// (--task ocr, file<TAB>text), and the text<TAB>label files of text classification. Parsed
// without LibTorch, so that its fuzz target (tests/fuzz/fuzz_line_labels.cpp) builds on it alone.
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

// One line of a two-column file: what stands before the tab and after it.
struct TabPair {
  std::string first, second;
  int64_t line = 0;  // 1-based, for messages
};

// What the columns are called in messages, and whether the second may be empty.
struct TabColumns {
  std::string first = "file", second = "text";
  bool second_required = false;
};

// The entries of a two-column file's content: one `first<TAB>second` per line, UTF-8, the second
// column exactly as written after the tab (spaces kept). A byte-order mark and CRLF line ends are
// accepted, blank lines skipped. Error naming `source`:LINE for a line without a tab, with a second
// tab, with an empty first column (or second, when required), not UTF-8, holding a control
// character (a NUL, a stray carriage return) or starting with a byte-order mark (only the file's
// first line may); and for a file that holds no entry.
std::vector<TabPair> parse_tab_pairs(std::string_view content, const std::string& source, const TabColumns& columns);

// The entries of a labels.tsv's content (parse_tab_pairs with file and text): one `file<TAB>text` per line, UTF-8, the text exactly as
// written after the tab (spaces kept). A byte-order mark and CRLF line ends are accepted, blank
// lines skipped. Error naming `source`:LINE for a line without a tab, with a second tab, with an
// empty file name, not UTF-8, holding a control character (a NUL, a stray carriage return) or
// starting with a byte-order mark (only the file's first line may); and for a file that holds no
// entry.
std::vector<LineLabel> parse_line_labels(std::string_view content, const std::string& source);

}  // namespace zoo::data
