// Fuzz target: the language-model text reader and its train/val split (data/text_corpus.h) on
// arbitrary bytes, at a held-out fraction taken from the first byte. Checks that the two parts
// together hold the corpus's characters exactly once.
#include "data/text_corpus.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace zoo;
  if (size == 0) return 0;
  const double fraction = (data[0] + 1) / 257.0;  // (0, 1)
  const std::string path = fuzz::write_scratch("corpus.txt", data + 1, size - 1);
  fuzz::expect_only_zoo_errors([&] {
    const auto corpus = data::read_text_corpus(path);
    const auto train = data::split_corpus(corpus, "train", fraction, path);
    const auto val = data::split_corpus(corpus, "val", fraction, path);
    // A cut inside a line counts that line's break once, in val.
    const int64_t shared_line = train.lines.size() + val.lines.size() > corpus.lines.size() ? 1 : 0;
    if (train.characters() + val.characters() - shared_line != corpus.characters()) __builtin_trap();
    if (train.lines.size() != train.origins.size() || val.lines.size() != val.origins.size()) __builtin_trap();
  });
  return 0;
}
