// The language-model family's entries in the model registry. Parameter counts are at the
// defaults with a vocabulary of 69 tokens (tiny-shakespeare's 65 characters and zoo's 4
// specials); in training the vocabulary follows the data (--set vocab caps it).
#include "lib/core/registry.h"
#include "models/lm/char_rnn.h"
#include "models/lm/gpt.h"

namespace zoo {

namespace {

constexpr int64_t kListedVocab = 69;

// Options every language model carries: how text becomes tokens.
Json text_options() { return {{"tokenizer", "auto"}, {"lowercase", false}, {"min_freq", 1}, {"vocab", 0}}; }

Json with(Json base, const Json& extra) {
  for (auto it = extra.begin(); it != extra.end(); ++it) base[it.key()] = it.value();
  return base;
}

int64_t vocab_of(const Options& o) { return o.get_int("vocab") > 0 ? o.get_int("vocab") : kListedVocab; }

// nanoGPT's sizes as data: (layers, heads, width, context, dropout).
Json gpt_options(int64_t layers, int64_t heads, int64_t width, int64_t context, double dropout) {
  return with(text_options(), {{"layers", layers}, {"heads", heads}, {"width", width}, {"context", context}, {"dropout", dropout},
                               {"positions", "learned"}, {"bias", true}, {"tie_weights", true}});
}

std::shared_ptr<torch::nn::Module> make_gpt(const Options& o) {
  models::GptConfig c;
  c.vocab = vocab_of(o), c.layers = o.get_int("layers"), c.heads = o.get_int("heads"), c.width = o.get_int("width");
  c.context = o.get_int("context"), c.dropout = o.get_double("dropout"), c.positions = o.get_string("positions");
  c.bias = o.get_bool("bias"), c.tie_weights = o.get_bool("tie_weights");
  return std::make_shared<models::GptImpl>(c);
}

}  // namespace

void register_lm_models(Registry& registry) {
  registry.add_model({"char_rnn", "lm", "lm",
                      "recurrent language model: cell=rnn|lstm|gru, impl=fused (LibTorch) or cells (the seeds' equations); truncated BPTT",
                      with(text_options(), {{"cell", "lstm"}, {"impl", "fused"}, {"embedding", 128}, {"hidden", 512}, {"layers", 2},
                                            {"dropout", 0.2}, {"tie_weights", false}, {"bptt", 128}}),
                      3460293, [](const Options& o) {
                        models::CharRnnConfig c;
                        c.vocab = vocab_of(o), c.embedding = o.get_int("embedding"), c.hidden = o.get_int("hidden");
                        c.layers = o.get_int("layers"), c.cell = o.get_string("cell"), c.impl = o.get_string("impl");
                        c.dropout = o.get_double("dropout"), c.tie_weights = o.get_bool("tie_weights");
                        return std::make_shared<models::CharRnnImpl>(c);
                      }});
  registry.add_model({"gpt", "lm", "lm", "decoder-only transformer (GPT-2 blocks, nanoGPT's shakespeare_char size: 6 layers, 6 heads, 384 wide, context 256)",
                      gpt_options(6, 6, 384, 256, 0.2), 10772352, make_gpt});
  registry.add_model({"gpt_mini", "lm", "lm", "decoder-only transformer in nanoGPT's CPU recipe: 4 layers, 4 heads, 128 wide, context 64",
                      gpt_options(4, 4, 128, 64, 0.0), 810368, make_gpt});
}

}  // namespace zoo
