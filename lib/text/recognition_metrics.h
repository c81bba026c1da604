// The metrics of text recognition, computed as jiwer and the OCR literature compute them:
//   CER = (substitutions + deletions + insertions) / reference characters
//   WER = the same over words,
// each the Levenshtein distance between hypothesis and reference, summed over the corpus before
// dividing (not an average of per-line rates); characters are Unicode code points and words what
// Python's str.split() makes of a line (jiwer's default). Exact match: the share of lines read without a single error.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace zoo::text {

// The fewest substitutions, deletions and insertions that turn `hypothesis` into `reference`.
template <typename T>
int64_t edit_distance(const std::vector<T>& hypothesis, const std::vector<T>& reference);

// Sums that add over lines; the rates come from the sums.
struct RecognitionTally {
  int64_t char_errors = 0, chars = 0;  // edit distance over code points, reference code points
  int64_t word_errors = 0, words = 0;  // the same over words
  int64_t exact = 0, lines = 0;        // lines equal to their reference, lines
  // One hypothesis against its reference (UTF-8; Error when either is not).
  void add(std::string_view hypothesis, std::string_view reference);
  RecognitionTally& operator+=(const RecognitionTally& other);
  // Errors per reference character / word; an empty reference counts its hypothesis's length as
  // errors over one unit (so reading nothing where nothing is written is 0, anything else > 0).
  double cer() const;
  double wer() const;
  double exact_match() const;  // 0 without lines
};

}  // namespace zoo::text
