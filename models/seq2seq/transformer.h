// The Transformer encoder-decoder (Vaswani et al. 2017, "Attention Is All You Need") as a
// translator: token embeddings scaled by sqrt(d_model) plus positions p(t); an encoder of
// self-attention and feed-forward blocks; a decoder of masked self-attention, cross-attention to
// the encoder's output and feed-forward blocks; a linear layer to the target vocabulary, its
// weight the target embedding matrix when tied. Blocks are post-norm as in the paper
// (x = LN(x + Sublayer(x))) or pre-norm (x = x + Sublayer(LN(x)), with a final LayerNorm).
// Module names follow PyTorch's nn.Transformer ("encoder.layers.0.self_attn", "linear1",
// "norm1", "multihead_attn").
#pragma once
#include <string>
#include <vector>

#include "lib/nn/dropout.h"
#include "lib/nn/multihead_attention.h"
#include "models/seq2seq/translation_model.h"

namespace zoo::models {

// The vocabularies follow the data (the translate task's text options cap them); the rest are
// the model's options, transformer_small's sizes by default.
struct TransformerConfig {
  int64_t src_vocab = 8000, tgt_vocab = 6000;
  int64_t encoder_layers = 3, decoder_layers = 3, width = 256, heads = 8, ffn = 1024;
  int64_t max_positions = 1024;
  double dropout = 0.1;
  std::string norm = "post";
  std::string positions = "sinusoidal";
  std::string activation = "relu";
  bool share_embeddings = false;
  bool tie_output = true;
  static const OptionSchema<TransformerConfig>& options();
};

inline const OptionSchema<TransformerConfig>& TransformerConfig::options() {
  static const auto schema =
      OptionSchema<TransformerConfig>("Transformer")
          .option("encoder_layers", &TransformerConfig::encoder_layers, at_least(1), "blocks in the encoder stack")
          .option("decoder_layers", &TransformerConfig::decoder_layers, at_least(1), "blocks in the decoder stack")
          .option("width", &TransformerConfig::width, at_least(1), "d_model")
          .option("heads", &TransformerConfig::heads, at_least(1), "attention heads (d_k = width / heads)")
          .option("ffn", &TransformerConfig::ffn, at_least(1), "the feed-forward layers' hidden width")
          .option("dropout", &TransformerConfig::dropout, fraction(),
                  "on embeddings + positions, each sublayer's output, the feed-forward's hidden layer and the attention weights")
          .option("norm", &TransformerConfig::norm, one_of({"post", "pre"}),
                  "post: x = LN(x + Sublayer(x)), the paper's; pre: x = x + Sublayer(LN(x)) with a final LayerNorm per stack")
          .option("positions", &TransformerConfig::positions, one_of({"sinusoidal", "learned"}),
                  "sinusoidal p(t)_{2i} = sin(t / 10000^{2i/d}), p(t)_{2i+1} = cos(...); learned: one table per side")
          .option("activation", &TransformerConfig::activation, one_of({"relu", "gelu"}), "in the feed-forward layers (relu: the paper's)")
          .option("share_embeddings", &TransformerConfig::share_embeddings,
                  "one embedding matrix for source and target; the task then builds one tokenizer and one vocabulary from both sides "
                  "(capped by src_vocab; with tokenizer=bpe one joint SentencePiece model)")
          .option("tie_output", &TransformerConfig::tie_output, "the output layer's weight is the target embedding matrix (plus its own bias)")
          .option("max_positions", &TransformerConfig::max_positions, at_least(1), "the longest source or target the positions cover")
          .rule([](const TransformerConfig& c) {
            if (c.width % c.heads != 0)
              throw UsageError("invalid heads " + std::to_string(c.heads) + ": the width " + std::to_string(c.width) + " must be a multiple of it");
          });
  return schema;
}

class TransformerEncoderLayerImpl : public torch::nn::Module {
 public:
  explicit TransformerEncoderLayerImpl(const TransformerConfig& config);
  // x (B, S, E), padding (B, S) true at padding -> (B, S, E)
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& padding);
  nn::MultiheadAttention self_attn{nullptr};
  torch::nn::Linear linear1{nullptr}, linear2{nullptr};
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  nn::Dropout dropout{nullptr};

