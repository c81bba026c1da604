#include "lib/nn/attention_kernels.h"

#include "lib/core/kernels.h"
#include "lib/nn/cpu_dispatch.h"

#include <torch/csrc/jit/frontend/tracer.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>

namespace zoo::nn {
namespace {

// ---- The loops, compiled twice (lib/nn/cpu_dispatch.h) ---------------------------------------
#define ZOO_SIMD_LOOPS "lib/nn/attention_kernels_simd.inc"
#include "lib/nn/compile_twice.inc"

// The fused path: float32 on the CPU, not while tracing. The callers' tensors are made
// contiguous (a no-op for the models' own).
bool fused(std::initializer_list<torch::Tensor> tensors) {
  if (torch::jit::tracer::isTracing()) return false;
  for (const auto& t : tensors)
    if (!t.device().is_cpu() || t.scalar_type() != torch::kFloat32) return false;
  return true;
}

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// With a record, backward adds d keys into record->accumulated and returns none for the keys.
struct AdditiveEnergies : torch::autograd::Function<AdditiveEnergies> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& keys_in, const torch::Tensor& query_in, const torch::Tensor& v_in,
                               const c10::intrusive_ptr<KeysRecord>& record) {
    if (record) save_record(*ctx, record);
    auto keys = keys_in.contiguous(), query = query_in.contiguous(), v = v_in.contiguous();
    const int64_t B = keys.size(0), S = keys.size(1), A = keys.size(2);
    auto energies = torch::empty({B, S}, keys.options());
    const float *k = keys.data_ptr<float>(), *q = query.data_ptr<float>(), *w = v.data_ptr<float>();
    float* e = energies.data_ptr<float>();
    // About 16 rows of 512 make a task worth a thread.
    at::parallel_for(0, B * S, std::max<int64_t>(1, 8192 / std::max<int64_t>(A, 1)),
                     [&](int64_t begin, int64_t end) { ZOO_DISPATCH(energies_forward_rows, k, q, w, e, S, A, begin, end); });
    ctx->save_for_backward({keys, query, v});
    return energies;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    TORCH_CHECK(!torch::GradMode::is_enabled(), "additive_energies: the fused kernel has no second derivative");
    auto saved = ctx->get_saved_variables();
    const auto &keys = saved[0], &query = saved[1], &v = saved[2];
    auto grad = grads[0].contiguous();
    const int64_t B = keys.size(0), S = keys.size(1), A = keys.size(2);
    // Into the record's running sum (read, add, write), or a fresh gradient (write).
    KeysRecord* record = ctx->saved_data.count("record") ? &saved_record<KeysRecord>(*ctx) : nullptr;
    const bool accumulate = record && record->accumulated.defined();
    auto dkeys = accumulate ? record->accumulated : torch::empty_like(keys);
    auto dquery = torch::empty_like(query);
    // dv accumulates per thread, then adds up: no two threads write the same numbers.
    auto dv_parts = torch::zeros({at::get_num_threads(), A}, v.options());
    const float *k = keys.data_ptr<float>(), *q = query.data_ptr<float>(), *w = v.data_ptr<float>(), *g = grad.data_ptr<float>();
    float *dk = dkeys.data_ptr<float>(), *dq = dquery.data_ptr<float>(), *dv = dv_parts.data_ptr<float>();
    at::parallel_for(0, B, 1, [&](int64_t begin, int64_t end) {
      ZOO_DISPATCH(energies_backward_batches, k, q, w, g, dk, accumulate, dq, dv + at::get_thread_num() * A, S, A, begin, end);
    });
    if (record) {
      record->accumulated = dkeys;
      return {torch::Tensor(), dquery, dv_parts.sum(0), torch::Tensor()};
    }
    return {dkeys, dquery, dv_parts.sum(0), torch::Tensor()};
  }
};

