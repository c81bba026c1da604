// Fuzz target: what a checkpoint's vocabulary and tokenizer records turn into (Vocab::from_json,
// tokenizer_from_json), then tokenizing and detokenizing text with what came out. The input is
// a JSON document {"vocab": ..., "tokenizer": ..., "text": ...}, or anything else.
#include "lib/text/tokenizer.h"
#include "lib/text/vocab.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace zoo;
  const Json doc = Json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return 0;
  const std::string text = doc.contains("text") && doc.at("text").is_string() ? doc.at("text").get<std::string>() : "Ein Haus, zwei Katzen.";
  if (doc.contains("vocab"))
    fuzz::expect_only_zoo_errors([&] {
      auto vocab = text::Vocab::from_json(doc.at("vocab"));
      auto ids = vocab.encode({"a", "<unk>", text});
      for (auto id : ids)
        if (id < 0 || id >= vocab.size()) __builtin_trap();
      vocab.decode(ids);
      vocab.decode({-1, vocab.size(), 0});
    });
  if (doc.contains("tokenizer"))
    fuzz::expect_only_zoo_errors([&] {
      auto tokenizer = text::tokenizer_from_json(doc.at("tokenizer"));
      tokenizer->detokenize(tokenizer->tokenize(text));
    });
  return 0;
}