 private:
  bool pre_norm_, gelu_;
};
TORCH_MODULE(TransformerEncoderLayer);

class TransformerDecoderLayerImpl : public torch::nn::Module {
 public:
  explicit TransformerDecoderLayerImpl(const TransformerConfig& config);
  // y (B, T, E) attending causally to itself (with `cache`: y is one new position, T = 1, that
  // attends to the cached positions and itself, and is appended to the cache) and to
  // the encoder's projected keys/values `memory` (padding (B, S)) -> (B, T, E). cross_weights,
  // when given, receives the cross-attention weights (B, H, T, S).
  torch::Tensor forward(const torch::Tensor& y, const nn::KeyValueCache& memory, const torch::Tensor& padding, nn::KeyValueCache* cache,
                        torch::Tensor* cross_weights = nullptr);
  nn::MultiheadAttention self_attn{nullptr}, multihead_attn{nullptr};
  torch::nn::Linear linear1{nullptr}, linear2{nullptr};
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr}, norm3{nullptr};
  nn::Dropout dropout{nullptr};

 private:
  bool pre_norm_, gelu_;
};
TORCH_MODULE(TransformerDecoderLayer);

// Attention weights of one forward pass, per layer (B, heads, queries, keys).
struct TransformerAttention {
  std::vector<torch::Tensor> encoder_self, decoder_self, cross;
};

class TransformerImpl : public TranslationModel {
 public:
  explicit TransformerImpl(const TransformerConfig& config);

  // State: [source padding (B, S) bool, then per decoder layer: cross-attention keys, values
  // (B, H, S, D) and the self-attention cache's keys, values (B, H, T_past, D)].
  std::vector<torch::Tensor> encode(const torch::Tensor& src, const torch::Tensor& src_lengths) override;
  // attention: the last layer's cross-attention averaged over heads (B, S).
  nn::DecodeStep decode_step(const torch::Tensor& tokens, const std::vector<torch::Tensor>& state) override;
  torch::Tensor forward(const torch::Tensor& src, const torch::Tensor& src_lengths, const torch::Tensor& tgt_in) override;

  // Keep every attention module's weights from now on (or stop); read them after a forward.
  // Every layer and head of each kind of attention: encoder self-attention (source x source),
  // decoder masked self-attention (target inputs, each seeing itself and earlier ones) and
  // cross-attention (outputs y_1 .. y_n <eos> x source).
  std::vector<viz::Figure> look(const torch::Tensor& src, const torch::Tensor& tgt_in, const viz::LookOptions& options) override;
  void keep_attention(bool keep);
  TransformerAttention attention() const;
  const TransformerConfig& config() const { return config_; }

 private:
  // tokens (B, T) at positions (T) or (B, 1) -> embeddings * sqrt(E) + p(t), dropped out: (B, T, E)
  torch::Tensor embed(const torch::Tensor& tokens, const torch::Tensor& positions, bool source);
  // The encoder stack: memory (B, S, E) and the source padding (B, S).
  std::pair<torch::Tensor, torch::Tensor> run_encoder(const torch::Tensor& src);
  torch::Tensor logits(const torch::Tensor& y);  // (B, T, E) -> (B, T, V)

  TransformerConfig config_;
  bool learned_positions_;
  torch::nn::Embedding src_embed{nullptr}, tgt_embed{nullptr}, src_pos{nullptr}, tgt_pos{nullptr};
  torch::nn::ModuleDict encoder{nullptr}, decoder{nullptr};  // "layers" and, pre-norm, "norm"
  torch::nn::ModuleList encoder_layers{nullptr}, decoder_layers{nullptr};
  torch::nn::LayerNorm encoder_norm{nullptr}, decoder_norm{nullptr};  // pre-norm only
  torch::nn::Linear generator{nullptr};                                 // untied only
  torch::Tensor generator_bias;                                         // tied only
  nn::Dropout dropout{nullptr};
  torch::Tensor sinusoids_;  // (max_positions, E), a buffer
};
TORCH_MODULE(Transformer);

}  // namespace zoo::models
