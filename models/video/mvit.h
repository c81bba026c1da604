// Multiscale Vision Transformers (Fan et al. 2021, "Multiscale Vision Transformers"; Li et al.
// 2022, "MViTv2: Improved Multiscale Vision Transformers for Classification and Detection"), as
// torchvision's mvit_v1_b and mvit_v2_s (its names: conv_proj, pos_encoding, blocks.N.{norm1, attn.
// {qkv, project.0, pool_q, pool_k, pool_v, rel_pos_h/w/t}, norm2, mlp.0, mlp.3, project}, norm,
// head.1; its 36,610,672 and 34,537,744 parameters at 400 classes), so its weights import.
//
// The seeds' multiscale transformers bring a CNN's hierarchy to ViT: the token grid shrinks and
// the channels widen stage by stage. Pooling attention shrinks queries, keys and values with a
// depthwise strided convolution P(.) and LayerNorm per head:
//   Q = P_Q(X W_Q), K = P_K(X W_K), V = P_V(X W_V)
//   Z = softmax(Q K^T / sqrt(d)) V          (v1)
//   Z = softmax((Q K^T + E_rel(Q)) / ... ) V + Q     (v2: decomposed relative positions, the
//       residual pooling connection; E_rel(Q)_ij = Q_i . (R_h[h(i)-h(j)] + R_w[w(i)-w(j)] + R_t[t(i)-t(j)]))
// A block whose queries are pooled (stride_q) shrinks the grid; its skip connection max-pools to match.
#pragma once
#include "lib/nn/dropout.h"
#include "models/video/video_classifier.h"

namespace zoo::models {

// One block of the network (torchvision's MSBlockConfig).
struct MvitBlockSetting {
  int64_t heads, input_channels, output_channels;
  std::vector<int64_t> kernel_q, kernel_kv, stride_q, stride_kv;  // (t, h, w); empty: no pooling
};

struct MvitConfig {
  std::string version = "v1";  // v1: absolute positions; v2: relative positions, residual pooling, projection after attention
  int64_t image_size = 224;    // from the preprocessing's input_size
  int64_t num_frames = 16;     // from the clip's num_frames
  double dropout = 0.5;        // before the head
  double drop_path = 0.2;
  int64_t num_classes = 400;
  static const OptionSchema<MvitConfig>& options();
  // The 16 blocks of MViT-B (v1) or MViTv2-S.
  std::vector<MvitBlockSetting> blocks() const;
};

inline const OptionSchema<MvitConfig>& MvitConfig::options() {
  static const auto schema = OptionSchema<MvitConfig>("MViT")
                                 .option("num_classes", &MvitConfig::num_classes, at_least(1), "size of the output layer; set from the data when training")
                                 .option("dropout", &MvitConfig::dropout, fraction(), "dropout before the classifier")
                                 .option("drop_path", &MvitConfig::drop_path, fraction(), "stochastic depth of the last block, rising linearly from 0 at the first");
  return schema;
}

// UsageError unless clips of `frames` x `size` pixels fit the network: the patch embedding's
// stride (2, 4, 4) and the three query poolings (1, 2, 2) leave whole grids.
void check_mvit_grid(int64_t size, int64_t frames);

// Pool(.): a depthwise strided convolution (or max pooling) over the token grid of each head,
// then LayerNorm; the class token passes around it. x (B, heads, 1 + t h w, C).
class MvitPoolImpl : public torch::nn::Module {
 public:
  // A depthwise Conv3d of `channels` with LayerNorm (attention), or max pooling without (the skip).
  MvitPoolImpl(int64_t channels, std::vector<int64_t> kernel, std::vector<int64_t> stride, bool max_pool);
  // -> (pooled tokens, their grid (t, h, w))
  std::pair<torch::Tensor, std::vector<int64_t>> forward(const torch::Tensor& x, const std::vector<int64_t>& thw);
  torch::nn::Conv3d pool{nullptr};
  torch::nn::LayerNorm norm{nullptr};

 private:
  torch::nn::MaxPool3d max_pool_{nullptr};
};
TORCH_MODULE(MvitPool);

class MultiscaleAttentionImpl : public torch::nn::Module {
 public:
  MultiscaleAttentionImpl(const std::vector<int64_t>& input_thw, int64_t dim, int64_t out_dim, const MvitBlockSetting& setting, bool v2);
  // x (B, 1 + t h w, dim) of grid thw -> (B, 1 + t' h' w', out_dim), the query grid thw'
  std::pair<torch::Tensor, std::vector<int64_t>> forward(const torch::Tensor& x, const std::vector<int64_t>& thw);
  void keep_weights(bool keep) { keep_ = keep; }
  const torch::Tensor& last_weights() const { return last_; }  // (B, heads, Lq, Lk)

  torch::nn::Linear qkv{nullptr}, project{nullptr};  // project registered as project.0
  MvitPool pool_q{nullptr}, pool_k{nullptr}, pool_v{nullptr};
  torch::Tensor rel_pos_h, rel_pos_w, rel_pos_t;  // v2

 private:
  torch::Tensor add_relative_positions(const torch::Tensor& scores, const torch::Tensor& q, const std::vector<int64_t>& q_thw,
                                       const std::vector<int64_t>& k_thw) const;
  int64_t heads_, head_dim_, out_dim_;
  bool v2_, keep_ = false;
  torch::Tensor last_;
};
TORCH_MODULE(MultiscaleAttention);

class MultiscaleBlockImpl : public torch::nn::Module {
 public:
  MultiscaleBlockImpl(const std::vector<int64_t>& input_thw, const MvitBlockSetting& setting, bool v2, double drop_path);
  std::pair<torch::Tensor, std::vector<int64_t>> forward(const torch::Tensor& x, const std::vector<int64_t>& thw);
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  MultiscaleAttention attn{nullptr};
  torch::nn::Sequential mlp{nullptr};  // mlp.0 (Linear), GELU, Dropout, mlp.3 (Linear), Dropout
  torch::nn::Linear project{nullptr};  // when the channels change
  MvitPool pool_skip{nullptr};

 private:
  bool v2_;
  nn::DropPath drop_path_{nullptr};
};
TORCH_MODULE(MultiscaleBlock);

class MvitImpl : public VideoClassifierImpl {
 public:
  explicit MvitImpl(const MvitConfig& config);
  torch::Tensor forward(torch::Tensor clips) override;
  std::vector<std::string> head_prefixes() const override { return {"head."}; }
  // The class token's attention in the last block of each stage (where the grid changes next),
  // mean over heads, over the middle frame's keys: one map per stage.
  std::vector<VideoFigure> look(const torch::Tensor& clip, const viz::LookOptions& options) override;

  torch::nn::Conv3d conv_proj{nullptr};
  torch::Tensor class_token, spatial_pos, temporal_pos, class_pos;  // registered under pos_encoding; positions v1 only
  torch::nn::ModuleList blocks{nullptr};
  torch::nn::LayerNorm norm{nullptr};
  torch::nn::Linear head{nullptr};  // head.1

 private:
  MvitConfig config_;
  std::vector<int64_t> thw_;  // the patch grid (t, h, w)
  nn::Dropout dropout_{nullptr};
};
TORCH_MODULE(Mvit);

}  // namespace zoo::models
