#include "models/detect/detr.h"

#include <cmath>

#include "lib/core/checkpoint.h"
#include "lib/core/error.h"

namespace zoo::models {

namespace {

// A plain container module: what DETR's Python classes hold besides their parameters, so that
// the names come out as theirs (transformer.encoder.layers.0.*).
std::shared_ptr<torch::nn::Module> holder() { return std::make_shared<torch::nn::Module>(); }

ResNetConfig backbone_config(const DetrConfig& c) {
  ResNetConfig r;
  if (c.backbone == "resnet18") r.layers = {2, 2, 2, 2};
  else if (c.backbone == "resnet34") r.layers = {3, 4, 6, 3};
  else if (c.backbone == "resnet50") r.layers = {3, 4, 6, 3}, r.bottleneck = true;
  else r.layers = {3, 4, 23, 3}, r.bottleneck = true;  // resnet101
  r.num_classes = 1;  // the head is dropped (keep_trunk)
  r.frozen_bn = c.frozen_bn;
  r.dilate_last = c.dilation;
  return r;
}

nn::MultiheadAttention attention(int64_t width, int64_t heads, double dropout) {
  nn::MultiheadAttentionOptions o;
  o.embed_dim = width, o.heads = heads, o.dropout = dropout, o.in_proj_parameters = true;
  nn::MultiheadAttention a(o);
  torch::NoGradGuard no_grad;
  a->out_proj->bias.zero_();  // nn.MultiheadAttention's _reset_parameters
  return a;
}

}  // namespace

const std::vector<std::string>& detr_backbones() {
  static const std::vector<std::string> names{"resnet18", "resnet34", "resnet50", "resnet101"};
  return names;
}

const OptionSchema<DetrConfig>& DetrConfig::options() {
  static const auto schema =
      OptionSchema<DetrConfig>("DETR")
          .option("backbone", &DetrConfig::backbone, one_of(detr_backbones()), "the ResNet whose feature map the encoder reads")
          .option("dilation", &DetrConfig::dilation, "DC5: dilate layer4 instead of striding it (features at stride 16; ResNet-50/101)")
          .option("feature_stage", &DetrConfig::feature_stage, in_range(3, 4, "[]"),
                  "the backbone stage the encoder reads: 4 (layer4, stride 32) or 3 (layer3, stride 16, layer4 left out)")
          .option("frozen_bn", &DetrConfig::frozen_bn,
                  "the backbone's BatchNorm as fixed affine maps (FrozenBatchNorm2d: for a pretrained backbone); false: BatchNorm that trains")
          .option("frozen_stages", &DetrConfig::frozen_stages, in_range(0, 4, "[]"),
                  "backbone stages that do not train: 1 = the stem and layer1 (DETR), 0 = none")
          .option("hidden_dim", &DetrConfig::hidden_dim, at_least(2), "the Transformer's width")
          .option("heads", &DetrConfig::heads, at_least(1), "attention heads")
          .option("enc_layers", &DetrConfig::enc_layers, at_least(0), "encoder layers")
          .option("dec_layers", &DetrConfig::dec_layers, at_least(1), "decoder layers")
          .option("dim_feedforward", &DetrConfig::dim_feedforward, at_least(1), "the feed-forward layers' inner width")
          .option("dropout", &DetrConfig::dropout, fraction(), "in the Transformer (attention weights, residual branches, FFN)")
          .option("num_queries", &DetrConfig::num_queries, at_least(1), "object queries: the most objects one image can have detected")
          .option("num_classes", &DetrConfig::num_classes, at_least(1),
                  "labels, without \"no object\" (COCO: 91, its category ids as they are); in training set from the data")
          .option("aux_loss", &DetrConfig::aux_loss, "the set loss on every decoder layer's output, not only the last")
          .option("backbone_init", &DetrConfig::backbone_init, anything(),
                  "a zoo classifier checkpoint of the backbone's ResNet (e.g. from zoo import --from torchvision) to start from; "
                  "empty: random weights. Read when training starts")
          .option("backbone_lr", &DetrConfig::backbone_lr, at_least(0.0), "the backbone's peak learning rate, following --sched; 0: --lr")
          .rule([](const DetrConfig& c) {
            if (c.hidden_dim % 2 != 0) throw UsageError("invalid hidden_dim=" + std::to_string(c.hidden_dim) + ": the 2-D sine positions need an even width");
            if (c.hidden_dim % c.heads != 0)
              throw UsageError("invalid heads=" + std::to_string(c.heads) + ": hidden_dim=" + std::to_string(c.hidden_dim) + " must be a multiple of it");
            const bool bottleneck = c.backbone == "resnet50" || c.backbone == "resnet101";
            if (c.dilation && !bottleneck) throw UsageError("dilation=true needs a bottleneck backbone (resnet50, resnet101), not " + c.backbone);
            if (c.dilation && c.feature_stage != 4) throw UsageError("dilation=true dilates layer4: it needs feature_stage=4");
            if (c.frozen_stages > c.feature_stage)
              throw UsageError("invalid frozen_stages=" + std::to_string(c.frozen_stages) + ": the backbone has " + std::to_string(c.feature_stage) + " stages");
          });
  return schema;
}

const OptionSchema<DetrLossConfig>& DetrLossConfig::options() {
  static const auto schema = OptionSchema<DetrLossConfig>("DETR set loss")
                                 .option("set_cost_class", &DetrLossConfig::set_cost_class, at_least(0.0), "matching cost weight of -p(class)")
                                 .option("set_cost_bbox", &DetrLossConfig::set_cost_bbox, at_least(0.0), "matching cost weight of the L1 box distance")
                                 .option("set_cost_giou", &DetrLossConfig::set_cost_giou, at_least(0.0), "matching cost weight of -GIoU")
                                 .option("bbox_loss_coef", &DetrLossConfig::bbox_loss_coef, at_least(0.0), "loss weight of the L1 box distance")
                                 .option("giou_loss_coef", &DetrLossConfig::giou_loss_coef, at_least(0.0), "loss weight of 1 - GIoU")
                                 .option("eos_coef", &DetrLossConfig::eos_coef, at_least(0.0), "cross-entropy weight of the \"no object\" class");
  return schema;
}

const OptionSchema<DetrImageConfig>& DetrImageConfig::options() {
  static const auto schema =
      OptionSchema<DetrImageConfig>("DETR images")
          .option("image_size", &DetrImageConfig::image_size, at_least(16), "the shorter side in evaluation; training sizes are 480..800 scaled by image_size / 800")
          .option("max_size", &DetrImageConfig::max_size, at_least(0), "the longer side's cap (0: none)")
          .option("multi_scale", &DetrImageConfig::multi_scale, "train at 11 shorter sides from 0.6 to 1 x image_size (DETR's 480..800)")
          .option("random_crop", &DetrImageConfig::random_crop, "with p = 0.5 resize, crop a random window (boxes clipped, emptied ones dropped), resize")
          .option("flip", &DetrImageConfig::flip, "mirror half the training images")
          .option("mean", &DetrImageConfig::mean, anything(), "per-channel mean (RGB, 0..1)")
          .option("std", &DetrImageConfig::std, positive(), "per-channel standard deviation")
          .rule([](const DetrImageConfig& c) {
            if (c.mean.size() != 3 || c.std.size() != 3) throw UsageError("mean and std take three values (R, G, B)");
            if (c.max_size > 0 && c.max_size < c.image_size)
              throw UsageError("invalid max_size=" + std::to_string(c.max_size) + ": below image_size=" + std::to_string(c.image_size));
          });
  return schema;
}

torch::Tensor sine_position_embedding(const torch::Tensor& mask, int64_t hidden_dim) {
  const int64_t d = hidden_dim / 2;  // channels per axis (num_pos_feats)
  // y, x: how many unpadded rows above and columns left of each pixel, itself included:
  // (B, H, W), scaled so the image's last row and column are at 2 pi.
  auto not_mask = mask.logical_not().to(torch::kFloat32);
  auto y = not_mask.cumsum(1), x = not_mask.cumsum(2);
  const double eps = 1e-6, scale = 2 * M_PI;
  y = y / (y.select(1, -1).unsqueeze(1) + eps) * scale;
  x = x / (x.select(2, -1).unsqueeze(2) + eps) * scale;
  // 10000^(2i / d) for the pair i of channels 2i, 2i+1: (d)
  auto i = torch::arange(d, not_mask.options());
  auto frequencies = torch::pow(10000.0, 2 * torch::floor(i / 2) / static_cast<double>(d));
  // PE(p, 2i) = sin(p / 10000^(2i/d)), PE(p, 2i+1) = cos(...): (B, H, W, d) per axis
  auto encode = [&](const torch::Tensor& p) {
    auto angles = p.unsqueeze(-1) / frequencies;
    using torch::indexing::Slice;
    return torch::stack({angles.index({"...", Slice(0, torch::indexing::None, 2)}).sin(), angles.index({"...", Slice(1, torch::indexing::None, 2)}).cos()}, 4)
        .flatten(3);
  };
  return torch::cat({encode(y), encode(x)}, 3).permute({0, 3, 1, 2});  // (B, hidden, H, W)
}

DetrEncoderLayerImpl::DetrEncoderLayerImpl(int64_t width, int64_t heads, int64_t ffn, double p)
    : self_attn(register_module("self_attn", attention(width, heads, p))),
      linear1(register_module("linear1", torch::nn::Linear(width, ffn))),
      linear2(register_module("linear2", torch::nn::Linear(ffn, width))),
      norm1(register_module("norm1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({width})))),
      norm2(register_module("norm2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({width})))),
      dropout(register_module("dropout", torch::nn::Dropout(p))),
      dropout1(register_module("dropout1", torch::nn::Dropout(p))),
      dropout2(register_module("dropout2", torch::nn::Dropout(p))) {}

torch::Tensor DetrEncoderLayerImpl::forward(const torch::Tensor& src, const torch::Tensor& padding, const torch::Tensor& pos) {
  // q = k = x + pos, v = x: positions steer where to look, not what is carried.
  auto qk = src + pos;
  auto x = norm1(src + dropout1(self_attn->attend_inputs(qk, qk, src, padding)));
  // FFN(x) = W2 relu(W1 x + b1) + b2
  return norm2(x + dropout2(linear2(dropout(torch::relu(linear1(x))))));
}

DetrDecoderLayerImpl::DetrDecoderLayerImpl(int64_t width, int64_t heads, int64_t ffn, double p)
    : self_attn(register_module("self_attn", attention(width, heads, p))),
      multihead_attn(register_module("multihead_attn", attention(width, heads, p))),
      linear1(register_module("linear1", torch::nn::Linear(width, ffn))),
      linear2(register_module("linear2", torch::nn::Linear(ffn, width))),
      norm1(register_module("norm1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({width})))),
      norm2(register_module("norm2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({width})))),
      norm3(register_module("norm3", torch::nn::LayerNorm(torch::nn::LayerNormOptions({width})))),
      dropout(register_module("dropout", torch::nn::Dropout(p))),
      dropout1(register_module("dropout1", torch::nn::Dropout(p))),
      dropout2(register_module("dropout2", torch::nn::Dropout(p))),
      dropout3(register_module("dropout3", torch::nn::Dropout(p))) {}

torch::Tensor DetrDecoderLayerImpl::forward(const torch::Tensor& tgt, const torch::Tensor& memory, const torch::Tensor& padding,
                                            const torch::Tensor& pos, const torch::Tensor& query_pos, torch::Tensor* cross_weights) {
  // The queries among themselves (which object each takes): q = k = t + query_pos, v = t.
  auto qk = tgt + query_pos;
  auto t = norm1(tgt + dropout1(self_attn->attend_inputs(qk, qk, tgt)));
  // Each query looks at the image: q = t + query_pos, k = memory + pos, v = memory.
  t = norm2(t + dropout2(multihead_attn->attend_inputs(t + query_pos, memory + pos, memory, padding, cross_weights)));
  return norm3(t + dropout3(linear2(dropout(torch::relu(linear1(t))))));
}

DetrImpl::DetrImpl(const DetrConfig& config) : config_(config) {
  DetrConfig::options().check(config);
  const int64_t E = config.hidden_dim;
  // backbone.0.body: the ResNet without its head (and without layer4 at feature_stage 3);
  // backbone.1 is the position embedding, which has no weights.
  body_ = std::make_shared<ResNetImpl>(backbone_config(config));
  body_->keep_trunk(config.feature_stage);
  auto backbone = holder(), wrapper = holder();
  wrapper->register_module("body", body_);
  backbone->register_module("0", wrapper);
  register_module("backbone", backbone);

  // The transformer's parameters are Xavier-uniform (DETR's _reset_parameters), made before the
  // heads so the heads' initialisation draws follow it.
  encoder_layers = torch::nn::ModuleList(), decoder_layers = torch::nn::ModuleList();
  for (int64_t i = 0; i < config.enc_layers; ++i) encoder_layers->push_back(DetrEncoderLayer(E, config.heads, config.dim_feedforward, config.dropout));
  for (int64_t i = 0; i < config.dec_layers; ++i) decoder_layers->push_back(DetrDecoderLayer(E, config.heads, config.dim_feedforward, config.dropout));
  decoder_norm = torch::nn::LayerNorm(torch::nn::LayerNormOptions({E}));
  auto transformer = holder(), encoder = holder(), decoder = holder();
  encoder->register_module("layers", encoder_layers);
  decoder->register_module("layers", decoder_layers);
  decoder->register_module("norm", decoder_norm);
  transformer->register_module("encoder", encoder);
  transformer->register_module("decoder", decoder);
  register_module("transformer", transformer);
  {
    torch::NoGradGuard no_grad;
    for (auto& p : transformer->parameters())
      if (p.dim() > 1) torch::nn::init::xavier_uniform_(p);
  }

  // The heads: a class (or "no object") and a box per query, the queries, the projection of the
  // feature map to the width.
  class_embed = register_module("class_embed", torch::nn::Linear(E, config.num_classes + 1));
  bbox_layers = torch::nn::ModuleList(torch::nn::Linear(E, E), torch::nn::Linear(E, E), torch::nn::Linear(E, 4));
  auto bbox_embed = holder();
  bbox_embed->register_module("layers", bbox_layers);
  register_module("bbox_embed", bbox_embed);
  query_embed = register_module("query_embed", torch::nn::Embedding(config.num_queries, E));
  input_proj = register_module("input_proj", torch::nn::Conv2d(torch::nn::Conv2dOptions(body_->feature_channels(config.feature_stage), E, 1)));

  // The stem and the first frozen_stages stages do not train.
  std::vector<std::shared_ptr<torch::nn::Module>> frozen{body_->conv1.ptr(), body_->bn1.ptr()};
  const std::vector<torch::nn::Sequential> stages{body_->layer1, body_->layer2, body_->layer3, body_->layer4};
  for (int64_t s = 0; s < config.frozen_stages; ++s) frozen.push_back(stages[static_cast<size_t>(s)].ptr());
  if (config.frozen_stages > 0)
    for (auto& m : frozen)
      for (auto& p : m->parameters()) p.set_requires_grad(false);
}

int64_t DetrImpl::stride() const { return config_.feature_stage == 3 || config_.dilation ? 16 : 32; }

DetrOutput DetrImpl::forward(const torch::Tensor& images, const torch::Tensor& mask, bool keep_attention) {
  auto features = body_->feature_map(images, config_.feature_stage);  // (B, C, H/32, W/32)
  // The padding mask at the feature map's resolution (nearest): (B, h, w)
  auto feature_mask = torch::nn::functional::interpolate(
                          mask.unsqueeze(1).to(torch::kFloat32),
                          torch::nn::functional::InterpolateFuncOptions().size(std::vector<int64_t>{features.size(2), features.size(3)}).mode(torch::kNearest))
                          .squeeze(1)
                          .to(torch::kBool);
  return decode(features, feature_mask, keep_attention);
}

std::pair<torch::Tensor, torch::Tensor> DetrImpl::predict(const torch::Tensor& images) {
  // No padding: a mask of zeros shaped from the feature map, so that a trace keeps the batch and
  // the image size free (an interpolation to a size would fix them).
  auto features = body_->feature_map(images, config_.feature_stage);
  auto out = decode(features, torch::zeros_like(features.select(1, 0), torch::kBool), false);
  return {out.logits.select(0, -1), out.boxes.select(0, -1)};
}

DetrOutput DetrImpl::decode(const torch::Tensor& features, const torch::Tensor& feature_mask, bool keep_attention) {
  const int64_t h = features.size(2), w = features.size(3);
  auto pos = sine_position_embedding(feature_mask, config_.hidden_dim).flatten(2).transpose(1, 2);  // (B, hw, E)
  auto src = input_proj(features).flatten(2).transpose(1, 2);                                      // (B, hw, E)
  auto padding = feature_mask.flatten(1);                                                          // (B, hw)

  DetrOutput out;
  auto memory = src;
  for (size_t i = 0; i < encoder_layers->size(); ++i) {
    auto& layer = *encoder_layers[i]->as<DetrEncoderLayer>();
    const bool keep = keep_attention && i + 1 == encoder_layers->size();
    if (keep) layer.self_attn->keep_weights(true);
    memory = layer.forward(memory, padding, pos);
    if (keep) {
      layer.self_attn->keep_weights(false);
      out.encoder_attention = layer.self_attn->last_weights().mean(1).unflatten(2, {h, w});  // (B, hw, h, w)
    }
  }
  // The queries' positions are the learned embeddings; the decoder starts from zeros: (B, N, E)
  auto query_pos = query_embed->weight.unsqueeze(0) + torch::zeros_like(memory.select(1, 0)).unsqueeze(1);
  auto tgt = torch::zeros_like(query_pos);
  std::vector<torch::Tensor> layers;
  for (size_t i = 0; i < decoder_layers->size(); ++i) {
    const bool last = i + 1 == decoder_layers->size();
    torch::Tensor weights;
    tgt = decoder_layers[i]->as<DetrDecoderLayer>()->forward(tgt, memory, padding, pos, query_pos, keep_attention && last ? &weights : nullptr);
    if (config_.aux_loss || last) layers.push_back(decoder_norm(tgt));
    if (weights.defined()) out.cross_attention = weights.detach().mean(1).unflatten(2, {h, w});  // (B, N, h, w)
  }
  auto hs = torch::stack(layers);  // (L, B, N, E)
  out.logits = class_embed(hs);    // (L, B, N, classes + 1)
  // A 3-layer MLP with ReLU between, then the sigmoid: boxes in [0, 1]
  auto b = hs;
  for (size_t i = 0; i < bbox_layers->size(); ++i) {
    b = bbox_layers[i]->as<torch::nn::Linear>()->forward(b);
    if (i + 1 < bbox_layers->size()) b = torch::relu(b);
  }
  out.boxes = b.sigmoid();  // (L, B, N, 4)
  return out;
}

void DetrImpl::init_backbone(const std::string& checkpoint) {
  // The trunk's tensors: not the head, not num_batches_tracked (a frozen BatchNorm has none).
  load_classifier_trunk(*body_, checkpoint, config_.backbone, "backbone_init");
}

std::vector<torch::Tensor> DetrImpl::backbone_parameters() const {
  std::vector<torch::Tensor> out;
  for (const auto& p : body_->parameters())
    if (p.requires_grad()) out.push_back(p);
  return out;
}

std::vector<torch::Tensor> DetrImpl::head_parameters() const {
  std::vector<torch::Tensor> out;
  for (const auto& item : named_parameters())
    if (item.key().rfind("backbone.", 0) != 0 && item.value().requires_grad()) out.push_back(item.value());
  return out;
}

}  // namespace zoo::models
