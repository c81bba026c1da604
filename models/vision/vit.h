// Vision Transformer (Dosovitskiy et al. 2020, "An Image is Worth 16x16 Words") and DeiT
// (Touvron et al. 2020, "Training data-efficient image transformers & distillation through
// attention"), in torchvision's layout: parameter names and counts match
// torchvision.models.vit_*, so its state_dicts load by name.
//
// The seeds' ViT: the image is cut into P x P patches, each flattened and linearly embedded (a
// P x P convolution with stride P), a learned class token is prepended, learned position
// embeddings are added, and an isotropic stack of pre-norm encoder blocks follows:
//   z_0  = [x_class; x_p^1 E; ...; x_p^N E] + E_pos
//   z'_l = MSA(LN(z_{l-1})) + z_{l-1}
//   z_l  = MLP(LN(z'_l)) + z'_l
//   y    = LN(z_L^0)
// DeiT's distilled variants append a second learned token whose output feeds a second head,
// trained on a teacher's predictions (lib/tasks/classify.cpp); at inference the two heads'
// logits are averaged.
#pragma once
#include "lib/nn/dropout.h"
#include "lib/nn/multihead_attention.h"
#include "models/vision/classifier.h"

namespace zoo::models {

// UsageError unless the patch size divides the image side: the position embeddings cover a grid.
inline void check_vit_grid(int64_t image_size, int64_t patch_size) {
  if (patch_size < 1 || image_size % patch_size != 0)
    throw UsageError("invalid ViT input_size " + std::to_string(image_size) + ": it must be a multiple of the patch size " +
                     std::to_string(patch_size));
}

// The architecture options; the position embeddings are made for the preprocessing's
// input_size (image_size here), which must be a multiple of the patch size.
struct VitConfig {
  int64_t image_size = 224;
  int64_t patch_size = 16;
  int64_t layers = 12, heads = 12, width = 768, mlp = 3072;
  int64_t num_classes = 1000;
  double dropout = 0.0;
  double attention_dropout = 0.0;
  double drop_path = 0.0;
  bool distilled = false;  // DeiT: a distillation token and head (the variant's name)
  static const OptionSchema<VitConfig>& options();
};

inline const OptionSchema<VitConfig>& VitConfig::options() {
  static const auto schema =
      OptionSchema<VitConfig>("ViT and DeiT")
          .option("num_classes", &VitConfig::num_classes, at_least(1), num_classes_help)
          .option("patch_size", &VitConfig::patch_size, at_least(1), "P: the image is cut into P x P patches, each one token")
          .option("layers", &VitConfig::layers, at_least(1), "encoder blocks")
          .option("heads", &VitConfig::heads, at_least(1), "attention heads (width must be a multiple)")
          .option("width", &VitConfig::width, at_least(1), "the tokens' width D")
          .option("mlp", &VitConfig::mlp, at_least(1), "the MLP's hidden width")
          .option("dropout", &VitConfig::dropout, fraction(), "dropout after the embeddings, the attention output and in the MLP")
          .option("attention_dropout", &VitConfig::attention_dropout, fraction(), "dropout on the attention weights")
          .option("drop_path", &VitConfig::drop_path, fraction(), "stochastic depth of the last block, rising linearly from 0 at the first")
          .rule([](const VitConfig& c) {
            if (c.width % c.heads != 0)
              throw UsageError("invalid heads " + std::to_string(c.heads) + ": the width " + std::to_string(c.width) + " must be a multiple of it");
          });
  return schema;
}

// What a distilled DeiT trains its second head on.
struct DistillationConfig {
  std::string teacher;
  static const OptionSchema<DistillationConfig>& options();
};

inline const OptionSchema<DistillationConfig>& DistillationConfig::options() {
  static const auto schema = OptionSchema<DistillationConfig>("DeiT distillation")
                                 .option("teacher", &DistillationConfig::teacher, anything(),
                                         "a zoo classifier checkpoint (any model, same classes) whose argmax trains the distillation head; "
                                         "empty: that head learns the labels");
  return schema;
}

// One encoder block (torchvision's EncoderBlock): pre-norm self-attention and MLP, each added
// back to the residual stream.
class VitBlockImpl : public torch::nn::Module {
 public:
  VitBlockImpl(const VitConfig& config, double drop_path);
  torch::Tensor forward(const torch::Tensor& x);  // (B, T, E) -> (B, T, E)

