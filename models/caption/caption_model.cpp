#include "models/caption/caption_model.h"

#include "lib/core/checkpoint.h"
#include "lib/core/error.h"
#include "lib/nn/cross_entropy.h"

#include <optional>

namespace zoo::models {

CaptionModel::CaptionModel(const CaptionEncoderConfig& config, std::shared_ptr<ImageClassifierImpl> trunk) : config_(config) {
  CaptionEncoderConfig::options().check(config);
  const auto stages = trunk->trunk_stages();
  if (std::find(stages.begin(), stages.end(), config.encoder_stage) == stages.end())
    throw UsageError("invalid encoder_stage=" + std::to_string(config.encoder_stage) + " for " + config.encoder);
  trunk->keep_trunk(config.encoder_stage);
  channels_ = trunk->feature_channels(config.encoder_stage);
  encoder = register_module("encoder", trunk);
  {
    // The trunk runs channels-last (NHWC), oneDNN's preferred layout: a frozen ResNet-50 trunk at
    // 224 pixels is about 1.5x faster so (docs/PERFORMANCE.md, sat_soft). The weights keep their
    // names and shapes; only their memory order differs.
    torch::NoGradGuard no_grad;
    for (auto& p : encoder->parameters())
      if (p.dim() == 4) p.set_data(p.contiguous(at::MemoryFormat::ChannelsLast));
  }
  if (config.freeze_encoder)
    for (auto& p : encoder->parameters()) p.set_requires_grad(false);
}

torch::Tensor CaptionModel::annotations(const torch::Tensor& images) {
  torch::Tensor features;
  {
    // A frozen trunk needs no graph: its activations are not kept for a backward pass.
    std::optional<torch::NoGradGuard> no_grad;
    if (!encoder_trains()) no_grad.emplace();
    features = encoder->feature_map(images.contiguous(at::MemoryFormat::ChannelsLast), config_.encoder_stage);  // (B, D, h, w)
  }
  const int64_t G = config_.encoder_grid, h = features.size(2), w = features.size(3);
  if (G > 0 && G % h == 0 && G % w == 0 && (G != h || G != w)) {
    // A grid that multiplies the map (ResNet's 7x7 to 14x14): each adaptive-pooling bin holds
    // exactly one cell, so the pooling is a replication, written straight into the (B, L, D)
    // layout in one copy (the pooling kernel takes several times as long).
    auto cells = features.permute({0, 2, 3, 1});  // (B, h, w, D), a view of channels-last features
    return cells.unsqueeze(2).unsqueeze(4).expand({-1, h, G / h, w, G / w, -1}).reshape({features.size(0), G * G, -1});  // (B, L = G*G, D)
  }
  if (G > 0 && (h != G || w != G)) features = torch::adaptive_avg_pool2d(features, {G, G});  // (B, D, G, G)
  // Channels-last features make this a view: (B, L, D) contiguous.
  return features.flatten(2).transpose(1, 2).contiguous();  // (B, L = G*G, D)
}

void CaptionModel::init_encoder(const std::string& checkpoint) {
  // The trunk's tensors only: the head and any stage after the cut are not part of the encoder.
  load_classifier_trunk(*encoder, checkpoint, config_.encoder, "encoder_init");
}

bool CaptionModel::encoder_trains() const {
  if (config_.freeze_encoder) return false;
  for (const auto& p : encoder->parameters())
    if (p.requires_grad()) return true;
  return false;
}

void CaptionModel::train(bool on) {
  torch::nn::Module::train(on);
  if (on && !encoder_trains()) encoder->eval();
}

std::pair<torch::Tensor, torch::Tensor> caption_cross_entropy(const torch::Tensor& logits, const torch::Tensor& tokens_out,
                                                               double label_smoothing) {
  namespace F = torch::nn::functional;
  auto options = F::CrossEntropyFuncOptions().ignore_index(0).reduction(torch::kSum).label_smoothing(label_smoothing);
  auto total = zoo::nn::cross_entropy(logits.flatten(0, 1), tokens_out.flatten(), options);
  return {total, tokens_out.ne(0).sum()};
}

}  // namespace zoo::models
