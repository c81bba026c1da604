#include "models/video/cnn_lstm.h"

namespace zoo::models {

CnnLstmImpl::CnnLstmImpl(const CnnLstmConfig& config, std::shared_ptr<ImageClassifierImpl> trunk) : config_(config) {
  trunk->drop_head();
  backbone = register_module("backbone", trunk);
  const int64_t features = backbone->embedding_dim();
  int64_t width = features;
  if (config_.temporal == "lstm") {
    lstm = register_module("lstm", torch::nn::LSTM(torch::nn::LSTMOptions(features, config_.hidden)
                                                       .num_layers(config_.layers)
                                                       .batch_first(true)
                                                       .dropout(config_.layers > 1 ? config_.dropout : 0.0)));
    width = config_.hidden;
  }
  dropout_ = register_module("dropout", nn::Dropout(config_.dropout));
  head = register_module("head", torch::nn::Linear(width, config_.num_classes));
}

torch::Tensor CnnLstmImpl::forward(torch::Tensor clips) {
  const int64_t T = clips.size(2);
  // f_t = CNN(x_t) for every frame at once: (B, 3, T, H, W) -> (B T, 3, H, W) -> (B, T, E)
  auto frames = clips.transpose(1, 2).reshape({-1, clips.size(1), clips.size(3), clips.size(4)});
  auto features = backbone->embed(frames).reshape({-1, T, backbone->embedding_dim()});
  torch::Tensor summary;
  if (lstm) {
    // h_t, c_t = LSTM(f_t, h_{t-1}, c_{t-1}); the last layer's h_T: (B, hidden)
    // h_0 = c_0 = 0, shaped from the features by tensor ops, not read sizes: a traced export then
    // takes any batch (LibTorch's LSTM builds its default state from the batch it was traced at).
    auto zero = torch::zeros_like(features.select(1, 0).narrow(1, 0, 1))                  // (B, 1)
                    .expand({-1, config_.hidden}).unsqueeze(0).expand({config_.layers, -1, -1}).contiguous();  // (layers, B, hidden)
    auto outputs = std::get<0>(lstm->forward(features, std::make_tuple(zero, zero)));  // (B, T, hidden)
    summary = outputs.select(1, T - 1);
  } else {
    summary = features.mean(1);  // (B, E)
  }
  return head(dropout_(summary));
}

void CnnLstmImpl::adapt_image_weights(const std::string& image_model, NamedTensors& tensors) const {
  if (image_model != config_.backbone)
    throw UsageError("--init: the checkpoint is " + image_model + ", but this cnn_lstm's backbone is " + config_.backbone +
                     " (--set backbone=" + image_model + ")");
  NamedTensors out = state_dict(*this);
  for (auto& [name, tensor] : out) tensor = tensor.detach().clone();
  int64_t taken = 0;
  for (const auto& [name, tensor] : tensors) {
    auto found = out.find("backbone." + name);
    if (found == out.end()) continue;  // the classifier's head
    if (found->second.sizes() != tensor.sizes())
      throw Error("--init: " + name + " of " + image_model + " is " + c10::str(tensor.sizes()) + ", the backbone's " + c10::str(found->second.sizes()));
    found->second = tensor, ++taken;
  }
  if (taken == 0) throw Error("--init: no tensor of the checkpoint fits the backbone " + config_.backbone);
  tensors = std::move(out);
}

}  // namespace zoo::models
