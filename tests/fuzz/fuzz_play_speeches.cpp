// Fuzz target: the input as a play for --data speakers:FILE (data/play_speeches.h). Every line
// read must belong to a speaker named by a heading (non-empty, no colon, no line break), be valid
// UTF-8 without a line break, with line numbers and speech indices that never go back; the top
// speakers must be distinct speakers of those lines; anything else a zoo::Error.
#include <set>
#include <string_view>

#include "data/play_speeches.h"
#include "lib/text/utf8.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace zoo;
  const std::string_view content(reinterpret_cast<const char*>(data), size);
  fuzz::expect_only_zoo_errors([&] {
    const auto lines = data::parse_play(content, "play.txt");
    int64_t line = 0, speech = 0;
    std::set<std::string> speakers;
    for (const auto& l : lines) {
      if (l.speaker.empty() || l.speaker.find_first_of(":\n") != std::string::npos) __builtin_trap();
      if (l.text.find('\n') != std::string::npos || text::find_invalid_utf8(l.text + l.speaker) != std::string_view::npos) __builtin_trap();
      if (l.line <= line || l.speech < speech) __builtin_trap();
      line = l.line, speech = l.speech;
      speakers.insert(l.speaker);
    }
    const auto top = data::top_speakers(lines, 10);
    if (top.size() != std::min<size_t>(10, speakers.size()) || std::set<std::string>(top.begin(), top.end()).size() != top.size()) __builtin_trap();
    for (const auto& s : top)
      if (!speakers.count(s)) __builtin_trap();
  });
  return 0;
}
