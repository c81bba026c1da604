#include "models/video/mvit.h"

#include <cmath>

#include "lib/nn/init.h"

namespace zoo::models {

namespace {

int64_t product(const std::vector<int64_t>& v) {
  int64_t p = 1;
  for (auto x : v) p *= x;
  return p;
}

std::vector<int64_t> halves(const std::vector<int64_t>& kernel) {
  std::vector<int64_t> out;
  for (auto k : kernel) out.push_back(k / 2);
  return out;
}

// A table of relative-position embeddings (d0, C) resampled linearly to d rows (torchvision's
// _interpolate), when the grids differ from those it was made for.
torch::Tensor resample(const torch::Tensor& table, int64_t d) {
  if (table.size(0) == d) return table;
  namespace F = torch::nn::functional;
  return F::interpolate(table.t().unsqueeze(0), F::InterpolateFuncOptions().size(std::vector<int64_t>{d}).mode(torch::kLinear).align_corners(false))
      .squeeze(0)
      .t();
}

// dist[i][j] = i max(k/q, 1) - (j + 1 - k) max(q/k, 1): the offset of key j from query i on one
// axis, in units of the finer grid, shifted to be >= 0 (an index into the table).
torch::Tensor offsets(int64_t q, int64_t k) {
  const double q_ratio = std::max(static_cast<double>(k) / q, 1.0), k_ratio = std::max(static_cast<double>(q) / k, 1.0);
  auto qi = torch::arange(q, torch::kFloat64).unsqueeze(1), kj = torch::arange(k, torch::kFloat64).unsqueeze(0);
  return (qi * q_ratio - (kj + (1.0 - static_cast<double>(k))) * k_ratio).to(torch::kLong);
}

}  // namespace

std::vector<MvitBlockSetting> MvitConfig::blocks() const {
  const std::vector<int64_t> heads{1, 2, 2, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 8, 8};
  const bool v2 = version == "v2";
  // Channels double where the queries are pooled (blocks 1, 3 and 14); v1 widens in the block
  // before, v2 in the pooling block itself (projection after attention).
  const std::vector<int64_t> in_v1{96, 192, 192, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 768, 768},
      out_v1{192, 192, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 768, 768, 768},
      in_v2{96, 96, 192, 192, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 768},
      out_v2{96, 192, 192, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 768, 768};
  std::vector<MvitBlockSetting> out;
  for (size_t i = 0; i < heads.size(); ++i) {
    MvitBlockSetting s;
    s.heads = heads[i];
    s.input_channels = v2 ? in_v2[i] : in_v1[i];
    s.output_channels = v2 ? out_v2[i] : out_v1[i];
    const bool pools_queries = i == 1 || i == 3 || i == 14;
    // v1 pools queries only where they shrink; v2 runs a stride-1 3x3x3 pooling on every block's queries.
    if (pools_queries) s.kernel_q = {3, 3, 3}, s.stride_q = {1, 2, 2};
    else if (v2) s.kernel_q = {3, 3, 3}, s.stride_q = {1, 1, 1};
    s.kernel_kv = {3, 3, 3};
    // Keys and values pooled to the last stage's grid: stride 8, 4, 2, 1 by stage.
    const int64_t kv = i == 0 ? 8 : i < 3 ? 4 : i < 14 ? 2 : 1;
    s.stride_kv = {1, kv, kv};
    out.push_back(s);
  }
  return out;
}

void check_mvit_grid(int64_t size, int64_t frames) {
  if (size % 32 != 0)
    throw UsageError("invalid MViT input_size " + std::to_string(size) + ": it must be a multiple of 32 (patches of stride 4, then three 2x poolings)");
  if (frames % 2 != 0) throw UsageError("invalid MViT num_frames " + std::to_string(frames) + ": it must be even (the patch embedding's temporal stride is 2)");
}

MvitPoolImpl::MvitPoolImpl(int64_t channels, std::vector<int64_t> kernel, std::vector<int64_t> stride, bool max_pool) {
  if (max_pool) {
    max_pool_ = register_module("pool", torch::nn::MaxPool3d(torch::nn::MaxPool3dOptions(kernel).stride(stride).padding(halves(kernel))));
  } else {
    pool = register_module("pool", torch::nn::Conv3d(torch::nn::Conv3dOptions(channels, channels, kernel)
                                                         .stride(stride)
                                                         .padding(halves(kernel))
                                                         .groups(channels)
                                                         .bias(false)));
    // torchvision's Pool keeps its LayerNorm in a Sequential: norm_act.0
    auto norm_act = register_module("norm_act", torch::nn::Sequential());
    norm = nn::layer_norm(channels, 1e-6);
    norm_act->push_back(norm);
  }
}

std::pair<torch::Tensor, std::vector<int64_t>> MvitPoolImpl::forward(const torch::Tensor& x, const std::vector<int64_t>& thw) {
  // x (B, heads, 1 + t h w, C): the class token passes around the pooling.
  const int64_t heads = x.size(1), tokens = x.size(2), C = x.size(3);
  auto cls = x.narrow(2, 0, 1);
  // (B, heads, t h w, C) -> (B heads, C, t, h, w); the batch stays -1 for export.
  auto grid = x.narrow(2, 1, tokens - 1).transpose(2, 3).reshape({-1, C, thw[0], thw[1], thw[2]});
  grid = max_pool_ ? max_pool_(grid) : pool(grid);
  std::vector<int64_t> pooled{grid.size(2), grid.size(3), grid.size(4)};
  auto out = torch::cat({cls, grid.reshape({-1, heads, C, product(pooled)}).transpose(2, 3)}, 2);
  if (norm) out = norm(out);
  return {out, pooled};
}

MultiscaleAttentionImpl::MultiscaleAttentionImpl(const std::vector<int64_t>& input_thw, int64_t dim, int64_t out_dim, const MvitBlockSetting& s, bool v2)
    : heads_(s.heads), head_dim_(out_dim / s.heads), out_dim_(out_dim), v2_(v2) {
  qkv = register_module("qkv", nn::trunc_normal_linear(dim, 3 * out_dim));
  auto project_seq = register_module("project", torch::nn::Sequential());
  project = nn::trunc_normal_linear(out_dim, out_dim);
  project_seq->push_back(project);
  if (!s.kernel_q.empty() && (product(s.kernel_q) > 1 || product(s.stride_q) > 1))
    pool_q = register_module("pool_q", MvitPool(head_dim_, s.kernel_q, s.stride_q, false));
  if (!s.kernel_kv.empty() && (product(s.kernel_kv) > 1 || product(s.stride_kv) > 1)) {
    pool_k = register_module("pool_k", MvitPool(head_dim_, s.kernel_kv, s.stride_kv, false));
    pool_v = register_module("pool_v", MvitPool(head_dim_, s.kernel_kv, s.stride_kv, false));
  }
  if (v2) {
    // Tables long enough for every offset between the query and key grids of this block.
    const int64_t size = std::max(input_thw[1], input_thw[2]);
    const int64_t q_size = s.stride_q.empty() ? size : size / s.stride_q[1], kv_size = s.stride_kv.empty() ? size : size / s.stride_kv[1];
    const int64_t spatial = 2 * std::max(q_size, kv_size) - 1, temporal = 2 * input_thw[0] - 1;
    rel_pos_h = register_parameter("rel_pos_h", nn::trunc_normal_(torch::zeros({spatial, head_dim_}), 0.02));
    rel_pos_w = register_parameter("rel_pos_w", nn::trunc_normal_(torch::zeros({spatial, head_dim_}), 0.02));
    rel_pos_t = register_parameter("rel_pos_t", nn::trunc_normal_(torch::zeros({temporal, head_dim_}), 0.02));
  }
}

torch::Tensor MultiscaleAttentionImpl::add_relative_positions(const torch::Tensor& scores, const torch::Tensor& q, const std::vector<int64_t>& q_thw,
                                                              const std::vector<int64_t>& k_thw) const {
  // E_rel(Q)_ij = Q_i . (R_t[t(i), t(j)] + R_h[h(i), h(j)] + R_w[w(i), w(j)]), decomposed per axis.
  const int64_t qt = q_thw[0], qh = q_thw[1], qw = q_thw[2], kt = k_thw[0], kh = k_thw[1], kw = k_thw[2];
  auto Rh = resample(rel_pos_h, 2 * std::max(qh, kh) - 1).index({offsets(qh, kh)});  // (qh, kh, d)
  auto Rw = resample(rel_pos_w, 2 * std::max(qw, kw) - 1).index({offsets(qw, kw)});  // (qw, kw, d)
  auto Rt = resample(rel_pos_t, 2 * std::max(qt, kt) - 1).index({offsets(qt, kt)});  // (qt, kt, d)
  auto r_q = q.narrow(2, 1, qt * qh * qw).reshape({-1, heads_, qt, qh, qw, head_dim_});
  auto rel_h = torch::einsum("bythwc,hkc->bythwk", {r_q, Rh});  // (B, heads, qt, qh, qw, kh)
  auto rel_w = torch::einsum("bythwc,wkc->bythwk", {r_q, Rw});  // (..., kw)
  auto rel_t = torch::einsum("bythwc,tkc->bythwk", {r_q, Rt});  // (..., kt)
  auto rel = (rel_h.view({-1, heads_, qt, qh, qw, 1, kh, 1}) +
              rel_w.view({-1, heads_, qt, qh, qw, 1, 1, kw}) + rel_t.view({-1, heads_, qt, qh, qw, kt, 1, 1}))
                 .reshape({-1, heads_, qt * qh * qw, kt * kh * kw});
  // Only the grid tokens get positions; the class token's row and column stay as they are.
  auto out = scores.clone();
  out.narrow(2, 1, qt * qh * qw).narrow(3, 1, kt * kh * kw).add_(rel);
  return out;
}

std::pair<torch::Tensor, std::vector<int64_t>> MultiscaleAttentionImpl::forward(const torch::Tensor& x, const std::vector<int64_t>& thw) {
  const int64_t tokens = x.size(1);
  // q, k, v (B, heads, L, d) from one projection
  auto qkv_heads = qkv(x).reshape({-1, tokens, 3, heads_, head_dim_}).transpose(1, 3);
  auto q = qkv_heads.select(2, 0), k = qkv_heads.select(2, 1), v = qkv_heads.select(2, 2);
  // Q = P_Q(X W_Q), K = P_K(X W_K), V = P_V(X W_V): the grids of keys and queries may shrink.
  std::vector<int64_t> k_thw = thw, q_thw = thw;
  if (pool_k) {
    std::tie(k, k_thw) = pool_k(k, thw);
    v = pool_v(v, thw).first;
  }
  if (pool_q) std::tie(q, q_thw) = pool_q(q, thw);
  // softmax(Q K^T / sqrt(d) (+ E_rel(Q))) V
  auto scores = torch::matmul(q / std::sqrt(static_cast<double>(head_dim_)), k.transpose(2, 3));
  if (v2_) scores = add_relative_positions(scores, q, q_thw, k_thw);
  auto weights = torch::softmax(scores, -1);
  if (keep_) last_ = weights.detach();
  auto z = torch::matmul(weights, v);  // (B, heads, Lq, d)
  // v2's residual pooling connection: Z = Z + Q, on the grid tokens (not the class token).
  if (v2_) z = torch::cat({z.narrow(2, 0, 1), z.narrow(2, 1, z.size(2) - 1) + q.narrow(2, 1, q.size(2) - 1)}, 2);
  return {project(z.transpose(1, 2).reshape({-1, z.size(2), out_dim_})), q_thw};
}

MultiscaleBlockImpl::MultiscaleBlockImpl(const std::vector<int64_t>& input_thw, const MvitBlockSetting& s, bool v2, double drop_path) : v2_(v2) {
  // v2 widens inside attention (and projects the skip from norm1's output); v1 in the MLP.
  const int64_t attn_dim = v2 ? s.output_channels : s.input_channels;
  if (!s.stride_q.empty() && product(s.stride_q) > 1) {
    std::vector<int64_t> kernel;
    for (auto stride : s.stride_q) kernel.push_back(stride > 1 ? stride + 1 : stride);
    pool_skip = register_module("pool_skip", MvitPool(s.input_channels, kernel, s.stride_q, true));
  }
  norm1 = register_module("norm1", nn::layer_norm(s.input_channels, 1e-6));
  norm2 = register_module("norm2", nn::layer_norm(attn_dim, 1e-6));
  attn = register_module("attn", MultiscaleAttention(input_thw, s.input_channels, attn_dim, s, v2));
  mlp = register_module("mlp", torch::nn::Sequential(nn::trunc_normal_linear(attn_dim, 4 * attn_dim), torch::nn::Functional([](const torch::Tensor& t) { return torch::gelu(t); }), torch::nn::Dropout(0.0),
                                                     nn::trunc_normal_linear(4 * attn_dim, s.output_channels), torch::nn::Dropout(0.0)));
  if (s.input_channels != s.output_channels) project = register_module("project", nn::trunc_normal_linear(s.input_channels, s.output_channels));
  drop_path_ = register_module("drop_path", nn::DropPath(drop_path));
}

std::pair<torch::Tensor, std::vector<int64_t>> MultiscaleBlockImpl::forward(const torch::Tensor& x, const std::vector<int64_t>& thw) {
  auto x_norm1 = norm1(x);
  auto [x_attn, new_thw] = attn(x_norm1, thw);
  auto skip = (project && v2_) ? project(x_norm1) : x;
  // The skip max-pooled to the queries' grid where they shrink: (B, 1 + t h w, C) seen as one head.
  if (pool_skip) skip = pool_skip(skip.unsqueeze(1), thw).first.squeeze(1);
  auto h = skip + drop_path_(x_attn);
  auto h_norm2 = norm2(h);
  auto h_proj = (project && !v2_) ? project(h_norm2) : h;
  return {h_proj + drop_path_(mlp->forward(h_norm2)), new_thw};
}

MvitImpl::MvitImpl(const MvitConfig& config) : config_(config) {
  check_mvit_grid(config_.image_size, config_.num_frames);
  const auto settings = config_.blocks();
  const bool v2 = config_.version == "v2";
  const int64_t width = settings.front().input_channels;
  // Cube embedding: a 3x7x7 convolution of stride (2, 4, 4): (B, 3, T, H, W) -> (B, 96, T/2, H/4, W/4)
  conv_proj = register_module("conv_proj", torch::nn::Conv3d(torch::nn::Conv3dOptions(3, width, {3, 7, 7}).stride({2, 4, 4}).padding({1, 3, 3})));
  thw_ = {config_.num_frames / 2, config_.image_size / 4, config_.image_size / 4};
  auto pos = register_module("pos_encoding", std::make_shared<torch::nn::Module>());
  class_token = pos->register_parameter("class_token", nn::trunc_normal_(torch::zeros({width}), 0.02));
  if (!v2) {
    // v1's absolute positions: spatial + temporal, factored, and the class token's own.
    spatial_pos = pos->register_parameter("spatial_pos", nn::trunc_normal_(torch::zeros({thw_[1] * thw_[2], width}), 0.02));
    temporal_pos = pos->register_parameter("temporal_pos", nn::trunc_normal_(torch::zeros({thw_[0], width}), 0.02));
    class_pos = pos->register_parameter("class_pos", nn::trunc_normal_(torch::zeros({width}), 0.02));
  }
  blocks = register_module("blocks", torch::nn::ModuleList());
  std::vector<int64_t> grid = thw_;
  for (size_t i = 0; i < settings.size(); ++i) {
    const double rate = config_.drop_path * static_cast<double>(i) / static_cast<double>(settings.size() - 1);
    blocks->push_back(MultiscaleBlock(grid, settings[i], v2, rate));
    if (!settings[i].stride_q.empty())
      for (size_t a = 0; a < 3; ++a) grid[a] /= settings[i].stride_q[a];
  }
  norm = register_module("norm", nn::layer_norm(settings.back().output_channels, 1e-6));
  auto head_seq = register_module("head", torch::nn::Sequential());
  dropout_ = nn::Dropout(config_.dropout);
  head = nn::trunc_normal_linear(settings.back().output_channels, config_.num_classes);
  head_seq->push_back(dropout_);
  head_seq->push_back(head);
}

torch::Tensor MvitImpl::forward(torch::Tensor clips) {
  if (clips.dim() != 5 || clips.size(2) != config_.num_frames || clips.size(3) != config_.image_size || clips.size(4) != config_.image_size)
    throw Error("MViT expects clips (B, 3, " + std::to_string(config_.num_frames) + ", " + std::to_string(config_.image_size) + ", " +
                std::to_string(config_.image_size) + "), got " + c10::str(clips.sizes()));
  auto x = conv_proj(clips).flatten(2).transpose(1, 2);  // (B, t h w, C), t-major
  x = torch::cat({class_token.view({1, 1, -1}).expand_as(x.narrow(1, 0, 1)), x}, 1);
  if (spatial_pos.defined()) {
    // e_(t,s) = temporal_t + spatial_s; the class token's own
    auto grid_pos = (temporal_pos.unsqueeze(1) + spatial_pos.unsqueeze(0)).reshape({-1, x.size(2)});
    x = x + torch::cat({class_pos.unsqueeze(0), grid_pos}, 0).unsqueeze(0);
  }
  std::vector<int64_t> thw = thw_;
  for (const auto& block : *blocks) std::tie(x, thw) = block->as<MultiscaleBlockImpl>()->forward(x, thw);
  x = norm(x).select(1, 0);  // the class token: (B, C)
  return head(dropout_(x));
}

std::vector<VideoFigure> MvitImpl::look(const torch::Tensor& clip, const viz::LookOptions& options) {
  torch::NoGradGuard no_grad;
  auto attention_of = [&](int64_t i) { return blocks[static_cast<size_t>(i)]->as<MultiscaleBlockImpl>()->attn; };
  for (size_t i = 0; i < blocks->size(); ++i) attention_of(static_cast<int64_t>(i))->keep_weights(true);
  forward(clip);
  for (size_t i = 0; i < blocks->size(); ++i) attention_of(static_cast<int64_t>(i))->keep_weights(false);
  // The last block of each stage (before the queries shrink again, and the last block).
  const auto settings = config_.blocks();
  VideoFigure out;
  out.figure.title = "MViT (" + config_.version + ") class-token attention in the last block of each stage, over the middle frame (mean over heads)";
  out.figure.columns = 4;
  int stage = 1;
  for (size_t i = 0; i < settings.size(); ++i) {
    const bool last_of_stage = i + 1 == settings.size() || (!settings[i + 1].stride_q.empty() && product(settings[i + 1].stride_q) > 1);
    if (!last_of_stage) continue;
    // The keys: 1 + t h w, the time axis never pooled (t = the patch grid's).
    auto weights = attention_of(static_cast<int64_t>(i))->last_weights()[0].mean(0)[0];  // (1 + keys)
    const int64_t keys = weights.size(0) - 1, kt = thw_[0];
    const int64_t side = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(keys / kt))));
    auto map = weights.narrow(0, 1, keys).view({kt, side, side})[kt / 2].to(torch::kCPU);
    out.figure.maps.push_back(map);
    out.figure.labels.push_back(viz::with_peak("stage " + std::to_string(stage++) + " (block " + std::to_string(i) + ")", map));
    out.frame_of_map.push_back(clip.size(2) / 2);
  }
  return {out};
}

}  // namespace zoo::models
