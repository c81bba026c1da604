// Swin Transformer (Liu et al. 2021, "Hierarchical Vision Transformer using Shifted Windows"),
// in torchvision's layout: parameter names and counts match torchvision.models.swin_t/s/b, so
// its state_dicts load by name.
//
// The seeds' Swin: the image is cut into 4x4 patches projected to C channels; attention runs
// inside non-overlapping M x M windows of tokens only (total attention size M^2 H W, linear in
// the image instead of quadratic), with a learned bias for each relative position inside a window:
//   A = Softmax(Q K^T / sqrt(D) + B) V,   Q, K, V: M^2 x D,   B: M^2 x M^2 (from a table)
// Alternate blocks shift the windows by M/2 so information crosses window borders; a mask keeps
// tokens that the cyclic shift brought together from different image regions apart. Between
// stages, patch merging concatenates each 2x2 neighbourhood (4C) and projects it to 2C.
#pragma once
#include "lib/nn/dropout.h"
#include "models/vision/classifier.h"

namespace zoo::models {

struct SwinConfig {
  int64_t patch_size = 4;
  int64_t embed_dim = 96;                   // C: the first stage's width; each stage doubles it
  std::vector<int64_t> depths{2, 2, 6, 2};  // blocks per stage
  std::vector<int64_t> heads{3, 6, 12, 24};
  int64_t window = 7;                       // M
  double mlp_ratio = 4.0;
  double dropout = 0.0, attention_dropout = 0.0;
  double drop_path = 0.2;
  int64_t num_classes = 1000;
  static const OptionSchema<SwinConfig>& options();
};

inline const OptionSchema<SwinConfig>& SwinConfig::options() {
  static const auto schema =
      OptionSchema<SwinConfig>("Swin")
          .option("num_classes", &SwinConfig::num_classes, at_least(1), num_classes_help)
          .option("patch_size", &SwinConfig::patch_size, at_least(1), "side of the square patches embedded as tokens")
          .option("embed_dim", &SwinConfig::embed_dim, at_least(1), "C, the first stage's width; each stage doubles it")
          .option("depths", &SwinConfig::depths, at_least(1), "blocks per stage, one number per stage (--set depths=2,2,6)")
          .option("heads", &SwinConfig::heads, at_least(1), "attention heads per stage, one number per stage")
          .option("window", &SwinConfig::window, at_least(1), "M: attention runs inside M x M windows of tokens, shifted by M/2 in every other block")
          .option("mlp_ratio", &SwinConfig::mlp_ratio, positive(), "the MLP's hidden width over the block's width")
          .option("dropout", &SwinConfig::dropout, fraction(), "dropout after the embeddings, the attention output and in the MLP")
          .option("attention_dropout", &SwinConfig::attention_dropout, fraction(), "dropout on the attention weights")
          .option("drop_path", &SwinConfig::drop_path, fraction(),
                  "stochastic depth of the last block, rising linearly from 0 at the first")
          .rule([](const SwinConfig& c) {
            if (c.depths.size() != c.heads.size())
              throw UsageError("invalid Swin depths/heads: expected one number of blocks and of heads per stage");
            for (size_t stage = 0; stage < c.heads.size(); ++stage)
              if ((c.embed_dim << stage) % c.heads[stage] != 0)
                throw UsageError("invalid Swin heads " + std::to_string(c.heads[stage]) + ": the width " + std::to_string(c.embed_dim << stage) +
                                 " must be a multiple of it");
          });
  return schema;
}

// (M^2, M^2) long: for tokens i = (y_i, x_i) and j of one window, the row of the bias table that
// holds B_ij: (y_i - y_j + M - 1) (2M - 1) + (x_i - x_j + M - 1).
torch::Tensor relative_position_index(int64_t window);

// The shifted-window mask for an H x W grid (multiples of M) rolled by (-shift_h, -shift_w):
// (windows, M^2, M^2), 0 where two tokens of a window come from the same region of the unshifted
// grid, -100 where the roll brought them together across its border. `like` (B, H, W, C): dtype
// and device.
torch::Tensor shifted_window_mask(int64_t height, int64_t width, int64_t window, int64_t shift_h, int64_t shift_w,
                                  const torch::Tensor& like);

// W-MSA / SW-MSA (torchvision's ShiftedWindowAttention).
class ShiftedWindowAttentionImpl : public torch::nn::Module {
 public:
  ShiftedWindowAttentionImpl(int64_t dim, int64_t window, int64_t shift, int64_t heads, double attention_dropout, double dropout);
  torch::Tensor forward(const torch::Tensor& x);  // (B, H, W, C) -> (B, H, W, C)

