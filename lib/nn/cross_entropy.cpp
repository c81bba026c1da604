#include "lib/nn/cross_entropy.h"

#include "lib/core/kernels.h"
#include "lib/nn/cpu_dispatch.h"

#include <torch/csrc/jit/frontend/tracer.h>

#include <cmath>
#include <cstring>

namespace zoo::nn {
namespace {

// ---- The loops, compiled twice (lib/nn/cpu_dispatch.h) ---------------------------------------
#define ZOO_SIMD_LOOPS "lib/nn/cross_entropy_simd.inc"
#include "lib/nn/compile_twice.inc"

bool libtorch_forced() {
  static const bool forced = env_is("ZOO_CROSS_ENTROPY", "libtorch");
  return forced;
}

// LibTorch's own numbering (at::Reduction): None 0, Mean 1, Sum 2.
using Reduction = at::Reduction::Reduction;

// About 32 K scores a task: whole rows, enough work to be worth a thread.
int64_t rows_per_task(int64_t C) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(C, 1)); }

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

struct SoftmaxCrossEntropy : torch::autograd::Function<SoftmaxCrossEntropy> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& logits_in, const torch::Tensor& target_in, int64_t ignore_index,
                               double smoothing, int64_t reduction) {
    auto logits = logits_in.contiguous();
    auto target = target_in.to(torch::kLong).contiguous();
    const int64_t N = logits.size(0), C = logits.size(1);
    const int64_t* t = target.data_ptr<int64_t>();
    int64_t counted = 0;
    for (int64_t row = 0; row < N; ++row) {
      if (t[row] == ignore_index) continue;
      TORCH_CHECK(t[row] >= 0 && t[row] < C, "cross_entropy: target ", t[row], " is out of bounds for ", C, " classes");
      ++counted;
    }
    auto lse = torch::empty({N}, logits.options());
    auto row_loss = torch::empty({N}, logits.options());
    const float* x = logits.data_ptr<float>();
    float *l = lse.data_ptr<float>(), *loss = row_loss.data_ptr<float>();
    const auto eps = static_cast<float>(smoothing);
    at::parallel_for(0, N, rows_per_task(C), [&](int64_t begin, int64_t end) {
      ZOO_DISPATCH(cross_entropy_forward_rows, x, t, l, loss, C, ignore_index, eps, begin, end);
    });
    ctx->save_for_backward({logits, target, lse});
    ctx->saved_data["ignore_index"] = ignore_index;
    ctx->saved_data["smoothing"] = smoothing;
    ctx->saved_data["reduction"] = reduction;
    ctx->saved_data["counted"] = counted;
    if (static_cast<Reduction>(reduction) == Reduction::None) return row_loss;
    // The rows' sum in double, in row order: the same total whatever the thread count.
    double total = 0;
    for (int64_t row = 0; row < N; ++row) total += loss[row];
    // Mean over the rows that count: 0 / 0 = NaN when none does, as in LibTorch.
    if (static_cast<Reduction>(reduction) == Reduction::Mean) total /= static_cast<double>(counted);
    return torch::full({}, total, logits.options());
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    TORCH_CHECK(!torch::GradMode::is_enabled(), "cross_entropy: the fused kernel has no second derivative");
    auto saved = ctx->get_saved_variables();
    const auto &logits = saved[0], &target = saved[1], &lse = saved[2];
    const int64_t N = logits.size(0), C = logits.size(1);
    const auto reduction = static_cast<Reduction>(ctx->saved_data["reduction"].toInt());
    const int64_t counted = ctx->saved_data["counted"].toInt();
    // Each row's share of the upstream gradient: per row without reduction, one number with.
    auto scale = grads[0].to(torch::kFloat).contiguous();
    if (reduction == Reduction::Mean) scale = scale / static_cast<double>(counted);
    const int64_t scale_stride = reduction == Reduction::None ? 1 : 0;
    auto grad = torch::empty_like(logits);
    const float *x = logits.data_ptr<float>(), *l = lse.data_ptr<float>(), *k = scale.data_ptr<float>();
    const int64_t* t = target.data_ptr<int64_t>();
    float* g = grad.data_ptr<float>();
    const int64_t ignore_index = ctx->saved_data["ignore_index"].toInt();
    const auto eps = static_cast<float>(ctx->saved_data["smoothing"].toDouble());
    at::parallel_for(0, N, rows_per_task(C), [&](int64_t begin, int64_t end) {
      ZOO_DISPATCH(cross_entropy_backward_rows, x, t, l, k, scale_stride, g, C, ignore_index, eps, begin, end);
    });
    return {grad, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor cross_entropy(const torch::Tensor& logits, const torch::Tensor& target, const torch::nn::functional::CrossEntropyFuncOptions& options) {
  const auto type = logits.scalar_type();
  const bool covered = !libtorch_forced() && !torch::jit::tracer::isTracing() && !options.weight().defined() && logits.dim() == 2 &&
                       target.dim() == 1 && target.size(0) == logits.size(0) && logits.size(1) > 0 && logits.device().is_cpu() &&
                       target.device().is_cpu() && !target.is_floating_point() &&
                       (type == torch::kFloat || type == torch::kBFloat16 || type == torch::kHalf);
  if (!covered) return torch::nn::functional::cross_entropy(logits, target, options);
  // Half and bfloat16 scores (autocast's) are computed in float32.
  const auto scores = type == torch::kFloat ? logits : logits.to(torch::kFloat);
  return SoftmaxCrossEntropy::apply(scores, target, options.ignore_index(), options.label_smoothing(), static_cast<int64_t>(torch::enumtype::reduction_get_enum(options.reduction())));
}

}  // namespace zoo::nn
