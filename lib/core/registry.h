// Models registered by name (the tasks are listed in lib/tasks/builtin.h). Families register explicitly, once (lib/tasks/builtin.cpp
// lists them), never through static initialisers a linker may drop.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "lib/core/option_schema.h"
#include "lib/core/options.h"

namespace zoo {

// The training recipe a model trains with unless flags say otherwise (timm's and torchvision's
// reference scripts, nanoGPT's): values of `zoo train`'s options by their keys ("opt", "lr",
// "weight_decay", "momentum", "sched", "warmup_fraction", "min_lr", "clip_grad"). Every flag given
// overrides its value; another --opt than the recipe's also drops its lr, weight_decay and
// momentum (those belong to its optimizer). Shown by `zoo models`, recorded in config.json.
using Recipe = Json;

struct ModelSpec {
  std::string name;         // torchvision / timm name: "resnet18", "vgg16_bn"
  std::string task;         // "classify", ...
  std::string family;       // folder under models/: "vision", ...
  std::string description;  // one line
  OptionSet options;        // what --set may change: each option's type, range, help and this model's default
  int64_t params = 0;       // parameter count at the defaults (verified by tests/unit/test_models.cpp)
  // Builds the model from a complete, checked set of options (OptionSet::resolve's).
  std::function<std::shared_ptr<torch::nn::Module>(const Json&)> create;
  Recipe recipe = Json::object();

  Json defaults() const { return options.defaults(); }
};

// A task whose models wrap another task's: ssl trains any classifier as its backbone. Its models
// are the wrapped task's, under their names (--task ssl --model resnet18_cifar), and take their
// options and the wrapper's.
struct ModelWrapper {
  std::string task;          // "ssl"
  std::string wrapped_task;  // "classify"
  std::string family;        // folder under models/: "ssl"
  std::string description;   // one line
  OptionSet options;         // the wrapper's own options (method, heads, schedules)
  Recipe recipe = Json::object();  // replaces the wrapped model's
  // Builds the wrapper around `wrapped` from the complete options (wrapped's and the wrapper's).
  std::function<std::shared_ptr<torch::nn::Module>(const ModelSpec& wrapped, const Json& options)> create;
};

class Registry {
 public:
  void add_model(ModelSpec spec);
  void add_wrapper(ModelWrapper wrapper);
  // The wrapper that makes models for `task`, or null.
  const ModelWrapper* wrapper(const std::string& task) const;
  const std::vector<ModelWrapper>& wrappers() const { return wrappers_; }

  // Throw UsageError naming the unknown name and listing what exists.
  const ModelSpec& model(const std::string& name) const;

  std::vector<const ModelSpec*> models(const std::string& task = "") const;

  // The options of the model config["model"] for `task`: its defaults with config["set"]'s
  // key=value assignments applied, every value and rule checked. UsageError for an unknown
  // model, key or value, a broken rule, or another task's model.
  Json model_options(const Options& config, const std::string& task) const;
  // Builds a model from its options: its defaults overridden by `options` (a checkpoint's, or
  // model_options' after the task fitted them to the data), checked again. For a wrapper's
  // task (task differs from the model's), the wrapper around it.
  std::shared_ptr<torch::nn::Module> create_model(const std::string& name, const Json& options, const std::string& task = "") const;
  // The options model `name` takes in `task`: its own, and a wrapper's after them. UsageError
  // when `task` can train neither it nor a wrapper around it.
  OptionSet options_in(const std::string& name, const std::string& task) const;
  // The training recipe of `name` in `task`: a wrapper's when `task` wraps the model's task,
  // else the model's own (also when `task` cannot train it: options_in says so).
  Recipe recipe(const std::string& name, const std::string& task = "") const;

 private:
  std::vector<ModelSpec> models_;
  std::vector<ModelWrapper> wrappers_;
};

int64_t count_parameters(const torch::nn::Module& module);

}  // namespace zoo
