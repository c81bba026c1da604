#include "models/video/timesformer.h"

#include <cmath>

#include "lib/nn/init.h"
#include "models/vision/vit.h"

namespace zoo::models {

namespace {

// Self-attention with the authors' names (qkv, proj) and initialisation (truncated N(0, 0.02^2), zero biases).
nn::MultiheadAttention attention(const TimesformerConfig& c) {
  nn::MultiheadAttentionOptions options;
  options.embed_dim = c.width, options.heads = c.heads, options.dropout = c.attention_dropout;
  options.in_proj_name = "qkv", options.out_proj_name = "proj";
  nn::MultiheadAttention module(options);
  torch::NoGradGuard no_grad;
  for (auto* layer : {&module->in_proj, &module->out_proj}) nn::trunc_normal_((*layer)->weight, 0.02), (*layer)->bias.zero_();
  return module;
}

// The mean over heads of attention weights (..., heads, L, L) -> (..., L, L).
torch::Tensor head_mean(const torch::Tensor& weights) { return weights.mean(-3); }

}  // namespace

TimesformerMlpImpl::TimesformerMlpImpl(int64_t dim, int64_t hidden, double dropout) {
  fc1 = register_module("fc1", nn::trunc_normal_linear(dim, hidden));
  fc2 = register_module("fc2", nn::trunc_normal_linear(hidden, dim));
  dropout_ = register_module("dropout", nn::Dropout(dropout));
}

torch::Tensor TimesformerMlpImpl::forward(const torch::Tensor& x) { return dropout_(fc2(dropout_(torch::gelu(fc1(x))))); }

TimesformerBlockImpl::TimesformerBlockImpl(const TimesformerConfig& c, double drop_path) : attention_(c.attention) {
  norm1 = register_module("norm1", nn::layer_norm(c.width, 1e-6));
  attn = register_module("attn", attention(c));
  if (attention_ == "divided") {
    temporal_norm1 = register_module("temporal_norm1", nn::layer_norm(c.width, 1e-6));
    temporal_attn = register_module("temporal_attn", attention(c));
    temporal_fc = register_module("temporal_fc", nn::trunc_normal_linear(c.width, c.width));
  }
  norm2 = register_module("norm2", nn::layer_norm(c.width, 1e-6));
  mlp = register_module("mlp", TimesformerMlp(c.width, c.mlp_ratio * c.width, c.dropout));
  dropout_ = register_module("dropout", nn::Dropout(c.dropout));
  drop_path_ = register_module("drop_path", nn::DropPath(drop_path));
}

torch::Tensor TimesformerBlockImpl::forward(const torch::Tensor& x, int64_t frames) {
  if (attention_ != "divided") {
    // joint: x (B, 1 + N T, D), every token over every token; space: x (B T, 1 + N, D), per frame.
    auto h = x + drop_path_(dropout_(attn(norm1(x), /*causal=*/false)));
    return h + drop_path_(mlp(norm2(h)));
  }
  const int64_t T = frames, D = x.size(2), N = (x.size(1) - 1) / T;
  // Temporal: each patch position over the clip's frames, (B, N T, D) -> (B N, T, D).
  // z'_(p,t) = z_(p,t) + W_fc MSA_time(LN(z_(p,1..T)))_t
  auto patches = x.narrow(1, 1, N * T);
  auto temporal = drop_path_(dropout_(temporal_attn(temporal_norm1(patches.reshape({-1, T, D})), /*causal=*/false)));
  auto xt = patches + temporal_fc(temporal.reshape({-1, N * T, D}));  // (B, N T, D)
  // Spatial: each frame's patches with the class token, (B, N T, D) -> (B T, 1 + N, D).
  auto cls = x.narrow(1, 0, 1);                                             // (B, 1, D)
  auto cls_per_frame = cls.unsqueeze(1).expand({-1, T, -1, -1}).reshape({-1, 1, D});  // (B T, 1, D)
  auto xs = torch::cat({cls_per_frame, xt.reshape({-1, N, T, D}).transpose(1, 2).reshape({-1, N, D})}, 1);
  // z''_(p,t) = z'_(p,t) + MSA_space(LN([z_cls; z'_(1..N,t)]))_p
  auto spatial = drop_path_(dropout_(attn(norm1(xs), /*causal=*/false)));                               // (B T, 1 + N, D)
  // The class token's T outputs (one per frame) averaged: (B, 1, D).
  auto cls_update = spatial.select(1, 0).reshape({-1, T, D}).mean(1, /*keepdim=*/true);
  auto patch_update = spatial.narrow(1, 1, N).reshape({-1, T, N, D}).transpose(1, 2).reshape({-1, N * T, D});
  auto h = torch::cat({cls, xt}, 1) + torch::cat({cls_update, patch_update}, 1);
  // z''' = z'' + MLP(LN(z''))
  return h + drop_path_(mlp(norm2(h)));
}

TimesformerImpl::TimesformerImpl(const TimesformerConfig& config) : config_(config) {
  const auto& c = config_;
  if (c.image_size % c.patch_size != 0)
    throw UsageError("invalid TimeSformer input_size " + std::to_string(c.image_size) + ": it must be a multiple of patch_size " + std::to_string(c.patch_size));
  grid_ = c.image_size / c.patch_size;
  // Each frame's P x P patches, linearly embedded (a stride-P convolution): (3, H, W) -> (D, H/P, W/P).
  patch_embed_proj = torch::nn::Conv2d(torch::nn::Conv2dOptions(3, c.width, c.patch_size).stride(c.patch_size));
  auto patch_embed = register_module("patch_embed", std::make_shared<torch::nn::Module>());
  patch_embed->register_module("proj", patch_embed_proj);
  cls_token = register_parameter("cls_token", nn::trunc_normal_(torch::zeros({1, 1, c.width}), 0.02));
  pos_embed = register_parameter("pos_embed", nn::trunc_normal_(torch::zeros({1, 1 + grid_ * grid_, c.width}), 0.02));
  // Without time embeddings attention cannot tell the frames' order (a clip and its reversal look
  // alike): drawn like the position embeddings for training from scratch; zero when starting from
  // a ViT (adapt_image_weights), as the authors do, so that the model starts as that ViT.
  if (c.attention != "space") time_embed = register_parameter("time_embed", nn::trunc_normal_(torch::zeros({1, c.num_frames, c.width}), 0.02));
  dropout_ = register_module("dropout", nn::Dropout(c.dropout));
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.depth; ++i) {
    const double rate = c.depth > 1 ? c.drop_path * static_cast<double>(i) / static_cast<double>(c.depth - 1) : 0.0;
    auto block = TimesformerBlock(c, rate);
    // The authors zero every temporal_fc but the first block's, so that a ViT's weights start the
    // model as that ViT applied to each frame.
    if (c.attention == "divided" && i > 0) {
      torch::NoGradGuard no_grad;
      block->temporal_fc->weight.zero_(), block->temporal_fc->bias.zero_();
    }
    blocks->push_back(block);
  }
  norm = register_module("norm", nn::layer_norm(c.width, 1e-6));
  head = register_module("head", nn::trunc_normal_linear(c.width, c.num_classes));
}

