// Show, Attend and Tell with soft attention (Xu et al., 2015): at every word the LSTM looks at a
// weighted average of the annotation vectors a_i of the image's L locations, the weights computed
// from what it has said so far.
//   e_ti = f_att(a_i, h_{t-1}) = w^T tanh(W_a a_i + W_h h_{t-1} + b)
//   alpha_t = softmax(e_t)                                  (over the L locations)
//   z_t = beta_t sum_i alpha_ti a_i,  beta_t = sigma(f_beta(h_{t-1}))   (the gating scalar)
//   h_t, c_t = LSTM([E y_{t-1}; z_t], h_{t-1}, c_{t-1})
//   p(y_t) = softmax(L_o(E y_{t-1} + L_h h_t + L_z z_t))      (the deep output layer)
//   h_0 = tanh(f_init,h(mean_i a_i)),  c_0 = tanh(f_init,c(mean_i a_i))
// trained with the doubly stochastic penalty lambda sum_i (1 - sum_t alpha_ti)^2, which asks every
// location to be looked at about once over the caption.
#pragma once
#include <functional>
#include <utility>

#include "lib/nn/attention_kernels.h"
#include "lib/nn/dropout.h"
#include "lib/nn/recurrent_cell.h"
#include "lib/nn/step_gradient.h"
#include "models/caption/caption_model.h"

namespace zoo::models {

struct ShowAttendTellConfig {
  int64_t embed = 512;      // word embedding width (E y)
  int64_t hidden = 512;     // LSTM width
  int64_t attention = 512;  // f_att's hidden width
  double dropout = 0.5;     // before L_o
  double doubly_stochastic = 1.0;  // lambda
  bool gate = true;         // beta_t; false: z_t = sum_i alpha_ti a_i
  int64_t vocab = 10000;    // set from the data (CaptionVocabConfig)
  static const OptionSchema<ShowAttendTellConfig>& options();
};

inline const OptionSchema<ShowAttendTellConfig>& ShowAttendTellConfig::options() {
  static const auto schema =
      OptionSchema<ShowAttendTellConfig>("Show, Attend and Tell")
          .option("embed", &ShowAttendTellConfig::embed, at_least(1), "word embedding width")
          .option("hidden", &ShowAttendTellConfig::hidden, at_least(1), "LSTM width")
          .option("attention", &ShowAttendTellConfig::attention, at_least(1), "hidden width of the attention MLP f_att")
          .option("dropout", &ShowAttendTellConfig::dropout, fraction(), "before the deep output layer's last projection L_o")
          .option("doubly_stochastic", &ShowAttendTellConfig::doubly_stochastic, at_least(0),
                  "lambda of the penalty lambda sum_i (1 - sum_t alpha_ti)^2 (0: off)")
          .option("gate", &ShowAttendTellConfig::gate, "scale the context by the gating scalar beta_t = sigmoid(f_beta(h_{t-1}))");
  return schema;
}

class ShowAttendTellImpl : public CaptionModel {
 public:
  ShowAttendTellImpl(const ShowAttendTellConfig& config, const CaptionEncoderConfig& encoder_config, std::shared_ptr<ImageClassifierImpl> trunk);
  // State: {a (B, L, D), W_a a (B, L, A), h, c}.
  std::vector<torch::Tensor> encode(const torch::Tensor& images) override;
  nn::DecodeStep decode_step(const torch::Tensor& tokens, const std::vector<torch::Tensor>& state) override;
  CaptionOutput forward(const torch::Tensor& images, const torch::Tensor& tokens_in) override;
  // (sum_t -log p(y_t) + lambda sum_i (1 - sum_t alpha_ti)^2) / target words.
  torch::Tensor loss(const torch::Tensor& images, const torch::Tensor& tokens_in, const torch::Tensor& tokens_out,
                     double label_smoothing) override;

  torch::nn::Embedding embed{nullptr};                       // E
  torch::nn::Linear init_h{nullptr}, init_c{nullptr};        // f_init,h, f_init,c
  torch::nn::Linear attend_annotation{nullptr};              // W_a (with b)
  torch::nn::Linear attend_hidden{nullptr};                  // W_h
  torch::nn::Linear attend_score{nullptr};                   // w
  torch::nn::Linear gate{nullptr};                           // f_beta (config.gate)
  nn::RecurrentCell lstm{nullptr};                            // input [E y_{t-1}; z_t]
  torch::nn::Linear out_hidden{nullptr}, out_context{nullptr};  // L_h, L_z
  nn::Dropout dropout{nullptr};
  torch::nn::Linear out{nullptr};                             // L_o

  // The pieces of a step, public for the hard-attention model and the tests.
  // e_t and alpha_t (B, L) from the annotations' projection (B, L, A) and h_{t-1} (B, H).
  torch::Tensor attention_weights(const nn::StepKeys& projected, const torch::Tensor& h);
  // z_t (B, D) from weights over the locations (soft: alpha_t; hard: a one-hot location) and the
  // annotations (B, L, D) as the steps of one pass share them.
  torch::Tensor context(const torch::Tensor& weights, const nn::StepValues& annotations, const torch::Tensor& h);
  // One step from y_{t-1} embedded (B, E) and z_t: logits (B, V) and the next (h, c).
  std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> step(const torch::Tensor& word, const torch::Tensor& z, const torch::Tensor& h,
                                                                const torch::Tensor& c);

 protected:
  // What decoding looks through, given alpha_t: soft attention alpha_t itself.
  virtual torch::Tensor decoding_weights(const torch::Tensor& alpha) { return alpha; }
  // Teacher forcing from encode()'s state over tokens_in (B, T): logits (B, T, V) and alpha
  // (B, T, L). `look(t, alpha_t)` gives the weights z_t is taken with (soft: alpha_t itself).
  // The words' part of the LSTM's input projection and the deep output layer run once over all
  // T steps; only the recurrence goes step by step.
  CaptionOutput teacher_forced(const std::vector<torch::Tensor>& state, const torch::Tensor& tokens_in,
                               const std::function<torch::Tensor(int64_t, const torch::Tensor&)>& look);
  // W_ih,z^T (D, 4H): the LSTM input weights of the context z_t, transposed.
  torch::Tensor context_weight() const;
  // The LSTM's per-step products, W_ih,z z_t and W_hh h_{t-1}, for one pass over a caption: in
  // training their weights' gradients are formed once for all steps (lib/nn/step_gradient.h).
  struct RecurrentProducts {
    nn::StepProduct context, hidden;
  };
  RecurrentProducts recurrent_products() const;
  // (h_t, c_t) = LSTM([E y_{t-1}; z_t], h_{t-1}, c_{t-1}) given W_ih's word part already applied (B, 4H).
  std::pair<torch::Tensor, torch::Tensor> recur(const torch::Tensor& word_input, const torch::Tensor& z, const RecurrentProducts& products,
                                                const torch::Tensor& h, const torch::Tensor& c);
  // logits = L_o(E y_{t-1} + L_h h_t + L_z z_t), for one step (B, ...) or all (B, T, ...).
  torch::Tensor readout(const torch::Tensor& word, const torch::Tensor& h, const torch::Tensor& z);
  ShowAttendTellConfig config_;
};
TORCH_MODULE(ShowAttendTell);

}  // namespace zoo::models
