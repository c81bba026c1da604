// BERT (Devlin et al. 2018, "BERT: Pre-training of Deep Bidirectional Transformers for Language
// Understanding"): the seeds' second pretraining paradigm beside GPT. A bidirectional Transformer
// encoder reads a whole sequence at once (no causal mask), pretrained to restore masked tokens
// (the masked language model), then fine-tuned with a small head on [CLS].
//   h_0 = LN(E_word[x] + E_pos[t] + E_type[s])
//   h_l = LN(a + FFN(a)),  a = LN(h_{l-1} + MultiHead(h_{l-1}))       (post-norm, GELU)
//   MLM:  p(x_t | x_masked) = softmax(E_word LN(GELU(W h_L,t)) + b)   (the word embeddings tied)
//   pooled = tanh(W_p h_L,[CLS])                                      (the classifier's input)
// Module names are those of the published checkpoints as Hugging Face's BertModel /
// BertForMaskedLM lay them out (embeddings.word_embeddings, encoder.layer.N.attention.self.query,
// encoder.layer.N.attention.output.LayerNorm, encoder.layer.N.intermediate.dense,
// encoder.layer.N.output.dense, pooler.dense, cls.predictions.transform.dense, ...), so their
// state dicts import (`zoo import --from bert`).
#pragma once
#include <string>
#include <vector>

#include "lib/core/option_schema.h"
#include "lib/nn/dropout.h"
#include "lib/viz/figure.h"

namespace zoo::models {

// bert_base's sizes by default (Google's BERT-Base: 12 layers, width 768, 12 heads).
struct BertConfig {
  int64_t vocab = 30522, layers = 12, width = 768, heads = 12, ffn = 3072;
  int64_t max_positions = 512, type_vocab = 2;
  double dropout = 0.1;  // hidden_dropout_prob and attention_probs_dropout_prob
  static const OptionSchema<BertConfig>& options();
};

inline const OptionSchema<BertConfig>& BertConfig::options() {
  static const auto schema =
      OptionSchema<BertConfig>("BERT")
          .option("vocab", &BertConfig::vocab, at_least(5), "word pieces, including [PAD] [UNK] [CLS] [SEP] [MASK]; follows the vocabulary")
          .option("layers", &BertConfig::layers, at_least(1), "Transformer encoder blocks")
          .option("width", &BertConfig::width, at_least(1), "hidden size H")
          .option("heads", &BertConfig::heads, at_least(1), "attention heads (H must be a multiple)")
          .option("ffn", &BertConfig::ffn, at_least(1), "intermediate size (4H in the published models)")
          .option("max_positions", &BertConfig::max_positions, at_least(1), "the longest sequence (the position table)")
          .option("type_vocab", &BertConfig::type_vocab, at_least(1), "segment (token type) embeddings: sentence A and B")
          .option("dropout", &BertConfig::dropout, fraction(), "on the embeddings, attention weights and every sublayer's output")
          .rule([](const BertConfig& c) {
            if (c.width % c.heads != 0)
              throw UsageError("invalid heads " + std::to_string(c.heads) + ": the width " + std::to_string(c.width) + " must be a multiple of it");
          });
  return schema;
}

class BertEmbeddingsImpl : public torch::nn::Module {
 public:
  explicit BertEmbeddingsImpl(const BertConfig& c);
  // tokens, token_types (B, T) -> (B, T, H)
  torch::Tensor forward(const torch::Tensor& tokens, const torch::Tensor& token_types);
  torch::nn::Embedding word_embeddings{nullptr}, position_embeddings{nullptr}, token_type_embeddings{nullptr};
  torch::nn::LayerNorm LayerNorm{nullptr};
  nn::Dropout dropout{nullptr};
};
TORCH_MODULE(BertEmbeddings);

// Multi-head self-attention with BERT's separate query, key and value projections.
class BertSelfAttentionImpl : public torch::nn::Module {
 public:
  explicit BertSelfAttentionImpl(const BertConfig& c);
  // x (B, T, H), padding (B, T) true at padding -> the heads concatenated (B, T, H), before W^O.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& padding);
  torch::nn::Linear query{nullptr}, key{nullptr}, value{nullptr};
  nn::Dropout dropout{nullptr};
  bool keep_weights = false;
  torch::Tensor last_weights;  // (B, heads, T, T), when kept

