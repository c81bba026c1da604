// Choosing the next token from a language model's logits: greedy, temperature, top-k (Fan et
// al. 2018) and nucleus / top-p (Holtzman et al. 2020) sampling. Plain C++ on one row of
// logits, drawing from zoo's portable Rng, so a seed gives the same text on every machine.
#pragma once
#include <cstdint>
#include <vector>

#include "lib/core/random.h"

namespace zoo::nn {

struct SamplingOptions {
  double temperature = 1.0;  // 0: greedy (the most likely token)
  int64_t top_k = 0;         // keep the k most likely tokens (0: all)
  double top_p = 1.0;        // keep the fewest most likely tokens whose probability reaches p
};

// Throws UsageError naming the bad option (negative or NaN temperature, top_k < 0, top_p
// outside (0, 1]).
void check_sampling(const SamplingOptions& options);

// The probabilities sampling draws from: softmax(logits / T), restricted to the top-k and then
// to the nucleus, renormalised. Greedy (T = 0) puts all mass on the first maximal logit.
std::vector<double> sampling_distribution(const std::vector<float>& logits, const SamplingOptions& options);

// One token id drawn from sampling_distribution(logits, options).
int64_t sample_token(const std::vector<float>& logits, const SamplingOptions& options, Rng& rng);

}  // namespace zoo::nn
