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

struct GptConfig {
  int64_t vocab = 69, layers = 6, heads = 6, width = 384, context = 256;
  double dropout = 0.2;
  std::string positions = "learned";  // learned | sinusoidal | rotary
  bool bias = true;                   // in the Linear and LayerNorm layers
  bool tie_weights = true;            // output layer = token embedding matrix
};

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
  // T_past, head_dim), or empty. T_past + T must not exceed the context.
  LmOutput forward(const torch::Tensor& tokens, const std::vector<torch::Tensor>& state) override;
  int64_t context() const override { return config_.context; }
  bool recurrent() const override { return false; }
  int64_t vocab_size() const override { return config_.vocab; }

  // Keep (or stop keeping) every block's attention weights; after a forward, per layer (B, heads, T, T).
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
