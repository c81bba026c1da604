// BERT's masked-language-model corruption (Devlin et al. 2018, section 3.1 and appendix A.1, as
// Google's create_pretraining_data.py does it): of a sequence's maskable pieces, round(15%) (at
// least one) are chosen to be predicted, in a random order; each chosen piece becomes [MASK] 80%
// of the time, a random piece of the vocabulary 10%, and stays itself 10% (so the model cannot
// tell which inputs to trust). With whole-word masking (the later released models), the pieces of
// a word ("un ##want ##ed") are chosen together, and a word that would overshoot the count is
// skipped.
#pragma once
#include <cstdint>
#include <random>
#include <vector>

namespace zoo::data {

struct MaskingOptions {
  double probability = 0.15;  // the share of maskable pieces to predict
  double to_mask = 0.8, to_random = 0.1;  // of those: [MASK], a random piece; the rest stay
  bool whole_word = false;
};

struct MaskedSequence {
  std::vector<int64_t> input;   // the corrupted sequence
  std::vector<int64_t> labels;  // the original piece where one is to be predicted, -1 elsewhere
};

// `ids`: a sequence; `maskable[i]`: false for [CLS], [SEP] and padding; `continues_word[i]`: piece
// i is a "##" continuation; `mask_id` and a vocabulary of `vocab_size` pieces for the random ones.
MaskedSequence mask_pieces(const std::vector<int64_t>& ids, const std::vector<bool>& maskable, const std::vector<bool>& continues_word, int64_t mask_id,
                           int64_t vocab_size, const MaskingOptions& options, std::mt19937_64& rng);

}  // namespace zoo::data
