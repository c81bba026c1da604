// Parallel text for translation: the formats of CLI.md (PREFIX.SRC / PREFIX.TGT files, plain or
// .gz; a folder of train.* / val.* / test*.* such files; a TSV of source<TAB>target lines) and the
// built-in synth:dates, the same date in many human spellings paired with its ISO form.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace zoo::data {

struct SentencePairs {
  std::vector<std::string> source, target;
  std::vector<std::string> origin;  // per pair: "FILE:LINE" (or "synth:dates#i"), for messages
  int64_t skipped_empty = 0;        // pairs dropped because one side was empty
  int64_t size() const { return static_cast<int64_t>(source.size()); }
};

// Every line of a UTF-8 text file, plain or gzip-compressed (by content, not by name), without
// line terminators ("\n" or "\r\n"). Errors name the file, and for bad UTF-8 the line.
std::vector<std::string> read_text_lines(const std::string& path);

// Aligned lines of two files; a different line count is an error naming both files.
SentencePairs read_parallel_files(const std::string& source_path, const std::string& target_path);

// source<TAB>target lines; a line without exactly one tab is an error naming FILE:LINE.
SentencePairs read_tsv(const std::string& path);

// The pairs of `split` ("train", "val", "test", or the exact name of a file set in a folder such
// as "test_2016_flickr") of `data`:
//  - a folder holding SPLIT.SRC[.gz] and SPLIT.TGT[.gz] ("val" also finds valid.* / dev.*,
//    "test" the first test*.* in name order);
//  - PREFIX with PREFIX.SRC[.gz] / PREFIX.TGT[.gz], or a TSV file: one corpus, whose last
//    `val_fraction` is held out as "val" (and "test");
//  - synth:dates (n training pairs; val and test are n/4, at least 64, from other seeds).
// `src`/`tgt` are the language suffixes ("de", "en"); empty only for TSV and synth data.
SentencePairs load_pairs(const std::string& data, const std::string& split, const std::string& src,
                         const std::string& tgt, double val_fraction, int64_t synth_size, uint64_t seed);

// n dates between 1900 and 2099, each written in one of many human formats ("3 March 2021",
// "03/03/21", "Wednesday, March 3rd 2021", ...) with the ISO form "2021-03-03" as its target.
// Deterministic for a seed.
SentencePairs synth_dates(int64_t n, uint64_t seed);

// Writes pairs as PREFIX.SRC and PREFIX.TGT, one sentence per line.
void write_parallel_files(const SentencePairs& pairs, const std::string& prefix, const std::string& src, const std::string& tgt);

}  // namespace zoo::data
