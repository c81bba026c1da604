// TimeSformer (Bertasius, Wang & Torresani 2021, "Is Space-Time Attention All You Need for Video
// Understanding?"), in the layout of the authors' VisionTransformer (facebookresearch/TimeSformer:
// patch_embed.proj, cls_token, pos_embed, time_embed, blocks.N.{norm1, attn.qkv, attn.proj,
// temporal_norm1, temporal_attn.qkv, temporal_attn.proj, temporal_fc, norm2, mlp.fc1, mlp.fc2},
// norm, head), so their checkpoints load by name once the wrapper's "model." is dropped.
//
// The seeds' "attention across space-time": each frame is cut into N patches as in ViT, giving
// N x T tokens z_(p,t) plus a class token. Which tokens a query (p, t) attends to is the scheme:
//   space   (S):     the N patches of its own frame (a ViT per frame; the frames' class tokens averaged)
//   joint   (ST):    all N T tokens, one attention over the clip (cost (NT)^2)
//   divided (T+S):   first the same patch in every frame, then the patches of its own frame:
//     z'_(p,t)  = z_(p,t) + W_fc MSA_time(LN(z)_(p, 1..T))             (temporal_fc: zero at start)
//     z''_(p,t) = z'_(p,t) + MSA_space(LN([z_cls; z'_(1..N, t)]))_p
//     z'''      = z'' + MLP(LN(z''))
// with the class token joining each frame's spatial attention and its T outputs averaged.
#pragma once
#include "lib/nn/dropout.h"
#include "lib/nn/multihead_attention.h"
#include "models/video/video_classifier.h"

namespace zoo::models {

struct TimesformerConfig {
  int64_t image_size = 224;  // from the preprocessing's input_size
  int64_t num_frames = 8;    // from the clip's num_frames
  int64_t patch_size = 16;
  int64_t width = 768;
  int64_t depth = 12;
  int64_t heads = 12;
  int64_t mlp_ratio = 4;
  std::string attention = "divided";
  double dropout = 0.0;
  double attention_dropout = 0.0;
  double drop_path = 0.1;
  int64_t num_classes = 400;
  static const OptionSchema<TimesformerConfig>& options();
};

inline const OptionSchema<TimesformerConfig>& TimesformerConfig::options() {
  static const auto schema =
      OptionSchema<TimesformerConfig>("TimeSformer")
          .option("num_classes", &TimesformerConfig::num_classes, at_least(1), "size of the output layer; set from the data when training")
          .option("attention", &TimesformerConfig::attention, one_of({"divided", "joint", "space"}),
                  "divided: temporal then spatial attention in each block (T+S); joint: one attention over all frames' patches (ST); "
                  "space: each frame on its own, the frames' class tokens averaged (S)")
          .option("patch_size", &TimesformerConfig::patch_size, at_least(1), "side of the square patches of each frame")
          .option("width", &TimesformerConfig::width, at_least(1), "token width D")
          .option("depth", &TimesformerConfig::depth, at_least(1), "blocks")
          .option("heads", &TimesformerConfig::heads, at_least(1), "attention heads (the width must be a multiple)")
          .option("mlp_ratio", &TimesformerConfig::mlp_ratio, at_least(1), "the MLP's hidden width over D")
          .option("dropout", &TimesformerConfig::dropout, fraction(), "dropout after the embeddings, attention projections and MLP")
          .option("attention_dropout", &TimesformerConfig::attention_dropout, fraction(), "dropout on the attention weights")
          .option("drop_path", &TimesformerConfig::drop_path, fraction(), "stochastic depth of the last block, rising linearly from 0 at the first")
          .rule([](const TimesformerConfig& c) {
            if (c.width % c.heads != 0)
              throw UsageError("invalid TimeSformer heads " + std::to_string(c.heads) + ": the width " + std::to_string(c.width) + " must be a multiple of it");
          });
  return schema;
}

class TimesformerMlpImpl : public torch::nn::Module {
 public:
  TimesformerMlpImpl(int64_t dim, int64_t hidden, double dropout);
  torch::Tensor forward(const torch::Tensor& x);  // fc1, GELU, fc2
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};

 private:
  nn::Dropout dropout_{nullptr};
};
TORCH_MODULE(TimesformerMlp);

// One block of the scheme `attention`. Tokens: (B, 1 + N T, D), the class token first, then the
// patches patch-major ((p, t) at 1 + p T + t) as the authors order them; space: (B T, 1 + N, D).
class TimesformerBlockImpl : public torch::nn::Module {
 public:
  TimesformerBlockImpl(const TimesformerConfig& config, double drop_path);
  torch::Tensor forward(const torch::Tensor& x, int64_t frames);
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr}, temporal_norm1{nullptr};
  // Multi-head self-attention over every token of a row, named as the authors' Attention (qkv, proj).
  nn::MultiheadAttention attn{nullptr}, temporal_attn{nullptr};  // temporal_*: divided only
  torch::nn::Linear temporal_fc{nullptr};
  TimesformerMlp mlp{nullptr};

 private:
  std::string attention_;
  nn::Dropout dropout_{nullptr};  // after each attention's projection (the authors' proj_drop)
  nn::DropPath drop_path_{nullptr};
};
TORCH_MODULE(TimesformerBlock);

class TimesformerImpl : public VideoClassifierImpl {
 public:
  explicit TimesformerImpl(const TimesformerConfig& config);
  torch::Tensor forward(torch::Tensor clips) override;
  std::vector<std::string> head_prefixes() const override { return {"head."}; }
  // A state dict of another grid or clip length: pos_embed resized bicubically over the grid,
  // time_embed by nearest frame, as the authors resample it (the class token's row kept).
  void adapt_state_dict(NamedTensors& tensors) const override;
  // A ViT's weights (zoo's ViT/DeiT, torchvision's layout), as the paper initialises TimeSformer:
  // patch embedding, class token, position embeddings, every block's spatial attention, MLP and
  // norms, the final norm; temporal attention copied from the spatial one (temporal_norm1 from
  // norm1), time_embed zero, temporal_fc zero but in the first block, the head new.
  void adapt_image_weights(const std::string& image_model, NamedTensors& tensors) const override;
  // divided: the query patch's temporal attention (over the same position in every frame) and its
  // spatial attention (over its frame) in --layer, mean over heads; joint: its attention over every
  // frame's patches; space: over its frame's patches; all: the class token's attention rollout
  // over space-time (divided: per frame, the product of the blocks' temporal and spatial mixing).
  std::vector<VideoFigure> look(const torch::Tensor& clip, const viz::LookOptions& options) override;
  const TimesformerConfig& config() const { return config_; }

  torch::nn::Conv2d patch_embed_proj{nullptr};  // registered as patch_embed.proj
  torch::Tensor cls_token;                       // (1, 1, D)
  torch::Tensor pos_embed;                       // (1, 1 + N, D)
  torch::Tensor time_embed;                      // (1, T, D); not in space
  torch::nn::ModuleList blocks{nullptr};
  torch::nn::LayerNorm norm{nullptr};
  torch::nn::Linear head{nullptr};

 private:
  torch::Tensor features(const torch::Tensor& clips);  // (B, D): the normalised class token
  void keep_attention(bool keep);
  TimesformerConfig config_;
  int64_t grid_;
  nn::Dropout dropout_{nullptr};
};
TORCH_MODULE(Timesformer);

}  // namespace zoo::models