torch::Tensor TimesformerImpl::features(const torch::Tensor& clips) {
  const auto& c = config_;
  const int64_t T = clips.size(2), D = c.width, N = grid_ * grid_;
  if (clips.dim() != 5 || clips.size(1) != 3 || clips.size(3) != c.image_size || clips.size(4) != c.image_size)
    throw Error("TimeSformer expects clips (B, 3, T, " + std::to_string(c.image_size) + ", " + std::to_string(c.image_size) + "), got " +
                c10::str(clips.sizes()));
  if (c.attention != "space" && T != c.num_frames)
    throw Error("TimeSformer was built for " + std::to_string(c.num_frames) + " frames, got a clip of " + std::to_string(T));
  // Frames as images: (B, 3, T, H, W) -> (B T, 3, H, W) -> patches (B T, N, D)
  auto frames = clips.transpose(1, 2).reshape({-1, 3, c.image_size, c.image_size});
  auto x = patch_embed_proj(frames).flatten(2).transpose(1, 2);
  // z^0_(p,t) = E x_(p,t) + e^pos_p, with the class token first: (B T, 1 + N, D)
  x = torch::cat({cls_token.expand_as(x.narrow(1, 0, 1)), x}, 1) + pos_embed;
  x = dropout_(x);
  if (c.attention == "space") {
    for (const auto& block : *blocks) x = block->as<TimesformerBlockImpl>()->forward(x, T);
    // The frames' final tokens averaged: (B T, 1 + N, D) -> (B, 1 + N, D)
    x = x.reshape({-1, T, 1 + N, D}).mean(1);
  } else {
    // + e^time_t on every patch of frame t; the patches patch-major: (B, 1 + N T, D)
    auto cls = x.narrow(1, 0, 1).reshape({-1, T, 1, D}).select(1, 0);                         // (B, 1, D)
    auto patches = x.narrow(1, 1, N).reshape({-1, T, N, D}).transpose(1, 2) + time_embed.unsqueeze(1);  // (B, N, T, D)
    x = torch::cat({cls, dropout_(patches).reshape({-1, N * T, D})}, 1);
    for (const auto& block : *blocks) x = block->as<TimesformerBlockImpl>()->forward(x, T);
  }
  return norm(x).select(1, 0);  // LN(z^L_cls): (B, D)
}

