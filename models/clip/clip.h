// CLIP (Radford et al. 2021, "Learning Transferable Visual Models From Natural Language
// Supervision"), in the layout of OpenAI's released state dicts (openai/CLIP's model.py), so that
// they load by name: `visual.*` (a ViT or the modified ResNet), `token_embedding`,
// `positional_embedding`, `transformer.resblocks.N.*`, `ln_final`, `text_projection`,
// `logit_scale`.
//
// The seeds' CLIP: an image encoder and a text encoder, each followed by a linear projection
// into one joint space, trained so that in a batch of N image-text pairs the N true pairs have
// the highest cosine similarity and the N^2 - N others low:
//   I_e = normalize(f_image(I) W_i),  T_e = normalize(f_text(T) W_t)
//   logits = exp(t) * I_e T_e^T              (N x N; t learned, exp(t) at most 100)
//   loss = (CE(logits, arange N) + CE(logits^T, arange N)) / 2
// The text encoder is a causal Transformer read at the end-of-text token; the image encoder a
// ViT read at its class token (ln_post, then the projection), or a ResNet whose global average
// pool is replaced by one layer of multi-head attention pooling.
#pragma once
#include <torch/torch.h>

#include <cmath>
#include <string>
#include <vector>

#include "lib/core/option_schema.h"
#include "lib/nn/multihead_attention.h"

namespace zoo::models {

struct ClipConfig {
  int64_t embed_dim = 512;  // the joint space
  // The image tower: "vit" (patches, class token) or "resnet" (the modified ResNet).
  std::string vision = "vit";
  int64_t image_size = 224;  // the preprocessing's input_size
  int64_t patch_size = 32;                             // vit
  int64_t vision_width = 768;                          // vit: token width; resnet: the stem's width (64 for RN50)
  int64_t vision_layers = 12;                          // vit: blocks
  std::vector<int64_t> resnet_blocks{3, 4, 6, 3};      // resnet: bottleneck blocks per stage
  int64_t vision_heads = 0;                            // 0: CLIP's rule, vit width / 64, resnet width * 32 / 64
  // The text tower.
  int64_t context_length = 77;
  int64_t vocab_size = 49408;
  int64_t text_width = 512, text_heads = 8, text_layers = 12;
  // Where the text is pooled: the first position holding this token (CLIP: <|endoftext|>,
  // 49407, the largest id, so openai/CLIP's argmax finds the same position).
  int64_t eot_token = 49407;

