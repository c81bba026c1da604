// Batched greedy and beam search over any autoregressive decoder that exposes one step:
// tokens (N) and a state (tensors whose first dimension is N) in, log-probabilities (N, V), the
// next state and optionally attention weights (N, S) out. Shared by the RNN and Transformer
// translators and the captioners.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <vector>

namespace zoo::nn {

struct DecodeStep {
  torch::Tensor log_probs;           // (N, V)
  std::vector<torch::Tensor> state;  // each (N, ...)
  torch::Tensor attention;           // (N, S), or undefined
};
// A step returns each state tensor it leaves unchanged as the very tensor it was given (beam
// search then does not reorder it) and never writes into a state tensor it was given.
using StepFunction = std::function<DecodeStep(const torch::Tensor& tokens, const std::vector<torch::Tensor>& state)>;

struct SearchOptions {
  int64_t beam = 1;
  // Beam hypotheses are ranked by log P / length^length_penalty (length counts <eos>; 0 ranks
  // by log P alone, 1 by the mean log-probability per token, fairseq's lenpen).
  double length_penalty = 1.0;
  // At most floor(max_len_ratio * source length) + max_len_extra tokens, <eos> included.
  double max_len_ratio = 2.0;
  int64_t max_len_extra = 10;
  int64_t bos = 2, eos = 3;
};

struct Hypothesis {
  std::vector<int64_t> tokens;  // without <bos> and <eos>
  double log_prob = 0;          // sum of the tokens' log-probabilities, <eos> included when emitted
  double score = 0;             // what the beam ranked by
  torch::Tensor attention;      // (tokens + 1, S): one row per emitted token and <eos>; undefined without attention
};

// One hypothesis per source sentence, in order. `state` holds the batch's initial state (B rows);
// `source_lengths` (B) bound the output length.
std::vector<Hypothesis> greedy_search(const StepFunction& step, std::vector<torch::Tensor> state,
                                      const std::vector<int64_t>& source_lengths, const SearchOptions& options);
std::vector<Hypothesis> beam_search(const StepFunction& step, std::vector<torch::Tensor> state,
                                    const std::vector<int64_t>& source_lengths, const SearchOptions& options);
// greedy_search for beam 1, beam_search otherwise.
std::vector<Hypothesis> search(const StepFunction& step, std::vector<torch::Tensor> state,
                               const std::vector<int64_t>& source_lengths, const SearchOptions& options);

}  // namespace zoo::nn