torch::Tensor TimesformerImpl::forward(torch::Tensor clips) { return head(features(clips)); }

void TimesformerImpl::adapt_state_dict(NamedTensors& tensors) const {
  if (auto found = tensors.find("pos_embed"); found != tensors.end() && found->second.dim() == 3 && found->second.size(1) != pos_embed.size(1) &&
                                              found->second.size(2) == pos_embed.size(2))
    found->second = resize_position_embedding(found->second, 1, grid_, grid_);
  // Another clip length: the time embeddings resampled to T (nearest, as the authors do).
  if (auto found = tensors.find("time_embed"); found != tensors.end() && time_embed.defined() && found->second.dim() == 3 &&
                                               found->second.size(1) != time_embed.size(1) && found->second.size(2) == time_embed.size(2)) {
    namespace F = torch::nn::functional;
    found->second = F::interpolate(found->second.transpose(1, 2), F::InterpolateFuncOptions()
                                                                      .size(std::vector<int64_t>{config_.num_frames})
                                                                      .mode(torch::kNearest))
                        .transpose(1, 2)
                        .contiguous();
  }
}

void TimesformerImpl::adapt_image_weights(const std::string& image_model, NamedTensors& tensors) const {
  if (!tensors.count("class_token") || !tensors.count("conv_proj.weight"))
    throw UsageError("--init: " + image_model + " is not a ViT (TimeSformer starts from vit_* or deit_* weights)");
  const int64_t prefix = tensors.count("dist_token") ? 2 : 1;  // DeiT's distillation token's row is dropped
  NamedTensors out = state_dict(*this);
  for (auto& [name, tensor] : out) tensor = tensor.detach().clone();
  auto take = [&](const std::string& from, const std::string& into) {
    auto found = tensors.find(from);
    if (found == tensors.end()) throw Error("--init: " + image_model + "'s weights lack " + from);
    if (!out.count(into)) throw Error("--init: this TimeSformer has no " + into + " for " + from);
    if (found->second.sizes() != out.at(into).sizes())
      throw Error("--init: " + from + " of " + image_model + " is " + c10::str(found->second.sizes()) + ", this TimeSformer's " + into + " " +
                  c10::str(out.at(into).sizes()) + " (give the ViT's width, depth and patch size)");
    out[into] = found->second;
  };
  take("conv_proj.weight", "patch_embed.proj.weight"), take("conv_proj.bias", "patch_embed.proj.bias");
  take("class_token", "cls_token");
  // The ViT's position embeddings without the distillation row, resized to this grid.
  auto pos = tensors.at("encoder.pos_embedding");
  if (prefix == 2) pos = torch::cat({pos.narrow(1, 0, 1), pos.narrow(1, 2, pos.size(1) - 2)}, 1);
  if (pos.size(1) != pos_embed.size(1)) pos = resize_position_embedding(pos, 1, grid_, grid_);
  tensors["encoder.pos_embedding"] = pos;
  take("encoder.pos_embedding", "pos_embed");
  take("encoder.ln.weight", "norm.weight"), take("encoder.ln.bias", "norm.bias");
  if (out.count("time_embed")) out["time_embed"].zero_();
  for (int64_t i = 0; i < config_.depth; ++i) {
    const std::string from = "encoder.layers.encoder_layer_" + std::to_string(i) + ".", into = "blocks." + std::to_string(i) + ".";
    std::vector<std::pair<std::string, std::string>> names{
        {"ln_1.weight", "norm1.weight"}, {"ln_1.bias", "norm1.bias"}, {"self_attention.in_proj_weight", "attn.qkv.weight"},
        {"self_attention.in_proj_bias", "attn.qkv.bias"}, {"self_attention.out_proj.weight", "attn.proj.weight"},
        {"self_attention.out_proj.bias", "attn.proj.bias"}, {"ln_2.weight", "norm2.weight"}, {"ln_2.bias", "norm2.bias"},
        {"mlp.0.weight", "mlp.fc1.weight"}, {"mlp.0.bias", "mlp.fc1.bias"}, {"mlp.3.weight", "mlp.fc2.weight"}, {"mlp.3.bias", "mlp.fc2.bias"}};
    if (config_.attention == "divided") {
      // Temporal attention starts as a copy of the spatial one (the authors' load_pretrained).
      for (const char* part : {"weight", "bias"}) names.emplace_back(std::string("ln_1.") + part, std::string("temporal_norm1.") + part);
      names.emplace_back("self_attention.in_proj_weight", "temporal_attn.qkv.weight"), names.emplace_back("self_attention.in_proj_bias", "temporal_attn.qkv.bias");
      names.emplace_back("self_attention.out_proj.weight", "temporal_attn.proj.weight"), names.emplace_back("self_attention.out_proj.bias", "temporal_attn.proj.bias");
    }
    for (const auto& [a, b] : names) take(from + a, into + b);
  }
  tensors = std::move(out);
}

