// DETR (Carion et al. 2020, "End-to-End Object Detection with Transformers"): a CNN backbone, a
// Transformer encoder over its feature map, a decoder of N learned object queries, and per query
// a class (or "no object") and a box; trained with a set loss through bipartite matching
// (set_criterion.h), no anchors and no non-maximum suppression. Module and parameter names are
// facebookresearch/detr's (backbone.0.body.*, input_proj, transformer.encoder/decoder.*,
// query_embed, class_embed, bbox_embed), so its published state dicts load by name.
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

#include "lib/core/option_schema.h"
#include "lib/nn/multihead_attention.h"
#include "models/vision/resnet.h"

namespace zoo::models {

// The architecture. DETR's defaults: ResNet-50 with frozen BatchNorm, stem and layer1 frozen,
// 6 + 6 post-norm layers of width 256, 8 heads, 2048-wide feed-forward, 100 queries, 91 classes
// (COCO's category ids 1..90 used as labels as they are) plus "no object".
struct DetrConfig {
  std::string backbone = "resnet50";
  bool dilation = false;      // DC5: layer4 dilated, features at stride 16
  int64_t feature_stage = 4;  // the ResNet stage whose output the encoder reads (3: stride 16, no layer4)
  bool frozen_bn = true;      // BatchNorm as fixed affine maps (pretrained statistics)
  int64_t frozen_stages = 1;  // 0: the whole backbone trains; 1: not the stem and layer1 (DETR); 2..4: later ones too
  int64_t hidden_dim = 256, heads = 8, enc_layers = 6, dec_layers = 6, dim_feedforward = 2048;
  double dropout = 0.1;
  int64_t num_queries = 100, num_classes = 91;
  bool aux_loss = true;  // losses on every decoder layer's output
  std::string backbone_init;  // a zoo classifier checkpoint of the backbone's ResNet
  double backbone_lr = 1e-5;  // the backbone's peak learning rate (0: --lr), following --sched
  static const OptionSchema<DetrConfig>& options();
};

// The set loss's weights (DETR's defaults): matching cost = class 1, L1 5, GIoU 2; the loss the
// same, with the "no object" class weighted eos_coef in the cross-entropy.
struct DetrLossConfig {
  double set_cost_class = 1, set_cost_bbox = 5, set_cost_giou = 2;
  double bbox_loss_coef = 5, giou_loss_coef = 2, eos_coef = 0.1;
  static const OptionSchema<DetrLossConfig>& options();
};

// The images DETR sees: shorter side image_size (training: 480..800 scaled by image_size / 800),
// longer side at most max_size; normalised with ImageNet's statistics.
struct DetrImageConfig {
  int64_t image_size = 800, max_size = 1333;
  bool multi_scale = true, random_crop = true, flip = true;
  std::vector<double> mean{0.485, 0.456, 0.406};
  std::vector<double> std{0.229, 0.224, 0.225};
  static const OptionSchema<DetrImageConfig>& options();
};

// The sine positions of "Attention is all you need" in two dimensions (DETR's
// PositionEmbeddingSine, normalised): for a pixel at (y, x) of the unpadded image, with y, x its
// cumulative row and column counts scaled to (0, 2 pi],
//   PE(., 2i) = sin(p / 10000^(2i / d)),  PE(., 2i+1) = cos(p / 10000^(2i / d)),  d = hidden / 2
// for p = y (the first d channels) and p = x (the last d). mask (B, H, W), true on padding:
// (B, hidden, H, W).
torch::Tensor sine_position_embedding(const torch::Tensor& mask, int64_t hidden_dim);

// A post-norm encoder layer: x = LN(x + SelfAttn(q = k = x + pos, v = x)); x = LN(x + FFN(x)).
class DetrEncoderLayerImpl : public torch::nn::Module {
 public:
  DetrEncoderLayerImpl(int64_t width, int64_t heads, int64_t ffn, double dropout);
  // src, pos (B, S, E); padding (B, S): (B, S, E)
  torch::Tensor forward(const torch::Tensor& src, const torch::Tensor& padding, const torch::Tensor& pos);

