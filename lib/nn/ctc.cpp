#include "lib/nn/ctc.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "lib/core/error.h"

namespace zoo::nn {

namespace {

constexpr double kLogZero = -std::numeric_limits<double>::infinity();

// log(e^a + e^b) without overflow; log 0 is -inf.
double log_add(double a, double b) {
  if (a == kLogZero) return b;
  if (b == kLogZero) return a;
  const double high = std::max(a, b);
  return high + std::log1p(std::exp(std::min(a, b) - high));
}

// log_probs (T, C) as doubles on the CPU, checked against `length` and `blank`.
torch::Tensor one_example(const torch::Tensor& log_probs, int64_t length, int64_t blank) {
  if (log_probs.dim() != 2) throw Error("CTC decoding takes one example's log-probabilities (T, C), got " + std::to_string(log_probs.dim()) + " dimensions");
  if (length < 0 || length > log_probs.size(0)) throw Error("CTC decoding: length " + std::to_string(length) + " outside 0.." + std::to_string(log_probs.size(0)));
  if (blank < 0 || blank >= log_probs.size(1)) throw Error("CTC decoding: blank " + std::to_string(blank) + " is not one of the " + std::to_string(log_probs.size(1)) + " labels");
  return log_probs.detach().to(torch::kCPU, torch::kFloat64).contiguous();
}

}  // namespace

torch::Tensor ctc_loss(const torch::Tensor& log_probs, const torch::Tensor& targets, const torch::Tensor& input_lengths,
                       const torch::Tensor& target_lengths, int64_t blank, bool zero_infinity) {
  // -log p(y|x), the forward variable alpha_t(s) over the target with blanks between and around
  // its labels (2S + 1 states) summed at the last position; its gradient from alpha and beta.
  return torch::ctc_loss(log_probs, targets.to(torch::kLong), input_lengths.to(torch::kLong), target_lengths.to(torch::kLong), blank,
                         at::Reduction::None, zero_infinity);
}

std::vector<int64_t> ctc_collapse(const std::vector<int64_t>& alignment, int64_t blank) {
  std::vector<int64_t> labels;
  int64_t previous = -1;
  for (int64_t label : alignment) {
    if (label != previous && label != blank) labels.push_back(label);
    previous = label;
  }
  return labels;
}

std::vector<int64_t> ctc_best_path(const torch::Tensor& log_probs, int64_t length, int64_t blank) {
  const auto lp = one_example(log_probs, length, blank);
  const auto a = lp.accessor<double, 2>();
  std::vector<int64_t> alignment(static_cast<size_t>(length));
  for (int64_t t = 0; t < length; ++t) {
    int64_t best = 0;
    for (int64_t c = 1; c < lp.size(1); ++c)
      if (a[t][c] > a[t][best]) best = c;  // the first of equals, as argmax
    alignment[static_cast<size_t>(t)] = best;
  }
  return ctc_collapse(alignment, blank);
}

std::vector<CtcHypothesis> ctc_prefix_beam_search(const torch::Tensor& log_probs, int64_t length, int64_t beam, int64_t blank) {
  if (beam < 1) throw UsageError("the CTC beam must hold at least one prefix, got " + std::to_string(beam));
  const auto lp = one_example(log_probs, length, blank);
  const auto a = lp.accessor<double, 2>();
  const int64_t labels = lp.size(1);
  // A prefix's alignments so far: log-probability of those ending in a blank, and in its last label.
  struct Paths {
    double blank = kLogZero, label = kLogZero;
    double total() const { return log_add(blank, label); }
  };
  using Prefix = std::vector<int64_t>;
  std::vector<std::pair<Prefix, Paths>> kept{{Prefix{}, Paths{0.0, kLogZero}}};
  for (int64_t t = 0; t < length; ++t) {
    std::map<Prefix, Paths> next;
    for (const auto& [prefix, paths] : kept) {
      // A blank: the prefix stays, now ending in a blank.
      auto& same = next[prefix];
      same.blank = log_add(same.blank, paths.total() + a[t][blank]);
      const int64_t last = prefix.empty() ? -1 : prefix.back();
      for (int64_t c = 0; c < labels; ++c) {
        if (c == blank) continue;
        Prefix extended = prefix;
        extended.push_back(c);
        if (c == last) {
          // The last label again: merged into it after the label, a new copy only after a blank.
          same.label = log_add(same.label, paths.label + a[t][c]);
          auto& copy = next[extended];
          copy.label = log_add(copy.label, paths.blank + a[t][c]);
        } else {
          auto& grown = next[extended];
          grown.label = log_add(grown.label, paths.total() + a[t][c]);
        }
      }
    }
    // Prefixes no alignment reaches yet (a repeat with no blank before it) are dropped.
    std::vector<std::pair<Prefix, Paths>> ranked;
    for (auto& entry : next)
      if (entry.second.total() != kLogZero) ranked.push_back(std::move(entry));
    // The most probable first; among equals the map's (lexicographic) order, so that runs agree.
    std::stable_sort(ranked.begin(), ranked.end(), [](const auto& x, const auto& y) { return x.second.total() > y.second.total(); });
    if (static_cast<int64_t>(ranked.size()) > beam) ranked.resize(static_cast<size_t>(beam));
    kept = std::move(ranked);
  }
  std::vector<CtcHypothesis> hypotheses;
  for (const auto& [prefix, paths] : kept) hypotheses.push_back({prefix, paths.total()});
  return hypotheses;
}

}  // namespace zoo::nn
