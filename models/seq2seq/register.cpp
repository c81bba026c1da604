// The seq2seq family's entries in the model registry. Parameter counts are at the defaults,
// with vocabularies of 8000 (source) and 6000 (target) tokens; in training both follow the data
// (src_vocab/tgt_vocab then cap the vocabularies).
#include "lib/core/registry.h"
#include "models/seq2seq/rnn_seq2seq.h"
#include "models/seq2seq/transformer.h"

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

// The Transformer's sizes as data: (encoder layers, decoder layers, width, heads, feed-forward).
Json transformer_options(int64_t encoder_layers, int64_t decoder_layers, int64_t width, int64_t heads, int64_t ffn) {
  return with(text_options(), {{"encoder_layers", encoder_layers}, {"decoder_layers", decoder_layers}, {"width", width}, {"heads", heads},
                               {"ffn", ffn}, {"dropout", 0.1}, {"norm", "post"}, {"positions", "sinusoidal"}, {"activation", "relu"},
                               {"share_embeddings", false}, {"tie_output", true}, {"max_positions", 1024}});
}

std::shared_ptr<torch::nn::Module> make_transformer(const Options& o) {
  models::TransformerConfig c;
  c.src_vocab = o.get_int("src_vocab"), c.tgt_vocab = o.get_int("tgt_vocab");
  c.encoder_layers = o.get_int("encoder_layers"), c.decoder_layers = o.get_int("decoder_layers");
  c.width = o.get_int("width"), c.heads = o.get_int("heads"), c.ffn = o.get_int("ffn"), c.max_positions = o.get_int("max_positions");
  c.dropout = o.get_double("dropout"), c.norm = o.get_string("norm"), c.positions = o.get_string("positions");
  c.activation = o.get_string("activation"), c.share_embeddings = o.get_bool("share_embeddings"), c.tie_output = o.get_bool("tie_output");
  return std::make_shared<models::TransformerImpl>(c);
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
  registry.add_model({"transformer_small", "translate", "seq2seq",
                      "Transformer encoder-decoder (Vaswani 2017), 3+3 layers, width 256, 8 heads, feed-forward 1024",
                      transformer_options(3, 3, 256, 8, 1024), 9119600, make_transformer});
  registry.add_model({"transformer_base", "translate", "seq2seq",
                      "Transformer encoder-decoder, the paper's base model: 6+6 layers, width 512, 8 heads, feed-forward 2048",
                      transformer_options(6, 6, 512, 8, 2048), 51312496, make_transformer});
}

}  // namespace zoo
