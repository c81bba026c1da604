#include "models/lm/char_rnn.h"

#include "lib/core/error.h"
#include "lib/nn/lstm_sequence.h"

namespace zoo::models {

CharRnnImpl::CharRnnImpl(const CharRnnConfig& c) : config_(c), kind_(nn::parse_cell(c.cell)) {
  CharRnnConfig::options().check(c);
  encoder = register_module("encoder", torch::nn::Embedding(c.vocab, c.embedding));
  // torch.nn.LSTM applies its dropout to every layer's output but the last.
  const double between = c.layers > 1 ? c.dropout : 0.0;
  switch (kind_) {
    case nn::CellKind::Lstm:
      lstm = register_module("rnn", torch::nn::LSTM(torch::nn::LSTMOptions(c.embedding, c.hidden).num_layers(c.layers).dropout(between).batch_first(true)));
      break;
    case nn::CellKind::Gru:
      gru = register_module("rnn", torch::nn::GRU(torch::nn::GRUOptions(c.embedding, c.hidden).num_layers(c.layers).dropout(between).batch_first(true)));
      break;
    case nn::CellKind::Rnn:
      rnn = register_module("rnn", torch::nn::RNN(torch::nn::RNNOptions(c.embedding, c.hidden).num_layers(c.layers).dropout(between).batch_first(true)));
      break;
  }
  // word_language_model's initialisation: small uniform embeddings and output weights, so a
  // tied matrix starts at a sensible scale for both roles.
  torch::NoGradGuard no_grad;
  encoder->weight.uniform_(-0.1, 0.1);
  if (c.tie_weights) {
    decoder_bias = register_module("decoder", OutputBias(c.vocab));
  } else {
    decoder = register_module("decoder", torch::nn::Linear(c.hidden, c.vocab));
    decoder->weight.uniform_(-0.1, 0.1);
    decoder->bias.zero_();
  }
  dropout = register_module("drop", nn::Dropout(c.dropout));
}

std::vector<torch::Tensor> CharRnnImpl::initial_state(int64_t batch, torch::Device device) const {
  auto zeros = torch::zeros({config_.layers, batch, config_.hidden}, torch::TensorOptions().device(device));
  if (kind_ == nn::CellKind::Lstm) return {zeros, zeros.clone()};
  return {zeros};
}

torch::Tensor CharRnnImpl::logits(const torch::Tensor& features) {
  if (config_.tie_weights) return torch::nn::functional::linear(features, encoder->weight, decoder_bias->bias);
  return decoder(features);
}

LmOutput CharRnnImpl::forward(const torch::Tensor& tokens, const std::vector<torch::Tensor>& state_in) {
  std::vector<torch::Tensor> state = state_in.empty() ? initial_state(tokens.size(0), tokens.device()) : state_in;
  auto x = dropout(encoder(tokens));  // (B, T, E)
  auto features = config_.impl == "fused" ? run_fused(x, state) : run_layers(x, state, /*fused_lstm=*/false, nullptr);  // (B, T, H)
  return {logits(dropout(features)), state};  // (B, T, V)
}

torch::Tensor CharRnnImpl::run_fused(const torch::Tensor& x, std::vector<torch::Tensor>& state) {
  // On CUDA the fused layers hand their between-layer dropout to cuDNN, whose random state lives
  // inside cuDNN, outside LibTorch's generators: a checkpoint cannot hold it, so a resumed run
  // would draw other masks. --deterministic promises the same bits after a resume; refuse as
  // LibTorch refuses an op without a deterministic kernel.
  if (x.is_cuda() && is_training() && config_.layers > 1 && config_.dropout > 0 && at::globalContext().deterministicAlgorithms())
    throw UsageError("--deterministic on CUDA: char_rnn's fused layers leave their between-layer dropout to cuDNN, whose random state a checkpoint cannot hold (use --set impl=cells, --set dropout=0 or --device cpu)");
  // An LSTM on the CPU: each layer through zoo's fused layer (lib/nn/lstm_sequence.h), over
  // torch::nn::LSTM's own parameters.
  if (lstm && nn::lstm_sequence_covers(x)) return run_layers(x, state, /*fused_lstm=*/true, nullptr);
  if (lstm) {
    auto [out, hc] = lstm->forward(x, std::make_tuple(state[0], state[1]));
    state = {std::get<0>(hc), std::get<1>(hc)};
    return out;
  }
  auto [out, h] = gru ? gru->forward(x, state[0]) : rnn->forward(x, state[0]);
  state = {h};
  return out;
}

torch::Tensor CharRnnImpl::run_layers(const torch::Tensor& x_in, std::vector<torch::Tensor>& state, bool fused_lstm,
                                      std::map<std::string, std::vector<torch::Tensor>>* trace) {
  torch::nn::Module& stack = lstm ? static_cast<torch::nn::Module&>(*lstm) : gru ? static_cast<torch::nn::Module&>(*gru) : *rnn;
  auto params = stack.named_parameters(/*recurse=*/false);
  const bool lstm_cell = kind_ == nn::CellKind::Lstm;
  const bool dropout_between = is_training() && config_.layers > 1 && config_.dropout > 0;
  torch::Tensor x = x_in;
  std::vector<torch::Tensor> h_out, c_out;
  for (int64_t layer = 0; layer < config_.layers; ++layer) {
    const std::string l = std::to_string(layer);
    // W_xh x_t + b for every step at once: (B, T, G*H)
    auto projected = torch::nn::functional::linear(x, params["weight_ih_l" + l], params["bias_ih_l" + l]);
    nn::CellState s{state[0][layer], lstm_cell ? state[1][layer] : torch::Tensor()};
    if (fused_lstm) {
      auto run = nn::lstm_sequence(projected, s.h, s.c, params["weight_hh_l" + l], params["bias_hh_l" + l]);
      x = run.output;  // (B, T, H)
      s = {run.h, run.c};
    } else {
      std::vector<torch::Tensor> outputs;
      nn::CellGates gates;
      const auto projected_steps = projected.unbind(1);  // one backward for all steps, unlike select(1, t)
      for (int64_t t = 0; t < x.size(1); ++t) {
        s = nn::cell_step(kind_, projected_steps[t], s, params["weight_hh_l" + l], params["bias_hh_l" + l], trace ? &gates : nullptr);
        outputs.push_back(s.h);
        if (trace) {
          (*trace)["h"].push_back(s.h);
          if (lstm_cell) (*trace)["c"].push_back(s.c);
          for (const auto& [name, value] : gates.named) (*trace)[name].push_back(value);
        }
      }
      x = torch::stack(outputs, 1);  // (B, T, H)
    }
    if (dropout_between && layer + 1 < config_.layers) x = nn::dropout(x, config_.dropout, /*training=*/true);
    h_out.push_back(s.h);
    if (lstm_cell) c_out.push_back(s.c);
  }
  state = {torch::stack(h_out)};  // (layers, B, H)
  if (lstm_cell) state.push_back(torch::stack(c_out));
  return x;
}

std::map<std::string, torch::Tensor> CharRnnImpl::trace_units(const torch::Tensor& tokens) {
  std::map<std::string, std::vector<torch::Tensor>> steps;  // name -> layers * T tensors (1, H), layer-major
  auto state = initial_state(tokens.size(0), tokens.device());
  run_layers(dropout(encoder(tokens)), state, /*fused_lstm=*/false, &steps);
  std::map<std::string, torch::Tensor> out;
  const int64_t length = tokens.size(1);
  for (auto& [name, values] : steps)
    out[name] = torch::stack(values).select(1, 0).unflatten(0, {config_.layers, length});  // (layers, T, H)
  return out;
}

std::vector<viz::Figure> CharRnnImpl::look(const torch::Tensor& tokens, const viz::LookOptions& options) {
  torch::NoGradGuard no_grad;
  const auto traces = trace_units(tokens);
  const std::string& signal = options.signal;
  if (!traces.count(signal)) {
    std::string valid;
    for (const auto& [name, value] : traces) valid += (valid.empty() ? "" : ", ") + name;
    throw UsageError("invalid --signal '" + signal + "' for a " + config_.cell + " cell: expected one of " + valid);
  }
  const int64_t hidden = config_.hidden, layer = options.layer_index(config_.layers, "the model");
  auto values = traces.at(signal).select(0, layer).to(torch::kCPU, torch::kFloat32);  // (T, H)
  // Every signal on [-1, 1] for one colour scale: tanh(c) as Karpathy et al. plot the cell; a
  // gate's [0, 1] stretched so that 0.5 is neutral.
  if (signal == "c") values = values.tanh();
  const bool gate = signal != "h" && signal != "c" && signal != "g" && signal != "n";
  if (gate) values = values * 2 - 1;
  std::vector<int64_t> units = options.units;
  if (units.empty()) {
    // The units that vary most over this text.
    auto order = values.std(0).argsort(0, /*descending=*/true);
    for (int64_t i = 0; i < std::min<int64_t>(8, hidden); ++i) units.push_back(order[i].item<int64_t>());
  }
  viz::Figure figure;
  figure.kind = viz::Figure::Kind::Activations;
  std::vector<torch::Tensor> rows;
  for (int64_t unit : units) {
    if (unit >= hidden) throw UsageError("invalid --units: unit " + std::to_string(unit) + " does not exist (the layer has " + std::to_string(hidden) + ")");
    rows.push_back(values.select(1, unit));
    figure.labels.push_back("layer " + std::to_string(layer) + " unit " + std::to_string(unit) + " (" + signal + (gate ? ", 2g-1" : "") + ")");
  }
  figure.maps = {torch::stack(rows)};
  figure.title = options.model + " " + config_.cell;
  return {figure};
}

}  // namespace zoo::models
