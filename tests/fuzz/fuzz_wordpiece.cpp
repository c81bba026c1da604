// Fuzz target: BERT's vocab.txt and WordPiece tokenizer (lib/text/wordpiece.h). The input up to its
// first NUL byte is a vocab.txt, the rest a text to tokenize with it (uncased when the text's
// first byte is odd). A vocabulary that parses must hold its specials where it says, the text's
// ids must lie in it and decode; anything else a zoo::Error.
#include <string_view>

#include "lib/text/wordpiece.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace zoo;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  const std::string_view vocab_txt = input.substr(0, nul);
  const std::string_view text = nul == std::string_view::npos ? std::string_view() : input.substr(nul + 1);
  fuzz::expect_only_zoo_errors([&] {
    const bool lowercase = !text.empty() && (static_cast<unsigned char>(text[0]) & 1);
    const auto vocab = text::WordPieceTokenizer::parse(vocab_txt, "vocab.txt", lowercase);
    if (vocab.piece(vocab.pad()) != "[PAD]" || vocab.piece(vocab.unk()) != "[UNK]" || vocab.piece(vocab.mask()) != "[MASK]") __builtin_trap();
    const auto ids = vocab.encode(text);
    for (int64_t id : ids)
      if (id < 0 || id >= vocab.size()) __builtin_trap();
    (void)vocab.decode(ids);
  });
  return 0;
}
