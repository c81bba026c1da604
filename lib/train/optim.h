// Optimizers and learning-rate schedules, named as timm and torchvision name them.
#pragma once
#include <torch/torch.h>

#include <memory>
#include <string>

#include "lib/core/options.h"

namespace zoo {

struct OptimizerConfig {
  std::string name = "sgd";  // sgd | adam | adamw
  double lr = 0.1;
  double momentum = 0.9;     // sgd
  bool nesterov = false;     // sgd
  double weight_decay = 0.0; // L2 for sgd and adam, decoupled for adamw
};

// Default learning rate and weight decay of each optimizer when the user gives none.

double default_lr(const std::string& optimizer);
double default_weight_decay(const std::string& optimizer);

// The optimizer options of a train config (--opt, --lr, --momentum, --nesterov, --weight-decay),
// checked: a UsageError names the first bad one (NaN included).
OptimizerConfig optimizer_config(const Options& config);

std::unique_ptr<torch::optim::Optimizer> make_optimizer(std::vector<torch::Tensor> params, const OptimizerConfig& config);
// One optimizer over several parameter groups, in this order (param_groups()[i] is groups[i]),
// each with the config's options; the trainer sets each group's learning rate every step.
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const std::vector<std::vector<torch::Tensor>>& groups, const OptimizerConfig& config);
void set_lr(torch::optim::Optimizer& optimizer, double lr);
// Sets one parameter group's weight decay (SGD, Adam or AdamW options).
void set_weight_decay(torch::optim::OptimizerParamGroup& group, double weight_decay);

struct ScheduleConfig {
  std::string name = "cosine";  // none | step | cosine | noam
  double lr = 0.1;              // the peak learning rate
  int64_t warmup_steps = 0;     // linear warm-up from 0 (noam: the step of its peak)
  int64_t total_steps = 1;
  double min_lr = 0.0;          // cosine floor
  int64_t steps_per_epoch = 1;
  double decay_epochs = 30;     // step: multiply by decay_rate every decay_epochs epochs
  double decay_rate = 0.1;
};

// The learning rate of optimizer step `step` (0-based). A pure function of the step, so a
// resumed run continues the schedule exactly.
double lr_at(const ScheduleConfig& schedule, int64_t step);

}  // namespace zoo
