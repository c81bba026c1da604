// Caption metrics as the COCO caption evaluation (pycocoevalcap, the code behind the COCO
// captioning leaderboard) computes them: its tokenisation, corpus BLEU-1..4 with the closest
// reference length, CIDEr-D and ROUGE-L, all on its scale (BLEU and ROUGE-L in [0, 1], CIDEr-D
// about 0-10). METEOR and SPICE need Java and are left out.
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace zoo::text {

// pycocoevalcap's PTBTokenizer: Stanford's PTB tokenizer with -lowerCase, then the punctuation
// tokens it lists (`` '' ` ' -LRB- -RRB- -LCB- -RCB- . ? ! , : - -- ... ;) dropped. Here the PTB
// rules that matter to captions: lower-case, split punctuation off words (keeping it inside
// numbers, "3.5", "1,000", and in abbreviations such as "u.s."), split the clitics 's 're 've 'll
// 'd 'm n't, brackets as -LRB- ..., hyphenated words kept whole.
std::vector<std::string> coco_tokens(std::string_view caption);
// The tokens joined by single spaces.
std::string coco_tokenize(std::string_view caption);

// The evaluated set: for each image (in any order), its generated caption and its references,
// all already through coco_tokenize (as COCOEvalCap tokenizes both sides before scoring).
struct CaptionPair {
  std::string hypothesis;
  std::vector<std::string> references;
};
// A generated caption and its references, both through coco_tokenize.
CaptionPair coco_pair(std::string_view hypothesis, const std::vector<std::string>& references);

// Corpus BLEU-n for n = 1..4 (pycocoevalcap Bleu(4), option "closest"): clipped n-gram counts
// and lengths summed over the images, the reference length per image the one closest to the
// hypothesis length (the shorter on a tie), then
//   BLEU-n = BP * (prod_{k=1..n} (match_k + 1e-15) / (total_k + 1e-9))^(1/n),
//   BP = exp(1 - r/c) when c < r, else 1.
std::array<double, 4> coco_bleu(const std::vector<CaptionPair>& pairs);

// CIDEr-D (pycocoevalcap Cider, Vedantam et al. 2015): per n = 1..4, TF-IDF vectors g^n with
// document frequencies from the evaluated set's references; per reference
//   s_n = min(g^n(c), g^n(r)) . g^n(r) / (|g^n(c)| |g^n(r)|) * exp(-(l_c - l_r)^2 / (2 sigma^2)),
// sigma = 6, l the sentence's length as pycocoevalcap counts it (its number of bigrams); the
// image's score 10 * mean_n mean_refs s_n; the corpus score the mean over images. Also returns
// each image's score in `per_image` when given.
double coco_cider(const std::vector<CaptionPair>& pairs, std::vector<double>* per_image = nullptr);

// ROUGE-L (pycocoevalcap Rouge): per image, the longest common subsequence with each
// reference, P = max LCS/|c|, R = max LCS/|r| (maxima taken separately), F = (1 + b^2) P R /
// (R + b^2 P) with b = 1.2; the corpus score the mean over images.
double coco_rouge_l(const std::vector<CaptionPair>& pairs);

// All of the above under `eval --json`'s keys: bleu_1 .. bleu_4, cider, rouge_l.
std::map<std::string, double> coco_caption_scores(const std::vector<CaptionPair>& pairs);

}  // namespace zoo::text
