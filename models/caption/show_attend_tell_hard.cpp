#include "models/caption/show_attend_tell_hard.h"

#include "lib/nn/cross_entropy.h"

namespace zoo::models {

torch::Tensor reinforce_surrogate(const torch::Tensor& log_likelihood, const torch::Tensor& log_prob_sampled, const torch::Tensor& entropy,
                                  const torch::Tensor& baseline, double reinforce_weight, double entropy_weight) {
  // The reward log p(y|s~) - b is a number to the gradient: only log p(s~|a) carries it back.
  auto advantage = (log_likelihood.detach() - baseline);
  return -(log_likelihood + reinforce_weight * advantage * log_prob_sampled + entropy_weight * entropy);
}

ShowAttendTellHardImpl::ShowAttendTellHardImpl(const ShowAttendTellConfig& config, const HardAttentionConfig& hard,
                                               const CaptionEncoderConfig& encoder_config, std::shared_ptr<ImageClassifierImpl> trunk)
    : ShowAttendTellImpl(config, encoder_config, std::move(trunk)), hard_(hard) {
  HardAttentionConfig::options().check(hard);
  baseline = register_buffer("baseline", torch::full({1}, std::numeric_limits<float>::quiet_NaN()));
}

torch::Tensor ShowAttendTellHardImpl::decoding_weights(const torch::Tensor& alpha) {
  // argmax_i alpha_ti as a one-hot (B, L): the location the decoder looks at.
  return torch::zeros_like(alpha).scatter_(1, alpha.argmax(1, /*keepdim=*/true), 1.0);
}

torch::Tensor ShowAttendTellHardImpl::loss(const torch::Tensor& images, const torch::Tensor& tokens_in, const torch::Tensor& tokens_out,
                                           double label_smoothing) {
  auto state = encode(images);
  const auto& a = state[0];
  const int64_t B = images.size(0), T = tokens_in.size(1);
  auto real = tokens_out.ne(0).to(a.dtype());    // (B, T): the caption's own steps
  // Which images look through the expected context this batch (the paper's "set s~ to its
  // expected value alpha with probability 0.5").
  auto expected = torch::rand({B, 1}, a.options()).lt(hard_.expected_share).to(a.dtype());  // (B, 1)
  std::vector<torch::Tensor> sampled_log_probs, entropies;
  auto output = teacher_forced(state, tokens_in, [&](int64_t, const torch::Tensor& alpha) {
    // s~_t ~ Multinoulli_L(alpha_t)
    auto location = torch::multinomial(alpha.detach(), 1);  // (B, 1)
    auto one_hot = torch::zeros_like(alpha).scatter_(1, location, 1.0);
    auto log_alpha = torch::log(alpha.clamp_min(1e-12));
    sampled_log_probs.push_back(log_alpha.gather(1, location).squeeze(1));  // log p(s~_t | a)
    entropies.push_back(-(alpha * log_alpha).sum(1));                        // H(alpha_t)
    return expected * alpha + (1 - expected) * one_hot;
  });
  const auto& logits_all = output.logits;  // (B, T, V)
  namespace F = torch::nn::functional;
  auto token_nll = zoo::nn::cross_entropy(logits_all.flatten(0, 1), tokens_out.flatten(),
                                    F::CrossEntropyFuncOptions().ignore_index(0).reduction(torch::kNone).label_smoothing(label_smoothing))
                       .view({B, T});
  auto log_likelihood = -(token_nll * real).sum(1);                                            // log p(y | s~, a), (B)
  auto log_prob_sampled = (torch::stack(sampled_log_probs, 1) * real).sum(1) * (1 - expected.squeeze(1));  // (B)
  auto entropy = (torch::stack(entropies, 1) * real).sum(1);                                  // (B)

  // b_k = decay b_{k-1} + (1 - decay) mean log p(y | s~_k, a), over the sampled images; the first
  // batch starts it at its own mean. All on the device, without reading a number back.
  if (is_training()) {
    torch::NoGradGuard no_grad;
    auto sampled = 1 - expected.squeeze(1);
    auto count = sampled.sum();
    auto mean = (log_likelihood.detach() * sampled).sum() / count.clamp_min(1);
    auto updated = torch::where(torch::isnan(baseline), mean, hard_.baseline_decay * baseline + (1 - hard_.baseline_decay) * mean);
    baseline.copy_(torch::where(count > 0, updated, baseline));  // a batch with no sample leaves it
  }
  auto b = torch::nan_to_num(baseline, 0.0);  // no batch seen yet: b = 0
  auto total = reinforce_surrogate(log_likelihood, log_prob_sampled, entropy, b, hard_.reinforce_weight, hard_.entropy_weight).sum();
  if (config_.doubly_stochastic > 0) {
    auto coverage = (output.attention * real.unsqueeze(2)).sum(1);  // (B, L)
    total = total + config_.doubly_stochastic * (1 - coverage).pow(2).sum();
  }
  return total / real.sum().clamp_min(1);
}

}  // namespace zoo::models