  int64_t heads_of_vision() const {
    if (vision_heads > 0) return vision_heads;
    return vision == "vit" ? vision_width / 64 : vision_width * 32 / 64;
  }
  static const OptionSchema<ClipConfig>& options();
};

inline const OptionSchema<ClipConfig>& ClipConfig::options() {
  static const auto schema =
      OptionSchema<ClipConfig>("CLIP")
          .option("embed_dim", &ClipConfig::embed_dim, at_least(1), "the joint image-text space's width")
          .option("vision", &ClipConfig::vision, one_of({"vit", "resnet"}), "the image tower: a ViT, or the modified ResNet with attention pooling")
          .option("patch_size", &ClipConfig::patch_size, at_least(1), "vit: P x P patches")
          .option("vision_width", &ClipConfig::vision_width, at_least(1), "vit: the tokens' width; resnet: the stem's width (stage 4 has 32x it)")
          .option("vision_layers", &ClipConfig::vision_layers, at_least(1), "vit: blocks")
          .option("resnet_blocks", &ClipConfig::resnet_blocks, at_least(1), "resnet: bottlenecks per stage, four numbers (--set resnet_blocks=3,4,6,3)")
          .option("vision_heads", &ClipConfig::vision_heads, at_least(0), "attention heads of the image tower (0: CLIP's rule, vit width/64, resnet width*32/64)")
          .option("context_length", &ClipConfig::context_length, at_least(2), "text tokens per caption, <|startoftext|> and <|endoftext|> included")
          .option("vocab_size", &ClipConfig::vocab_size, at_least(3), "text vocabulary (set by the tokenizer: 49408 for CLIP's BPE)")
          .option("text_width", &ClipConfig::text_width, at_least(1), "the text transformer's width")
          .option("text_heads", &ClipConfig::text_heads, at_least(1), "the text transformer's heads")
          .option("text_layers", &ClipConfig::text_layers, at_least(1), "the text transformer's blocks")
          .option("eot_token", &ClipConfig::eot_token, at_least(0), "the token the text is read at (set by the tokenizer)")
          .rule([](const ClipConfig& c) {
            if (c.vision == "vit" && c.image_size % c.patch_size != 0)
              throw UsageError("invalid patch_size " + std::to_string(c.patch_size) + ": the image size " + std::to_string(c.image_size) +
                               " must be a multiple of it");
            if (c.vision == "resnet" && c.resnet_blocks.size() != 4)
              throw UsageError("invalid resnet_blocks: expected four numbers, one per stage");
            if (c.vision == "resnet" && c.image_size % 32 != 0)
              throw UsageError("invalid image size " + std::to_string(c.image_size) + " for the ResNet tower: it must be a multiple of 32");
            if (c.text_width % c.text_heads != 0) throw UsageError("invalid text_heads: text_width must be a multiple of it");
            const int64_t vision_channels = c.vision == "vit" ? c.vision_width : c.vision_width * 32;
            if (vision_channels % c.heads_of_vision() != 0) throw UsageError("invalid vision_heads: the image tower's width must be a multiple of it");
            if (c.eot_token >= c.vocab_size) throw UsageError("invalid eot_token: it must be below vocab_size");
          });
  return schema;
}

// QuickGELU, CLIP's activation: x * sigmoid(1.702 x).
class QuickGeluImpl : public torch::nn::Module {
 public:
  torch::Tensor forward(const torch::Tensor& x) { return x * torch::sigmoid(1.702 * x); }
};
TORCH_MODULE(QuickGelu);

// CLIP's ResidualAttentionBlock: pre-norm self-attention and MLP (c_fc, QuickGELU, c_proj).
//   x = x + Attn(LN_1(x));  x = x + MLP(LN_2(x))
class ClipBlockImpl : public torch::nn::Module {
 public:
  ClipBlockImpl(int64_t width, int64_t heads);
  torch::Tensor forward(const torch::Tensor& x, bool causal);  // (B, T, W) -> (B, T, W)

  nn::MultiheadAttention attn{nullptr};
  torch::nn::LayerNorm ln_1{nullptr}, ln_2{nullptr};
  torch::nn::Sequential mlp{nullptr};  // c_fc (W -> 4W), gelu, c_proj (4W -> W)
};
TORCH_MODULE(ClipBlock);

// A stack of blocks, `resblocks.N`.
class ClipTransformerImpl : public torch::nn::Module {
 public:
  ClipTransformerImpl(int64_t width, int64_t layers, int64_t heads);
  torch::Tensor forward(torch::Tensor x, bool causal);
  // OpenAI's initialisation of the text transformer: attention in-projections N(0, W^-1/2),
  // output projections N(0, W^-1/2 (2L)^-1/2), c_fc N(0, (2W)^-1/2).
  void init_openai();
  void keep_attention(bool keep);
  std::vector<torch::Tensor> attention_maps() const;  // each block's (B, heads, T, T), last forward

  torch::nn::Sequential resblocks{nullptr};
  int64_t width, layers;
};
TORCH_MODULE(ClipTransformer);

// The ViT image tower: conv1 (no bias), class_embedding, positional_embedding, ln_pre, the
// blocks, ln_post on the class token, proj (W, D).
class ClipVisionTransformerImpl : public torch::nn::Module {
 public:
  explicit ClipVisionTransformerImpl(const ClipConfig& config);
  torch::Tensor forward(const torch::Tensor& images);  // (B, 3, S, S) -> (B, D)

  torch::nn::Conv2d conv1{nullptr};
  torch::Tensor class_embedding;      // (W)
  torch::Tensor positional_embedding;  // (1 + (S/P)^2, W)
  torch::nn::LayerNorm ln_pre{nullptr}, ln_post{nullptr};
  ClipTransformer transformer{nullptr};
  torch::Tensor proj;  // (W, D)
  int64_t grid;
};
TORCH_MODULE(ClipVisionTransformer);

// The modified ResNet's bottleneck: 1x1, 3x3, then a 2x2 average pool (when striding) before
// the last 1x1, so every convolution has stride 1 (anti-aliased); the shortcut pools the same
// way before its 1x1 ("downsample": -1 pool, 0 conv, 1 BatchNorm).
class ClipBottleneckImpl : public torch::nn::Module {
 public:
  ClipBottleneckImpl(int64_t inplanes, int64_t planes, int64_t stride);
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr}, bn3{nullptr};
  torch::nn::Sequential downsample{nullptr};
  int64_t stride;
};
TORCH_MODULE(ClipBottleneck);

