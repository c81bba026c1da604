#include "lib/nn/step_gradient.h"

#include <torch/csrc/jit/frontend/tracer.h>

namespace zoo::nn {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

bool gathers_step_gradients(const torch::Tensor& tensor) {
  return torch::GradMode::is_enabled() && tensor.requires_grad() && !torch::jit::tracer::isTracing();
}

AutogradContext& save_record(AutogradContext& ctx, const c10::intrusive_ptr<StepRecord>& record) {
  ctx.saved_data["record"] = c10::IValue::make_capsule(record);
  return ctx;
}

torch::Tensor ProductRecord::take_gradient() {
  torch::Tensor grad;
  // dW = sum_t x_t^T dy_t = X^T dY, the steps stacked
  if (!inputs.empty()) {
    auto x = torch::cat(inputs), dy = torch::cat(output_grads);
    grad = transposed ? dy.t().mm(x).t() : x.t().mm(dy);
  }
  inputs.clear(), output_grads.clear();
  return grad;
}

namespace {

// The tensor as the steps see it. Its backward runs after every step's (the steps' nodes all feed
// this one) and returns what they left in the record; they pass it nothing themselves, unless
// one fell back to ATen.
struct GatherStepGradients : torch::autograd::Function<GatherStepGradients> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& tensor, const c10::intrusive_ptr<StepRecord>& record) {
    save_record(*ctx, record).set_materialize_grads(false);  // no zeros to allocate for the nothing the steps pass
    return tensor.alias();
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto grad = saved_record<StepRecord>(*ctx).take_gradient();
    // A step that fell back to ATen's operations passed its gradient the usual way.
    if (grads[0].defined()) grad = grad.defined() ? grad + grads[0] : grads[0];
    return {grad, torch::Tensor()};
  }
};

// One step's input + x W: backward gives input and x their gradients now, and leaves x and dy for W's.
struct StepAddmm : torch::autograd::Function<StepAddmm> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& input, const torch::Tensor& x, const torch::Tensor& weight,
                               const c10::intrusive_ptr<ProductRecord>& record) {
    save_record(*ctx, record).saved_data["input_sizes"] = input.sizes();
    ctx->saved_data["input_dtype"] = static_cast<int64_t>(input.scalar_type());
    ctx->save_for_backward({x, weight});
    return torch::addmm(input, x, weight);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    // Under autocast the product ran in bf16/fp16 and so does its gradient; the gradients are
    // formed in the precision of what they are gradients of (fp32 weights and inputs).
    const auto grad = grads[0].to(saved[1].scalar_type());
    torch::Tensor dinput, dx;
    if (ctx->needs_input_grad(0))  // a broadcast bias sums
      dinput = at::sum_to(grad, ctx->saved_data["input_sizes"].toIntVector()).to(static_cast<at::ScalarType>(ctx->saved_data["input_dtype"].toInt()));
    if (ctx->needs_input_grad(1)) dx = grad.mm(saved[1].t()).to(saved[0].scalar_type());
    auto& record = saved_record<ProductRecord>(*ctx);
    record.inputs.push_back(saved[0].to(grad.scalar_type()));  // W's gradient in W's precision
    record.output_grads.push_back(grad);
    return {dinput, dx, torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor gather_step_gradients(const torch::Tensor& tensor, const c10::intrusive_ptr<StepRecord>& record) {
  return GatherStepGradients::apply(tensor, record);
}

StepProduct::StepProduct(const torch::Tensor& weight) : weight_(weight) {
  if (gathers_step_gradients(weight)) {
    record_ = c10::make_intrusive<ProductRecord>();
    record_->transposed = weight.dim() == 2 && weight.stride(0) == 1 && weight.stride(1) != 1;
    weight_ = gather_step_gradients(weight, record_);
  }
}

torch::Tensor StepProduct::addmm(const torch::Tensor& input, const torch::Tensor& x) const {
  if (!record_ || !torch::GradMode::is_enabled()) return torch::addmm(input, x, weight_);
  return StepAddmm::apply(input, x, weight_, record_);
}

}  // namespace zoo::nn
