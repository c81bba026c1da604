// Fuzz target: the input as an OCR folder's labels.tsv (data/line_labels.h). Accepted entries
// must hold a non-empty file name, no tab or line break, valid UTF-8 and increasing line numbers,
// and written back one per line they must parse to the same entries; anything else a zoo::Error.
#include <string_view>

#include "data/line_labels.h"
#include "lib/text/utf8.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace zoo;
  const std::string_view content(reinterpret_cast<const char*>(data), size);
  fuzz::expect_only_zoo_errors([&] {
    const auto labels = data::parse_line_labels(content, "labels.tsv");
    std::string written;
    int64_t previous = 0;
    for (const auto& label : labels) {
      if (label.file.empty() || label.line <= previous) __builtin_trap();
      if ((label.file + label.text).find_first_of("\t\n") != std::string::npos) __builtin_trap();
      if (text::find_invalid_utf8(label.file + label.text) != std::string_view::npos) __builtin_trap();
      previous = label.line;
      written += label.file + "\t" + label.text + "\n";
    }
    const auto again = data::parse_line_labels(written, "written.tsv");
    if (again.size() != labels.size()) __builtin_trap();
    for (size_t i = 0; i < labels.size(); ++i)
      if (again[i].file != labels[i].file || again[i].text != labels[i].text) __builtin_trap();
  });
  return 0;
}
