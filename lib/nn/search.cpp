#include "lib/nn/search.h"

#include <cmath>
#include <limits>

#include "lib/core/error.h"

namespace zoo::nn {

namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

int64_t max_length(int64_t source_length, const SearchOptions& o) {
  return std::max<int64_t>(1, static_cast<int64_t>(std::floor(o.max_len_ratio * static_cast<double>(source_length))) + o.max_len_extra);
}

torch::Tensor stack_rows(const std::vector<torch::Tensor>& rows) {
  return rows.empty() ? torch::Tensor() : torch::stack(rows);
}

void check(const SearchOptions& o) {
  if (o.beam < 1) throw UsageError("invalid --beam " + std::to_string(o.beam) + ": expected 1 or more");
  if (!(o.max_len_ratio > 0) || o.max_len_extra < 0) throw UsageError("invalid maximum length: expected a positive ratio");
}

}  // namespace

std::vector<Hypothesis> greedy_search(const StepFunction& step, std::vector<torch::Tensor> state,
                                      const std::vector<int64_t>& source_lengths, const SearchOptions& options) {
  check(options);
  const auto batch = static_cast<int64_t>(source_lengths.size());
  std::vector<int64_t> limits(batch);
  int64_t longest = 0;
  for (int64_t b = 0; b < batch; ++b) longest = std::max(longest, limits[b] = max_length(source_lengths[b], options));
  const auto device = state.at(0).device();
  std::vector<Hypothesis> out(batch);
  std::vector<std::vector<torch::Tensor>> attention(batch);
  std::vector<bool> done(batch, false);
  auto tokens = torch::full({batch}, options.bos, torch::TensorOptions().dtype(torch::kInt64).device(device));
  for (int64_t t = 0; t < longest; ++t) {
    DecodeStep result = step(tokens, state);
    state = std::move(result.state);
    auto [best, index] = result.log_probs.max(1);
    auto best_cpu = best.to(torch::kCPU, torch::kFloat64), index_cpu = index.to(torch::kCPU);
    auto eos_cpu = result.log_probs.select(1, options.eos).to(torch::kCPU, torch::kFloat64);
    auto attn_cpu = result.attention.defined() ? result.attention.to(torch::kCPU, torch::kFloat32) : torch::Tensor();
    bool all_done = true;
    for (int64_t b = 0; b < batch; ++b) {
      if (done[b]) continue;
      // At the last allowed step the sentence must end, as in beam_search.
      const bool last = t + 1 >= limits[b];
      const int64_t token = last ? options.eos : index_cpu[b].item<int64_t>();
      out[b].log_prob += last ? eos_cpu[b].item<double>() : best_cpu[b].item<double>();
      if (attn_cpu.defined()) attention[b].push_back(attn_cpu[b]);
      if (token == options.eos) done[b] = true;
      else out[b].tokens.push_back(token);
      all_done = all_done && done[b];
    }
    if (all_done) break;
    tokens = index;
  }
  for (int64_t b = 0; b < batch; ++b) {
    const double length = static_cast<double>(out[b].tokens.size() + 1);  // <eos> included
    out[b].score = out[b].log_prob / std::pow(length, options.length_penalty);
    out[b].attention = stack_rows(attention[b]);
  }
  return out;
}

