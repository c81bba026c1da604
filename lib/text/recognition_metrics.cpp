#include "lib/text/recognition_metrics.h"

#include <algorithm>
#include <numeric>

#include "lib/text/utf8.h"

namespace zoo::text {

template <typename T>
int64_t edit_distance(const std::vector<T>& hypothesis, const std::vector<T>& reference) {
  // d[i][j]: the distance between the first i hypothesis and first j reference items, one row at
  // a time: d[i][j] = min(d[i-1][j] + 1, d[i][j-1] + 1, d[i-1][j-1] + [h_i != r_j]).
  std::vector<int64_t> row(reference.size() + 1);
  std::iota(row.begin(), row.end(), int64_t{0});
  for (size_t i = 1; i <= hypothesis.size(); ++i) {
    int64_t diagonal = row[0];
    row[0] = static_cast<int64_t>(i);
    for (size_t j = 1; j <= reference.size(); ++j) {
      const int64_t above = row[j];
      row[j] = std::min({above + 1, row[j - 1] + 1, diagonal + (hypothesis[i - 1] == reference[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row.back();
}

template int64_t edit_distance<char32_t>(const std::vector<char32_t>&, const std::vector<char32_t>&);
template int64_t edit_distance<std::string>(const std::vector<std::string>&, const std::vector<std::string>&);
template int64_t edit_distance<int64_t>(const std::vector<int64_t>&, const std::vector<int64_t>&);

void RecognitionTally::add(std::string_view hypothesis, std::string_view reference) {
  require_utf8(hypothesis);
  require_utf8(reference);
  const auto hyp_chars = decode_utf8(hypothesis), ref_chars = decode_utf8(reference);
  char_errors += edit_distance(hyp_chars, ref_chars);
  chars += static_cast<int64_t>(ref_chars.size());
  const auto hyp_words = split_whitespace(hypothesis), ref_words = split_whitespace(reference);
  word_errors += edit_distance(hyp_words, ref_words);
  words += static_cast<int64_t>(ref_words.size());
  exact += hypothesis == reference ? 1 : 0;
  ++lines;
}

RecognitionTally& RecognitionTally::operator+=(const RecognitionTally& other) {
  char_errors += other.char_errors, chars += other.chars;
  word_errors += other.word_errors, words += other.words;
  exact += other.exact, lines += other.lines;
  return *this;
}

double RecognitionTally::cer() const { return static_cast<double>(char_errors) / static_cast<double>(std::max<int64_t>(chars, 1)); }
double RecognitionTally::wer() const { return static_cast<double>(word_errors) / static_cast<double>(std::max<int64_t>(words, 1)); }
double RecognitionTally::exact_match() const { return lines ? static_cast<double>(exact) / static_cast<double>(lines) : 0.0; }

}  // namespace zoo::text
