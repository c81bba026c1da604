// An encoder-decoder exported as two TorchScript methods over one set of weights, shared by the
// translate and caption tasks: encode(inputs...) -> state and decode_step(tokens, *state) ->
// (log_probs, *state, attention), the state a list of tensors whose first dimension is the batch.
#pragma once
#include <torch/script.h>
#include <torch/torch.h>

#include <functional>
#include <vector>

#include "lib/nn/search.h"

namespace zoo {

// The state a scripted `encode` returns for `inputs`.
std::vector<torch::Tensor> scripted_encode(torch::jit::Module& module, const std::vector<torch::Tensor>& inputs);

// One step through a scripted decode_step; an attention with no elements (a model without
// attention) comes back undefined.
nn::DecodeStep scripted_decode_step(torch::jit::Module& module, const torch::Tensor& tokens, const std::vector<torch::Tensor>& state);

// Traces `step` into `scripted` as decode_step(tokens, *state) -> (log_probs, *state, attention),
// at the example `tokens` and `state`. A step without attention returns no_attention(inputs)
// instead, so every export of a task has one signature.
void add_decode_step_method(torch::jit::Module& scripted, const nn::StepFunction& step, const torch::Tensor& tokens,
                            const std::vector<torch::Tensor>& state,
                            const std::function<torch::Tensor(const std::vector<torch::Tensor>& inputs)>& no_attention);

}  // namespace zoo
