#include "lib/nn/sampling.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "lib/core/error.h"
#include "lib/core/options.h"

namespace zoo::nn {

void check_sampling(const SamplingOptions& o) {
  if (!(o.temperature >= 0) || !std::isfinite(o.temperature))
    throw UsageError("invalid --temperature " + format_value(o.temperature) + ": expected 0 (greedy) or a positive number");
  if (o.top_k < 0) throw UsageError("invalid --top-k " + std::to_string(o.top_k) + ": expected 0 (off) or a positive count");
  if (!(o.top_p > 0 && o.top_p <= 1)) throw UsageError("invalid --top-p " + format_value(o.top_p) + ": expected a number in (0, 1]");
}

std::vector<double> sampling_distribution(const std::vector<float>& logits, const SamplingOptions& o) {
  const size_t n = logits.size();
  std::vector<double> p(n, 0.0);
  if (n == 0) return p;
  if (o.temperature == 0) {
    p[static_cast<size_t>(std::max_element(logits.begin(), logits.end()) - logits.begin())] = 1.0;
    return p;
  }
  // Tokens by decreasing logit (ties: lower id first), the candidates top-k keeps.
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return logits[a] > logits[b]; });
  const size_t k = o.top_k > 0 ? std::min(n, static_cast<size_t>(o.top_k)) : n;
  // p_i = exp(z_i / T) / sum_j exp(z_j / T), over the kept candidates (shifted by the maximum).
  const double top = logits[order[0]];
  double sum = 0;
  for (size_t r = 0; r < k; ++r) sum += p[order[r]] = std::exp((logits[order[r]] - top) / o.temperature);
  // The nucleus: the shortest prefix whose mass reaches top_p (at least one token).
  double mass = 0;
  size_t kept = 0;
  while (kept < k && (kept == 0 || mass < o.top_p * sum)) mass += p[order[kept++]];
  for (size_t r = kept; r < n; ++r) p[order[r]] = 0;
  for (size_t r = 0; r < kept; ++r) p[order[r]] /= mass;
  return p;
}

int64_t sample_token(const std::vector<float>& logits, const SamplingOptions& o, Rng& rng) {
  const auto p = sampling_distribution(logits, o);
  double u = rng.uniform(), cumulative = 0;
  int64_t last = -1;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] <= 0) continue;
    last = static_cast<int64_t>(i);
    cumulative += p[i];
    if (u < cumulative) return last;
  }
  return last;  // rounding left u just above the total
}

}  // namespace zoo::nn
