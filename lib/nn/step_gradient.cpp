#include "lib/nn/step_gradient.h"

#include <torch/csrc/jit/frontend/tracer.h>

namespace zoo::nn {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

namespace {

StepRecord* record_of(AutogradContext* ctx) { return static_cast<StepRecord*>(ctx->saved_data["record"].toCapsule().get()); }

// W as the steps see it: the identity forward; backward, after every step's backward has run
// (the steps' nodes all feed this one), W's whole gradient in one product.
struct GatherWeightGradient : torch::autograd::Function<GatherWeightGradient> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& weight, const c10::intrusive_ptr<StepRecord>& record) {
    ctx->saved_data["record"] = c10::IValue::make_capsule(record);
    ctx->set_materialize_grads(false);  // the steps pass W nothing: no zeros to allocate
    return weight.alias();
  }
  static variable_list backward(AutogradContext* ctx, variable_list /*grads*/) {
    StepRecord* record = record_of(ctx);
    torch::Tensor grad;  // undefined when no step's backward reached W: no gradient, as autograd means it
    // dW = sum_t x_t^T dy_t = X^T dY, the steps stacked
    if (!record->inputs.empty()) grad = torch::cat(record->inputs).t().mm(torch::cat(record->output_grads));
    record->inputs.clear(), record->output_grads.clear();
    return {grad, torch::Tensor()};  // (grads[0] is undefined: only the steps read W through this node)
  }
};

// One step's input + x W: backward gives input and x their gradients now, and leaves x and dy for W's.
struct StepAddmm : torch::autograd::Function<StepAddmm> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& input, const torch::Tensor& x, const torch::Tensor& weight,
                               const c10::intrusive_ptr<StepRecord>& record) {
    ctx->saved_data["record"] = c10::IValue::make_capsule(record);
    ctx->saved_data["input_sizes"] = input.sizes();
    ctx->save_for_backward({x, weight});
    return torch::addmm(input, x, weight);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const auto& grad = grads[0];
    torch::Tensor dinput, dx;
    if (ctx->needs_input_grad(0)) dinput = at::sum_to(grad, ctx->saved_data["input_sizes"].toIntVector());  // a broadcast bias sums
    if (ctx->needs_input_grad(1)) dx = grad.mm(saved[1].t());
    StepRecord* record = record_of(ctx);
    record->inputs.push_back(saved[0]);
    record->output_grads.push_back(grad);
    return {dinput, dx, torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

StepProduct::StepProduct(const torch::Tensor& weight) : weight_(weight) {
  if (torch::GradMode::is_enabled() && weight.requires_grad() && !torch::jit::tracer::isTracing()) {
    record_ = c10::make_intrusive<StepRecord>();
    weight_ = GatherWeightGradient::apply(weight, record_);
  }
}

torch::Tensor StepProduct::addmm(const torch::Tensor& input, const torch::Tensor& x) const {
  if (!record_ || !torch::GradMode::is_enabled()) return torch::addmm(input, x, weight_);
  return StepAddmm::apply(input, x, weight_, record_);
}

}  // namespace zoo::nn