 private:
  int64_t heads_;
};
TORCH_MODULE(BertSelfAttention);

// A sublayer's output: LN(residual + Dropout(W x + b)) (Hugging Face's BertSelfOutput and BertOutput).
class BertSublayerOutputImpl : public torch::nn::Module {
 public:
  BertSublayerOutputImpl(int64_t in, int64_t width, double dropout);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& residual);
  torch::nn::Linear dense{nullptr};
  torch::nn::LayerNorm LayerNorm{nullptr};
  nn::Dropout dropout{nullptr};
};
TORCH_MODULE(BertSublayerOutput);

class BertAttentionImpl : public torch::nn::Module {
 public:
  explicit BertAttentionImpl(const BertConfig& c);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& padding) { return output(self->forward(x, padding), x); }
  BertSelfAttention self{nullptr};
  BertSublayerOutput output{nullptr};
};
TORCH_MODULE(BertAttention);

class BertLayerImpl : public torch::nn::Module {
 public:
  explicit BertLayerImpl(const BertConfig& c);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& padding);
  BertAttention attention{nullptr};
  torch::nn::ModuleDict intermediate{nullptr};  // "dense": H -> ffn, then GELU
  BertSublayerOutput output{nullptr};
};
TORCH_MODULE(BertLayer);

// The encoder: embeddings, blocks and the pooler; the MLM task and the classifier add their heads.
class BertImpl : public torch::nn::Module {
 public:
  explicit BertImpl(const BertConfig& config);
  // tokens (B, T) word-piece ids, 0 = [PAD] (masked as keys); token_types (B, T) or undefined
  // (all sentence A) -> the last layer's states (B, T, H).
  torch::Tensor forward(const torch::Tensor& tokens, const torch::Tensor& token_types = {});
  // tanh(W_p h_[CLS]): (B, T, H) -> (B, H)
  torch::Tensor pool(const torch::Tensor& states);
  // Keep every layer's attention weights from now on (or stop); after a forward, per layer (B, heads, T, T).
  void keep_attention(bool keep);
  std::vector<torch::Tensor> attention_maps() const;
  // Every layer's attention for one sequence (1, T): a grid, layers down and heads across.
  std::vector<viz::Figure> look(const torch::Tensor& tokens, const viz::LookOptions& options);
  const BertConfig& config() const { return config_; }

  BertEmbeddings embeddings{nullptr};
  torch::nn::ModuleDict encoder{nullptr};  // "layer": the blocks
  torch::nn::ModuleList layers{nullptr};
  torch::nn::ModuleDict pooler{nullptr};   // "dense"

 private:
  BertConfig config_;
};
TORCH_MODULE(Bert);

// The masked language model's head (BertForMaskedLM's cls.predictions): a transform
// LN(GELU(W h + b)), then scores over the word pieces through the word-embedding matrix (tied) and
// an own bias: (N, H) -> (N, V).
class BertMlmHeadImpl : public torch::nn::Module {
 public:
  BertMlmHeadImpl(const BertConfig& c, torch::Tensor word_embeddings);
  torch::Tensor forward(const torch::Tensor& states);
  torch::nn::ModuleDict transform{nullptr};  // "dense", "LayerNorm"
  torch::Tensor bias;

 private:
  torch::Tensor word_embeddings_;  // the embeddings' weight, shared
};
TORCH_MODULE(BertMlmHead);

// BERT pretrained as a masked language model (Hugging Face's BertForMaskedLM, its `bert.` prefix
// dropped): the encoder's names, and the head as cls.predictions.
class BertForMaskedLmImpl : public BertImpl {
 public:
  explicit BertForMaskedLmImpl(const BertConfig& config);
  // The head's scores (N, V) for states (N, H), e.g. those of the masked positions only.
  torch::Tensor predict_tokens(const torch::Tensor& states) { return predictions->forward(states); }
  torch::nn::ModuleDict cls{nullptr};  // "predictions"
  BertMlmHead predictions{nullptr};
};
TORCH_MODULE(BertForMaskedLm);

// BERT fine-tuned to classify a sequence (BertForSequenceClassification, `bert.` dropped): a
// linear layer on the pooled [CLS] state after dropout.
class BertClassifierImpl : public BertImpl {
 public:
  BertClassifierImpl(const BertConfig& config, int64_t num_classes);
  // tokens, token_types (B, T) -> logits (B, classes)
  torch::Tensor classify(const torch::Tensor& tokens, const torch::Tensor& token_types = {});
  torch::nn::Linear classifier{nullptr};
  nn::Dropout dropout{nullptr};
};
TORCH_MODULE(BertClassifier);

}  // namespace zoo::models
