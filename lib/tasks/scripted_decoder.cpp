#include "lib/tasks/scripted_decoder.h"

#include "lib/export/torchscript.h"

namespace zoo {

std::vector<torch::Tensor> scripted_encode(torch::jit::Module& module, const std::vector<torch::Tensor>& inputs) {
  const auto out = module.get_method("encode")(std::vector<c10::IValue>(inputs.begin(), inputs.end())).toTuple();
  std::vector<torch::Tensor> state;
  for (const auto& v : out->elements()) state.push_back(v.toTensor());
  return state;
}

nn::DecodeStep scripted_decode_step(torch::jit::Module& module, const torch::Tensor& tokens, const std::vector<torch::Tensor>& state) {
  std::vector<c10::IValue> inputs{tokens};
  for (const auto& s : state) inputs.emplace_back(s);
  const auto tuple = module.get_method("decode_step")(inputs).toTuple();
  const auto& out = tuple->elements();
  // (log_probs, state..., attention)
  nn::DecodeStep step;
  step.log_probs = out[0].toTensor();
  for (size_t i = 1; i + 1 < out.size(); ++i) step.state.push_back(out[i].toTensor());
  if (const auto attention = out[out.size() - 1].toTensor(); attention.numel() > 0) step.attention = attention;
  return step;
}

void add_decode_step_method(torch::jit::Module& scripted, const nn::StepFunction& step, const torch::Tensor& tokens,
                            const std::vector<torch::Tensor>& state,
                            const std::function<torch::Tensor(const std::vector<torch::Tensor>& inputs)>& no_attention) {
  std::vector<torch::Tensor> inputs{tokens};
  inputs.insert(inputs.end(), state.begin(), state.end());
  add_traced_method(
      scripted, "decode_step",
      [&](const std::vector<torch::Tensor>& in) {
        auto result = step(in[0], std::vector<torch::Tensor>(in.begin() + 1, in.end()));
        std::vector<torch::Tensor> out{result.log_probs};
        out.insert(out.end(), result.state.begin(), result.state.end());
        out.push_back(result.attention.defined() ? result.attention : no_attention(in));
        return out;
      },
      inputs);
}

}  // namespace zoo
