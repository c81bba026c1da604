#include "lib/text/caption_metrics.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <set>
#include <sstream>
#include <unordered_map>

#include "lib/text/tokenizer.h"
#include "lib/text/utf8.h"

namespace zoo::text {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// "u.s.", "a.m.": letters each followed by a period, which PTB keeps as one token.
bool is_abbreviation(const std::string& word) {
  if (word.size() < 4 || word.size() % 2 != 0) return false;
  for (size_t i = 0; i < word.size(); i += 2)
    if (!is_alpha(word[i]) || word[i + 1] != '.') return false;
  return true;
}

// PTB's clitic splits of one word: "dog's" -> "dog 's", "don't" -> "do n't", "cannot" -> "can not".
void split_clitics(const std::string& word, std::vector<std::string>& out) {
  static const std::unordered_map<std::string, std::vector<std::string>> whole{
      {"cannot", {"can", "not"}}, {"can't", {"ca", "n't"}}, {"won't", {"wo", "n't"}}, {"gonna", {"gon", "na"}},
      {"gotta", {"got", "ta"}},   {"wanna", {"wan", "na"}}};
  if (auto it = whole.find(word); it != whole.end()) {
    out.insert(out.end(), it->second.begin(), it->second.end());
    return;
  }
  auto ends_with = [&](const std::string& tail) { return word.size() > tail.size() && word.compare(word.size() - tail.size(), tail.size(), tail) == 0; };
  for (const char* tail : {"n't", "'s", "'re", "'ve", "'ll", "'d", "'m"}) {
    if (ends_with(tail)) {
      out.push_back(word.substr(0, word.size() - std::strlen(tail)));
      out.push_back(tail);
      return;
    }
  }
  out.push_back(word);
}

// The tokens pycocoevalcap drops after tokenising (its PUNCTUATIONS, brackets as PTB escapes them).
bool is_dropped(const std::string& token) {
  static const std::set<std::string> dropped{"''", "'", "``", "`", "-lrb-", "-rrb-", "-lcb-", "-rcb-", ".", "?", "!", ",", ":", "-", "--", "...", ";"};
  return dropped.count(token) > 0;
}

// Punctuation that PTB splits off wherever it is not part of a number or an abbreviation.
bool is_split_char(char c) { return std::string_view(",;:!?\"()[]{}`").find(c) != std::string_view::npos; }

// One whitespace-separated word -> its PTB tokens (before the punctuation is dropped).
void tokenize_word(const std::string& word, std::vector<std::string>& out) {
  // Cut at punctuation inside the word, except commas and periods between digits (1,000 3.5).
  std::vector<std::string> parts;
  std::string current;
  auto flush = [&] {
    if (!current.empty()) parts.push_back(current), current.clear();
  };
  for (size_t i = 0; i < word.size(); ++i) {
    const char c = word[i];
    const bool between_digits = i > 0 && i + 1 < word.size() && is_digit(word[i - 1]) && is_digit(word[i + 1]);
    if (is_split_char(c) && !(c == ',' && between_digits)) {
      flush();
      parts.push_back(std::string(1, c));
    } else {
      current += c;
    }
  }
  flush();
  for (std::string part : parts) {
    if (part.size() == 1 && is_split_char(part[0])) {
      out.push_back(part);
      continue;
    }
    // Leading quotes: 'hello -> ` hello (but 's 're ... stand alone as clitics).
    std::vector<std::string> tail;
    while (!part.empty() && part[0] == '\'' && part.size() > 1 && !(part == "'s" || part == "'re" || part == "'ve" || part == "'ll" ||
                                                                    part == "'d" || part == "'m")) {
      out.push_back("`");
      part.erase(0, 1);
    }
    // Trailing periods and quotes: "dog." -> "dog .", "dogs'" -> "dogs '", "..." whole; an
    // abbreviation keeps its period.
    while (!part.empty()) {
      if (part.size() >= 3 && part.compare(part.size() - 3, 3, "...") == 0 && part.size() > 3) {
        tail.push_back("..."), part.resize(part.size() - 3);
      } else if (part.back() == '.' && part.size() > 1 && !is_abbreviation(part)) {
        tail.push_back("."), part.pop_back();
      } else if (part.back() == '\'' && part.size() > 1) {
        tail.push_back("'"), part.pop_back();
      } else {
        break;
      }
    }
    // Periods left inside a word that are not in a number or an abbreviation separate words.
    if (!is_abbreviation(part) && part != "..." && part != ".") {
      std::string piece;
      for (size_t i = 0; i < part.size(); ++i) {
        const bool number = i > 0 && i + 1 < part.size() && is_digit(part[i - 1]) && is_digit(part[i + 1]);
        if (part[i] == '.' && !number) {
          if (!piece.empty()) split_clitics(piece, out), piece.clear();
          out.push_back(".");
        } else {
          piece += part[i];
        }
      }
      if (!piece.empty()) split_clitics(piece, out);
    } else {
      out.push_back(part);
    }
    out.insert(out.end(), tail.rbegin(), tail.rend());
  }
}

std::vector<std::string> split_spaces(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

using Ngram = std::string;  // the n tokens joined by single spaces
using PrecookedCounts = std::unordered_map<Ngram, int64_t>;

// pycocoevalcap's precook: the counts of every n-gram, n = 1..4, of a tokenised sentence.
PrecookedCounts precook(const std::vector<std::string>& words, int max_n = 4) {
  PrecookedCounts counts;
  for (int n = 1; n <= max_n; ++n)
    for (size_t i = 0; i + static_cast<size_t>(n) <= words.size(); ++i) {
      std::string gram = words[i];
      for (int k = 1; k < n; ++k) gram += ' ' + words[i + static_cast<size_t>(k)];
      ++counts[gram];
    }
  return counts;
}

int ngram_order(const Ngram& gram) { return 1 + static_cast<int>(std::count(gram.begin(), gram.end(), ' ')); }

}  // namespace

std::vector<std::string> coco_tokens(std::string_view caption) {
  std::string text = lowercase(caption);
  // The Unicode quotes and dashes PTB normalises to ASCII ones.
  replace_all(text, "\u2019", "'"), replace_all(text, "\u2018", "'"), replace_all(text, "\u201c", "\""), replace_all(text, "\u201d", "\"");
  replace_all(text, "\u2014", " -- "), replace_all(text, "\u2013", " -- ");
  std::vector<std::string> tokens;
  for (const auto& word : split_spaces(text)) tokenize_word(word, tokens);
  std::vector<std::string> kept;
  for (auto& token : tokens) {
    // PTB's bracket escapes, lower-cased with the rest.
    if (token == "(" || token == "[") token = "-lrb-";
    if (token == ")" || token == "]") token = "-rrb-";
    if (token == "{") token = "-lcb-";
    if (token == "}") token = "-rcb-";
    if (token == "\"") token = "''";
    if (!is_dropped(token)) kept.push_back(std::move(token));
  }
  return kept;
}

std::string coco_tokenize(std::string_view caption) {
  std::string out;
  for (const auto& token : coco_tokens(caption)) out += (out.empty() ? "" : " ") + token;
  return out;
}

CaptionPair coco_pair(std::string_view hypothesis, const std::vector<std::string>& references) {
  CaptionPair pair{coco_tokenize(hypothesis), {}};
  for (const auto& reference : references) pair.references.push_back(coco_tokenize(reference));
  return pair;
}

std::array<double, 4> coco_bleu(const std::vector<CaptionPair>& pairs) {
  // Sums over the images of what bleu_scorer.py's cook_test/cook_refs keep.
  double test_length = 0, reference_length = 0;
  std::array<double, 4> guess{}, correct{};
  for (const auto& pair : pairs) {
    const auto hypothesis = split_spaces(pair.hypothesis);
    const auto test_len = static_cast<int64_t>(hypothesis.size());
    PrecookedCounts max_ref;  // per n-gram, its largest count in any reference
    int64_t closest = -1;
    for (const auto& reference : pair.references) {
      const auto words = split_spaces(reference);
      const auto len = static_cast<int64_t>(words.size());
      // min((abs(l - testlen), l) for l in reflens)[1]: the closest length, the shorter on a tie
      if (closest < 0 || std::make_pair(std::llabs(len - test_len), len) < std::make_pair(std::llabs(closest - test_len), closest))
        closest = len;
      for (const auto& [gram, count] : precook(words)) max_ref[gram] = std::max(max_ref[gram], count);
    }
    test_length += static_cast<double>(test_len);
    reference_length += static_cast<double>(std::max<int64_t>(0, closest));
    for (int k = 0; k < 4; ++k) guess[k] += static_cast<double>(std::max<int64_t>(0, test_len - k));
    for (const auto& [gram, count] : precook(hypothesis)) {
      auto it = max_ref.find(gram);
      correct[ngram_order(gram) - 1] += static_cast<double>(std::min(count, it == max_ref.end() ? int64_t{0} : it->second));
    }
  }
  constexpr double tiny = 1e-15, small = 1e-9;
  std::array<double, 4> bleu{};
  double product = 1.0;
  for (int k = 0; k < 4; ++k) {
    product *= (correct[k] + tiny) / (guess[k] + small);
    bleu[k] = std::pow(product, 1.0 / (k + 1));
  }
  // BP = exp(1 - r/c) when the hypotheses are shorter than the references
  const double ratio = (test_length + tiny) / (reference_length + small);
  if (ratio < 1)
    for (double& b : bleu) b *= std::exp(1 - 1 / ratio);
  return bleu;
}

double coco_cider(const std::vector<CaptionPair>& pairs, std::vector<double>* per_image) {
  constexpr int kOrders = 4;
  constexpr double kSigma = 6.0;
  if (pairs.empty()) return 0.0;
  // Document frequency: in how many images' reference sets each n-gram occurs.
  std::vector<PrecookedCounts> hyp_counts;
  std::vector<std::vector<PrecookedCounts>> ref_counts;
  std::unordered_map<Ngram, double> document_frequency;
  for (const auto& pair : pairs) {
    hyp_counts.push_back(precook(split_spaces(pair.hypothesis)));
    ref_counts.emplace_back();
    std::set<Ngram> seen;
    for (const auto& reference : pair.references) {
      ref_counts.back().push_back(precook(split_spaces(reference)));
      for (const auto& entry : ref_counts.back().back()) seen.insert(entry.first);
    }
    for (const auto& gram : seen) document_frequency[gram] += 1;
  }
  const double log_images = std::log(static_cast<double>(pairs.size()));

  struct TfIdf {
    std::array<std::unordered_map<Ngram, double>, kOrders> weights;
    std::array<double, kOrders> norm{};
    double length = 0;  // pycocoevalcap's length: its count of bigrams (n == 1 in its 0-based index)
  };
  // g_k(s) = tf(k, s) * (log |images| - log max(1, df(k)))
  auto vectorize = [&](const PrecookedCounts& counts) {
    TfIdf v;
    for (const auto& [gram, tf] : counts) {
      auto it = document_frequency.find(gram);
      const double df = std::log(std::max(1.0, it == document_frequency.end() ? 0.0 : it->second));
      const int n = ngram_order(gram) - 1;
      const double w = static_cast<double>(tf) * (log_images - df);
      v.weights[n][gram] = w;
      v.norm[n] += w * w;
      if (n == 1) v.length += static_cast<double>(tf);
    }
    for (double& x : v.norm) x = std::sqrt(x);
    return v;
  };

  double total = 0;
  if (per_image) per_image->clear();
  for (size_t i = 0; i < pairs.size(); ++i) {
    const TfIdf hyp = vectorize(hyp_counts[i]);
    std::array<double, kOrders> score{};
    for (const auto& counts : ref_counts[i]) {
      const TfIdf ref = vectorize(counts);
      const double delta = hyp.length - ref.length;
      for (int n = 0; n < kOrders; ++n) {
        double value = 0;
        for (const auto& [gram, w] : hyp.weights[n]) {
          auto it = ref.weights[n].find(gram);
          const double r = it == ref.weights[n].end() ? 0.0 : it->second;
          value += std::min(w, r) * r;  // CIDEr-D's clipping
        }
        if (hyp.norm[n] != 0 && ref.norm[n] != 0) value /= hyp.norm[n] * ref.norm[n];
        score[n] += value * std::exp(-(delta * delta) / (2 * kSigma * kSigma));  // CIDEr-D's length penalty
      }
    }
    double mean = 0;
    for (double s : score) mean += s;
    mean /= kOrders;
    const double image_score = pairs[i].references.empty() ? 0.0 : mean / static_cast<double>(pairs[i].references.size()) * 10.0;
    if (per_image) per_image->push_back(image_score);
    total += image_score;
  }
  return total / static_cast<double>(pairs.size());
}

double coco_rouge_l(const std::vector<CaptionPair>& pairs) {
  constexpr double kBeta = 1.2;
  if (pairs.empty()) return 0.0;
  // rouge.py splits on " " (an empty caption is one empty token).
  auto split_single = [](const std::string& s) {
    std::vector<std::string> out;
    size_t start = 0;
    for (size_t at; (at = s.find(' ', start)) != std::string::npos; start = at + 1) out.push_back(s.substr(start, at - start));
    out.push_back(s.substr(start));
    return out;
  };
  auto lcs = [](const std::vector<std::string>& a, const std::vector<std::string>& b) {
    std::vector<int64_t> previous(b.size() + 1, 0), row(b.size() + 1, 0);
    for (size_t i = 1; i <= a.size(); ++i) {
      for (size_t j = 1; j <= b.size(); ++j) row[j] = a[i - 1] == b[j - 1] ? previous[j - 1] + 1 : std::max(row[j - 1], previous[j]);
      std::swap(previous, row);
    }
    return previous[b.size()];
  };
  double total = 0;
  for (const auto& pair : pairs) {
    const auto candidate = split_single(pair.hypothesis);
    double precision = 0, recall = 0;
    for (const auto& reference : pair.references) {
      const auto words = split_single(reference);
      const double common = static_cast<double>(lcs(words, candidate));
      precision = std::max(precision, common / static_cast<double>(candidate.size()));
      recall = std::max(recall, common / static_cast<double>(words.size()));
    }
    if (precision != 0 && recall != 0) total += (1 + kBeta * kBeta) * precision * recall / (recall + kBeta * kBeta * precision);
  }
  return total / static_cast<double>(pairs.size());
}

std::map<std::string, double> coco_caption_scores(const std::vector<CaptionPair>& pairs) {
  const auto bleu = coco_bleu(pairs);
  return {{"bleu_1", bleu[0]}, {"bleu_2", bleu[1]}, {"bleu_3", bleu[2]}, {"bleu_4", bleu[3]},
          {"cider", coco_cider(pairs)}, {"rouge_l", coco_rouge_l(pairs)}};
}

}  // namespace zoo::text
