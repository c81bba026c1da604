// Fuzz target: the translation-pairs readers (data/text_pairs.h) on arbitrary bytes: one text
// file (plain, or gzip by content), a TSV file, and two parallel files split at the first 0x00.
#include "data/text_pairs.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace zoo;
  const std::string lines = fuzz::write_scratch("lines.txt", data, size);
  fuzz::expect_only_zoo_errors([&] { data::read_text_lines(lines); });
  fuzz::expect_only_zoo_errors([&] { data::read_tsv(lines); });
  size_t split = 0;
  while (split < size && data[split] != 0) ++split;
  const std::string source = fuzz::write_scratch("pairs.src", data, split);
  const std::string target = fuzz::write_scratch("pairs.tgt", data + std::min(size, split + 1), size - std::min(size, split + 1));
  fuzz::expect_only_zoo_errors([&] {
    auto pairs = data::read_parallel_files(source, target);
    if (pairs.source.size() != pairs.target.size() || pairs.source.size() != pairs.origin.size()) __builtin_trap();
  });
  return 0;
}
