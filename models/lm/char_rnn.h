// A recurrent language model (Karpathy's char-rnn; PyTorch's word_language_model): embedding ->
// a stack of vanilla RNN, LSTM or GRU layers -> a linear layer to next-token logits.
//
// Two implementations of the same layers over the same parameters (named as torch.nn.LSTM names
// them, "rnn.weight_ih_l0", so either loads the other's checkpoint): impl=fused runs LibTorch's
// RNN/LSTM/GRU (cuDNN on a GPU), impl=cells steps through time with the seeds' equations
// (lib/nn/recurrent_cell), which also exposes every gate for zoo visualize.
#pragma once
#include <map>
#include <string>

#include "lib/nn/dropout.h"
#include "lib/nn/recurrent_cell.h"
#include "models/lm/language_model.h"

namespace zoo::models {

struct CharRnnConfig {
  int64_t vocab = 69, embedding = 128, hidden = 512, layers = 2;
  std::string cell = "lstm";   // rnn | lstm | gru
  std::string impl = "fused";  // fused | cells
  double dropout = 0.2;        // on the embeddings, between layers and before the output layer
  bool tie_weights = false;    // output layer = embedding matrix (needs embedding == hidden)
};

// Holds only the output layer's bias when its weight is the embedding matrix.
class OutputBiasImpl : public torch::nn::Module {
 public:
  explicit OutputBiasImpl(int64_t size) { bias = register_parameter("bias", torch::zeros({size})); }
  torch::Tensor bias;
};
TORCH_MODULE(OutputBias);

class CharRnnImpl : public LanguageModel {
 public:
  explicit CharRnnImpl(const CharRnnConfig& config);

  // tokens (B, T); state [h] (rnn, gru) or [h, c] (lstm), each (layers, B, hidden), or empty for zeros.
  LmOutput forward(const torch::Tensor& tokens, const std::vector<torch::Tensor>& state) override;
  int64_t context() const override { return 0; }
  bool recurrent() const override { return true; }
  int64_t vocab_size() const override { return config_.vocab; }

  // Zeros of the state's shape for a batch of `batch` on `device`.
  std::vector<torch::Tensor> initial_state(int64_t batch, torch::Device device) const;
  // What each unit does over one sequence tokens (1, T), through the cells: "h", "c" (lstm) and
  // the gates ("i", "f", "o", "g" / "r", "z", "n"), each (layers, T, hidden).
  std::map<std::string, torch::Tensor> trace_units(const torch::Tensor& tokens);
  const CharRnnConfig& config() const { return config_; }

  torch::nn::Embedding encoder{nullptr};
  torch::nn::LSTM lstm{nullptr};  // one of the three, registered as "rnn"
  torch::nn::GRU gru{nullptr};
  torch::nn::RNN rnn{nullptr};
  torch::nn::Linear decoder{nullptr};  // untied
  OutputBias decoder_bias{nullptr};    // tied
  nn::Dropout dropout{nullptr};

 private:
  // The stacked layers through LibTorch's module, or step by step through the cells.
  torch::Tensor run_fused(const torch::Tensor& x, std::vector<torch::Tensor>& state);
  torch::Tensor run_cells(const torch::Tensor& x, std::vector<torch::Tensor>& state, std::map<std::string, std::vector<torch::Tensor>>* trace);
  torch::Tensor logits(const torch::Tensor& features);

  CharRnnConfig config_;
  nn::CellKind kind_;
};
TORCH_MODULE(CharRnn);

}  // namespace zoo::models
