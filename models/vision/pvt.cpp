#include "models/vision/pvt.h"

#include <cmath>

#include "lib/nn/init.h"
#include "lib/viz/figure.h"

namespace zoo::models {

namespace {

// Position embeddings (1, n, C) of an h0 x w0 grid resized bilinearly to h x w (the authors'
// _get_pos_embed: F.interpolate, align_corners false).
torch::Tensor resize_grid_embedding(const torch::Tensor& pos, int64_t h0, int64_t w0, int64_t h, int64_t w) {
  namespace F = torch::nn::functional;
  const int64_t c = pos.size(2);
  auto grid = pos.reshape({1, h0, w0, c}).permute({0, 3, 1, 2});
  grid = F::interpolate(grid, F::InterpolateFuncOptions().size(std::vector<int64_t>{h, w}).mode(torch::kBilinear).align_corners(false));
  return grid.reshape({1, c, h * w}).permute({0, 2, 1});
}

}  // namespace

void check_pvt_grid(int64_t input_size, const PvtConfig& c) {
  if (input_size % c.patch_size != 0)
    throw UsageError("invalid PVT input_size " + std::to_string(input_size) + ": it must be a multiple of patch_size " + std::to_string(c.patch_size));
  int64_t grid = input_size / c.patch_size;
  for (size_t s = 0; s < c.depths.size(); ++s) {
    if (s > 0) {
      if (grid % 2 != 0)
        throw UsageError("invalid PVT input_size " + std::to_string(input_size) + ": stage " + std::to_string(s + 1) + " halves a " +
                         std::to_string(grid) + "x" + std::to_string(grid) + " grid");
      grid /= 2;
    }
    if (grid % c.sr_ratios[s] != 0)
      throw UsageError("invalid PVT input_size " + std::to_string(input_size) + ": stage " + std::to_string(s + 1) + "'s " + std::to_string(grid) + "x" +
                       std::to_string(grid) + " grid is not a multiple of its sr_ratio " + std::to_string(c.sr_ratios[s]));
  }
}

SpatialReductionAttentionImpl::SpatialReductionAttentionImpl(int64_t dim, int64_t heads, int64_t sr_ratio, double dropout)
    : heads_(heads), sr_ratio_(sr_ratio) {
  q = register_module("q", nn::trunc_normal_linear(dim, dim));
  kv = register_module("kv", nn::trunc_normal_linear(dim, 2 * dim));
  proj = register_module("proj", nn::trunc_normal_linear(dim, dim));
  if (sr_ratio > 1) {
    sr = register_module("sr", torch::nn::Conv2d(torch::nn::Conv2dOptions(dim, dim, sr_ratio).stride(sr_ratio)));
    norm = register_module("norm", nn::layer_norm(dim, 1e-5));
  }
  dropout_ = register_module("dropout", nn::Dropout(dropout));
}

torch::Tensor SpatialReductionAttentionImpl::forward(const torch::Tensor& x, int64_t h, int64_t w) {
  // The batch stays -1 in every reshape, so that a traced export takes any batch size.
  const int64_t tokens = x.size(1), dim = x.size(2), head_dim = dim / heads_;
  // Q W^Q per head: (B, heads, N, d)
  auto queries = q(x).view({-1, tokens, heads_, head_dim}).transpose(1, 2);
  // SR(x) = Norm(Reshape(x, R) W^S): the grid (B, C, h, w) through the R x R stride-R convolution
  // -> (B, h w / R^2, C)
  torch::Tensor reduced = x;
  if (sr_ratio_ > 1) {
    if (tokens != h * w) throw std::logic_error("PVT: spatial reduction of a stage with a class token");
    reduced = norm(sr(x.transpose(1, 2).reshape({-1, dim, h, w})).flatten(2).transpose(1, 2));
  }
  const int64_t keys = reduced.size(1);
  // SR(K) W^K and SR(V) W^V from one projection: (2, B, heads, M, d)
  auto kv_heads = kv(reduced).view({-1, keys, 2, heads_, head_dim}).permute({2, 0, 3, 1, 4});
  // Attention(Q, K, V) = softmax(Q K^T / sqrt(d)) V: weights (B, heads, N, M)
  auto weights = torch::softmax(torch::matmul(queries, kv_heads[0].transpose(-2, -1)) / std::sqrt(static_cast<double>(head_dim)), -1);
  if (keep_) last_ = weights.detach();
  // Concat(head_0, ..., head_N) W^O: (B, N, C)
  auto out = torch::matmul(weights, kv_heads[1]).transpose(1, 2).reshape({-1, tokens, dim});
  return dropout_(proj(out));
}

PvtMlpImpl::PvtMlpImpl(int64_t dim, int64_t hidden, double dropout) {
  fc1 = register_module("fc1", nn::trunc_normal_linear(dim, hidden));
  fc2 = register_module("fc2", nn::trunc_normal_linear(hidden, dim));
  dropout_ = register_module("dropout", nn::Dropout(dropout));
}

torch::Tensor PvtMlpImpl::forward(const torch::Tensor& x) { return dropout_(fc2(dropout_(torch::gelu(fc1(x))))); }

PvtBlockImpl::PvtBlockImpl(int64_t dim, int64_t heads, int64_t mlp_ratio, int64_t sr_ratio, double dropout, double drop_path) {
  norm1 = register_module("norm1", nn::layer_norm(dim, 1e-6));
  attn = register_module("attn", SpatialReductionAttention(dim, heads, sr_ratio, dropout));
  norm2 = register_module("norm2", nn::layer_norm(dim, 1e-6));
  mlp = register_module("mlp", PvtMlp(dim, dim * mlp_ratio, dropout));
  drop_path_ = register_module("drop_path", nn::DropPath(drop_path));
}

torch::Tensor PvtBlockImpl::forward(const torch::Tensor& x, int64_t h, int64_t w) {
  // z' = z + SRA(LN(z));  z = z' + MLP(LN(z'))
  auto y = x + drop_path_(attn(norm1(x), h, w));
  return y + drop_path_(mlp(norm2(y)));
}

PvtPatchEmbedImpl::PvtPatchEmbedImpl(int64_t in_channels, int64_t dim, int64_t patch) {
  proj = register_module("proj", torch::nn::Conv2d(torch::nn::Conv2dOptions(in_channels, dim, patch).stride(patch)));
  norm = register_module("norm", nn::layer_norm(dim, 1e-5));
}

torch::Tensor PvtPatchEmbedImpl::forward(const torch::Tensor& x) { return norm(proj(x).flatten(2).transpose(1, 2)); }

PyramidVisionTransformerImpl::PyramidVisionTransformerImpl(const PvtConfig& c) : config_(c) {
  check_pvt_grid(c.image_size, c);
  const auto stages = static_cast<int64_t>(c.depths.size());
  int64_t total_blocks = 0, block_index = 0;
  for (auto d : c.depths) total_blocks += d;
  int64_t grid = c.image_size / c.patch_size;
  for (int64_t s = 0; s < stages; ++s) {
    if (s > 0) grid /= 2;
    grids_.push_back(grid);
    const std::string n = std::to_string(s + 1);
    patch_embeds.push_back(register_module("patch_embed" + n, PvtPatchEmbed(s == 0 ? 3 : c.widths[s - 1], c.widths[s], s == 0 ? c.patch_size : 2)));
    const int64_t tokens = grid * grid + (s + 1 == stages ? 1 : 0);
    pos_embeds.push_back(register_parameter("pos_embed" + n, nn::trunc_normal_(torch::empty({1, tokens, c.widths[s]}), 0.02)));
    torch::nn::ModuleList list;
    for (int64_t b = 0; b < c.depths[s]; ++b, ++block_index) {
      // Stochastic depth rises linearly over all blocks to drop_path at the last.
      const double rate = total_blocks > 1 ? c.drop_path * static_cast<double>(block_index) / static_cast<double>(total_blocks - 1) : c.drop_path;
      list->push_back(PvtBlock(c.widths[s], c.heads[s], c.mlp_ratios[s], c.sr_ratios[s], c.dropout, rate));
    }
    blocks.push_back(register_module("block" + n, list));
  }
  norm = register_module("norm", nn::layer_norm(c.widths.back(), 1e-6));
  cls_token = register_parameter("cls_token", nn::trunc_normal_(torch::empty({1, 1, c.widths.back()}), 0.02));
  head = register_module("head", nn::trunc_normal_linear(c.widths.back(), c.num_classes));
  dropout_ = register_module("pos_drop", nn::Dropout(c.dropout));
}

torch::Tensor PyramidVisionTransformerImpl::features(const torch::Tensor& images) {
  const auto stages = static_cast<int64_t>(blocks.size());
  torch::Tensor x = images;
  for (int64_t s = 0; s < stages; ++s) {
    // (B, C_{i-1}, H, W) -> tokens (B, h w, C_i) of an h x w grid
    x = patch_embeds[static_cast<size_t>(s)](x);
    const int64_t w = images.size(-1) / config_.patch_size >> s, h = images.size(-2) / config_.patch_size >> s;
    const int64_t grid = grids_[static_cast<size_t>(s)];
    const bool last = s + 1 == stages;
    torch::Tensor pos = pos_embeds[static_cast<size_t>(s)];
    torch::Tensor grid_pos = last ? pos.narrow(1, 1, grid * grid) : pos;
    // Another image size than the one the embeddings were made for: resized to this grid.
    if (h != grid || w != grid) grid_pos = resize_grid_embedding(grid_pos, grid, grid, h, w);
    if (last) {
      // The class token joins the last stage: (B, 1 + h w, C)
      x = torch::cat({cls_token.expand_as(x.narrow(1, 0, 1)), x}, 1);
      grid_pos = torch::cat({pos.narrow(1, 0, 1), grid_pos}, 1);
    }
    x = dropout_(x + grid_pos);
    for (const auto& block : *blocks[static_cast<size_t>(s)]) x = block->as<PvtBlockImpl>()->forward(x, h, w);
    // Back to a feature map for the next stage's patch embedding: (B, C_i, h, w)
    if (!last) x = x.transpose(1, 2).reshape({-1, x.size(2), h, w});
  }
  return norm(x).select(1, 0);
}

torch::Tensor PyramidVisionTransformerImpl::forward(torch::Tensor images) { return head(features(images)); }

torch::Tensor PyramidVisionTransformerImpl::embed(const torch::Tensor& images) { return features(images); }

void PyramidVisionTransformerImpl::drop_head() { unregister_module("head"), head = nullptr; }

void PyramidVisionTransformerImpl::adapt_state_dict(NamedTensors& tensors) const {
  const auto stages = static_cast<int64_t>(blocks.size());
  for (int64_t s = 0; s < stages; ++s) {
    auto found = tensors.find("pos_embed" + std::to_string(s + 1));
    if (found == tensors.end()) continue;
    const torch::Tensor& theirs = found->second;
    const torch::Tensor& own = pos_embeds[static_cast<size_t>(s)];
    if (theirs.dim() != 3 || theirs.size(2) != own.size(2) || theirs.size(1) == own.size(1)) continue;
    const int64_t prefix = s + 1 == stages ? 1 : 0;
    const auto side = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(theirs.size(1) - prefix))));
    if (side * side + prefix != theirs.size(1)) continue;  // not a square grid: load_state_dict names the mismatch
    const int64_t grid = grids_[static_cast<size_t>(s)];
    auto resized = resize_grid_embedding(theirs.narrow(1, prefix, side * side).to(torch::kFloat32), side, side, grid, grid);
    found->second = prefix ? torch::cat({theirs.narrow(1, 0, 1).to(torch::kFloat32), resized}, 1) : resized;
  }
}

