#include "lib/text/bleu.h"

#include <cmath>
#include <cstdlib>
#include <unordered_map>

#include "lib/core/error.h"
#include "lib/text/utf8.h"

namespace zoo::text {

namespace {

// The characters 13a always splits off: { | } ~ [ \ ] ^ _ ` space ! " # $ % & ( ) * + : ; < = > ? @ /
bool is_split_symbol(char c) {
  const auto u = static_cast<unsigned char>(c);
  return (u >= 0x7B && u <= 0x7E) || (u >= 0x5B && u <= 0x60) || (u >= 0x20 && u <= 0x26) || (u >= 0x28 && u <= 0x2B) ||
         (u >= 0x3A && u <= 0x40) || u == 0x2F;
}

// Inserts spaces around every pair (a, b) with first(a) and second(b), scanning left to right
// without overlap as Python's re.sub does; `before` chooses " a b" over "a b ".
template <class First, class Second>
std::string space_pairs(const std::string& in, First first, Second second, bool before) {
  std::string out;
  for (size_t i = 0; i < in.size();) {
    if (i + 1 < in.size() && first(in[i]) && second(in[i + 1])) {
      if (before) out += ' ', out += in[i], out += ' ', out += in[i + 1];
      else out += in[i], out += ' ', out += in[i + 1], out += ' ';
      i += 2;
    } else {
      out += in[i++];
    }
  }
  return out;
}

// The regular expressions of 13a, applied in order. Working on bytes gives the same text as
// on code points: the patterns only ever match ASCII characters next to one arbitrary
// character, and the bytes of a multi-byte character are never ASCII.
std::string apply_13a_rules(const std::string& in) {
  // ([\{-\~\[-\` -\&\(-\+\:-\@\/]) -> " \1 "
  std::string split;
  for (char c : in) {
    if (is_split_symbol(c)) split += ' ', split += c, split += ' ';
    else split += c;
  }
  const auto digit = [](char c) { return c >= '0' && c <= '9'; };
  const auto not_digit = [&](char c) { return !digit(c); };
  const auto period_or_comma = [](char c) { return c == '.' || c == ','; };
  const auto dash = [](char c) { return c == '-'; };
  std::string out = space_pairs(split, not_digit, period_or_comma, false);  // ([^0-9])([\.,]) -> "\1 \2 "
  out = space_pairs(out, period_or_comma, not_digit, true);                 // ([\.,])([^0-9]) -> " \1 \2"
  return space_pairs(out, digit, dash, false);                              // ([0-9])(-) -> "\1 \2 "
}

// 13a's tokens of one line (tokenize_13a joins them).
std::vector<std::string> tokens_13a(std::string_view line) {
  std::string s(line);
  replace_all(s, "<skipped>", "");
  replace_all(s, "-\n", "");
  replace_all(s, "\n", " ");
  if (s.find('&') != std::string::npos) {
    replace_all(s, "&quot;", "\"");
    replace_all(s, "&amp;", "&");
    replace_all(s, "&lt;", "<");
    replace_all(s, "&gt;", ">");
  }
  return split_whitespace(apply_13a_rules(" " + s + " "));
}

// What BLEU counts: sacreBLEU strips trailing whitespace before tokenizing.
std::vector<std::string> bleu_tokens(std::string_view sentence) { return tokens_13a(rstrip_space(sentence)); }

// counts[n - 1] maps every n-gram (tokens joined by spaces) to its number of occurrences.
using NgramCounts = std::array<std::unordered_map<std::string, int64_t>, 4>;

NgramCounts count_ngrams(const std::vector<std::string>& tokens) {
  NgramCounts counts;
  for (size_t n = 1; n <= 4; ++n)
    for (size_t start = 0; start + n <= tokens.size(); ++start) {
      std::string key = tokens[start];
      for (size_t k = 1; k < n; ++k) key += ' ', key += tokens[start + k];
      ++counts[n - 1][key];
    }
  return counts;
}

// sacreBLEU's closest reference length: the smallest |c - r|, the shorter reference on a tie.
int64_t closest_reference_length(int64_t hypothesis_length, const std::vector<int64_t>& lengths) {
  int64_t best_diff = -1, best = -1;
  for (int64_t length : lengths) {
    const int64_t diff = std::llabs(hypothesis_length - length);
    if (best_diff == -1 || diff < best_diff) best_diff = diff, best = length;
    else if (diff == best_diff && length < best) best = length;
  }
  return best;
}

}  // namespace

std::string tokenize_13a(std::string_view line) {
  std::string joined;
  for (const auto& token : tokens_13a(line)) {
    if (!joined.empty()) joined += ' ';
    joined += token;
  }
  return joined;
}

BleuStats& BleuStats::operator+=(const BleuStats& other) {
  hypothesis_length += other.hypothesis_length;
  reference_length += other.reference_length;
  for (size_t n = 0; n < 4; ++n) matches[n] += other.matches[n], totals[n] += other.totals[n];
  return *this;
}

BleuStats sentence_stats(std::string_view hypothesis, const std::vector<std::string>& references) {
  if (references.empty()) throw UsageError("BLEU needs at least one reference per hypothesis");
  const auto hypothesis_tokens = bleu_tokens(hypothesis);
  // A hypothesis n-gram counts at most as often as it occurs in any single reference.
  NgramCounts max_reference_counts;
  std::vector<int64_t> reference_lengths;
  for (const auto& reference : references) {
    const auto tokens = bleu_tokens(reference);
    reference_lengths.push_back(static_cast<int64_t>(tokens.size()));
    const auto counts = count_ngrams(tokens);
    for (size_t n = 0; n < 4; ++n)
      for (const auto& [ngram, count] : counts[n]) {
        auto& best = max_reference_counts[n][ngram];
        best = std::max(best, count);
      }
  }
  BleuStats stats;
  stats.hypothesis_length = static_cast<int64_t>(hypothesis_tokens.size());
  stats.reference_length = closest_reference_length(stats.hypothesis_length, reference_lengths);
  const auto hypothesis_counts = count_ngrams(hypothesis_tokens);
  for (size_t n = 0; n < 4; ++n) {
    stats.totals[n] = std::max<int64_t>(0, stats.hypothesis_length - static_cast<int64_t>(n));
    for (const auto& [ngram, count] : hypothesis_counts[n]) {
      const auto found = max_reference_counts[n].find(ngram);
      if (found != max_reference_counts[n].end()) stats.matches[n] += std::min(count, found->second);
    }
  }
  return stats;
}

BleuScore bleu_from_stats(const BleuStats& stats) {
  BleuScore out;
  out.hypothesis_length = stats.hypothesis_length;
  out.reference_length = stats.reference_length;
  const double c = static_cast<double>(stats.hypothesis_length), r = static_cast<double>(stats.reference_length);
  // BP = 1 if c >= r else exp(1 - r/c); nothing produced scores 0.
  out.brevity_penalty = c >= r ? 1.0 : (c > 0 ? std::exp(1.0 - r / c) : 0.0);
  // p_n = matches_n / totals_n; sacreBLEU's "exp" smoothing replaces the k-th zero precision
  // by 1 / (2^k * totals_n). An order with no n-grams at all stays 0, and so does the score.
  double smoothing = 1.0;
  for (size_t n = 0; n < 4; ++n) {
    if (stats.totals[n] == 0) break;
    if (stats.matches[n] == 0) {
      smoothing *= 2.0;
      out.precisions[n] = 100.0 / (smoothing * static_cast<double>(stats.totals[n]));
    } else {
      out.precisions[n] = 100.0 * static_cast<double>(stats.matches[n]) / static_cast<double>(stats.totals[n]);
    }
  }
  double log_sum = 0;
  for (double p : out.precisions) {
    if (p <= 0) return out;  // sacreBLEU's my_log(0) = -9999999999: the score is 0
    log_sum += std::log(p);
  }
  out.score = out.brevity_penalty * std::exp(log_sum / 4.0);
  return out;
}

BleuScore corpus_bleu(const std::vector<std::string>& hypotheses, const std::vector<std::vector<std::string>>& references) {
  if (references.empty()) throw UsageError("BLEU needs at least one reference stream");
  for (const auto& stream : references)
    if (stream.size() != hypotheses.size())
      throw UsageError("BLEU: " + std::to_string(hypotheses.size()) + " hypotheses but a reference stream of " +
                       std::to_string(stream.size()) + " lines");
  BleuStats total;
  std::vector<std::string> refs(references.size());
  for (size_t i = 0; i < hypotheses.size(); ++i) {
    for (size_t k = 0; k < references.size(); ++k) refs[k] = references[k][i];
    total += sentence_stats(hypotheses[i], refs);
  }
  return bleu_from_stats(total);
}

}  // namespace zoo::text