// With a record, backward leaves the weights and dz for the values' gradient and returns none.
struct WeightedSum : torch::autograd::Function<WeightedSum> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& weights_in, const torch::Tensor& values_in,
                               const c10::intrusive_ptr<ValuesRecord>& record) {
    if (record) save_record(*ctx, record);
    auto weights = weights_in.contiguous(), values = values_in.contiguous();
    const int64_t B = values.size(0), S = values.size(1), D = values.size(2);
    auto out = torch::empty({B, D}, values.options());
    const float *w = weights.data_ptr<float>(), *x = values.data_ptr<float>();
    float* o = out.data_ptr<float>();
    // One task per image, each streaming its (S, D) values once, row after row; with fewer images
    // than threads, each image's D columns split between them.
    const int64_t splits = std::min<int64_t>((D + 255) / 256, (at::get_num_threads() + B - 1) / B);
    const int64_t block = ((D + splits - 1) / splits + 7) / 8 * 8;
    at::parallel_for(0, B * splits, 1, [&](int64_t begin, int64_t end) {
      for (int64_t task = begin; task < end; ++task) {
        const int64_t b = task / splits, d0 = (task % splits) * block;
        if (d0 < D) ZOO_DISPATCH(weighted_sum_block, w, x, o, S, D, b, d0, std::min(D, d0 + block));
      }
    });
    ctx->save_for_backward({weights, values});
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    TORCH_CHECK(!torch::GradMode::is_enabled(), "weighted_sum: the fused kernel has no second derivative");
    auto saved = ctx->get_saved_variables();
    const auto &weights = saved[0], &values = saved[1];
    auto grad = grads[0].contiguous();
    const int64_t B = values.size(0), S = values.size(1), D = values.size(2);
    torch::Tensor dweights, dvalues;
    if (ctx->needs_input_grad(0)) {
      dweights = torch::empty({B, S}, values.options());
      const float *x = values.data_ptr<float>(), *g = grad.data_ptr<float>();
      float* dw = dweights.data_ptr<float>();
      at::parallel_for(0, B * S, std::max<int64_t>(1, 16384 / std::max<int64_t>(D, 1)),
                       [&](int64_t begin, int64_t end) { ZOO_DISPATCH(weighted_sum_backward_rows, x, g, dw, S, D, begin, end); });
    }
    if (ctx->saved_data.count("record")) {
      auto& record = saved_record<ValuesRecord>(*ctx);
      record.weights.push_back(weights);
      record.output_grads.push_back(grad);
    } else if (ctx->needs_input_grad(1)) {
      // d values_bj = weights_bj dout_b: only when the encoder trains.
      dvalues = weights.unsqueeze(2) * grad.unsqueeze(1);
    }
    return {dweights, dvalues, torch::Tensor()};
  }
};

}  // namespace

torch::Tensor additive_energies(const torch::Tensor& keys, const torch::Tensor& query, const torch::Tensor& v) {
  TORCH_CHECK(keys.dim() == 3 && query.dim() == 2 && v.dim() == 1 && query.size(0) == keys.size(0) && query.size(1) == keys.size(2) &&
                  v.size(0) == keys.size(2),
              "additive_energies: expected keys (B, S, A), query (B, A) and v (A), got ", keys.sizes(), ", ", query.sizes(), ", ", v.sizes());
  if (!fused({keys, query, v})) return torch::tanh(keys + query.unsqueeze(1)).matmul(v);
  return AdditiveEnergies::apply(keys, query, v, c10::intrusive_ptr<KeysRecord>());
}

torch::Tensor KeysRecord::take_gradient() { return std::exchange(accumulated, torch::Tensor()); }

StepKeys::StepKeys(const torch::Tensor& keys, bool gather) : keys_(keys) {
  if (gather && gathers_step_gradients(keys) && fused({keys})) {
    record_ = c10::make_intrusive<KeysRecord>();
    keys_ = gather_step_gradients(keys.contiguous(), record_);
  }
}

torch::Tensor StepKeys::energies(const torch::Tensor& query, const torch::Tensor& v) const {
  if (!record_ || !torch::GradMode::is_enabled() || !fused({query, v})) return additive_energies(keys_, query, v);
  return AdditiveEnergies::apply(keys_, query, v, record_);
}

torch::Tensor weighted_sum(const torch::Tensor& weights, const torch::Tensor& values) {
  TORCH_CHECK(weights.dim() == 2 && values.dim() == 3 && weights.size(0) == values.size(0) && weights.size(1) == values.size(1),
              "weighted_sum: expected weights (B, S) and values (B, S, D), got ", weights.sizes(), ", ", values.sizes());
  if (!fused({weights, values})) return torch::bmm(weights.unsqueeze(1), values).squeeze(1);
  return WeightedSum::apply(weights, values, c10::intrusive_ptr<ValuesRecord>());
}

torch::Tensor ValuesRecord::take_gradient() {
  torch::Tensor grad;
  // d values = sum_t a_t^T dz_t: (B, S, T) x (B, T, D)
  if (!weights.empty()) grad = torch::bmm(torch::stack(weights, 2), torch::stack(output_grads, 1));
  weights.clear(), output_grads.clear();
  return grad;
}

StepValues::StepValues(const torch::Tensor& values, bool gather) : values_(values) {
  if (gather && gathers_step_gradients(values) && fused({values})) {
    record_ = c10::make_intrusive<ValuesRecord>();
    values_ = gather_step_gradients(values.contiguous(), record_);
  }
}

torch::Tensor StepValues::weighted_sum(const torch::Tensor& weights) const {
  if (!record_ || !torch::GradMode::is_enabled() || !fused({weights})) return nn::weighted_sum(weights, values_);
  TORCH_CHECK(weights.dim() == 2 && weights.size(0) == values_.size(0) && weights.size(1) == values_.size(1),
              "weighted_sum: expected weights (B, S) for values ", values_.sizes(), ", got ", weights.sizes());
  return WeightedSum::apply(weights, values_, record_);
}

}  // namespace zoo::nn
