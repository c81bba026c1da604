#include "data/mlm_masking.h"

#include <algorithm>
#include <cmath>

#include "lib/core/error.h"

namespace zoo::data {

MaskedSequence mask_pieces(const std::vector<int64_t>& ids, const std::vector<bool>& maskable, const std::vector<bool>& continues_word, int64_t mask_id,
                           int64_t vocab_size, const MaskingOptions& options, std::mt19937_64& rng) {
  if (maskable.size() != ids.size() || continues_word.size() != ids.size()) throw Error("mask_pieces: ids, maskable and continues_word differ in length");
  MaskedSequence out{ids, std::vector<int64_t>(ids.size(), -1)};
  // Candidates: single pieces, or with whole-word masking each word's run of pieces.
  std::vector<std::vector<size_t>> candidates;
  int64_t maskable_count = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (!maskable[i]) continue;
    ++maskable_count;
    if (options.whole_word && continues_word[i] && !candidates.empty() && candidates.back().back() + 1 == i) candidates.back().push_back(i);
    else candidates.push_back({i});
  }
  if (candidates.empty()) return out;
  // num_to_predict = max(1, round(n * p)), Google's rule (without its per-sequence cap).
  const auto wanted = std::max<int64_t>(1, std::llround(static_cast<double>(maskable_count) * options.probability));
  std::shuffle(candidates.begin(), candidates.end(), rng);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  std::uniform_int_distribution<int64_t> random_piece(0, vocab_size - 1);
  int64_t chosen = 0;
  for (const auto& word : candidates) {
    if (chosen >= wanted) break;
    if (chosen + static_cast<int64_t>(word.size()) > wanted) continue;  // a whole word that would overshoot
    for (size_t i : word) {
      out.labels[i] = ids[i];
      // 80% [MASK], 10% a random piece, 10% unchanged
      const double u = uniform(rng);
      if (u < options.to_mask) out.input[i] = mask_id;
      else if (u < options.to_mask + options.to_random) out.input[i] = random_piece(rng);
      ++chosen;
    }
  }
  return out;
}

}  // namespace zoo::data