  torch::nn::LayerNorm ln_1{nullptr};
  nn::MultiheadAttention self_attention{nullptr};
  nn::Dropout dropout{nullptr};
  torch::nn::LayerNorm ln_2{nullptr};
  torch::nn::Sequential mlp{nullptr};  // 0: Linear(E, mlp), 1: GELU, 2: Dropout, 3: Linear(mlp, E), 4: Dropout
  nn::DropPath drop_path{nullptr};
};
TORCH_MODULE(VitBlock);

// Position embeddings, the blocks and the final LayerNorm (torchvision's Encoder).
class VitEncoderImpl : public torch::nn::Module {
 public:
  VitEncoderImpl(const VitConfig& config, int64_t tokens);
  torch::Tensor forward(const torch::Tensor& x);  // (B, T, E) with positions added -> (B, T, E)

  torch::Tensor pos_embedding;  // (1, T, E)
  nn::Dropout dropout{nullptr};
  torch::nn::Sequential layers{nullptr};  // encoder_layer_0 ... encoder_layer_{L-1}
  torch::nn::LayerNorm ln{nullptr};
};
TORCH_MODULE(VitEncoder);

class VisionTransformerImpl : public ImageClassifierImpl {
 public:
  explicit VisionTransformerImpl(const VitConfig& config);
  torch::Tensor forward(torch::Tensor images) override;
  std::vector<TrainOutput> forward_train(torch::Tensor images) override;
  // A state_dict made for another image size gets its position embeddings resized to this one's.
  void adapt_state_dict(NamedTensors& tensors) const override;
  // The class token's final state y = LN(z_L^0) (B, E), as DINO takes it.
  torch::Tensor embed(const torch::Tensor& images) override;
  int64_t embedding_dim() const override;
  void drop_head() override;
  std::vector<std::string> head_prefixes() const override;

  // The class token's attention to the patches in options.layer, per head, and the rollout
  // through every layer.
  std::vector<viz::Figure> look(const torch::Tensor& image, const viz::LookOptions& options) override;

  // Keep each block's attention weights (B, heads, T, T) of the next forward (zoo visualize).
  void keep_attention(bool keep);
  std::vector<torch::Tensor> attention_maps() const;  // one per block, from the last forward
  // Tokens before the patches: the class token, and the distillation token when distilled.
  int64_t prefix_tokens() const { return config_.distilled ? 2 : 1; }
  const VitConfig& config() const { return config_; }

  torch::nn::Conv2d conv_proj{nullptr};
  torch::Tensor class_token;  // (1, 1, E)
  torch::Tensor dist_token;   // (1, 1, E), distilled only
  VitEncoder encoder{nullptr};
  torch::nn::Sequential heads{nullptr};  // head, and head_dist when distilled
  torch::nn::Linear head{nullptr}, head_dist{nullptr};

 private:
  // images (B, 3, H, W) -> final token states (B, T, E)
  torch::Tensor features(const torch::Tensor& images);
  VitConfig config_;
};
TORCH_MODULE(VisionTransformer);

// Attention rollout (Abnar & Zuidema 2020, "Quantifying Attention Flow in Transformers"): per
// layer the head-averaged attention with the residual's identity added and rows renormalised,
// A'_l = norm_rows(mean_h A_l + I), multiplied through the layers, R = A'_L ... A'_1. maps[l]
// (B, heads, T, T) -> R (B, T, T), whose rows sum to 1: R_ij is how much token j flows into
// token i's final state.
torch::Tensor attention_rollout(const std::vector<torch::Tensor>& maps);

// Position embeddings pos (1, prefix + h0 * w0, E) for another patch grid: the prefix tokens'
// rows are kept as they are and the grid's rows, seen as an E-channel h0 x w0 image (h0 = w0),
// are resized bicubically to h x w (torchvision's interpolate_embeddings) -> (1, prefix + h * w, E).
torch::Tensor resize_position_embedding(const torch::Tensor& pos, int64_t prefix, int64_t h, int64_t w);

// A state dict in timm's ViT/DeiT layout (cls_token, pos_embed, patch_embed.proj, blocks.N.{norm1,
// attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2}, norm, head, DeiT's dist_token and head_dist),
// recognised by its cls_token and patch_embed.proj.weight, renamed to torchvision's layout, which
// zoo's ViT has; true when it was. Other tensors (a global-pool model's fc_norm) keep their names,
// for load_state_dict to name them as unexpected.
bool rename_timm_vit(NamedTensors& tensors);

}  // namespace zoo::models