void TimesformerImpl::keep_attention(bool keep) {
  for (const auto& child : *blocks) {
    auto* block = child->as<TimesformerBlockImpl>();
    block->attn->keep_weights(keep);
    if (block->temporal_attn) block->temporal_attn->keep_weights(keep);
  }
}

std::vector<VideoFigure> TimesformerImpl::look(const torch::Tensor& clip, const viz::LookOptions& options) {
  torch::NoGradGuard no_grad;
  keep_attention(true);
  forward(clip);
  keep_attention(false);
  const auto& c = config_;
  const int64_t T = clip.size(2), N = grid_ * grid_, L = 1 + N * T;
  const int64_t layer = options.layer_index(c.depth, options.model);
  const int64_t query_frame = T / 2;
  const int64_t qx = options.query->x / c.patch_size, qy = options.query->y / c.patch_size, query = qy * grid_ + qx;
  auto block_at = [&](int64_t i) { return blocks[static_cast<size_t>(i)]->as<TimesformerBlockImpl>(); };
  const std::string where = "patch (" + std::to_string(qx) + "," + std::to_string(qy) + ") of frame " + std::to_string(query_frame);
  // One map per frame (grid x grid) from a row of weights over the patches, patch-major (N T).
  auto per_frame = [&](const torch::Tensor& over_patches) { return over_patches.reshape({N, T}).t().reshape({T, grid_, grid_}).to(torch::kCPU); };
  auto frame_figure = [&](const torch::Tensor& maps, std::string title, std::string suffix) {
    VideoFigure out;
    out.figure.title = std::move(title), out.figure.suffix = std::move(suffix);
    out.figure.columns = static_cast<int>(std::min<int64_t>(T, 8)), out.figure.shared_scale = true;
    for (int64_t t = 0; t < maps.size(0); ++t) {
      out.figure.maps.push_back(maps[t]);
      out.figure.labels.push_back(viz::with_peak("frame " + std::to_string(t), maps[t]));
      out.frame_of_map.push_back(t);
    }
    return out;
  };
  std::vector<VideoFigure> figures;
  std::vector<torch::Tensor> mixing;  // per step, (1, 1, L, L) head-averaged token mixing for the rollout
  const std::string in_layer = " in layer " + std::to_string(layer) + " (mean over heads)";
  if (c.attention == "divided") {
    // Temporal: (B N, heads, T, T) -> the query's row over the same position in each frame.
    auto temporal = head_mean(block_at(layer)->temporal_attn->last_weights())[query][query_frame];  // (T)
    auto maps = torch::zeros({T, N});
    maps.select(1, query) = temporal.to(torch::kCPU);
    figures.push_back(frame_figure(maps.reshape({T, grid_, grid_}), "TimeSformer divided attention: temporal, of " + where + in_layer, ""));
    // Spatial: (B T, heads, 1 + N, 1 + N) -> the query's row over its own frame's patches.
    auto spatial = head_mean(block_at(layer)->attn->last_weights())[query_frame][1 + query].narrow(0, 1, N).reshape({1, grid_, grid_});
    VideoFigure space = frame_figure(spatial.to(torch::kCPU), "TimeSformer divided attention: spatial, of " + where + in_layer, "spatial");
    space.frame_of_map = {query_frame}, space.figure.labels = {viz::with_peak("frame " + std::to_string(query_frame), spatial[0])};
    figures.push_back(std::move(space));
    // Rollout: each block as two mixing steps over all L tokens (class token first, patches
    // patch-major). Temporal: patch (p,t) over (p,t'); the class token untouched. Spatial: patch
    // (p,t) over the class token and its frame's patches; the class token the mean over frames
    // of its attention within each.
    for (int64_t i = 0; i < c.depth; ++i) {
      auto temporal_w = head_mean(block_at(i)->temporal_attn->last_weights()).to(torch::kCPU);  // (N, T, T)
      auto step = torch::zeros({L, L});
      step.narrow(0, 1, N * T).narrow(1, 1, N * T).copy_(torch::block_diag(temporal_w.unbind(0)));
      mixing.push_back(step.view({1, 1, L, L}));
      auto spatial_w = head_mean(block_at(i)->attn->last_weights()).to(torch::kCPU);  // (T, 1 + N, 1 + N)
      step = torch::zeros({L, L});
      for (int64_t t = 0; t < T; ++t) {
        // Column of frame t's token j: 0 for the class token, 1 + p T + t for patch p.
        auto columns = torch::cat({torch::zeros({1}, torch::kLong), 1 + torch::arange(N, torch::kLong) * T + t});
        step.index_put_({columns.narrow(0, 1, N).unsqueeze(1), columns.unsqueeze(0)}, spatial_w[t].narrow(0, 1, N));
        step[0].index_add_(0, columns, spatial_w[t][0] / static_cast<double>(T));
      }
      mixing.push_back(step.view({1, 1, L, L}));
    }
  } else if (c.attention == "joint") {
    // (B, heads, L, L) -> the query token (1 + p T + t)'s row over every frame's patches.
    auto weights = head_mean(block_at(layer)->attn->last_weights())[0][1 + query * T + query_frame].narrow(0, 1, N * T);
    figures.push_back(frame_figure(per_frame(weights), "TimeSformer joint space-time attention of " + where + in_layer, ""));
    for (int64_t i = 0; i < c.depth; ++i) mixing.push_back(block_at(i)->attn->last_weights().to(torch::kCPU));
  } else {
    // (B T, heads, 1 + N, 1 + N) -> the query's row over its frame's patches.
    auto weights = head_mean(block_at(layer)->attn->last_weights())[query_frame][1 + query].narrow(0, 1, N).reshape({1, grid_, grid_});
    VideoFigure space = frame_figure(weights.to(torch::kCPU), "TimeSformer space-only attention of " + where + in_layer, "");
    space.frame_of_map = {query_frame}, space.figure.labels = {viz::with_peak("frame " + std::to_string(query_frame), weights[0])};
    figures.push_back(std::move(space));
    for (int64_t i = 0; i < c.depth; ++i) mixing.push_back(block_at(i)->attn->last_weights().to(torch::kCPU));
  }
  torch::Tensor cls_flow;  // (N T) patch-major: how much each patch of each frame flows into the class token
  if (c.attention == "space") {
    // Each frame's own rollout (T, 1 + N, 1 + N); the final class token is their mean.
    cls_flow = (attention_rollout(mixing).select(1, 0).narrow(1, 1, N) / static_cast<double>(T)).t().reshape({N * T});
  } else {
    cls_flow = attention_rollout(mixing)[0][0].narrow(0, 1, N * T);
  }
  figures.push_back(frame_figure(per_frame(cls_flow), "TimeSformer (" + c.attention + ") class-token attention rollout over space-time", "rollout"));
  for (auto& f : figures) f.figure.marker.reset();
  figures[0].figure.marker = *options.query;
  if (figures.size() > 2) figures[1].figure.marker = *options.query;
  return figures;
}

}  // namespace zoo::models
