// A recurrent language model (Karpathy's char-rnn; PyTorch's word_language_model): embedding ->
// a stack of vanilla RNN, LSTM or GRU layers -> a linear layer to next-token logits.
//
// Two implementations of the same layers over the same parameters (named as torch.nn.LSTM names
// them, "rnn.weight_ih_l0", so either loads the other's checkpoint): impl=fused runs LibTorch's
// RNN/LSTM/GRU (cuDNN on a GPU; on the CPU an LSTM runs zoo's fused layer, lib/nn/lstm_sequence.h),
// impl=cells steps through time with the seeds' equations
// (lib/nn/recurrent_cell), which also exposes every gate for zoo visualize.
#pragma once
#include <map>
#include <string>

#include "lib/nn/dropout.h"
#include "lib/nn/recurrent_cell.h"
#include "models/lm/language_model.h"

namespace zoo::models {

// The vocabulary follows the data (the lm task's text options cap it); bptt is how the lm task
// trains it; the rest is the model.
struct CharRnnConfig {
  int64_t vocab = 69, embedding = 128, hidden = 512, layers = 2;
  std::string cell = "lstm";
  std::string impl = "fused";
  double dropout = 0.2;
  bool tie_weights = false;
  int64_t bptt = 128;
  static const OptionSchema<CharRnnConfig>& options();
};

inline const OptionSchema<CharRnnConfig>& CharRnnConfig::options() {
  static const auto schema =
      OptionSchema<CharRnnConfig>("char_rnn")
          .option("cell", &CharRnnConfig::cell, one_of({"lstm", "gru", "rnn"}),
                  "rnn h_t = tanh(W_hh h_{t-1} + W_xh x_t); lstm i, f, o, g with c_t = f * c_{t-1} + i * g, h_t = o * tanh(c_t); gru r, z and "
                  "the candidate n (lib/nn/recurrent_cell.cpp)")
          .option("impl", &CharRnnConfig::impl, one_of({"fused", "cells"}),
                  "fused: LibTorch's RNN/LSTM/GRU (cuDNN on a GPU, whose between-layer dropout --deterministic refuses on CUDA; an LSTM "
                  "on the CPU zoo's fused layer); cells: a "
                  "step at a time through the equations (same outputs)")
          .option("embedding", &CharRnnConfig::embedding, at_least(1), "embedding width")
          .option("hidden", &CharRnnConfig::hidden, at_least(1), "state width")
          .option("layers", &CharRnnConfig::layers, at_least(1), "stacked recurrent layers")
          .option("dropout", &CharRnnConfig::dropout, fraction(), "on the embeddings, between layers and before the output layer")
          .option("tie_weights", &CharRnnConfig::tie_weights, "the output layer uses the embedding matrix (needs embedding = hidden)")
          .option("bptt", &CharRnnConfig::bptt, at_least(1),
                  "truncated backpropagation through time: chunk length; each batch row is a contiguous stream whose state is carried "
                  "from chunk to chunk, detached")
          .rule([](const CharRnnConfig& c) {
            if (c.tie_weights && c.embedding != c.hidden)
              throw UsageError("tie_weights needs embedding == hidden (" + std::to_string(c.embedding) + " != " + std::to_string(c.hidden) + ")");
          });
  return schema;
}

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
  std::vector<torch::Tensor> initial_state(int64_t batch, torch::Device device) const override;
  // What each unit does over one sequence tokens (1, T), through the cells: "h", "c" (lstm) and
  // the gates ("i", "f", "o", "g" / "r", "z", "n"), each (layers, T, hidden).
  std::map<std::string, torch::Tensor> trace_units(const torch::Tensor& tokens);
  // options.signal of options.units in options.layer over the tokens, each unit's values as the
  // colour of the text (Karpathy et al. 2015): tanh(c) for the cell, 2g - 1 for a gate.
  std::vector<viz::Figure> look(const torch::Tensor& tokens, const viz::LookOptions& options) override;
  const CharRnnConfig& config() const { return config_; }

  torch::nn::Embedding encoder{nullptr};
  torch::nn::LSTM lstm{nullptr};  // one of the three, registered as "rnn"
  torch::nn::GRU gru{nullptr};
  torch::nn::RNN rnn{nullptr};
  torch::nn::Linear decoder{nullptr};  // untied
  OutputBias decoder_bias{nullptr};    // tied
  nn::Dropout dropout{nullptr};

 private:
  // The stacked layers through LibTorch's module (zoo's LSTM layer on the CPU).
  torch::Tensor run_fused(const torch::Tensor& x, std::vector<torch::Tensor>& state);
  // Layer by layer over the stack's parameters: each layer's input projection for all steps at
  // once, then its recurrence through zoo's fused LSTM layer (fused_lstm) or step by step through
  // the cells (which fill `trace` with every step's state and gates when given).
  torch::Tensor run_layers(const torch::Tensor& x, std::vector<torch::Tensor>& state, bool fused_lstm,
                           std::map<std::string, std::vector<torch::Tensor>>* trace);
  torch::Tensor logits(const torch::Tensor& features);

  CharRnnConfig config_;
  nn::CellKind kind_;
};
TORCH_MODULE(CharRnn);

}  // namespace zoo::models
