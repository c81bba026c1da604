// Show, Attend and Tell with hard attention (Xu et al., 2015, section 4.1): at every word the
// LSTM looks at one location s_t drawn from alpha_t, z_t = beta_t a_{s_t}. The sampled choice has
// no gradient, so the attention is trained with REINFORCE on the variational lower bound
//   L_s = sum_s p(s | a) log p(y | s, a) <= log p(y | a),
// whose gradient the paper estimates from sampled locations s~ (its equation 12):
//   dL_s/dW ~ d log p(y | s~, a)/dW + lambda_r (log p(y | s~, a) - b) d log p(s~ | a)/dW + lambda_e dH[s~]/dW
// with the variance reduced three ways: a moving-average baseline b_k = 0.9 b_{k-1} + 0.1 log p(y | s~_k, a),
// the entropy bonus H of the attention, and, for half of the images, the expected context
// (soft attention's) in place of the sample. Decoding looks at the most probable location.
// Everything else (f_att, beta, the deep output, h_0 and c_0) is the soft model's.
#pragma once
#include "models/caption/show_attend_tell.h"

namespace zoo::models {

struct HardAttentionConfig {
  double reinforce_weight = 1.0;  // lambda_r
  double entropy_weight = 0.01;   // lambda_e
  double expected_share = 0.5;    // share of images trained on the expected context instead of a sample
  double baseline_decay = 0.9;    // b_k = decay b_{k-1} + (1 - decay) mean log p(y | s~, a)
  static const OptionSchema<HardAttentionConfig>& options();
};

inline const OptionSchema<HardAttentionConfig>& HardAttentionConfig::options() {
  static const auto schema =
      OptionSchema<HardAttentionConfig>("hard attention (REINFORCE)")
          .option("reinforce_weight", &HardAttentionConfig::reinforce_weight, at_least(0), "lambda_r of the REINFORCE term")
          .option("entropy_weight", &HardAttentionConfig::entropy_weight, at_least(0), "lambda_e of the attention's entropy bonus")
          .option("expected_share", &HardAttentionConfig::expected_share, probability(),
                  "share of images trained on the expected context sum_i alpha_ti a_i instead of a sampled location (the paper: 0.5)")
          .option("baseline_decay", &HardAttentionConfig::baseline_decay, fraction(), "decay of the moving-average baseline b");
  return schema;
}

// The hard-attention surrogate of a batch, one term per example: minimising it follows, in
// expectation over the sampled locations, the gradient of -L_s (equation 12):
//   -(log p(y|s~) + lambda_r (log p(y|s~) - b) log p(s~|a) + lambda_e H)
// `log_likelihood` (B) = log p(y | s~, a), `log_prob_sampled` (B) = sum_t log alpha_t(s~_t) (0 for
// images on the expected context), `entropy` (B) = sum_t H(alpha_t). Returns (B).
// `baseline` is b, a number or a tensor that broadcasts (kept on the device: no synchronisation).
torch::Tensor reinforce_surrogate(const torch::Tensor& log_likelihood, const torch::Tensor& log_prob_sampled, const torch::Tensor& entropy,
                                  const torch::Tensor& baseline, double reinforce_weight, double entropy_weight);

class ShowAttendTellHardImpl : public ShowAttendTellImpl {
 public:
  ShowAttendTellHardImpl(const ShowAttendTellConfig& config, const HardAttentionConfig& hard, const CaptionEncoderConfig& encoder_config,
                         std::shared_ptr<ImageClassifierImpl> trunk);
  // Sampled locations, REINFORCE, entropy bonus and baseline (and the doubly stochastic penalty
  // on alpha when lambda > 0), per target word.
  torch::Tensor loss(const torch::Tensor& images, const torch::Tensor& tokens_in, const torch::Tensor& tokens_out,
                     double label_smoothing) override;
  bool samples_attention() const override { return true; }

  // (1) the moving-average baseline b, saved with the weights so a resumed run continues it;
  // NaN until the first batch sets it.
  torch::Tensor baseline;

 protected:
  // Decoding looks at the most probable location: a one-hot alpha.
  torch::Tensor decoding_weights(const torch::Tensor& alpha) override;

 private:
  HardAttentionConfig hard_;
};
TORCH_MODULE(ShowAttendTellHard);

}  // namespace zoo::models
