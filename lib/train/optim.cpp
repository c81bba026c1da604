#include "lib/train/optim.h"

#include <cmath>
#include <cstdio>

#include "lib/core/error.h"
#include "lib/train/fused_optim.h"

namespace zoo {

double default_lr(const std::string& optimizer) { return optimizer == "sgd" ? 0.1 : 1e-3; }

double default_weight_decay(const std::string& optimizer) {
  if (optimizer == "sgd") return 5e-4;
  if (optimizer == "adamw") return 0.05;
  return 0.0;
}

namespace {

void check(const OptimizerConfig& c) {
  // Written so that NaN fails them too.
  if (!(c.lr > 0) || !std::isfinite(c.lr)) throw UsageError("invalid --lr " + format_value(c.lr) + ": expected a positive number");
  if (!(c.weight_decay >= 0) || !std::isfinite(c.weight_decay))
    throw UsageError("invalid --weight-decay " + format_value(c.weight_decay) + ": expected 0 or more");
  if (!(c.momentum >= 0) || !std::isfinite(c.momentum)) throw UsageError("invalid --momentum " + format_value(c.momentum) + ": expected 0 or more");
}

}  // namespace

OptimizerConfig optimizer_config(const Options& config) {
  OptimizerConfig c;
  c.name = config.get_string("opt");
  c.lr = config.get_double("lr");
  c.momentum = config.get_double("momentum");
  c.nesterov = config.get_bool("nesterov");
  c.weight_decay = config.get_double("weight_decay");
  check(c);
  return c;
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(std::vector<torch::Tensor> params, const OptimizerConfig& c) {
  return make_optimizer(std::vector<std::vector<torch::Tensor>>{std::move(params)}, c);
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const std::vector<std::vector<torch::Tensor>>& groups, const OptimizerConfig& c) {
  check(c);
  // A group given without options takes the optimizer's defaults (cloned per group).
  std::vector<torch::optim::OptimizerParamGroup> param_groups;
  for (const auto& params : groups) param_groups.emplace_back(params);
  if (c.name == "sgd") {
    if (c.nesterov && c.momentum <= 0) throw UsageError("--nesterov needs --momentum > 0");
    return std::make_unique<FusedSGD>(
        param_groups, torch::optim::SGDOptions(c.lr).momentum(c.momentum).nesterov(c.nesterov).weight_decay(c.weight_decay));
  }
  if (c.name == "adam") return std::make_unique<FusedAdam>(param_groups, torch::optim::AdamOptions(c.lr).weight_decay(c.weight_decay));
  if (c.name == "adamw") return std::make_unique<FusedAdamW>(param_groups, torch::optim::AdamWOptions(c.lr).weight_decay(c.weight_decay));
  throw UsageError("invalid --opt '" + c.name + "': expected sgd, adam or adamw");
}

void set_weight_decay(torch::optim::OptimizerParamGroup& group, double weight_decay) {
  auto& options = group.options();
  if (auto* sgd = dynamic_cast<torch::optim::SGDOptions*>(&options)) sgd->weight_decay(weight_decay);
  else if (auto* adam = dynamic_cast<torch::optim::AdamOptions*>(&options)) adam->weight_decay(weight_decay);
  else if (auto* adamw = dynamic_cast<torch::optim::AdamWOptions*>(&options)) adamw->weight_decay(weight_decay);
  else throw Error("cannot set the weight decay of this optimizer's parameter group");
}

void set_lr(torch::optim::Optimizer& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) group.options().set_lr(lr);
}

double lr_at(const ScheduleConfig& s, int64_t step) {
  const double warmup = static_cast<double>(s.warmup_steps);
  if (s.name == "noam") {
    // lr = peak * sqrt(warmup) * min(t^-0.5, t * warmup^-1.5): linear rise to the peak at
    // t = warmup, then inverse square-root decay (Vaswani et al., 2017, normalised to --lr).
    if (s.warmup_steps <= 0) throw UsageError("--sched noam needs --warmup-steps > 0");
    const double t = static_cast<double>(step + 1);
    return s.lr * std::sqrt(warmup) * std::min(1.0 / std::sqrt(t), t * std::pow(warmup, -1.5));
  }
  double factor = 1.0;
  if (s.name == "cosine") {
    const double span = std::max(1.0, static_cast<double>(s.total_steps) - warmup);
    const double progress = std::clamp((static_cast<double>(step) - warmup) / span, 0.0, 1.0);
    const double floor = s.min_lr / s.lr;
    factor = floor + (1.0 - floor) * 0.5 * (1.0 + std::cos(M_PI * progress));
  } else if (s.name == "step") {
    if (s.decay_epochs <= 0) throw UsageError("--decay-epochs must be positive");
    const double epoch = static_cast<double>(step) / static_cast<double>(std::max<int64_t>(1, s.steps_per_epoch));
    factor = std::pow(s.decay_rate, std::floor(epoch / s.decay_epochs));
  } else if (s.name != "none") {
    throw UsageError("invalid --sched '" + s.name + "': expected none, step, cosine or noam");
  }
  if (step < s.warmup_steps) factor *= static_cast<double>(step + 1) / warmup;
  return s.lr * factor;
}

}  // namespace zoo
