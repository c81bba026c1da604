// Pyramid Vision Transformer v1 (Wang et al. 2021, "Pyramid Vision Transformer: A Versatile
// Backbone for Dense Prediction without Convolutions"), in the layout of the authors' classifier
// (whai362/PVT: patch_embed1..4, pos_embed1..4, block1..4, norm, cls_token, head), so its state
// dicts load by name; parameter counts as published (PVT-Tiny 13.2M, Small 24.5M, Medium 44.2M,
// Large 61.4M at 1000 classes).
//
// The seeds' pyramid transformers bring a CNN's hierarchy to ViT: four stages, each starting with
// a patch embedding that shrinks the grid (4x, then 2x, 2x, 2x) and widens the tokens, so the
// stages see strides 4, 8, 16 and 32 as a ResNet does. Attention over the stage-1 grid (56x56 at
// 224 px) would cost (HW)^2; spatial-reduction attention shrinks the keys and values instead:
//   SRA(Q, K, V) = Concat(head_0, ..., head_N) W^O,  head_j = Attention(Q W_j^Q, SR(K) W_j^K, SR(V) W_j^V)
//   SR(x) = Norm(Reshape(x, R_i) W^S)   (an R_i x R_i stride-R_i convolution, then LayerNorm)
// so each query attends to HW / R_i^2 keys. A class token joins the last stage only.
#pragma once
#include "lib/nn/dropout.h"
#include "models/vision/classifier.h"

namespace zoo::models {

struct PvtConfig {
  int64_t image_size = 224;                      // from the preprocessing's input_size
  int64_t patch_size = 4;                        // the first stage's patch side; later stages merge 2x2
  std::vector<int64_t> widths{64, 128, 320, 512};
  std::vector<int64_t> heads{1, 2, 5, 8};
  std::vector<int64_t> mlp_ratios{8, 8, 4, 4};
  std::vector<int64_t> depths{2, 2, 2, 2};
  std::vector<int64_t> sr_ratios{8, 4, 2, 1};    // R_i: keys and values on a grid R_i times coarser
  double dropout = 0.0;
  double drop_path = 0.1;
  int64_t num_classes = 1000;
  static const OptionSchema<PvtConfig>& options();
};

inline const OptionSchema<PvtConfig>& PvtConfig::options() {
  static const auto schema =
      OptionSchema<PvtConfig>("PVT")
          .option("num_classes", &PvtConfig::num_classes, at_least(1), num_classes_help)
          .option("patch_size", &PvtConfig::patch_size, at_least(1), "side of the first stage's patches; each later stage merges 2x2 tokens")
          .option("widths", &PvtConfig::widths, at_least(1), "token width per stage (--set widths=64,128,320,512)")
          .option("heads", &PvtConfig::heads, at_least(1), "attention heads per stage")
          .option("mlp_ratios", &PvtConfig::mlp_ratios, at_least(1), "the MLP's hidden width over the block's width, per stage")
          .option("depths", &PvtConfig::depths, at_least(1), "blocks per stage")
          .option("sr_ratios", &PvtConfig::sr_ratios, at_least(1), "R_i per stage: keys and values come from an R_i x R_i stride-R_i convolution")
          .option("dropout", &PvtConfig::dropout, fraction(), "dropout after the position embeddings, the attention output and in the MLP")
          .option("drop_path", &PvtConfig::drop_path, fraction(), "stochastic depth of the last block, rising linearly from 0 at the first")
          .rule([](const PvtConfig& c) {
            const size_t stages = c.depths.size();
            if (c.widths.size() != stages || c.heads.size() != stages || c.mlp_ratios.size() != stages || c.sr_ratios.size() != stages)
              throw UsageError("invalid PVT widths/heads/mlp_ratios/depths/sr_ratios: expected one number per stage in each");
            for (size_t s = 0; s < stages; ++s)
              if (c.widths[s] % c.heads[s] != 0)
                throw UsageError("invalid PVT heads " + std::to_string(c.heads[s]) + ": stage " + std::to_string(s + 1) + "'s width " +
                                 std::to_string(c.widths[s]) + " must be a multiple of it");
          });
  return schema;
}

// UsageError unless an image of `input_size` pixels makes whole grids: input_size / patch_size,
// halved at each later stage, each divisible by its stage's R_i.
void check_pvt_grid(int64_t input_size, const PvtConfig& config);

// Spatial-reduction attention (the authors' Attention: q, kv, proj; sr and norm when R > 1).
class SpatialReductionAttentionImpl : public torch::nn::Module {
 public:
  SpatialReductionAttentionImpl(int64_t dim, int64_t heads, int64_t sr_ratio, double dropout);
  // x (B, N, C) of an h x w grid (a class token first when N = 1 + h w, then R must be 1).
  torch::Tensor forward(const torch::Tensor& x, int64_t h, int64_t w);
  void keep_weights(bool keep) { keep_ = keep; }
  const torch::Tensor& last_weights() const { return last_; }  // (B, heads, N, N / R^2)
  int64_t sr_ratio() const { return sr_ratio_; }

