// The seq2seq family's entries in the model registry. Parameter counts are at the defaults,
// with vocabularies of 8000 (source) and 6000 (target) tokens; in training both follow the data
// (src_vocab/tgt_vocab then cap the vocabularies). Each model's options are the text options
// every translation model has and its architecture's, declared beside their structs.
#include "models/seq2seq/register.h"

#include "lib/text/tokenizer.h"
#include "models/seq2seq/rnn_seq2seq.h"
#include "models/seq2seq/transformer.h"

namespace zoo {

namespace {

using namespace zoo::models;

// A translation model whose architecture options are Config's with `variant`'s values, but for
// `left_out`; its vocabularies follow the text options (which the task sets from the data).
template <class Model, class Config>
ModelSpec translator(std::string name, std::string description, const Config& variant, int64_t params, Recipe recipe,
                     const std::vector<std::string>& left_out = {}) {
  ModelSpec spec{std::move(name), "translate", "seq2seq", std::move(description), {}, params, nullptr, std::move(recipe)};
  // Translation lowercases (BLEU against lowercased references) and keeps words seen twice.
  text::TokenizerConfig text;
  text.lowercase = true, text.min_freq = 2;
  spec.options.add(text::TokenizerConfig::options(), text)
      .add(TranslationVocabConfig::options(), TranslationVocabConfig{})
      .add(Config::options(), variant, left_out);
  spec.create = [variant](const Json& options) {
    Config config = Config::options().read(options, variant);
    config.src_vocab = options.at("src_vocab").get<int64_t>(), config.tgt_vocab = options.at("tgt_vocab").get<int64_t>();
    return std::make_shared<Model>(config);
  };
  return spec;
}

// The RNN encoder-decoders': Adam (Bahdanau et al. used Adadelta, Luong et al. SGD; Adam at 1e-3
// is what reimplementations train with), the gradient norm clipped at 1, cosine.
Recipe rnn_recipe() {
  return {{"opt", "adam"}, {"lr", 1e-3}, {"weight_decay", 0.0}, {"sched", "cosine"}, {"warmup_fraction", 0.0}, {"min_lr", 0.0},
          {"clip_grad", 1.0}};
}

// The Transformer's: AdamW after a linear warm-up over 5% of the run, then cosine; clipped at 1.
Recipe transformer_recipe() {
  return {{"opt", "adamw"}, {"lr", 5e-4}, {"weight_decay", 0.01}, {"sched", "cosine"}, {"warmup_fraction", 0.05}, {"min_lr", 0.0},
          {"clip_grad", 1.0}};
}

}  // namespace

void register_seq2seq_models(Registry& registry) {
  RnnSeq2SeqConfig plain;
  plain.attention = "none";
  registry.add_model(translator<RnnSeq2SeqImpl>("seq2seq", "RNN encoder-decoder without attention (Sutskever 2014; context=every_step: Cho 2014)",
                                                plain, 8896880, rnn_recipe(), {"attention", "attention_hidden", "mixtures", "input_feeding"}));
  registry.add_model(translator<RnnSeq2SeqImpl>("seq2seq_attn",
                                                "RNN encoder-decoder with attention: bahdanau, luong_dot/general/concat, scaled_dot or location",
                                                RnnSeq2SeqConfig{}, 14816624, rnn_recipe(), {"context", "reverse_source"}));
  registry.add_model(translator<TransformerImpl>("transformer_small",
                                                 "Transformer encoder-decoder (Vaswani 2017), 3+3 layers, width 256, 8 heads, feed-forward 1024",
                                                 TransformerConfig{}, 9119600, transformer_recipe()));
  TransformerConfig base;
  base.encoder_layers = base.decoder_layers = 6, base.width = 512, base.ffn = 2048;
  registry.add_model(translator<TransformerImpl>("transformer_base",
                                                 "Transformer encoder-decoder, the paper's base model: 6+6 layers, width 512, 8 heads, feed-forward 2048",
                                                 base, 51312496, transformer_recipe()));
}

}  // namespace zoo
