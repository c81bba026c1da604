#include "models/vision/swin.h"

#include <cmath>

#include "lib/core/error.h"
#include "lib/nn/init.h"

namespace zoo::models {

namespace {

namespace F = torch::nn::functional;

// Under --precision bf16/fp16, autocast runs convolutions and Linear layers in half width; the
// residual stream and the LayerNorms (fp32 weights) stay fp32, which LibTorch 1.13's CPU autocast
// does not see to by itself where a LayerNorm follows such a layer directly (the patch embedding,
// patch merging).
torch::Tensor full_width(const torch::Tensor& x) {
  return x.scalar_type() == torch::kBFloat16 || x.scalar_type() == torch::kHalf ? x.to(torch::kFloat32) : x;
}

// (B, H, W, C) with H, W multiples of M -> (B * windows, M^2, C), windows in row-major order.
torch::Tensor partition_windows(const torch::Tensor& x, int64_t window) {
  // (-1 for the batch, not its number: an exported trace keeps the batch free)
  const int64_t h = x.size(1), w = x.size(2), c = x.size(3);
  return x.view({-1, h / window, window, w / window, window, c}).permute({0, 1, 3, 2, 4, 5}).reshape({-1, window * window, c});
}

// The inverse: (B * windows, M^2, C) -> (B, H, W, C).
torch::Tensor merge_windows(const torch::Tensor& windows, int64_t h, int64_t w, int64_t window) {
  const int64_t c = windows.size(2);
  return windows.view({-1, h / window, w / window, window, window, c}).permute({0, 1, 3, 2, 4, 5}).reshape({-1, h, w, c});
}

}  // namespace

torch::Tensor relative_position_index(int64_t window) {
  // Coordinates (y, x) of the M^2 tokens, row-major: (M^2, 2)
  auto y = torch::arange(window).repeat_interleave(window), x = torch::arange(window).repeat({window});
  // Offsets shifted to start at 0, each in [0, 2M - 2]: (M^2, M^2)
  auto dy = y.unsqueeze(1) - y.unsqueeze(0) + (window - 1);
  auto dx = x.unsqueeze(1) - x.unsqueeze(0) + (window - 1);
  return (dy * (2 * window - 1) + dx).flatten();
}

torch::Tensor shifted_window_mask(int64_t height, int64_t width, int64_t window, int64_t shift_h, int64_t shift_w,
                                  const torch::Tensor& like) {
  // Label every token of the rolled grid by the region of the unshifted grid it came from: along
  // a shifted axis, [0, L - M) stayed put, [L - M, L - s) is the part of the last window that
  // stayed, and [L - s, L) wrapped around from the start. Built from `like` with tensor ops, so
  // that an exported graph names no device. (H, W)
  auto labels = torch::zeros_like(like.select(-1, 0).select(0, 0), torch::kFloat32);
  if (shift_h > 0) {
    labels.narrow(0, height - window, window - shift_h).add_(3);
    labels.narrow(0, height - shift_h, shift_h).add_(6);
  }
  if (shift_w > 0) {
    labels.narrow(1, width - window, window - shift_w).add_(1);
    labels.narrow(1, width - shift_w, shift_w).add_(2);
  }
  // Per window: (windows, M^2); two tokens may attend to each other iff their labels agree.
  auto per_window = partition_windows(labels.unsqueeze(0).unsqueeze(-1), window).squeeze(-1);
  auto differ = per_window.unsqueeze(1).ne(per_window.unsqueeze(2));  // (windows, M^2, M^2)
  // -100 rather than -inf, as the paper's code: exp(-100) is 0 in float32 all the same.
  return torch::zeros_like(differ, like.scalar_type()).masked_fill(differ, -100.0);
}

ShiftedWindowAttentionImpl::ShiftedWindowAttentionImpl(int64_t dim, int64_t window, int64_t shift, int64_t heads, double attention_dropout,
                                                       double dropout)
    : window_(window), shift_(shift), heads_(heads) {
  if (heads < 1 || dim % heads != 0)
    throw UsageError("invalid Swin heads " + std::to_string(heads) + ": the width " + std::to_string(dim) + " must be a multiple of it");
  qkv = register_module("qkv", torch::nn::Linear(dim, 3 * dim));
  proj = register_module("proj", torch::nn::Linear(dim, dim));
  relative_position_bias_table = register_parameter("relative_position_bias_table", torch::zeros({(2 * window - 1) * (2 * window - 1), heads}));
  nn::trunc_normal_(relative_position_bias_table, 0.02);
  relative_position_index = register_buffer("relative_position_index", models::relative_position_index(window));
  attention_dropout_ = register_module("attention_dropout", nn::Dropout(attention_dropout));
  dropout_ = register_module("dropout", nn::Dropout(dropout));
}

torch::Tensor ShiftedWindowAttentionImpl::forward(const torch::Tensor& input) {
  const int64_t height = input.size(1), width = input.size(2), channels = input.size(3);
  const int64_t m = window_, head_dim = channels / heads_;
  // Pad the grid to whole windows (zeros on the bottom and right): (B, H', W', C)
  auto x = F::pad(input, F::PadFuncOptions({0, 0, 0, (m - width % m) % m, 0, (m - height % m) % m}));
  const int64_t padded_h = x.size(1), padded_w = x.size(2);
  // A window as large as the grid already sees all of it along that axis: no shift there.
  const int64_t shift_h = m >= padded_h ? 0 : shift_, shift_w = m >= padded_w ? 0 : shift_;
  const bool shifted = shift_h > 0 || shift_w > 0;
  // SW-MSA: roll the grid up and left by M/2, so the regular windows straddle the old borders.
  if (shifted) x = torch::roll(x, {-shift_h, -shift_w}, {1, 2});
  auto windows = partition_windows(x, m);  // (B * nW, M^2, C)
  const int64_t n = m * m, count = (padded_h / m) * (padded_w / m);

  // Q, K, V per head: (B * nW, M^2, C) -> 3 x (B * nW, heads, M^2, D)
  auto qkv_heads = qkv(windows).view({-1, n, 3, heads_, head_dim}).permute({2, 0, 3, 1, 4});
  auto q = qkv_heads[0] * std::pow(static_cast<double>(head_dim), -0.5), k = qkv_heads[1], v = qkv_heads[2];
  // B_ij from the table by relative position: (M^2 M^2, heads) -> (1, heads, M^2, M^2)
  auto bias = relative_position_bias_table.index_select(0, relative_position_index).view({n, n, heads_}).permute({2, 0, 1}).unsqueeze(0);
  // Q K^T / sqrt(D) + B: (B * nW, heads, M^2, M^2)
  auto scores = torch::matmul(q, k.transpose(-2, -1)) + bias;
  if (shifted) {
    // (B, nW, heads, M^2, M^2) + (1, nW, 1, M^2, M^2)
    auto mask = shifted_window_mask(padded_h, padded_w, m, shift_h, shift_w, x);
    scores = (scores.view({-1, count, heads_, n, n}) + mask.unsqueeze(1).unsqueeze(0)).view({-1, heads_, n, n});
  }
  auto weights = torch::softmax(scores, -1);
  if (keep_weights_) last_ = {weights.detach(), padded_h, padded_w, shift_h, shift_w};
  // A = Softmax(...) V, heads concatenated and projected: (B * nW, M^2, C)
  auto out = torch::matmul(attention_dropout_(weights), v).transpose(1, 2).reshape({-1, n, channels});
  out = dropout_(proj(out));
  // Back to the grid, rolled back, padding dropped: (B, H, W, C)
  out = merge_windows(out, padded_h, padded_w, m);
  if (shifted) out = torch::roll(out, {shift_h, shift_w}, {1, 2});
  return out.narrow(1, 0, height).narrow(2, 0, width).contiguous();
}

SwinBlockImpl::SwinBlockImpl(int64_t dim, int64_t heads, int64_t window, int64_t shift, const SwinConfig& c, double drop_path) {
  norm1 = register_module("norm1", nn::layer_norm(dim, 1e-5));
  attn = register_module("attn", ShiftedWindowAttention(dim, window, shift, heads, c.attention_dropout, c.dropout));
  stochastic_depth = register_module("stochastic_depth", nn::DropPath(drop_path));
  norm2 = register_module("norm2", nn::layer_norm(dim, 1e-5));
  const auto hidden = static_cast<int64_t>(static_cast<double>(dim) * c.mlp_ratio);
  mlp = register_module("mlp", torch::nn::Sequential(torch::nn::Linear(dim, hidden), torch::nn::GELU(), nn::Dropout(c.dropout),
                                                     torch::nn::Linear(hidden, dim), nn::Dropout(c.dropout)));
}

torch::Tensor SwinBlockImpl::forward(const torch::Tensor& input) {
  // z' = (S)W-MSA(LN(z)) + z;  z = MLP(LN(z')) + z'
  const auto z = full_width(input);  // (a block after patch merging)
  auto x = z + stochastic_depth(attn(norm1(z)));
  return x + stochastic_depth(mlp->forward(norm2(x)));
}

PatchMergingImpl::PatchMergingImpl(int64_t dim) {
  reduction = register_module("reduction", torch::nn::Linear(torch::nn::LinearOptions(4 * dim, 2 * dim).bias(false)));
  norm = register_module("norm", nn::layer_norm(4 * dim, 1e-5));
}

torch::Tensor PatchMergingImpl::forward(const torch::Tensor& input) {
  const int64_t height = input.size(1), width = input.size(2);
  // An odd side gets a row or column of zeros first.
  auto x = F::pad(input, F::PadFuncOptions({0, 0, 0, width % 2, 0, height % 2}));
  // Every other row and column, from an even or an odd start: (B, H/2, W/2, C)
  auto at = [&](int64_t row, int64_t col) { return x.slice(1, row, x.size(1), 2).slice(2, col, x.size(2), 2); };
  // The four tokens of each 2x2 neighbourhood, concatenated: (B, H/2, W/2, 4C)
  x = torch::cat({at(0, 0), at(1, 0), at(0, 1), at(1, 1)}, -1);
  // Linear projection from 4C to 2C: (B, H/2, W/2, 2C)
  return reduction(norm(x));
}

SwinTransformerImpl::SwinTransformerImpl(const SwinConfig& c) : config_(c) {
  SwinConfig::options().check(c);
  features = register_module("features", torch::nn::ModuleList());
  // Patch partition and linear embedding: (B, 3, H, W) -> (B, C, H/4, W/4) -> (B, H/4, W/4, C)
  features->push_back(torch::nn::Sequential(
      torch::nn::Conv2d(torch::nn::Conv2dOptions(3, c.embed_dim, c.patch_size).stride(c.patch_size)),
      torch::nn::Functional([](const torch::Tensor& x) { return full_width(x.permute({0, 2, 3, 1})); }), nn::layer_norm(c.embed_dim, 1e-5)));
  int64_t total_blocks = 0, block_id = 0;
  for (auto d : c.depths) total_blocks += d;
  for (size_t stage = 0; stage < c.depths.size(); ++stage) {
    const int64_t dim = c.embed_dim << stage;
    torch::nn::Sequential blocks;
    for (int64_t i = 0; i < c.depths[stage]; ++i, ++block_id) {
      // Stochastic depth grows linearly over all blocks, to drop_path at the last.
      const double rate = total_blocks > 1 ? c.drop_path * static_cast<double>(block_id) / static_cast<double>(total_blocks - 1) : 0.0;
      // Odd blocks shift their windows by M/2.
      blocks->push_back(SwinBlock(dim, c.heads[stage], c.window, i % 2 == 0 ? 0 : c.window / 2, c, rate));
    }
    features->push_back(blocks);
    if (stage + 1 < c.depths.size()) features->push_back(PatchMerging(dim));
  }
  const int64_t final_dim = c.embed_dim << (c.depths.size() - 1);
  norm = register_module("norm", nn::layer_norm(final_dim, 1e-5));
  head = register_module("head", torch::nn::Linear(final_dim, c.num_classes));
  // torchvision: every Linear from a truncated normal of std 0.02, zero biases.
  torch::NoGradGuard no_grad;
  for (auto& module : modules(/*include_self=*/false))
    if (auto* linear = module->as<torch::nn::LinearImpl>()) {
      nn::trunc_normal_(linear->weight, 0.02);
      if (linear->bias.defined()) linear->bias.zero_();
    }
}

torch::Tensor SwinTransformerImpl::forward(torch::Tensor images) { return head(embed(images)); }  // (B, classes)

torch::Tensor SwinTransformerImpl::embed(const torch::Tensor& images) {
  // The patch embedding and the stages are Sequentials, the patch mergings not (a Sequential
  // cannot hold Sequentials in LibTorch, hence the list).
  auto x = images;
  for (const auto& part : *features) {
    if (auto* sequence = part->as<torch::nn::SequentialImpl>()) x = sequence->forward(x);
    else x = part->as<PatchMergingImpl>()->forward(x);
  }  // (B, H/32, W/32, 8C) for four stages
  // Average over the grid: (B, 8C)
  return norm(x).mean({1, 2});
}

int64_t SwinTransformerImpl::embedding_dim() const { return config_.embed_dim << (config_.depths.size() - 1); }

void SwinTransformerImpl::drop_head() { unregister_module("head"), head = nullptr; }

std::vector<std::string> SwinTransformerImpl::head_prefixes() const { return {"head."}; }

void SwinTransformerImpl::keep_attention(bool keep) {
  for (auto& stage : attention_by_stage())
    for (auto* attention : stage) attention->keep_weights(keep);
}

std::vector<std::vector<ShiftedWindowAttentionImpl*>> SwinTransformerImpl::attention_by_stage() {
  std::vector<std::vector<ShiftedWindowAttentionImpl*>> stages;
  for (size_t i = 1; i < features->size(); i += 2) {
    stages.emplace_back();
    for (const auto& block : features->ptr(i)->children()) stages.back().push_back(block->as<SwinBlockImpl>()->attn.get());
  }
  return stages;
}

std::vector<viz::Figure> SwinTransformerImpl::look(const torch::Tensor& image, const viz::LookOptions& options) {
  torch::NoGradGuard no_grad;
  keep_attention(true);
  forward(image);
  keep_attention(false);
  const cv::Point query = options.query.value_or(cv::Point(0, 0));
  const int64_t side = image.size(-1);
  viz::Figure figure;
  const auto stages = attention_by_stage();
  int64_t stride = config_.patch_size;  // input pixels per token of the stage
  for (size_t s = 0; s < stages.size(); ++s, stride *= 2) {
    const auto* attention = stages[s].back();
    const auto& kept = attention->last_weights();
    const int64_t m = attention->window(), grid_h = (side + stride - 1) / stride, grid_w = grid_h;
    // The query token in the rolled, padded grid, its window and its place in it.
    const int64_t row = (query.y / stride - kept.shift_h + kept.padded_height) % kept.padded_height;
    const int64_t col = (query.x / stride - kept.shift_w + kept.padded_width) % kept.padded_width;
    const int64_t window = (row / m) * (kept.padded_width / m) + col / m, index = (row % m) * m + col % m;
    auto weights = kept.weights[window].select(1, index).to(torch::kCPU);  // (heads, M^2) over the window's keys
    // Scatter the keys back to where they sit in the unshifted grid: (heads, H_s, W_s)
    auto placed = torch::zeros({weights.size(0), grid_h, grid_w});
    for (int64_t k = 0; k < m * m; ++k) {
      const int64_t r = ((row / m) * m + k / m + kept.shift_h) % kept.padded_height;
      const int64_t c = ((col / m) * m + k % m + kept.shift_w) % kept.padded_width;
      if (r < grid_h && c < grid_w) placed.select(1, r).select(1, c).copy_(weights.select(1, k));
    }
    auto mean = placed.mean(0);
    figure.maps.push_back(mean);
    figure.labels.push_back(viz::with_peak("stage " + std::to_string(s + 1) + " mean", mean));
    const int64_t heads = std::min<int64_t>(placed.size(0), 6);
    for (int64_t h = 0; h < heads; ++h) {
      figure.maps.push_back(placed[h]);
      figure.labels.push_back("stage " + std::to_string(s + 1) + " head " + std::to_string(h));
    }
    for (int64_t h = heads; h < 6; ++h) figure.maps.emplace_back(), figure.labels.emplace_back();  // blank tiles: one stage per row
  }
  figure.columns = 7;
  figure.marker = query;
  figure.title = options.model + ": window attention of the marked token, last block of each stage (first 6 heads)";
  return {figure};
}

}  // namespace zoo::models
