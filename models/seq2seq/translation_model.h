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

// The vocabulary caps of every translation model (its text options are text::TokenizerConfig's).
// The embeddings and output layer follow the vocabularies the task builds from the training split.
struct TranslationVocabConfig {
  int64_t src_vocab = 8000, tgt_vocab = 6000;
  static const OptionSchema<TranslationVocabConfig>& options();
};

inline const OptionSchema<TranslationVocabConfig>& TranslationVocabConfig::options() {
  static const auto schema =
      OptionSchema<TranslationVocabConfig>("translation vocabularies")
          .option("src_vocab", &TranslationVocabConfig::src_vocab, at_least(4),
                  "source vocabulary cap including <pad> <unk> <bos> <eos> (bpe/unigram: the model size); the model's follows the data")
          .option("tgt_vocab", &TranslationVocabConfig::tgt_vocab, at_least(4), "target vocabulary cap, as src_vocab");
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
