#include "lib/text/bleu.h"

#include <cmath>
#include <cstdlib>
#include <unordered_map>

#include "lib/core/error.h"
#include "lib/text/utf8.h"

namespace zoo::text {

namespace {

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// The characters 13a always splits off: { | } ~ [ \ ] ^ _ ` space ! " # $ % & ( ) * + : ; < = > ? @ /
bool is_split_symbol(char c) {
  const auto u = static_cast<unsigned char>(c);
  return (u >= 0x7B && u <= 0x7E) || (u >= 0x5B && u <= 0x60) || (u >= 0x20 && u <= 0x26) || (u >= 0x28 && u <= 0x2B) ||
         (u >= 0x3A && u <= 0x40) || u == 0x2F;
}

// The regular expressions of 13a, applied in order with re.sub's left-to-right,
// non-overlapping matching. Working on bytes gives the same text as on code points: the
// patterns only ever match ASCII characters next to one arbitrary character, and the bytes
// of a multi-byte character are never ASCII.
std::string apply_13a_rules(const std::string& in) {
  std::string a;
  // ([\{-\~\[-\` -\&\(-\+\:-\@\/]) -> " \1 "
  for (char c : in) {
    if (is_split_symbol(c)) a += ' ', a += c, a += ' ';
    else a += c;
  }
  std::string b;
  // ([^0-9])([\.,]) -> "\1 \2 "
  for (size_t i = 0; i < a.size();) {
    if (i + 1 < a.size() && !is_digit(a[i]) && (a[i + 1] == '.' || a[i + 1] == ',')) {
      b += a[i], b += ' ', b += a[i + 1], b += ' ';
      i += 2;
    } else {
      b += a[i++];
    }
  }
  std::string c;
  // ([\.,])([^0-9]) -> " \1 \2"
  for (size_t i = 0; i < b.size();) {
    if (i + 1 < b.size() && (b[i] == '.' || b[i] == ',') && !is_digit(b[i + 1])) {
      c += ' ', c += b[i], c += ' ', c += b[i + 1];
      i += 2;
    } else {
      c += b[i++];
    }
  }
  std::string d;
  // ([0-9])(-) -> "\1 \2 "
  for (size_t i = 0; i < c.size();) {
    if (i + 1 < c.size() && is_digit(c[i]) && c[i + 1] == '-') {
      d += c[i], d += ' ', d += '-', d += ' ';
      i += 2;
    } else {
      d += c[i++];
    }
  }
  return d;
}

std::vector<std::string> bleu_tokens(std::string_view sentence) { return split_whitespace(tokenize_13a(rstrip_space(sentence))); }

using NgramCounts = std::unordered_map<std::string, int64_t>;

// Every n-gram of orders 1-4, keyed by its tokens joined with spaces.
NgramCounts count_ngrams(const std::vector<std::string>& tokens) {
  NgramCounts counts;
  for (size_t n = 1; n <= 4; ++n)
    for (size_t start = 0; start + n <= tokens.size(); ++start) {
      std::string key = std::to_string(n) + ":" + tokens[start];
      for (size_t k = 1; k < n; ++k) key += ' ', key += tokens[start + k];
      ++counts[key];
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
  std::string joined;
  for (const auto& token : split_whitespace(apply_13a_rules(" " + s + " "))) {
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
    for (const auto& [ngram, count] : count_ngrams(tokens)) {
      auto& best = max_reference_counts[ngram];
      best = std::max(best, count);
    }
  }
  BleuStats stats;
  stats.hypothesis_length = static_cast<int64_t>(hypothesis_tokens.size());
  stats.reference_length = closest_reference_length(stats.hypothesis_length, reference_lengths);
  for (size_t n = 1; n <= 4; ++n)
    stats.totals[n - 1] = std::max<int64_t>(0, stats.hypothesis_length - static_cast<int64_t>(n) + 1);
  for (const auto& [ngram, count] : count_ngrams(hypothesis_tokens)) {
    const size_t order = static_cast<size_t>(ngram[0] - '0');
    const auto found = max_reference_counts.find(ngram);
    if (found != max_reference_counts.end()) stats.matches[order - 1] += std::min(count, found->second);
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
