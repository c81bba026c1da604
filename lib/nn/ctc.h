// Connectionist Temporal Classification (Graves et al., 2006), the seeds' "predecessor of soft
// attention": a network emits, at each of T input positions, a distribution over the C labels
// plus a blank; an alignment a = (a_1..a_T) collapses to a labelling B(a) by merging repeats and
// dropping blanks, and
//   p(y | x) = sum over a with B(a) = y of prod_t p(a_t | x)
// is summed by dynamic programming over the monotone alignments (the forward-backward algorithm),
// a hard attention whose marginal has an exact gradient. The loss is LibTorch's ctc_loss; the
// decoders read the per-position log-probabilities back as a labelling.
#pragma once
#include <torch/torch.h>

#include <vector>

namespace zoo::nn {

// -log p(y_b | x_b) per example (B), from log_probs (T, B, C) (log-softmax over C, blank at
// `blank`), padded targets (B, S) of label ids (never the blank), and the lengths of each input
// (B) and target (B). An impossible alignment (a target longer than its input allows: T_b <
// S_b + its repeats) gives +inf, or 0 and no gradient with zero_infinity.
torch::Tensor ctc_loss(const torch::Tensor& log_probs, const torch::Tensor& targets, const torch::Tensor& input_lengths,
                       const torch::Tensor& target_lengths, int64_t blank = 0, bool zero_infinity = false);

// B: merges repeated labels, then drops blanks: (1, 1, 0, 1, 2, 2) -> (1, 1, 2) with blank 0.
std::vector<int64_t> ctc_collapse(const std::vector<int64_t>& alignment, int64_t blank = 0);

// Best path (greedy) decoding of one example: the most probable label at each of the first
// `length` positions of log_probs (T, C), collapsed. Not always the most probable labelling
// (which sums over its alignments), but the usual decoder and the fastest.
std::vector<int64_t> ctc_best_path(const torch::Tensor& log_probs, int64_t length, int64_t blank = 0);

struct CtcHypothesis {
  std::vector<int64_t> labels;
  double log_prob = 0;  // log p(labels | x), summed over the alignments the search kept
};

// Prefix beam search of one example (Graves 2008; Hannun et al. 2014, without a language model):
// after each position, the `beam` most probable label prefixes, each with the probability of its
// alignments so far split into those ending in a blank and those ending in its last label (so that
// a repeated label needs a blank between its copies). Returns the final prefixes, most probable
// first. With a beam as large as the number of labellings it finds the most probable labelling;
// beam 1 equals best path when every position is confident (its top label above 0.9: then
// the one prefix kept is the one best path builds).
std::vector<CtcHypothesis> ctc_prefix_beam_search(const torch::Tensor& log_probs, int64_t length, int64_t beam, int64_t blank = 0);

}  // namespace zoo::nn
