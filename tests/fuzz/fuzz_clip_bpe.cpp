// Fuzz target: CLIP's tokenizer (lib/text/clip_bpe.h) — the input as a merges file (a version
// line, then "left right" pairs), read for its first 64 merges, then as text encoded with those
// merges and decoded back, and as the merges list of a checkpoint's tokenizer record.
#include "lib/text/clip_bpe.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace zoo;
  const std::string path = fuzz::write_scratch("merges.txt", data, size);
  const std::string text(reinterpret_cast<const char*>(data), size);
  fuzz::expect_only_zoo_errors([&] {
    const auto bpe = text::ClipBpe::from_file(path, 64);
    const auto ids = bpe.encode(text);
    for (auto id : ids)
      if (id < 0 || id >= bpe.vocab_size()) __builtin_trap();
    bpe.decode(ids);
  });
  // A fixed handful of merges on the input as text: every id in range, decode never fails.
  fuzz::expect_only_zoo_errors([&] {
    static const text::ClipBpe bpe({"t h", "th e</w>", "a n", "i n", "o n</w>", "e r"});
    const auto ids = bpe.encode(text);
    for (auto id : ids)
      if (id < 0 || id >= bpe.vocab_size()) __builtin_trap();
    bpe.decode(ids);
    bpe.decode({-1});
  });
  fuzz::expect_only_zoo_errors([&] {
    const Json doc = Json::parse(text, nullptr, /*allow_exceptions=*/false);
    text::ClipBpe::from_json(doc).encode("a photo of a dog.");
  });
  return 0;
}