// Attention pooling: the mean of the final feature map is the one query over [mean; every
// position] (positions embedded), through separate q/k/v projections and c_proj:
//   y = c_proj(softmax(q(x_mean) k(X)^T / sqrt(d)) v(X))
class ClipAttentionPoolImpl : public torch::nn::Module {
 public:
  ClipAttentionPoolImpl(int64_t spatial, int64_t width, int64_t heads, int64_t output_dim);
  torch::Tensor forward(const torch::Tensor& features);  // (B, C, H, W) -> (B, D)

  torch::Tensor positional_embedding;  // (1 + H W, C)
  torch::nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, c_proj{nullptr};
  int64_t heads;
  bool keep_weights = false;
  torch::Tensor last_weights;  // (B, heads, 1 + H W): the pooled query's attention, when kept
};
TORCH_MODULE(ClipAttentionPool);

// The modified ResNet image tower: a three-convolution stem with a 2x2 average pool, four stages
// of bottlenecks, attention pooling instead of the global average pool.
class ClipModifiedResNetImpl : public torch::nn::Module {
 public:
  explicit ClipModifiedResNetImpl(const ClipConfig& config);
  torch::Tensor forward(const torch::Tensor& images);  // (B, 3, S, S) -> (B, D)

  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr}, bn3{nullptr};
  torch::nn::Sequential layer1{nullptr}, layer2{nullptr}, layer3{nullptr}, layer4{nullptr};
  ClipAttentionPool attnpool{nullptr};
};
TORCH_MODULE(ClipModifiedResNet);

// Both towers' outputs for a batch: unnormalised projections, and the temperature.
struct ClipOutput {
  torch::Tensor image_embeddings;  // (B, D)
  torch::Tensor text_embeddings;   // (B, D)
  torch::Tensor logit_scale;       // exp(t), at most 100: a 0-dim tensor
};

class ClipImpl : public torch::nn::Module {
 public:
  explicit ClipImpl(const ClipConfig& config);

  // openai/CLIP's encode_image / encode_text: unnormalised projections into the joint space.
  torch::Tensor encode_image(const torch::Tensor& images);  // (B, 3, S, S) -> (B, D)
  torch::Tensor encode_text(const torch::Tensor& tokens);   // (B, context) int64 -> (B, D)
  // exp(logit_scale) clamped at 100 (the paper's clip of the learned temperature).
  torch::Tensor temperature() const;
  ClipOutput forward(const torch::Tensor& images, const torch::Tensor& tokens);

  // Keep the towers' attention weights of the next encode (zoo visualize).
  void keep_attention(bool keep);
  // The image tower's attention: ViT, each block's (B, heads, T, T); ResNet, the pooling query's
  // (B, heads, 1, 1 + H W) in one entry.
  std::vector<torch::Tensor> image_attention() const;
  const ClipConfig& config() const { return config_; }

  ClipVisionTransformer visual_vit{nullptr};
  ClipModifiedResNet visual_resnet{nullptr};
  ClipTransformer transformer{nullptr};
  torch::nn::Embedding token_embedding{nullptr};
  torch::Tensor positional_embedding;  // (context, W)
  torch::nn::LayerNorm ln_final{nullptr};
  torch::Tensor text_projection;  // (W, D)
  torch::Tensor logit_scale;      // 0-dim, log(1 / 0.07) at the start

 private:
  ClipConfig config_;
};
TORCH_MODULE(Clip);

// Whether CLIP's training decays parameter `name`: the matrices (embeddings included), not gains,
// biases, BatchNorm's or LayerNorm's parameters or the temperature (open_clip's exclusion).
inline bool clip_weight_decayed(const std::string& name, const torch::Tensor& parameter) {
  return parameter.dim() >= 2 && name.find("ln_") == std::string::npos && name.find("bn") == std::string::npos;
}

