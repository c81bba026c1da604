#include "lib/nn/lstm_sequence.h"

#include "lib/core/kernels.h"
#include "lib/nn/cpu_dispatch.h"

#include <torch/csrc/jit/frontend/tracer.h>

#include <cmath>
#include <cstring>

namespace zoo::nn {
namespace {

// ---- The loops, compiled twice (lib/nn/cpu_dispatch.h) ---------------------------------------
#define ZOO_SIMD_LOOPS "lib/nn/lstm_sequence_simd.inc"
#include "lib/nn/compile_twice.inc"

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// About 4 K gate values a task: a step's loop is short (B x H), so a few tasks of whole rows.
int64_t lstm_rows_per_task(int64_t H) { return std::max<int64_t>(1, 4096 / std::max<int64_t>(H, 1)); }

struct LstmSequenceFunction : torch::autograd::Function<LstmSequenceFunction> {
  // Returns output (B, T, H), h_T and c_T (B, H).
  // keep: whether a graph is being built (what backward needs is kept only then).
  static variable_list forward(AutogradContext* ctx, const torch::Tensor& projected_in, const torch::Tensor& h0_in,
                               const torch::Tensor& c0_in, const torch::Tensor& w_hh, const torch::Tensor& b_hh, bool keep) {
    const auto projected = projected_in.contiguous();
    const auto h0 = h0_in.contiguous(), c0 = c0_in.contiguous(), bias = b_hh.contiguous();
    const int64_t B = projected.size(0), T = projected.size(1), H = projected.size(2) / 4;
    const auto options = projected.options();
    auto output = torch::empty({B, T, H}, options);
    auto gates = torch::empty({keep ? T : 1, B, 4 * H}, options);  // i, f, g, o of each step
    auto cells = torch::empty({keep ? T : 2, B, H}, options);      // c_t (two in turn when not kept)
    auto recurrent = torch::empty({B, 4 * H}, options);             // W_hh h_{t-1}
    // (H, 4H) row-major, copied once per layer: oneDNN's sgemm (lib/core/onednn_matmul.h) runs
    // these few-row products ~1.8x faster with it than with the transposed view (OpenBLAS alike).
    const auto w_hh_t = w_hh.t().contiguous();
    const float* bias_data = bias.data_ptr<float>();
    for (int64_t t = 0; t < T; ++t) {
      const auto h_prev = t == 0 ? h0 : output.select(1, t - 1);  // (B, H), rows T * H apart
      at::mm_out(recurrent, h_prev, w_hh_t);                       // (B, 4H)
      const float* c_prev = (t == 0 ? c0 : cells[keep ? t - 1 : (t - 1) % 2]).data_ptr<float>();
      float* gates_t = gates[keep ? t : 0].data_ptr<float>();
      float* c_t = cells[keep ? t : t % 2].data_ptr<float>();
      const float* p = projected.data_ptr<float>() + t * 4 * H;
      const float* r = recurrent.data_ptr<float>();
      float* h_t = output.data_ptr<float>() + t * H;
      at::parallel_for(0, B, lstm_rows_per_task(H), [&](int64_t begin, int64_t end) {
        ZOO_DISPATCH(lstm_forward_rows, p, T * 4 * H, r, bias_data, c_prev, gates_t, c_t, h_t, T * H, H, begin, end);
      });
    }
    auto h_last = output.select(1, T - 1).clone();
    auto c_last = cells[keep ? T - 1 : (T - 1) % 2].clone();
    if (keep) ctx->save_for_backward({gates, cells, output, h0, c0, w_hh});
    return {output, h_last, c_last};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    TORCH_CHECK(!torch::GradMode::is_enabled(), "lstm_sequence: the fused layer has no second derivative");
    auto saved = ctx->get_saved_variables();
    const auto &gates = saved[0], &cells = saved[1], &output = saved[2], &h0 = saved[3], &c0 = saved[4], &w_hh = saved[5];
    const int64_t B = output.size(0), T = output.size(1), H = output.size(2);
    const auto options = output.options();
    const auto grad_output = grads[0].defined() ? grads[0].contiguous() : torch::zeros({B, T, H}, options);
    // dL/dh_t from step t + 1 (from the caller's h_T at the last step), and dL/dc_t likewise.
    torch::Tensor grad_h = grads[1].defined() ? grads[1].contiguous() : torch::Tensor();
    torch::Tensor grad_c = grads[2].defined() ? grads[2].contiguous().clone() : torch::zeros({B, H}, options);
    auto grad_pre = torch::empty({B, T, 4 * H}, options);  // da_t: the projected input's gradient
    auto grad_h_prev = torch::empty({B, H}, options);
    for (int64_t t = T - 1; t >= 0; --t) {
      const float* c_prev = (t == 0 ? c0 : cells[t - 1]).data_ptr<float>();
      const float* gates_t = gates[t].data_ptr<float>();
      const float* c_t = cells[t].data_ptr<float>();
      const float* dout = grad_output.data_ptr<float>() + t * H;
      const float* dh = grad_h.defined() ? grad_h.data_ptr<float>() : nullptr;
      float* dc = grad_c.data_ptr<float>();
      float* da = grad_pre.data_ptr<float>() + t * 4 * H;
      at::parallel_for(0, B, lstm_rows_per_task(H), [&](int64_t begin, int64_t end) {
        ZOO_DISPATCH(lstm_backward_rows, gates_t, c_t, c_prev, dout, T * H, dh, dc, da, T * 4 * H, H, begin, end);
      });
      // dL/dh_{t-1} = da_t W_hh: (B, 4H) (4H, H)
      at::mm_out(grad_h_prev, grad_pre.select(1, t), w_hh);
      grad_h = grad_h_prev;
    }
    torch::Tensor grad_w_hh, grad_b_hh;
    if (ctx->needs_input_grad(3)) {
      // sum_t da_t^T h_{t-1}, one product over all B x T positions: (4H, BT) (BT, H)
      const auto h_prev = torch::cat({h0.unsqueeze(1), output.narrow(1, 0, T - 1)}, 1);  // (B, T, H)
      grad_w_hh = grad_pre.view({B * T, 4 * H}).t().mm(h_prev.view({B * T, H}));
    }
    if (ctx->needs_input_grad(4)) grad_b_hh = grad_pre.sum(std::vector<int64_t>{0, 1});
    return {grad_pre, grad_h, grad_c, grad_w_hh, grad_b_hh, torch::Tensor()};
  }
};

bool libtorch_forced() {
  static const bool forced = env_is("ZOO_LSTM", "libtorch");
  return forced;
}

}  // namespace

bool lstm_sequence_covers(const torch::Tensor& input) {
  return !libtorch_forced() && input.device().is_cpu() && input.scalar_type() == torch::kFloat && !torch::jit::tracer::isTracing();
}

LstmSequenceOutput lstm_sequence(const torch::Tensor& projected, const torch::Tensor& h0, const torch::Tensor& c0,
                                 const torch::Tensor& w_hh, const torch::Tensor& b_hh) {
  TORCH_CHECK(projected.dim() == 3 && projected.size(2) % 4 == 0 && projected.size(1) > 0, "lstm_sequence: projected input (B, T, 4H) expected");
  const int64_t B = projected.size(0), H = projected.size(2) / 4;
  TORCH_CHECK(h0.sizes() == torch::IntArrayRef({B, H}) && c0.sizes() == torch::IntArrayRef({B, H}), "lstm_sequence: state (B, H) expected");
  TORCH_CHECK(w_hh.sizes() == torch::IntArrayRef({4 * H, H}) && b_hh.sizes() == torch::IntArrayRef({4 * H}), "lstm_sequence: W_hh (4H, H) and b_hh (4H) expected");
  TORCH_CHECK(h0.scalar_type() == torch::kFloat && c0.scalar_type() == torch::kFloat && w_hh.scalar_type() == torch::kFloat &&
                  b_hh.scalar_type() == torch::kFloat,
              "lstm_sequence: float32 state and weights expected");
  // Under bf16 autocast the caller's input projection comes out in bfloat16: the layer runs in float32.
  const auto projected_float = projected.scalar_type() == torch::kFloat ? projected : projected.to(torch::kFloat);
  const bool keep = torch::GradMode::is_enabled() && (projected.requires_grad() || h0.requires_grad() || c0.requires_grad() ||
                                                      w_hh.requires_grad() || b_hh.requires_grad());
  auto out = LstmSequenceFunction::apply(projected_float, h0, c0, w_hh, b_hh, keep);
  return {out[0], out[1], out[2]};
}

}  // namespace zoo::nn
