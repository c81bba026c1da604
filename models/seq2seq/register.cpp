// The seq2seq family's entries in the model registry. Parameter counts are at the defaults,
// with vocabularies of 8000 (source) and 6000 (target) tokens; in training both follow the data
// (src_vocab/tgt_vocab then cap the vocabularies).
#include "lib/core/registry.h"
#include "models/seq2seq/rnn_seq2seq.h"

namespace zoo {

namespace {

// Options every translation model carries: how text becomes tokens.
Json text_options() {
  return {{"tokenizer", "auto"}, {"lowercase", true}, {"min_freq", 2}, {"src_vocab", 8000}, {"tgt_vocab", 6000}};
}

Json with(Json base, const Json& extra) {
  for (auto it = extra.begin(); it != extra.end(); ++it) base[it.key()] = it.value();
  return base;
}

models::RnnSeq2SeqConfig rnn_config(const Options& o) {
  models::RnnSeq2SeqConfig c;
  c.src_vocab = o.get_int("src_vocab"), c.tgt_vocab = o.get_int("tgt_vocab");
  c.embedding = o.get_int("embedding"), c.encoder_hidden = o.get_int("encoder_hidden"), c.hidden = o.get_int("hidden");
  c.layers = o.get_int("layers"), c.bidirectional = o.get_bool("bidirectional"), c.cell = o.get_string("cell");
  c.dropout = o.get_double("dropout"), c.teacher_forcing = o.get_double("teacher_forcing");
  return c;
}

}  // namespace

void register_seq2seq_models(Registry& registry) {
  const Json rnn = {{"embedding", 256}, {"encoder_hidden", 256}, {"hidden", 512}, {"layers", 1}, {"bidirectional", true},
                    {"cell", "gru"}, {"dropout", 0.3}, {"teacher_forcing", 1.0}};
  registry.add_model({"seq2seq", "translate", "seq2seq",
                      "RNN encoder-decoder without attention (Sutskever 2014; context=every_step: Cho 2014)",
                      with(with(text_options(), rnn), {{"context", "final"}, {"reverse_source", false}}), 8896880,
                      [](const Options& o) {
                        auto c = rnn_config(o);
                        c.attention = "none";
                        c.context = o.get_string("context");
                        c.reverse_source = o.get_bool("reverse_source");
                        return std::make_shared<models::RnnSeq2SeqImpl>(c);
                      }});
  registry.add_model({"seq2seq_attn", "translate", "seq2seq",
                      "RNN encoder-decoder with attention: bahdanau, luong_dot/general/concat, scaled_dot or location",
                      with(with(text_options(), rnn), {{"attention", "bahdanau"}, {"attention_hidden", 512}, {"mixtures", 5},
                                                       {"input_feeding", true}}),
                      14816624, [](const Options& o) {
                        auto c = rnn_config(o);
                        c.attention = o.get_string("attention");
                        c.attention_hidden = o.get_int("attention_hidden");
                        c.mixtures = o.get_int("mixtures");
                        c.input_feeding = o.get_bool("input_feeding");
                        return std::make_shared<models::RnnSeq2SeqImpl>(c);
                      }});
}

}  // namespace zoo
