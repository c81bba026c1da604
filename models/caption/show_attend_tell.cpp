#include "models/caption/show_attend_tell.h"

#include "lib/nn/attention_kernels.h"

namespace zoo::models {

ShowAttendTellImpl::ShowAttendTellImpl(const ShowAttendTellConfig& config, const CaptionEncoderConfig& encoder_config,
                                       std::shared_ptr<ImageClassifierImpl> trunk)
    : CaptionModel(encoder_config, std::move(trunk)), config_(config) {
  ShowAttendTellConfig::options().check(config);
  const int64_t D = annotation_size();
  embed = register_module("embed", torch::nn::Embedding(config.vocab, config.embed));
  init_h = register_module("init_h", torch::nn::Linear(D, config.hidden));
  init_c = register_module("init_c", torch::nn::Linear(D, config.hidden));
  attend_annotation = register_module("attend_annotation", torch::nn::Linear(D, config.attention));
  attend_hidden = register_module("attend_hidden", torch::nn::Linear(torch::nn::LinearOptions(config.hidden, config.attention).bias(false)));
  attend_score = register_module("attend_score", torch::nn::Linear(config.attention, 1));
  if (config.gate) gate = register_module("gate", torch::nn::Linear(config.hidden, 1));
  lstm = register_module("lstm", nn::RecurrentCell(nn::CellKind::Lstm, config.embed + D, config.hidden));
  out_hidden = register_module("out_hidden", torch::nn::Linear(config.hidden, config.embed));
  out_context = register_module("out_context", torch::nn::Linear(D, config.embed));
  dropout = register_module("dropout", nn::Dropout(config.dropout));
  out = register_module("out", torch::nn::Linear(config.embed, config.vocab));
}

std::vector<torch::Tensor> ShowAttendTellImpl::encode(const torch::Tensor& images) {
  auto a = annotations(images);  // (B, L, D)
  auto mean = a.mean(1);         // (B, D)
  // h_0 = tanh(f_init,h(mean_i a_i)), c_0 = tanh(f_init,c(mean_i a_i))
  auto h = torch::tanh(init_h(mean)), c = torch::tanh(init_c(mean));
  // W_a a_i + b does not change over the caption: computed once.
  return {a, attend_annotation(a), h, c};  // (B, L, D), (B, L, A), (B, H), (B, H)
}

torch::Tensor ShowAttendTellImpl::attention_weights(const nn::StepKeys& projected, const torch::Tensor& h) {
  // e_ti = w^T tanh(W_a a_i + W_h h_{t-1} + b) + c, fused (lib/nn/attention_kernels.h): the
  // (B, L, A) tanh layer is neither written nor kept for the backward pass.
  auto e = projected.energies(attend_hidden(h), attend_score->weight.view(-1)) + attend_score->bias;  // (B, L)
  // alpha_t = softmax(e_t) over the locations
  return torch::softmax(e, 1);
}

torch::Tensor ShowAttendTellImpl::context(const torch::Tensor& weights, const nn::StepValues& annotations, const torch::Tensor& h) {
  // sum_i alpha_ti a_i: (B, 1, L) x (B, L, D) -> (B, D)
  auto z = annotations.weighted_sum(weights);
  // beta_t = sigma(f_beta(h_{t-1})): how much the image matters for this word
  if (gate) z = torch::sigmoid(gate(h)) * z;
  return z;
}

torch::Tensor ShowAttendTellImpl::context_weight() const {
  // W_ih = [W_ih,y  W_ih,z]: the LSTM's input is [E y_{t-1}; z_t]. Sliced and transposed once per
  // caption, not per step: the steps' gradients then add up contiguous, and the slice's backward
  // (a whole (4H, E + D) gradient allocated and filled) runs once.
  return lstm->weight_ih.narrow(1, embed->options.embedding_dim(), annotation_size()).t();
}

ShowAttendTellImpl::RecurrentProducts ShowAttendTellImpl::recurrent_products() const {
  return {nn::StepProduct(context_weight()), nn::StepProduct(lstm->weight_hh.t())};
}

std::pair<torch::Tensor, torch::Tensor> ShowAttendTellImpl::recur(const torch::Tensor& word_input, const torch::Tensor& z,
                                                                   const RecurrentProducts& products, const torch::Tensor& h,
                                                                   const torch::Tensor& c) {
  // W_ih [E y; z] + W_hh h = W_ih,y E y + W_ih,z z + W_hh h: the word part arrives projected.
  auto hidden = products.hidden.addmm(products.context.addmm(lstm->bias_hh, z), h);  // (B, 4H)
  auto next = nn::cell_update(nn::CellKind::Lstm, word_input, hidden, {h, c});
  return {next.h, next.c};
}

torch::Tensor ShowAttendTellImpl::readout(const torch::Tensor& word, const torch::Tensor& h, const torch::Tensor& z) {
  // p(y_t) = softmax(L_o(E y_{t-1} + L_h h_t + L_z z_t))
  return out(dropout(word + out_hidden(h) + out_context(z)));
}

std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> ShowAttendTellImpl::step(const torch::Tensor& word, const torch::Tensor& z,
                                                                                  const torch::Tensor& h, const torch::Tensor& c) {
  auto [h_next, c_next] = recur(lstm->project_input(word), z, recurrent_products(), h, c);
  return {readout(word, h_next, z), h_next, c_next};  // logits (B, V)
}

nn::DecodeStep ShowAttendTellImpl::decode_step(const torch::Tensor& tokens, const std::vector<torch::Tensor>& state) {
  const auto& a = state.at(0);
  const auto& projected = state.at(1);
  // One step: the keys and annotations take their gradients the usual way, nothing gathered.
  auto weights = decoding_weights(attention_weights(nn::StepKeys(projected, /*gather=*/false), state.at(2)));
  auto z = context(weights, nn::StepValues(a, /*gather=*/false), state.at(2));
  auto [logits, h, c] = step(embed(tokens), z, state.at(2), state.at(3));
  return {torch::log_softmax(logits, 1), {a, projected, h, c}, weights};
}

CaptionOutput ShowAttendTellImpl::teacher_forced(const std::vector<torch::Tensor>& state, const torch::Tensor& tokens_in,
                                                 const std::function<torch::Tensor(int64_t, const torch::Tensor&)>& look) {
  const nn::StepValues a(state[0]);         // the annotations a_i, read at every step
  const nn::StepKeys projected(state[1]);  // W_a a_i + b, likewise
  auto h = state[2], c = state[3];
  auto words = embed(tokens_in);                    // (B, T, E)
  // (B, T, 4H): W_ih,y E y + b_ih, all steps at once; unbound into T views, whose gradients
  // come back stacked in one node (select's would each fill and add a whole (B, T, 4H) gradient).
  auto word_inputs = lstm->project_input(words).unbind(1);
  auto products = recurrent_products();
  std::vector<torch::Tensor> hs, zs, alphas;
  for (int64_t t = 0; t < tokens_in.size(1); ++t) {
    auto alpha = attention_weights(projected, h);  // (B, L)
    auto z = context(look(t, alpha), a, h);         // (B, D)
    std::tie(h, c) = recur(word_inputs[t], z, products, h, c);
    hs.push_back(h), zs.push_back(z), alphas.push_back(alpha);
  }
  auto logits = readout(words, torch::stack(hs, 1), torch::stack(zs, 1));  // (B, T, V)
  return {logits, torch::stack(alphas, 1)};                                // alpha (B, T, L)
}

CaptionOutput ShowAttendTellImpl::forward(const torch::Tensor& images, const torch::Tensor& tokens_in) {
  return teacher_forced(encode(images), tokens_in, [](int64_t, const torch::Tensor& alpha) { return alpha; });
}

torch::Tensor ShowAttendTellImpl::loss(const torch::Tensor& images, const torch::Tensor& tokens_in, const torch::Tensor& tokens_out,
                                       double label_smoothing) {
  auto output = forward(images, tokens_in);
  auto [total, count] = caption_cross_entropy(output.logits, tokens_out, label_smoothing);
  if (config_.doubly_stochastic > 0) {
    // lambda sum_i (1 - sum_t alpha_ti)^2, over each caption's own steps (its words and <end>)
    auto mask = tokens_out.ne(0).unsqueeze(2).to(output.attention.dtype());  // (B, T, 1)
    auto coverage = (output.attention * mask).sum(1);                        // (B, L)
    total = total + config_.doubly_stochastic * (1 - coverage).pow(2).sum();
  }
  return total / count.clamp_min(1);
}

}  // namespace zoo::models