  nn::MultiheadAttention self_attn{nullptr};
  torch::nn::Linear linear1{nullptr}, linear2{nullptr};
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  torch::nn::Dropout dropout{nullptr}, dropout1{nullptr}, dropout2{nullptr};
};
TORCH_MODULE(DetrEncoderLayer);

// A post-norm decoder layer: self-attention among the queries (q = k = t + query_pos), then
// cross-attention to the image (q = t + query_pos, k = memory + pos, v = memory), then the FFN,
// each followed by its residual and LayerNorm.
class DetrDecoderLayerImpl : public torch::nn::Module {
 public:
  DetrDecoderLayerImpl(int64_t width, int64_t heads, int64_t ffn, double dropout);
  // tgt, query_pos (B, N, E); memory, pos (B, S, E); padding (B, S): (B, N, E). cross_weights,
  // when given, receives the cross-attention weights (B, heads, N, S).
  torch::Tensor forward(const torch::Tensor& tgt, const torch::Tensor& memory, const torch::Tensor& padding, const torch::Tensor& pos,
                        const torch::Tensor& query_pos, torch::Tensor* cross_weights = nullptr);

  nn::MultiheadAttention self_attn{nullptr}, multihead_attn{nullptr};
  torch::nn::Linear linear1{nullptr}, linear2{nullptr};
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr}, norm3{nullptr};
  torch::nn::Dropout dropout{nullptr}, dropout1{nullptr}, dropout2{nullptr}, dropout3{nullptr};
};
TORCH_MODULE(DetrDecoderLayer);

// What the model predicts for a batch, for every decoder layer (the last is the answer; the
// others feed the auxiliary losses): logits (L, B, N, classes + 1), boxes (L, B, N, 4) as
// (cx, cy, w, h) in [0, 1] of the unpadded image.
struct DetrOutput {
  torch::Tensor logits, boxes;
  torch::Tensor cross_attention;  // (B, N, H', W') the last layer's, averaged over heads (keep_attention only)
  torch::Tensor encoder_attention;  // (B, H'W', H', W') the last encoder layer's, averaged over heads (keep_attention only)
};

class DetrImpl : public torch::nn::Module {
 public:
  explicit DetrImpl(const DetrConfig& config);
  // images (B, 3, H, W) normalised, zero-padded; mask (B, H, W) true on padding.
  DetrOutput forward(const torch::Tensor& images, const torch::Tensor& mask, bool keep_attention = false);
  // The export's forward: the last layer's (logits, boxes) for unpadded images.
  std::pair<torch::Tensor, torch::Tensor> predict(const torch::Tensor& images);

  const DetrConfig& config() const { return config_; }
  // The backbone's ResNet (backbone.0.body).
  ResNetImpl& body() { return *body_; }
  // Loads a zoo classifier checkpoint of config().backbone into the body (its fc left out).
  void init_backbone(const std::string& checkpoint);
  // Parameters of the backbone (that train) and of the rest.
  std::vector<torch::Tensor> backbone_parameters() const;
  std::vector<torch::Tensor> head_parameters() const;
  // The feature map's stride in pixels (32, or 16 for DC5 and feature_stage 3).
  int64_t stride() const;

  torch::nn::Conv2d input_proj{nullptr};
  torch::nn::Embedding query_embed{nullptr};
  torch::nn::Linear class_embed{nullptr};
  torch::nn::ModuleList encoder_layers{nullptr}, decoder_layers{nullptr};
  torch::nn::LayerNorm decoder_norm{nullptr};
  torch::nn::ModuleList bbox_layers{nullptr};  // bbox_embed.layers: a 3-layer MLP

 private:
  // The encoder and decoder over a feature map (B, C, h, w) whose padding is feature_mask (B, h, w).
  DetrOutput decode(const torch::Tensor& features, const torch::Tensor& feature_mask, bool keep_attention);
  DetrConfig config_;
  std::shared_ptr<ResNetImpl> body_;
};
TORCH_MODULE(Detr);

// ResNet stages and widths of the backbones DETR builds on.
const std::vector<std::string>& detr_backbones();

}  // namespace zoo::models
