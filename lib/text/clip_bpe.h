// CLIP's tokenizer (Radford et al. 2021, "Learning Transferable Visual Models From Natural
// Language Supervision"; openai/CLIP's simple_tokenizer): byte-level BPE over lower-cased,
// cleaned text, with the released merges file. Its ids are the released tokenizer's, so the
// released text encoders read them:
//   - clean: NFC, curly quotes made straight, Latin ligatures and full-width forms spelt out
//     (the parts of ftfy.fix_text that change ordinary text; its mojibake repair is not done),
//     HTML entities unescaped twice, runs of whitespace made one space, trimmed, lower-cased;
//   - pre-split with CLIP's pattern, in order at each position: <|startoftext|>, <|endoftext|>,
//     the contractions 's 't 're 've 'm 'll 'd, a run of letters (\p{L}+), one number character
//     (\p{N}), a run of anything else but whitespace;
//   - each piece's UTF-8 bytes as GPT-2's printable byte alphabet, the last marked with </w>,
//     merged pair by pair, lowest-ranked pair first, until no ranked pair is left.
// The vocabulary: the 256 byte symbols, the same with </w>, one symbol per merge (48,894 of the
// file's merges), then <|startoftext|> 49406 and <|endoftext|> 49407.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "lib/core/options.h"

namespace zoo::text {

class ClipBpe {
 public:
  static constexpr int64_t kMerges = 48894;  // what CLIP uses of the file: vocabulary 49,408
  static constexpr int64_t kContext = 77;    // the released text encoders' context

  // From a merges file as released (bpe_simple_vocab_16e6.txt.gz, gzip or plain): a version
  // line, then one "left right" pair per line, best first. Error naming the file and line when
  // it is not one, or has fewer than `merges` pairs.
  static ClipBpe from_file(const std::string& path, int64_t merges = kMerges);
  // From the pairs themselves, "left right" each.
  explicit ClipBpe(std::vector<std::string> merges);

  // Token ids of `text`, without the start and end tokens. Error on invalid UTF-8.
  std::vector<int64_t> encode(std::string_view text) const;
  // Text of token ids (</w> as a space, bytes that are not UTF-8 as U+FFFD); Error on an id
  // outside the vocabulary.
  std::string decode(const std::vector<int64_t>& ids) const;
  // The pieces of `text` the pre-split makes, after cleaning, as UTF-8 (for tests and messages).
  static std::vector<std::string> pre_split(std::string_view text);
  // CLIP's cleaning (above), lower-cased.
  static std::string clean(std::string_view text);

  int64_t vocab_size() const { return static_cast<int64_t>(symbols_.size()); }
  int64_t start_token() const { return vocab_size() - 2; }
  int64_t end_token() const { return vocab_size() - 1; }
  const std::string& symbol(int64_t id) const;  // in the byte alphabet, as the released encoder's keys

  // {"kind": "clip_bpe", "merges": [...]}: travels in a checkpoint, so no file is needed later.
  Json to_json() const;
  static ClipBpe from_json(const Json& j);

 private:
  // BPE of one pre-split piece in the byte alphabet: its symbols after every ranked merge.
  std::vector<std::string> merge_piece(const std::string& piece) const;
  std::vector<std::string> merges_;
  std::unordered_map<std::string, int64_t> ranks_;  // "left right" -> rank
  std::vector<std::string> symbols_;
  std::unordered_map<std::string, int64_t> ids_;
};

// The merges file to read: `given` when not empty, else $ZOO_CLIP_BPE, else
// $ZOO_SHARED_DATA/clip/bpe_simple_vocab_16e6.txt.gz, else ../shared/data/clip/ of the working
// folder; UsageError saying how to name one when none exists.
std::string find_clip_merges_file(const std::string& given);

}  // namespace zoo::text