std::vector<Hypothesis> beam_search(const StepFunction& step, std::vector<torch::Tensor> state,
                                    const std::vector<int64_t>& source_lengths, const SearchOptions& options) {
  check(options);
  const int64_t batch = static_cast<int64_t>(source_lengths.size()), k = options.beam;
  const auto device = state.at(0).device();
  // Every sentence's state repeated for its k beams: row b * k + j is beam j of sentence b.
  auto repeat = torch::arange(batch, torch::TensorOptions().dtype(torch::kInt64).device(device)).repeat_interleave(k);
  for (auto& s : state) s = s.index_select(0, repeat);

  struct Beam {
    std::vector<int64_t> tokens;
    std::vector<torch::Tensor> attention;
    double log_prob = 0;
  };
  std::vector<Beam> beams(batch * k);
  std::vector<std::vector<Hypothesis>> finished(batch);
  std::vector<int64_t> limits(batch);
  int64_t longest = 0;
  for (int64_t b = 0; b < batch; ++b) longest = std::max(longest, limits[b] = max_length(source_lengths[b], options));
  std::vector<bool> done(batch, false);
  // Only beam 0 is alive at the start, so the first step does not pick k copies of one token.
  std::vector<double> scores(batch * k, kNegInf);
  for (int64_t b = 0; b < batch; ++b) scores[b * k] = 0;
  auto tokens = torch::full({batch * k}, options.bos, torch::TensorOptions().dtype(torch::kInt64).device(device));

  auto finalize = [&](int64_t b, const Beam& beam, double log_prob, const torch::Tensor& last_attention, bool with_eos) {
    Hypothesis h;
    h.tokens = beam.tokens;
    h.log_prob = log_prob;
    auto rows = beam.attention;
    if (last_attention.defined()) rows.push_back(last_attention);
    h.attention = stack_rows(rows);
    const double length = static_cast<double>(beam.tokens.size() + (with_eos ? 1 : 0));
    h.score = log_prob / std::pow(std::max(1.0, length), options.length_penalty);
    finished[b].push_back(std::move(h));
  };

  for (int64_t t = 0; t < longest; ++t) {
    DecodeStep result = step(tokens, state);
    auto log_probs = result.log_probs.to(torch::kFloat32);  // (B*k, V)
    const int64_t vocab = log_probs.size(1);
    // At a sentence's last allowed step every beam must end: only <eos> stays possible.
    std::vector<int64_t> last_rows;
    for (int64_t b = 0; b < batch; ++b)
      if (!done[b] && t + 1 >= limits[b])
        for (int64_t j = 0; j < k; ++j) last_rows.push_back(b * k + j);
    if (!last_rows.empty()) {
      auto rows = torch::tensor(last_rows, torch::TensorOptions().dtype(torch::kInt64).device(device));
      auto forced = torch::full({static_cast<int64_t>(last_rows.size()), vocab}, -std::numeric_limits<float>::infinity(), log_probs.options());
      forced.select(1, options.eos).copy_(log_probs.index_select(0, rows).select(1, options.eos));
      log_probs = log_probs.index_copy(0, rows, forced);
    }
    auto prior = torch::tensor(scores, torch::TensorOptions().dtype(torch::kFloat32)).to(device).view({batch * k, 1});
    auto candidates = (log_probs + prior).view({batch, k * vocab});
    // 2k candidates: even if k of them end in <eos>, k can continue.
    auto [values, indices] = candidates.topk(std::min<int64_t>(2 * k, k * vocab), 1);
    auto values_cpu = values.to(torch::kCPU, torch::kFloat64).contiguous(), indices_cpu = indices.to(torch::kCPU).contiguous();
    const auto values_at = values_cpu.accessor<double, 2>();
    const auto indices_at = indices_cpu.accessor<int64_t, 2>();
    auto attn_cpu = result.attention.defined() ? result.attention.to(torch::kCPU, torch::kFloat32) : torch::Tensor();

    std::vector<int64_t> source_rows(batch * k), next_tokens(batch * k, options.eos);
    std::vector<double> next_scores(batch * k, kNegInf);
    std::vector<Beam> next_beams(batch * k);
    bool all_done = true;
    for (int64_t b = 0; b < batch; ++b) {
      for (int64_t j = 0; j < k; ++j) source_rows[b * k + j] = b * k;  // placeholders for finished sentences
      if (done[b]) continue;
      int64_t kept = 0;
      for (int64_t r = 0; r < values_cpu.size(1) && kept < k; ++r) {
        const double value = values_at[b][r];
        if (value == kNegInf) break;
        const int64_t flat = indices_at[b][r], j = flat / vocab, token = flat % vocab;
        const int64_t row = b * k + j;
        const torch::Tensor attn = attn_cpu.defined() ? attn_cpu[row] : torch::Tensor();
        if (token == options.eos) {
          // fairseq's rule: an <eos> counts only among the k best candidates.
          if (r < k) finalize(b, beams[row], value, attn, true);
          continue;
        }
        Beam next = beams[row];
        next.tokens.push_back(token);
        if (attn.defined()) next.attention.push_back(attn);
        next.log_prob = value;
        source_rows[b * k + kept] = row;
        next_tokens[b * k + kept] = token;
        next_scores[b * k + kept] = value;
        next_beams[b * k + kept] = std::move(next);
        ++kept;
      }
      if (static_cast<int64_t>(finished[b].size()) >= k || t + 1 >= limits[b] || kept == 0) done[b] = true;
      all_done = all_done && done[b];
    }
    if (all_done) break;
    beams = std::move(next_beams);
    scores = next_scores;
    auto order = torch::tensor(source_rows, torch::TensorOptions().dtype(torch::kInt64)).to(device);
    // A beam continues a beam of its own sentence, so a state the step passed through unchanged
    // (the encoder's keys and values, the source padding) holds the same rows for all of a
    // sentence's beams, as repeated at the start: reordering it would copy it to itself.
    for (size_t i = 0; i < result.state.size(); ++i)
      if (i >= state.size() || !result.state[i].is_same(state[i])) result.state[i] = result.state[i].index_select(0, order);
    state = std::move(result.state);
    tokens = torch::tensor(next_tokens, torch::TensorOptions().dtype(torch::kInt64)).to(device);
  }

  std::vector<Hypothesis> out(batch);
  for (int64_t b = 0; b < batch; ++b) {
    if (finished[b].empty()) continue;  // cannot happen: the last step forces <eos>
    out[b] = *std::max_element(finished[b].begin(), finished[b].end(),
                               [](const Hypothesis& x, const Hypothesis& y) { return x.score < y.score; });
  }
  return out;
}

std::vector<Hypothesis> search(const StepFunction& step, std::vector<torch::Tensor> state, const std::vector<int64_t>& source_lengths,
                               const SearchOptions& options) {
  return options.beam == 1 ? greedy_search(step, std::move(state), source_lengths, options)
                           : beam_search(step, std::move(state), source_lengths, options);
}

}  // namespace zoo::nn
