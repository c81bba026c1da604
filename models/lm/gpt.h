// A decoder-only transformer language model (GPT; Radford et al. 2018/2019), written as
// nanoGPT's model.py: token (+ position) embeddings -> pre-norm blocks of masked multi-head
// self-attention and a GELU MLP -> final LayerNorm -> logits through the tied embedding matrix.
// Parameter names are nanoGPT's ("transformer.h.0.attn.c_attn.weight").
#pragma once
#include <string>

#include "lib/nn/dropout.h"
#include "lib/nn/multihead_attention.h"
#include "lib/nn/positional.h"
#include "models/lm/language_model.h"

namespace zoo::models {

// The vocabulary follows the data (the lm task's text options cap it); the rest are the model's
// options, gpt's sizes by default (nanoGPT's shakespeare_char).
struct GptConfig {
  int64_t vocab = 69, layers = 6, heads = 6, width = 384, context = 256;
  double dropout = 0.2;
  std::string positions = "learned";
  bool bias = true;
  bool tie_weights = true;
  static const OptionSchema<GptConfig>& options();
};

inline const OptionSchema<GptConfig>& GptConfig::options() {
  static const auto schema =
      OptionSchema<GptConfig>("GPT")
          .option("layers", &GptConfig::layers, at_least(1), "transformer blocks")
          .option("heads", &GptConfig::heads, at_least(1), "attention heads (width must be a multiple)")
          .option("width", &GptConfig::width, at_least(1), "model width")
          .option("context", &GptConfig::context, at_least(1), "longest sequence; the training window")
          .option("dropout", &GptConfig::dropout, fraction(), "on embeddings, attention weights and both residual branches")
          .option("positions", &GptConfig::positions, one_of({"learned", "sinusoidal", "rotary"}),
                  "learned (GPT-2's wpe), sinusoidal (Vaswani et al.'s fixed table, added), rotary (RoFormer: queries and keys rotated "
                  "by position, pairs (x_2i, x_2i+1))")
          .option("bias", &GptConfig::bias, "biases in the linear and LayerNorm layers")
          .option("tie_weights", &GptConfig::tie_weights, "output layer = token embedding matrix; false adds lm_head")
          .rule([](const GptConfig& c) {
            if (c.width % c.heads != 0)
              throw UsageError("invalid heads " + std::to_string(c.heads) + ": the width " + std::to_string(c.width) + " must be a multiple of it");
            if (c.positions == "rotary" && (c.width / c.heads) % 2 != 0)
              throw UsageError("rotary positions need an even head width, not " + std::to_string(c.width / c.heads));
          });
  return schema;
}

// The position-wise MLP: c_proj(GELU(c_fc(x))), 4x wider in the middle.
class GptMlpImpl : public torch::nn::Module {
 public:
  GptMlpImpl(int64_t width, bool bias);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Linear c_fc{nullptr}, c_proj{nullptr};
};
TORCH_MODULE(GptMlp);

class GptBlockImpl : public torch::nn::Module {
 public:
  GptBlockImpl(const GptConfig& config);
  torch::Tensor forward(const torch::Tensor& x, nn::KeyValueCache* cache, const nn::RotaryTable* rotary);
  torch::nn::LayerNorm ln_1{nullptr}, ln_2{nullptr};
  nn::MultiheadAttention attn{nullptr};
  GptMlp mlp{nullptr};
  nn::Dropout resid_dropout{nullptr};
};
TORCH_MODULE(GptBlock);

class GptImpl : public LanguageModel {
 public:
  explicit GptImpl(const GptConfig& config);

  // tokens (B, T); state: the key/value cache [k_0, v_0, k_1, v_1, ...], each (B, heads,
  // T_past, head_dim), or empty, or reserve_state's (the same and a marker). T_past + T must not
  // exceed the context.
  LmOutput forward(const torch::Tensor& tokens, const std::vector<torch::Tensor>& state) override;
  // An empty state for `batch` sequences whose caches have room for the whole context
  // (nn::reserve_cache), marked by one more, empty tensor at the end: a sample continued from it
  // writes each token's keys and values in place. Continue it once only (see nn::KeyValueCache).
  std::vector<torch::Tensor> reserve_state(int64_t batch) const;
  int64_t context() const override { return config_.context; }
  bool recurrent() const override { return false; }
  int64_t vocab_size() const override { return config_.vocab; }

  // Keep (or stop keeping) every block's attention weights; after a forward, per layer (B, heads, T, T).
  // Every layer's and head's masked self-attention over the tokens.
  std::vector<viz::Figure> look(const torch::Tensor& tokens, const viz::LookOptions& options) override;
  void keep_attention(bool keep);
  std::vector<torch::Tensor> attention_maps() const;
  const GptConfig& config() const { return config_; }

 private:
  GptConfig config_;
  nn::PositionKind positions_;
  torch::nn::ModuleDict transformer{nullptr};
  torch::nn::Embedding wte{nullptr}, wpe{nullptr};
  nn::Dropout drop{nullptr};
  torch::nn::ModuleList h{nullptr};
  torch::nn::LayerNorm ln_f{nullptr};
  torch::nn::Linear lm_head{nullptr};
  // Fixed tables, registered as buffers (they travel with the model and its checkpoints).
  torch::Tensor sinusoids_;  // (context, width)
  nn::RotaryTable rotary_;   // (context, head_dim / 2) each
};
TORCH_MODULE(Gpt);

}  // namespace zoo::models
