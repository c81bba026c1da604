#include "models/caption/show_tell.h"

namespace zoo::models {

ShowTellImpl::ShowTellImpl(const ShowTellConfig& config, const CaptionEncoderConfig& encoder_config, std::shared_ptr<ImageClassifierImpl> trunk)
    : CaptionModel(encoder_config, std::move(trunk)) {
  ShowTellConfig::options().check(config);
  image_embed = register_module("image_embed", torch::nn::Linear(annotation_size(), config.embed));
  embed = register_module("embed", torch::nn::Embedding(config.vocab, config.embed));
  lstm = register_module("lstm", nn::RecurrentCell(nn::CellKind::Lstm, config.embed, config.hidden));
  dropout = register_module("dropout", nn::Dropout(config.dropout));
  classifier = register_module("classifier", torch::nn::Linear(config.hidden, config.vocab));
}

std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> ShowTellImpl::step(const torch::Tensor& x, const torch::Tensor& h, const torch::Tensor& c) {
  auto next = lstm->step(lstm->project_input(x), {h, c});
  return {classifier(dropout(next.h)), next.h, next.c};  // logits (B, V)
}

std::vector<torch::Tensor> ShowTellImpl::encode(const torch::Tensor& images) {
  // x_{-1} = W_I CNN(I): the trunk's features averaged over the locations (its global pool).
  auto image = image_embed(annotations(images).mean(1));  // (B, E)
  // h_{-2} = c_{-2} = 0, shaped from the batch (not a number: a traced export keeps any batch size).
  auto zeros = torch::zeros_like(image.narrow(1, 0, 1)).expand({-1, lstm->hidden_size()});
  // The LSTM reads the image; its output is not a word, so no word logits.
  auto read = lstm->step(lstm->project_input(image), {zeros, zeros});
  return {read.h, read.c};
}

nn::DecodeStep ShowTellImpl::decode_step(const torch::Tensor& tokens, const std::vector<torch::Tensor>& state) {
  // x_t = W_e S_t,  p_{t+1} = LSTM(x_t)
  auto [logits, h, c] = step(embed(tokens), state.at(0), state.at(1));
  return {torch::log_softmax(logits, 1), {h, c}, torch::Tensor()};
}

CaptionOutput ShowTellImpl::forward(const torch::Tensor& images, const torch::Tensor& tokens_in) {
  auto state = encode(images);
  // W_ih W_e S_t + b_ih for all steps in one product; only the recurrence goes step by step.
  // unbind: one backward that stacks the steps' gradients, where select(1, t) would zero-fill
  // and add a whole (B, T, 4H) gradient per step.
  const auto inputs = lstm->project_input(embed(tokens_in)).unbind(1);  // T x (B, 4H)
  nn::CellState cell{state[0], state[1]};
  std::vector<torch::Tensor> hs;
  for (int64_t t = 0; t < tokens_in.size(1); ++t) {
    cell = lstm->step(inputs[t], cell);
    hs.push_back(cell.h);
  }
  return {classifier(dropout(torch::stack(hs, 1))), torch::Tensor()};  // (B, T, V)
}

torch::Tensor ShowTellImpl::loss(const torch::Tensor& images, const torch::Tensor& tokens_in, const torch::Tensor& tokens_out,
                                 double label_smoothing) {
  // -sum_t log p_t(S_t), per target word
  auto [total, count] = caption_cross_entropy(forward(images, tokens_in).logits, tokens_out, label_smoothing);
  return total / count.clamp_min(1);
}

}  // namespace zoo::models