// The symmetric contrastive loss of a batch of pairs, row i of each the same pair:
// logits = scale * normalize(images) normalize(texts)^T; (CE(logits, i) + CE(logits^T, i)) / 2.
torch::Tensor clip_contrastive_loss(const torch::Tensor& image_embeddings, const torch::Tensor& text_embeddings,
                                    const torch::Tensor& logit_scale);

// CLIP's prompt ensemble of one class: its prompts' embeddings (T, D), each normalised, averaged,
// and the mean normalised again -> (D).
torch::Tensor clip_prompt_ensemble(const torch::Tensor& prompt_embeddings);

// The contrastive loss of a batch too large for one graph (GradCache: Gao et al. 2021, "Scaling
// Deep Contrastive Learning Batch Size under Memory Limited Setup"): the embeddings of every
// chunk of `chunk` pairs are computed without a graph, the loss and its gradient with respect to
// them over the whole batch, then each chunk is encoded again with its graph and that gradient
// (times `gradient_scale`) is sent back through it. The parameters' gradients equal those of
// the whole batch's loss (times gradient_scale), accumulated into .grad; returns the loss
// (detached). Dropout masks are replayed (the RNG state of each chunk's first pass is restored
// for its second) and BatchNorm's running statistics are updated once per chunk. A tower with
// BatchNorm in training mode (the ResNet) normalises each chunk by the chunk's own statistics, so
// its gradients are those of the chunked forward, as under any micro-batching; the ViT towers
// (LayerNorm only) give exactly the whole batch's.
torch::Tensor clip_grad_cache_backward(ClipImpl& model, const torch::Tensor& images, const torch::Tensor& tokens, int64_t chunk,
                                       double gradient_scale);

}  // namespace zoo::models

namespace zoo::models {

// How captions become tokens, and what the image tower is fed.
struct ClipTextConfig {
  // clip: CLIP's byte-level BPE (vocabulary 49,408; the merges file is read once, then travels in
  // the checkpoint); word: lower-cased words of the training captions seen min_count times, with
  // <pad> <unk> <|startoftext|> <|endoftext|> (a vocabulary of hundreds, for small CPU models).
  std::string tokenizer = "clip";
  int64_t min_count = 1;
  std::string bpe;  // the merges file (default: $ZOO_CLIP_BPE, $ZOO_SHARED_DATA/clip, ../shared/data/clip)
  static const OptionSchema<ClipTextConfig>& options();
};

inline const OptionSchema<ClipTextConfig>& ClipTextConfig::options() {
  static const auto schema =
      OptionSchema<ClipTextConfig>("CLIP text")
          .option("tokenizer", &ClipTextConfig::tokenizer, one_of({"clip", "word"}),
                  "clip: CLIP's byte-level BPE (vocab_size 49408, the released models' ids); word: the training captions' lower-cased words "
                  "(vocab_size and eot_token set from them)")
          .option("min_count", &ClipTextConfig::min_count, at_least(1), "word: a word needs this many occurrences in the training captions")
          .option("bpe", &ClipTextConfig::bpe, anything(),
                  "clip: the merges file bpe_simple_vocab_16e6.txt.gz (default: $ZOO_CLIP_BPE, $ZOO_SHARED_DATA/clip/, ../shared/data/clip/)");
  return schema;
}

// Gradient caching (clip_grad_cache_backward): the batch's contrastive loss over every pair,
// the towers' graphs built grad_cache_chunk pairs at a time.
struct ClipGradCacheConfig {
  bool grad_cache = false;
  int64_t grad_cache_chunk = 32;
  static const OptionSchema<ClipGradCacheConfig>& options();
};

inline const OptionSchema<ClipGradCacheConfig>& ClipGradCacheConfig::options() {
  static const auto schema =
      OptionSchema<ClipGradCacheConfig>("CLIP gradient caching")
          .option("grad_cache", &ClipGradCacheConfig::grad_cache,
                  "embed the batch without graphs first, then replay it in chunks with the whole batch's gradient: the loss and "
                  "gradients of the whole batch in the memory of one chunk (one process only)")
          .option("grad_cache_chunk", &ClipGradCacheConfig::grad_cache_chunk, at_least(1), "pairs per chunk with grad_cache");
  return schema;
}

}  // namespace zoo::models