  torch::nn::Linear q{nullptr}, kv{nullptr}, proj{nullptr};
  torch::nn::Conv2d sr{nullptr};
  torch::nn::LayerNorm norm{nullptr};

 private:
  int64_t heads_, sr_ratio_;
  nn::Dropout dropout_{nullptr};
  bool keep_ = false;
  torch::Tensor last_;
};
TORCH_MODULE(SpatialReductionAttention);

// The MLP of a block: fc1, GELU, fc2.
class PvtMlpImpl : public torch::nn::Module {
 public:
  PvtMlpImpl(int64_t dim, int64_t hidden, double dropout);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};

 private:
  nn::Dropout dropout_{nullptr};
};
TORCH_MODULE(PvtMlp);

// x = x + SD(SRA(LN(x))); x = x + SD(MLP(LN(x))).
class PvtBlockImpl : public torch::nn::Module {
 public:
  PvtBlockImpl(int64_t dim, int64_t heads, int64_t mlp_ratio, int64_t sr_ratio, double dropout, double drop_path);
  torch::Tensor forward(const torch::Tensor& x, int64_t h, int64_t w);
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  SpatialReductionAttention attn{nullptr};
  PvtMlp mlp{nullptr};

 private:
  nn::DropPath drop_path_{nullptr};
};
TORCH_MODULE(PvtBlock);

// A stage's patch embedding: a P x P stride-P convolution, then LayerNorm over the tokens.
class PvtPatchEmbedImpl : public torch::nn::Module {
 public:
  PvtPatchEmbedImpl(int64_t in_channels, int64_t dim, int64_t patch);
  torch::Tensor forward(const torch::Tensor& x);  // (B, Cin, H, W) -> (B, H/P * W/P, C)
  torch::nn::Conv2d proj{nullptr};
  torch::nn::LayerNorm norm{nullptr};
};
TORCH_MODULE(PvtPatchEmbed);

class PyramidVisionTransformerImpl : public ImageClassifierImpl {
 public:
  explicit PyramidVisionTransformerImpl(const PvtConfig& config);
  torch::Tensor forward(torch::Tensor images) override;
  // The class token's final state, LN(z^cls) (B, widths.back()).
  torch::Tensor embed(const torch::Tensor& images) override;
  int64_t embedding_dim() const override { return config_.widths.back(); }
  void drop_head() override;
  std::vector<std::string> head_prefixes() const override { return {"head."}; }
  // Position embeddings of another grid (a state dict for another input size), resized bilinearly
  // as the authors' _get_pos_embed does; the class token's row kept.
  void adapt_state_dict(NamedTensors& tensors) const override;
  // Per stage, the marked token's attention over the stage's reduced keys (mean over heads and
  // the first heads), in the last block, placed over the image.
  std::vector<viz::Figure> look(const torch::Tensor& image, const viz::LookOptions& options) override;
  const PvtConfig& config() const { return config_; }

  std::vector<PvtPatchEmbed> patch_embeds;  // patch_embed1..
  std::vector<torch::Tensor> pos_embeds;    // pos_embed1..: (1, grid_i^2 (+1 in the last stage), C_i)
  std::vector<torch::nn::ModuleList> blocks;  // block1..
  torch::nn::LayerNorm norm{nullptr};
  torch::Tensor cls_token;                  // (1, 1, C_last)
  torch::nn::Linear head{nullptr};

 private:
  torch::Tensor features(const torch::Tensor& images);  // the normalised class token
  void keep_attention(bool keep);
  PvtConfig config_;
  std::vector<int64_t> grids_;  // each stage's grid side for image_size
  nn::Dropout dropout_{nullptr};
};
TORCH_MODULE(PyramidVisionTransformer);

}  // namespace zoo::models
