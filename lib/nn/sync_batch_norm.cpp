#include "lib/nn/sync_batch_norm.h"

#include "lib/core/error.h"

namespace zoo::nn {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The dimensions statistics are taken over: all but the channel's (1).
std::vector<int64_t> reduced_dims(const torch::Tensor& x) {
  std::vector<int64_t> dims{0};
  for (int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
  return dims;
}

// (C) -> (1, C, 1, ...) to broadcast against x.
torch::Tensor per_channel(const torch::Tensor& v, const torch::Tensor& x) {
  std::vector<int64_t> shape(static_cast<size_t>(x.dim()), 1);
  shape[1] = v.size(0);
  return v.view(shape);
}

struct SyncBatchNormFunction : public torch::autograd::Function<SyncBatchNormFunction> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& input, const torch::Tensor& weight, const torch::Tensor& bias,
                               torch::Tensor running_mean, torch::Tensor running_var, double momentum, double eps, Collectives* group) {
    const auto x = input.to(torch::kFloat32);
    const auto dims = reduced_dims(x);
    const int64_t channels = x.size(1);
    const double local_count = static_cast<double>(x.numel() / channels);
    // Two passes over every rank's values, summed in double as ATen's BatchNorm sums one batch:
    // the mean from [sum x, n], then the variance from sum (x - mu)^2.
    std::vector<torch::Tensor> first{torch::cat({x.sum(dims, false, torch::kFloat64), torch::full({1}, local_count, x.options().dtype(torch::kFloat64))})
                                         .to(torch::kCPU)};
    group->all_reduce_sum(first);
    const double count = first[0][channels].item<double>();
    auto mean = first[0].narrow(0, 0, channels) / count;  // (C), double
    auto mean_f = mean.to(x.options());
    auto centered = x - per_channel(mean_f, x);
    std::vector<torch::Tensor> second{(centered * centered).sum(dims, false, torch::kFloat64).to(torch::kCPU)};
    group->all_reduce_sum(second);
    auto var = second[0] / count;
    {
      torch::NoGradGuard no_grad;
      // The running variance is the unbiased one, as BatchNorm keeps it.
      running_mean.mul_(1 - momentum).add_(mean.to(running_mean.options()), momentum);
      running_var.mul_(1 - momentum).add_((var * (count / std::max(1.0, count - 1))).to(running_var.options()), momentum);
    }
    auto invstd = torch::rsqrt(var + eps).to(x.options());
    auto x_hat = centered * per_channel(invstd, x);
    auto y = weight.defined() ? x_hat * per_channel(weight, x) + per_channel(bias, x) : x_hat;
    ctx->save_for_backward({x_hat, invstd, weight});
    ctx->saved_data["count"] = count;
    ctx->saved_data["group"] = reinterpret_cast<int64_t>(group);
    ctx->saved_data["dtype"] = static_cast<int64_t>(input.scalar_type());
    return y.to(input.scalar_type());
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const auto& x_hat = saved[0];
    const auto& invstd = saved[1];
    const auto& weight = saved[2];
    auto* group = reinterpret_cast<Collectives*>(ctx->saved_data["group"].toInt());
    const double count = ctx->saved_data["count"].toDouble();
    const auto dtype = static_cast<at::ScalarType>(ctx->saved_data["dtype"].toInt());
    const auto dy = grad_outputs[0].to(torch::kFloat32);
    const auto dims = reduced_dims(dy);
    const int64_t channels = dy.size(1);
    // This rank's sums give gamma's and beta's gradients (the data-parallel average adds them up);
    // their totals over ranks give the input's.
    auto sum_dy = dy.sum(dims, false, torch::kFloat64), sum_dy_xhat = (dy * x_hat).sum(dims, false, torch::kFloat64);
    std::vector<torch::Tensor> reduced{torch::cat({sum_dy, sum_dy_xhat}).to(torch::kCPU)};
    group->all_reduce_sum(reduced);
    auto mean_dy = (reduced[0].narrow(0, 0, channels) / count).to(dy.options());
    auto mean_dy_xhat = (reduced[0].narrow(0, channels, channels) / count).to(dy.options());
    // dx = gamma invstd (dy - mean(dy) - x_hat mean(dy x_hat)), the means over all N values
    auto scale = weight.defined() ? invstd * weight : invstd;
    auto dx = per_channel(scale, dy) * (dy - per_channel(mean_dy, dy) - x_hat * per_channel(mean_dy_xhat, dy));
    torch::Tensor d_weight, d_bias;
    if (weight.defined()) d_weight = sum_dy_xhat.to(dy.options()), d_bias = sum_dy.to(dy.options());
    return {dx.to(dtype), d_weight, d_bias, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor sync_batch_norm(const torch::Tensor& input, const torch::Tensor& weight, const torch::Tensor& bias, torch::Tensor running_mean,
                              torch::Tensor running_var, double momentum, double eps, Collectives& group) {
  return SyncBatchNormFunction::apply(input, weight, bias, running_mean, running_var, momentum, eps, &group);
}

BatchNorm2dImpl::BatchNorm2dImpl(const torch::nn::BatchNormOptions& options_, bool frozen) : options(options_), frozen_(frozen) { reset(); }

void BatchNorm2dImpl::reset() {
  if (frozen_) {
    // FrozenBatchNorm2d's state: four buffers, in its order.
    weight = register_buffer("weight", torch::ones({options.num_features()}));
    bias = register_buffer("bias", torch::zeros({options.num_features()}));
    running_mean = register_buffer("running_mean", torch::zeros({options.num_features()}));
    running_var = register_buffer("running_var", torch::ones({options.num_features()}));
    return;
  }
  if (options.affine()) {
    weight = register_parameter("weight", torch::empty({options.num_features()}));
    bias = register_parameter("bias", torch::empty({options.num_features()}));
  }
  if (options.track_running_stats()) {
    running_mean = register_buffer("running_mean", torch::zeros({options.num_features()}));
    running_var = register_buffer("running_var", torch::ones({options.num_features()}));
    num_batches_tracked = register_buffer("num_batches_tracked", torch::tensor(0, torch::kLong));
  }
  reset_parameters();
}

void BatchNorm2dImpl::reset_parameters() {
  torch::NoGradGuard no_grad;
  if (frozen_) {
    weight.fill_(1), bias.zero_(), running_mean.zero_(), running_var.fill_(1);
    return;
  }
  if (options.track_running_stats()) running_mean.zero_(), running_var.fill_(1), num_batches_tracked.zero_();
  if (options.affine()) weight.fill_(1), bias.zero_();
}

torch::Tensor BatchNorm2dImpl::forward(const torch::Tensor& input) {
  TORCH_CHECK(input.dim() == 4, "BatchNorm2d: expected a 4-D input (N, C, H, W), got ", input.dim(), "-D");
  if (frozen_) return torch::batch_norm(input, weight, bias, running_mean, running_var, false, 0.0, options.eps(), at::globalContext().userEnabledCuDNN());
  // As torch::nn::BatchNorm2d: momentum, or a cumulative average when it is unset.
  double factor = options.momentum().value_or(0.0);
  if (is_training() && options.track_running_stats()) {
    num_batches_tracked.add_(1);
    if (!options.momentum()) factor = 1.0 / num_batches_tracked.item<double>();
  }
  if (group_ && is_training() && group_->world_size() > 1) {
    torch::Tensor mean = running_mean, var = running_var;
    if (!options.track_running_stats()) mean = torch::zeros({options.num_features()}), var = torch::ones({options.num_features()});
    return sync_batch_norm(input, weight, bias, mean, var, factor, options.eps(), *group_);
  }
  return torch::batch_norm(input, weight, bias, running_mean, running_var, is_training() || !options.track_running_stats(), factor, options.eps(),
                           at::globalContext().userEnabledCuDNN());
}

void BatchNorm2dImpl::pretty_print(std::ostream& stream) const {
  stream << "zoo::nn::BatchNorm2d(" << options.num_features() << ", eps=" << options.eps() << ", momentum=" << options.momentum().value_or(0.0)
         << ", affine=" << options.affine() << ", track_running_stats=" << options.track_running_stats() << (group_ ? ", synchronised" : "") << (frozen_ ? ", frozen" : "") << ")";
}

void convert_sync_batch_norm(torch::nn::Module& model, Collectives* group) {
  for (const auto& item : model.named_modules()) {
    const auto& name = item.key();
    const auto& module = item.value();
    if (auto* bn = dynamic_cast<BatchNorm2dImpl*>(module.get())) {
      bn->synchronise(group);
      continue;
    }
    const std::string type = module->name();
    if (type.find("BatchNorm") != std::string::npos)
      throw UsageError("--sync-bn: " + name + " is a " + type + ", which zoo cannot synchronise across processes");
  }
}

}  // namespace zoo::nn