  // With keep on, each call keeps its attention weights for zoo visualize.
  void keep_weights(bool keep) { keep_weights_ = keep; }
  struct Weights {
    torch::Tensor weights;  // (B * windows, heads, M^2, M^2)
    int64_t padded_height = 0, padded_width = 0, shift_h = 0, shift_w = 0;
  };
  const Weights& last_weights() const { return last_; }
  int64_t window() const { return window_; }

  torch::nn::Linear qkv{nullptr}, proj{nullptr};
  torch::Tensor relative_position_bias_table;  // ((2M - 1)^2, heads)
  torch::Tensor relative_position_index;       // (M^2 M^2) long, a buffer

 private:
  int64_t window_, shift_, heads_;
  nn::Dropout attention_dropout_{nullptr}, dropout_{nullptr};
  bool keep_weights_ = false;
  Weights last_;
};
TORCH_MODULE(ShiftedWindowAttention);

// One Swin block: x = x + SD(attn(LN(x))); x = x + SD(MLP(LN(x))).
class SwinBlockImpl : public torch::nn::Module {
 public:
  SwinBlockImpl(int64_t dim, int64_t heads, int64_t window, int64_t shift, const SwinConfig& config, double drop_path);
  torch::Tensor forward(const torch::Tensor& x);  // (B, H, W, C) -> (B, H, W, C)

  torch::nn::LayerNorm norm1{nullptr};
  ShiftedWindowAttention attn{nullptr};
  nn::DropPath stochastic_depth{nullptr};
  torch::nn::LayerNorm norm2{nullptr};
  torch::nn::Sequential mlp{nullptr};  // 0: Linear(C, 4C), 1: GELU, 2: Dropout, 3: Linear(4C, C), 4: Dropout
};
TORCH_MODULE(SwinBlock);

// 2x2 neighbourhoods concatenated and projected: (B, H, W, C) -> (B, H/2, W/2, 2C).
class PatchMergingImpl : public torch::nn::Module {
 public:
  explicit PatchMergingImpl(int64_t dim);
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::Linear reduction{nullptr};
  torch::nn::LayerNorm norm{nullptr};
};
TORCH_MODULE(PatchMerging);

class SwinTransformerImpl : public ImageClassifierImpl {
 public:
  explicit SwinTransformerImpl(const SwinConfig& config);
  torch::Tensor forward(torch::Tensor images) override;
  // The normalised last stage's tokens, averaged over the grid (B, 8C for four stages).
  torch::Tensor embed(const torch::Tensor& images) override;
  int64_t embedding_dim() const override;
  void drop_head() override;
  std::vector<std::string> head_prefixes() const override;

  // Per stage, the last block's window attention of the token under options.query, averaged over
  // heads and for each of the first 6 heads, placed back where its keys sit in the image.
  std::vector<viz::Figure> look(const torch::Tensor& image, const viz::LookOptions& options) override;

  void keep_attention(bool keep);
  // Per stage, its blocks' attention modules (for zoo visualize).
  std::vector<std::vector<ShiftedWindowAttentionImpl*>> attention_by_stage();
  const SwinConfig& config() const { return config_; }

  // 0: patch embedding (Conv2d, permute to channels-last, LayerNorm); then stages of blocks
  // (1, 3, 5, 7) with patch merging between them (2, 4, 6).
  torch::nn::ModuleList features{nullptr};
  torch::nn::LayerNorm norm{nullptr};
  torch::nn::Linear head{nullptr};

 private:
  SwinConfig config_;
};
TORCH_MODULE(SwinTransformer);

}  // namespace zoo::models
