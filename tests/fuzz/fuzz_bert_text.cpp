// Fuzz target: what text_classify and mlm read besides plays and vocab.txt files. The first byte
// picks the reader, the rest is its input: 0, a text<TAB>label TSV (data/line_labels.h's
// parse_tab_pairs with the label required: each entry's text and label non-empty, without tab or
// line break, valid UTF-8, written back one per line parsing to the same entries); otherwise a
// checkpoint's tokenizer record as JSON (lib/text/wordpiece_vocab.h: accepted, it must travel
// back through JSON unchanged). Anything else a zoo::Error.
#include <string_view>

#include "data/line_labels.h"
#include "lib/text/utf8.h"
#include "lib/text/wordpiece_vocab.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace zoo;
  if (size == 0) return 0;
  const std::string_view content(reinterpret_cast<const char*>(data) + 1, size - 1);
  fuzz::expect_only_zoo_errors([&] {
    if (data[0] == 0) {
      const data::TabColumns columns{"text", "label", true};
      const auto pairs = data::parse_tab_pairs(content, "texts.tsv", columns);
      std::string written;
      for (const auto& p : pairs) {
        if (p.first.empty() || p.second.empty()) __builtin_trap();
        if ((p.first + p.second).find_first_of("\t\n") != std::string::npos) __builtin_trap();
        if (text::find_invalid_utf8(p.first + p.second) != std::string_view::npos) __builtin_trap();
        written += p.first + "\t" + p.second + "\n";
      }
      const auto again = data::parse_tab_pairs(written, "written.tsv", columns);
      if (again.size() != pairs.size()) __builtin_trap();
      for (size_t i = 0; i < pairs.size(); ++i)
        if (again[i].first != pairs[i].first || again[i].second != pairs[i].second) __builtin_trap();
      return;
    }
    const Json record = Json::parse(content, nullptr, /*allow_exceptions=*/false);
    if (record.is_discarded()) return;
    const auto tokenizer = text::wordpiece_from_json(record);
    const auto back = text::wordpiece_from_json(text::wordpiece_to_json(tokenizer));
    if (back.pieces() != tokenizer.pieces() || back.lowercases() != tokenizer.lowercases()) __builtin_trap();
    if (tokenizer.piece(0) != "[PAD]") __builtin_trap();
  });
  return 0;
}
