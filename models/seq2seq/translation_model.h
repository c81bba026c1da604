// What the translate task needs from an encoder-decoder: teacher-forced logits for training,
// and encode + one decoding step for search and export. The state between steps is a list of
// tensors whose first dimension is the batch, so beam search can reorder it without knowing it.
#pragma once
#include <torch/torch.h>

#include <vector>

#include "lib/core/option_schema.h"
#include "lib/nn/search.h"
#include "lib/viz/figure.h"

namespace zoo::models {

// How text becomes tokens: options of every translation model. The translate task learns the
// tokenizers and vocabularies from the training split; they travel in the checkpoint.
struct TranslationTextConfig {
  std::string tokenizer = "auto";
  bool lowercase = true;
  int64_t min_freq = 2;
  int64_t src_vocab = 8000, tgt_vocab = 6000;
  static const OptionSchema<TranslationTextConfig>& options();
};

inline const OptionSchema<TranslationTextConfig>& TranslationTextConfig::options() {
  static const auto schema =
      OptionSchema<TranslationTextConfig>("translation text")
          .option("tokenizer", &TranslationTextConfig::tokenizer, one_of({"auto", "char", "word", "bpe", "unigram"}),
                  "char; word (Unicode letters/digits as words, punctuation split off; detokenized back); bpe/unigram (SentencePiece "
                  "trained on the training split, src_vocab/tgt_vocab pieces; needs the plug-in libzoo_sentencepiece.so); auto: char "
                  "for synth: data, word otherwise")
          .option("lowercase", &TranslationTextConfig::lowercase,
                  "Unicode full lowercasing before tokenizing (BLEU then compares with lowercased references, sacreBLEU's -lc)")
          .option("min_freq", &TranslationTextConfig::min_freq, at_least(1), "a token needs this many occurrences in the training split (word, char)")
          .option("src_vocab", &TranslationTextConfig::src_vocab, at_least(4),
                  "source vocabulary cap including <pad> <unk> <bos> <eos> (bpe/unigram: the model size); the model's follows the data")
          .option("tgt_vocab", &TranslationTextConfig::tgt_vocab, at_least(4), "target vocabulary cap, as src_vocab");
  return schema;
}

class TranslationModel : public torch::nn::Module {
 public:
  // src (B, S) token ids padded with 0, src_lengths (B) int64 on the CPU: the state before the
  // first decoding step.
  virtual std::vector<torch::Tensor> encode(const torch::Tensor& src, const torch::Tensor& src_lengths) = 0;
  // One step: the previous tokens (B) -> log-probabilities (B, V), the next state, attention (B, S).
  virtual nn::DecodeStep decode_step(const torch::Tensor& tokens, const std::vector<torch::Tensor>& state) = 0;
  // Teacher-forced logits (B, T, V) for tgt_in (B, T) = <bos> y_1 ... y_{T-1}.
  virtual torch::Tensor forward(const torch::Tensor& src, const torch::Tensor& src_lengths, const torch::Tensor& tgt_in) = 0;
  // For `zoo visualize`, beside the alignment every decoding step reports (which the task draws):
  // more figures from one teacher-forced pass over src (1, S) and tgt_in (1, T) = <bos> y_1 ...
  // y_n, their axes Axis::Source, Target and TargetInput. Default: none.
  virtual std::vector<viz::Figure> look(const torch::Tensor& src, const torch::Tensor& tgt_in, const viz::LookOptions& options) { return {}; }
};

}  // namespace zoo::models
