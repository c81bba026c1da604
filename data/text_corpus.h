// Plain text for language models (CLI.md: "a UTF-8 text file (or a folder of them); train/val
// split by --val-fraction, taken from the end") and the built-in synth:additions corpus, whose
// learning can be checked exactly: lines "a+b=c" where a model's completion of "a+b=" is right
// or wrong.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace zoo::data {

struct TextCorpus {
  std::vector<std::string> lines;  // without line terminators
  struct Origin {
    int32_t file = 0;
    int64_t line = 0;  // 1-based
  };
  std::vector<Origin> origins;     // per line
  std::vector<std::string> files;  // what Origin::file indexes
  std::string origin(size_t line) const;  // "FILE:LINE"
  int64_t characters() const;             // code points, one per line break included
};

// A UTF-8 text file (plain or gzip), or every regular file under a folder in name order (hidden
// files skipped). Errors name the file and, for bad UTF-8, the line; an empty corpus is an error.
TextCorpus read_text_corpus(const std::string& path);

// The last `val_fraction` of the characters as "val", the rest as "train": the cut moves forward
// to the next line start, or falls inside the last line when there is none (a one-line corpus).
// Either part empty is an error naming `name`.
TextCorpus split_corpus(const TextCorpus& corpus, const std::string& split, double val_fraction, const std::string& name);

// n lines "a+b=c" with a and b drawn uniformly from [0, 10^digits); deterministic for a seed.
TextCorpus synth_additions(int64_t n, int digits, uint64_t seed);

// The corpus of `split` ("train", "val", "test") of `data`: a file or folder (val and test: the
// held-out tail), or synth:additions (n training lines; val and test n/4, at least 64, from
// other seeds).
TextCorpus load_text(const std::string& data, const std::string& split, double val_fraction, int64_t synth_size, uint64_t seed);

}  // namespace zoo::data
