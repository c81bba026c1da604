// The language-model family's entries in the model registry. Parameter counts are at the
// defaults with a vocabulary of 69 tokens (tiny-shakespeare's 65 characters and zoo's 4
// specials); in training the vocabulary follows the data (--set vocab caps it). Each model's
// options are the text options every language model has and its architecture's, declared beside
// their structs.
#include "models/lm/register.h"

#include "lib/text/tokenizer.h"
#include "models/lm/char_rnn.h"
#include "models/lm/gpt.h"

namespace zoo {

namespace {

using namespace zoo::models;

constexpr int64_t kListedVocab = 69;

// A language model whose options are Config's with `variant`'s values; its vocabulary is the
// text options' (which the task sets from the data; 0 before that: the listed 69).
template <class Model, class Config>
ModelSpec language_model(std::string name, std::string description, const Config& variant, int64_t params, Recipe recipe) {
  ModelSpec spec{std::move(name), "lm", "lm", std::move(description), {}, params, nullptr, std::move(recipe)};
  spec.options.add(text::TokenizerConfig::options(), text::TokenizerConfig{})
      .add(LmVocabConfig::options(), LmVocabConfig{})
      .add(Config::options(), variant);
  spec.create = [variant](const Json& options) {
    Config config = Config::options().read(options, variant);
    const int64_t vocab = options.at("vocab").get<int64_t>();
    config.vocab = vocab > 0 ? vocab : kListedVocab;
    return std::make_shared<Model>(config);
  };
  return spec;
}

// nanoGPT's: AdamW with weight decay 0.1, a linear warm-up (100 of its 5000 steps; here 5% of the
// run), cosine down to lr/10, the gradient norm clipped at 1.
Recipe gpt_recipe() {
  return {{"opt", "adamw"}, {"lr", 1e-3}, {"weight_decay", 0.1}, {"sched", "cosine"}, {"warmup_fraction", 0.05}, {"min_lr", 1e-4},
          {"clip_grad", 1.0}};
}

// char-rnn's: Adam at 2e-3 (Karpathy: RMSprop at 2e-3), cosine down to 1e-4, clipped at 1.
Recipe rnn_recipe() {
  return {{"opt", "adam"}, {"lr", 2e-3}, {"weight_decay", 0.0}, {"sched", "cosine"}, {"warmup_fraction", 0.0}, {"min_lr", 1e-4},
          {"clip_grad", 1.0}};
}

}  // namespace

void register_lm_models(Registry& registry) {
  registry.add_model(language_model<CharRnnImpl>(
      "char_rnn", "recurrent language model: cell=rnn|lstm|gru, impl=fused (LibTorch) or cells (the seeds' equations); truncated BPTT",
      CharRnnConfig{}, 3460293, rnn_recipe()));
  registry.add_model(language_model<GptImpl>(
      "gpt", "decoder-only transformer (GPT-2 blocks, nanoGPT's shakespeare_char size: 6 layers, 6 heads, 384 wide, context 256)",
      GptConfig{}, 10772352, gpt_recipe()));
  GptConfig mini;
  mini.layers = 4, mini.heads = 4, mini.width = 128, mini.context = 64, mini.dropout = 0.0;
  registry.add_model(language_model<GptImpl>(
      "gpt_mini", "decoder-only transformer in nanoGPT's CPU recipe: 4 layers, 4 heads, 128 wide, context 64", mini, 810368,
      gpt_recipe()));
}

}  // namespace zoo