void PyramidVisionTransformerImpl::keep_attention(bool keep) {
  for (const auto& list : blocks)
    for (const auto& block : *list) block->as<PvtBlockImpl>()->attn->keep_weights(keep);
}

std::vector<viz::Figure> PyramidVisionTransformerImpl::look(const torch::Tensor& image, const viz::LookOptions& options) {
  torch::NoGradGuard no_grad;
  keep_attention(true);
  features(image);
  keep_attention(false);
  const int64_t side = image.size(-1), stages = static_cast<int64_t>(blocks.size());
  const cv::Point query = options.query.value_or(cv::Point(static_cast<int>(side / 2), static_cast<int>(side / 2)));
  viz::Figure figure;
  figure.kind = viz::Figure::Kind::OverImage;
  const int64_t shown_heads = 3;
  for (int64_t s = 0; s < stages; ++s) {
    const auto* attention = blocks[static_cast<size_t>(s)]->children().back()->as<PvtBlockImpl>()->attn.get();
    const torch::Tensor& weights = attention->last_weights()[0];  // (heads, N, M)
    const int64_t grid = (side / config_.patch_size) >> s, keys_side = grid / attention->sr_ratio();
    const bool last = s + 1 == stages;
    // The marked pixel's token in this stage's grid (after the class token in the last).
    const int64_t row = std::min<int64_t>(grid - 1, query.y * grid / side), col = std::min<int64_t>(grid - 1, query.x * grid / side);
    auto maps = weights.select(1, row * grid + col + (last ? 1 : 0));  // (heads, M)
    if (last) maps = maps.narrow(1, 1, keys_side * keys_side);        // the grid's keys, not the class token
    maps = maps.reshape({-1, keys_side, keys_side}).to(torch::kCPU, torch::kFloat32);
    const auto mean = maps.mean(0);
    figure.maps.push_back(mean);
    figure.labels.push_back(viz::with_peak("stage " + std::to_string(s + 1) + " mean (" + std::to_string(keys_side) + "x" + std::to_string(keys_side) + " keys)", mean));
    for (int64_t h = 0; h < shown_heads; ++h) {
      if (h < maps.size(0)) {
        figure.maps.push_back(maps[h]);
        figure.labels.push_back("stage " + std::to_string(s + 1) + " head " + std::to_string(h));
      } else {
        figure.maps.emplace_back(), figure.labels.emplace_back();  // one stage per row
      }
    }
  }
  figure.columns = static_cast<int>(1 + shown_heads);
  figure.marker = query;
  figure.title = options.model + ": the marked token's spatial-reduction attention, last block of each stage";
  return {figure};
}

}  // namespace zoo::models
