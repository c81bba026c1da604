// What the lm task needs from a language model: next-token logits for a batch of token
// sequences, with a state that carries what came before (a recurrent model's hidden state, a
// transformer's key/value cache). The same call trains (truncated backpropagation through time
// carries the state from chunk to chunk) and generates (one token at a time).
#pragma once
#include <torch/torch.h>

#include <vector>

#include "lib/core/option_schema.h"
#include "lib/viz/figure.h"

namespace zoo::models {

// The vocabulary cap of every language model (its text options are text::TokenizerConfig's).
// The embedding and output layers follow the vocabulary the task builds from the training part.
struct LmVocabConfig {
  int64_t vocab = 0;
  static const OptionSchema<LmVocabConfig>& options();
};

inline const OptionSchema<LmVocabConfig>& LmVocabConfig::options() {
  static const auto schema =
      OptionSchema<LmVocabConfig>("language-model vocabulary")
          .option("vocab", &LmVocabConfig::vocab, at_least(0),
                  "vocabulary cap including the 4 specials (0: every token; for bpe/unigram 0 means 2000 pieces); the model's follows the data")
          .rule([](const LmVocabConfig& c) {
            // The 4 specials and the line break are in every vocabulary.
            if (c.vocab != 0 && c.vocab < 5) throw UsageError("invalid vocab " + std::to_string(c.vocab) + ": expected 0 (no limit) or at least 5");
          });
  return schema;
}

struct LmOutput {
  torch::Tensor logits;              // (B, T, V)
  std::vector<torch::Tensor> state;  // to pass to the next call
};

class LanguageModel : public torch::nn::Module {
 public:
  // tokens (B, T) int64 -> logits (B, T, V) of the token after each position. `state` from the
  // previous call continues the sequences; empty starts them.
  virtual LmOutput forward(const torch::Tensor& tokens, const std::vector<torch::Tensor>& state) = 0;
  // The longest sequence (state included) the model accepts; 0 for no limit (recurrent models).
  virtual int64_t context() const = 0;
  // Whether the state summarises the past and is carried between training chunks (recurrent
  // models), or only caches what a generator would otherwise recompute (transformers).
  virtual bool recurrent() const = 0;
  // The state before the first token (zeros) for `batch` sequences; empty for a transformer.
  virtual std::vector<torch::Tensor> initial_state(int64_t batch, torch::Device device) const { return {}; }
  virtual int64_t vocab_size() const = 0;
  // What the model shows of itself over one sequence tokens (1, T) for `zoo visualize`: figures
  // whose token axes are Axis::Tokens. Default: nothing to show.
  virtual std::vector<viz::Figure> look(const torch::Tensor& tokens, const viz::LookOptions& options) {
    throw UsageError("visualize is not available for " + options.model);
  }
};

}  // namespace zoo::models
