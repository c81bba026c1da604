// Corpus BLEU exactly as sacreBLEU 2.x computes it by default: detokenized text, the "13a"
// tokenizer (mteval-v13a.pl), n-grams 1-4 with clipped counts, precisions combined
// geometrically with "exp" smoothing, brevity penalty against the closest reference length.
//
//   BLEU = BP * exp( (1/4) * sum_{n=1..4} log p_n ),   BP = 1 if c >= r else exp(1 - r/c)
//
// where p_n are corpus-level clipped n-gram precisions, c the hypothesis and r the reference
// length in tokens. Scores are on sacreBLEU's 0-100 scale.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace zoo::text {

// sacreBLEU's tokenizer_13a: HTML entities unescaped, punctuation split off except inside
// numbers ("3.14", "1,000"), a dash split off after a digit; tokens joined by single spaces.
std::string tokenize_13a(std::string_view line);

// Sufficient statistics: they add over sentences, and the corpus score is computed from the sum.
struct BleuStats {
  int64_t hypothesis_length = 0, reference_length = 0;
  std::array<int64_t, 4> matches{}, totals{};
  BleuStats& operator+=(const BleuStats& other);
};

// One hypothesis against its references (all detokenized; each goes through tokenize_13a).
BleuStats sentence_stats(std::string_view hypothesis, const std::vector<std::string>& references);

struct BleuScore {
  double score = 0;                 // 0-100
  std::array<double, 4> precisions{};  // 0-100, after smoothing
  double brevity_penalty = 0;
  int64_t hypothesis_length = 0, reference_length = 0;
};

BleuScore bleu_from_stats(const BleuStats& stats);

// sacrebleu.corpus_bleu(hypotheses, references): references[k] is the k-th reference stream,
// aligned with `hypotheses` line by line.
BleuScore corpus_bleu(const std::vector<std::string>& hypotheses, const std::vector<std::vector<std::string>>& references);

}  // namespace zoo::text
