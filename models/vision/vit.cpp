#include "models/vision/vit.h"

#include <cmath>

#include "lib/core/error.h"
#include "lib/nn/init.h"

namespace zoo::models {

namespace {

// torchvision's MLPBlock init: Xavier-uniform weights, N(0, 1e-6^2) biases.
torch::nn::Linear mlp_linear(int64_t in, int64_t out) {
  torch::nn::Linear linear(in, out);
  torch::NoGradGuard no_grad;
  torch::nn::init::xavier_uniform_(linear->weight);
  linear->bias.normal_(0.0, 1e-6);
  return linear;
}

}  // namespace

VitBlockImpl::VitBlockImpl(const VitConfig& c, double drop_path_rate) {
  ln_1 = register_module("ln_1", nn::layer_norm(c.width, 1e-6));  // eps 1e-6: torchvision's and timm's
  nn::MultiheadAttentionOptions attention;
  attention.embed_dim = c.width, attention.heads = c.heads, attention.dropout = c.attention_dropout;
  attention.in_proj_parameters = true;  // in_proj_weight / in_proj_bias, as torchvision's nn.MultiheadAttention
  self_attention = register_module("self_attention", nn::MultiheadAttention(attention));
  {
    // nn.MultiheadAttention's out_proj starts with a zero bias.
    torch::NoGradGuard no_grad;
    self_attention->out_proj->bias.zero_();
  }
  dropout = register_module("dropout", nn::Dropout(c.dropout));
  ln_2 = register_module("ln_2", nn::layer_norm(c.width, 1e-6));
  mlp = register_module("mlp", torch::nn::Sequential(mlp_linear(c.width, c.mlp), torch::nn::GELU(), nn::Dropout(c.dropout),
                                                     mlp_linear(c.mlp, c.width), nn::Dropout(c.dropout)));
  drop_path = register_module("drop_path", nn::DropPath(drop_path_rate));
}

torch::Tensor VitBlockImpl::forward(const torch::Tensor& z) {
  // z'_l = MSA(LN(z_{l-1})) + z_{l-1}
  auto x = z + drop_path(dropout(self_attention(ln_1(z), /*causal=*/false)));
  // z_l = MLP(LN(z'_l)) + z'_l
  return x + drop_path(mlp->forward(ln_2(x)));
}

VitEncoderImpl::VitEncoderImpl(const VitConfig& c, int64_t tokens) {
  // Learned positions, N(0, 0.02^2) as BERT (and torchvision).
  pos_embedding = register_parameter("pos_embedding", torch::empty({1, tokens, c.width}).normal_(0.0, 0.02));
  dropout = register_module("dropout", nn::Dropout(c.dropout));
  layers = register_module("layers", torch::nn::Sequential());
  for (int64_t i = 0; i < c.layers; ++i) {
    // Stochastic depth grows linearly with depth, to drop_path at the last block (DeiT, timm).
    const double rate = c.layers > 1 ? c.drop_path * static_cast<double>(i) / static_cast<double>(c.layers - 1) : c.drop_path;
    layers->push_back("encoder_layer_" + std::to_string(i), VitBlock(c, rate));
  }
  ln = register_module("ln", nn::layer_norm(c.width, 1e-6));
}

torch::Tensor VitEncoderImpl::forward(const torch::Tensor& x) {
  auto z = dropout(x);
  for (const auto& block : layers->children()) z = block->as<VitBlockImpl>()->forward(z);
  return ln(z);
}

VisionTransformerImpl::VisionTransformerImpl(const VitConfig& c) : config_(c) {
  VitConfig::options().check(c);
  check_vit_grid(c.image_size, c.patch_size);
  // Patch embedding x_p E: a P x P convolution with stride P is a linear map of each flattened patch.
  conv_proj = register_module("conv_proj", torch::nn::Conv2d(torch::nn::Conv2dOptions(3, c.width, c.patch_size).stride(c.patch_size)));
  class_token = register_parameter("class_token", torch::zeros({1, 1, c.width}));
  if (c.distilled) dist_token = register_parameter("dist_token", torch::empty({1, 1, c.width}).normal_(0.0, 0.02));
  const int64_t grid = c.image_size / c.patch_size;
  encoder = register_module("encoder", VitEncoder(c, prefix_tokens() + grid * grid));
  heads = register_module("heads", torch::nn::Sequential());
  head = torch::nn::Linear(c.width, c.num_classes);
  heads->push_back("head", head);
  if (c.distilled) {
    head_dist = torch::nn::Linear(c.width, c.num_classes);
    heads->push_back("head_dist", head_dist);
  }
  torch::NoGradGuard no_grad;
  // torchvision: the patch embedding from a truncated normal of variance 1 / fan_in, zero heads.
  nn::trunc_normal_(conv_proj->weight, std::sqrt(1.0 / static_cast<double>(3 * c.patch_size * c.patch_size)));
  conv_proj->bias.zero_();
  for (auto& linear : {head, head_dist})
    if (linear) linear->weight.zero_(), linear->bias.zero_();
}

torch::Tensor VisionTransformerImpl::features(const torch::Tensor& images) {
  // Patches as tokens: (B, 3, H, W) -> (B, E, H/P, W/P) -> (B, N, E)
  auto patches = conv_proj(images);
  const int64_t grid_h = patches.size(2), grid_w = patches.size(3);
  auto x = patches.flatten(2).transpose(1, 2);
  // [x_class; (x_dist;) x_p^1 E; ...]: (B, prefix + N, E)
  // (expand_as a (B, 1, E) slice, not expand to a number: an exported trace keeps the batch free)
  const auto one_per_image = x.narrow(1, 0, 1);
  std::vector<torch::Tensor> tokens{class_token.expand_as(one_per_image)};
  if (config_.distilled) tokens.push_back(dist_token.expand_as(one_per_image));
  tokens.push_back(x);
  x = torch::cat(tokens, 1);
  // + E_pos, resized when the image is not the size the embeddings were made for.
  const int64_t grid = config_.image_size / config_.patch_size;
  auto pos = encoder->pos_embedding;
  if (grid_h != grid || grid_w != grid) pos = resize_position_embedding(pos, prefix_tokens(), grid_h, grid_w);
  return encoder(x + pos);
}

torch::Tensor VisionTransformerImpl::forward(torch::Tensor images) {
  auto z = features(images);  // (B, T, E)
  // y = LN(z_L^0): the class token's final state, through the head -> (B, classes)
  auto logits = head(z.select(1, 0));
  // DeiT at inference: the mean of the class and distillation heads.
  if (config_.distilled) logits = (logits + head_dist(z.select(1, 1))) / 2;
  return logits;
}

std::vector<TrainOutput> VisionTransformerImpl::forward_train(torch::Tensor images) {
  if (!config_.distilled) return {{forward(images), 1.0}};
  auto z = features(images);
  // DeiT: L = 1/2 CE(head(z^cls), y) + 1/2 CE(head_dist(z^dist), teacher's argmax)
  return {{head(z.select(1, 0)), 0.5}, {head_dist(z.select(1, 1)), 0.5, /*distillation=*/true}};
}

torch::Tensor VisionTransformerImpl::embed(const torch::Tensor& images) { return features(images).select(1, 0); }

int64_t VisionTransformerImpl::embedding_dim() const { return config_.width; }

void VisionTransformerImpl::drop_head() {
  unregister_module("heads"), heads = nullptr, head = nullptr, head_dist = nullptr;
}

std::vector<std::string> VisionTransformerImpl::head_prefixes() const { return {"heads."}; }

bool rename_timm_vit(NamedTensors& tensors) {
  if (!tensors.count("cls_token") || !tensors.count("patch_embed.proj.weight")) return false;
  // timm name -> torchvision name, the block number carried over.
  static const std::vector<std::pair<std::string, std::string>> top{
      {"cls_token", "class_token"},           {"dist_token", "dist_token"},   {"pos_embed", "encoder.pos_embedding"},
      {"patch_embed.proj.", "conv_proj."},    {"norm.", "encoder.ln."},       {"head.", "heads.head."},
      {"head_dist.", "heads.head_dist."}};
  static const std::vector<std::pair<std::string, std::string>> block{
      {"norm1.", "ln_1."}, {"attn.qkv.weight", "self_attention.in_proj_weight"}, {"attn.qkv.bias", "self_attention.in_proj_bias"},
      {"attn.proj.", "self_attention.out_proj."}, {"norm2.", "ln_2."}, {"mlp.fc1.", "mlp.0."}, {"mlp.fc2.", "mlp.3."}};
  NamedTensors renamed;
  for (auto& [name, tensor] : tensors) {
    std::string to = name;
    if (name.rfind("blocks.", 0) == 0) {
      const size_t dot = name.find('.', 7);
      const std::string index = name.substr(7, dot == std::string::npos ? std::string::npos : dot - 7), rest = dot == std::string::npos ? "" : name.substr(dot + 1);
      for (const auto& [from, into] : block)
        if (rest.rfind(from, 0) == 0) to = "encoder.layers.encoder_layer_" + index + "." + into + rest.substr(from.size());
    } else {
      for (const auto& [from, into] : top)
        if (name.rfind(from, 0) == 0 && (from.back() == '.' || name == from)) to = into + name.substr(from.size());
    }
    renamed[to] = tensor;
  }
  tensors = std::move(renamed);
  return true;
}

void VisionTransformerImpl::adapt_state_dict(NamedTensors& tensors) const {
  auto found = tensors.find("encoder.pos_embedding");
  if (found == tensors.end()) return;
  const auto& own = encoder->pos_embedding;
  const torch::Tensor& theirs = found->second;
  if (theirs.dim() != 3 || theirs.size(0) != 1 || theirs.size(2) != own.size(2) || theirs.size(1) == own.size(1)) return;
  const int64_t grid = config_.image_size / config_.patch_size;
  found->second = resize_position_embedding(theirs, prefix_tokens(), grid, grid);
}

void VisionTransformerImpl::keep_attention(bool keep) {
  for (const auto& block : encoder->layers->children()) block->as<VitBlockImpl>()->self_attention->keep_weights(keep);
}

std::vector<torch::Tensor> VisionTransformerImpl::attention_maps() const {
  std::vector<torch::Tensor> maps;
  for (const auto& block : encoder->layers->children()) maps.push_back(block->as<VitBlockImpl>()->self_attention->last_weights());
  return maps;
}

std::vector<viz::Figure> VisionTransformerImpl::look(const torch::Tensor& image, const viz::LookOptions& options) {
  torch::NoGradGuard no_grad;
  keep_attention(true);
  forward(image);
  keep_attention(false);
  const auto layers = attention_maps();  // each (1, heads, T, T)
  const int64_t layer = options.layer_index(static_cast<int64_t>(layers.size()), options.model);
  const int64_t prefix = prefix_tokens(), grid = image.size(-1) / config_.patch_size;
  viz::Figure figure;
  // The class token's attention to the patches, per head: (heads, grid, grid)
  auto cls = layers[static_cast<size_t>(layer)][0].select(1, 0).narrow(1, prefix, grid * grid).view({-1, grid, grid}).to(torch::kCPU);
  for (int64_t h = 0; h < cls.size(0); ++h) {
    figure.maps.push_back(cls[h]);
    figure.labels.push_back(viz::with_peak("head " + std::to_string(h), cls[h]));
  }
  // Rollout through every layer: the class token's row over the patches.
  auto flow = attention_rollout(layers)[0].select(0, 0).narrow(0, prefix, grid * grid).view({grid, grid}).to(torch::kCPU);
  figure.maps.push_back(flow);
  figure.labels.push_back(viz::with_peak("rollout", flow));
  figure.columns = static_cast<int>(std::min<int64_t>(cls.size(0) + 1, 7));
  figure.title = options.model + ": class token attention in layer " + std::to_string(layer) + " by head, and rollout";
  return {figure};
}

torch::Tensor attention_rollout(const std::vector<torch::Tensor>& maps) {
  torch::Tensor rollout;
  for (const auto& map : maps) {
    // A' = norm_rows(mean_h A + I): (B, T, T)
    auto a = map.mean(1) + torch::eye(map.size(-1), map.options()).unsqueeze(0);
    a = a / a.sum(-1, /*keepdim=*/true);
    // R = A'_l R: the later layer mixes the flows the earlier ones made.
    rollout = rollout.defined() ? torch::bmm(a, rollout) : a;
  }
  return rollout;
}

torch::Tensor resize_position_embedding(const torch::Tensor& pos, int64_t prefix, int64_t h, int64_t w) {
  const int64_t old_tokens = pos.size(1) - prefix, width = pos.size(2);
  const auto side = static_cast<int64_t>(std::lround(std::sqrt(static_cast<double>(old_tokens))));
  if (side * side != old_tokens)
    throw Error("cannot resize position embeddings of " + std::to_string(old_tokens) + " patches: not a square grid");
  if (side == h && side == w) return pos;
  // (1, N0, E) -> (1, E, side, side) -> bicubic -> (1, E, h, w) -> (1, h * w, E)
  auto grid = pos.narrow(1, prefix, old_tokens).transpose(1, 2).reshape({1, width, side, side});
  grid = torch::nn::functional::interpolate(
      grid, torch::nn::functional::InterpolateFuncOptions().size(std::vector<int64_t>{h, w}).mode(torch::kBicubic).align_corners(true));
  return torch::cat({pos.narrow(1, 0, prefix), grid.flatten(2).transpose(1, 2)}, 1);
}

}  // namespace zoo::models
