// Models and tasks registered by name. Families register explicitly, once (std::call_once in
// ensure_registered), never through static initialisers a linker may drop.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "lib/core/options.h"

namespace zoo {

class Task;

struct ModelSpec {
  std::string name;         // torchvision / timm name: "resnet18", "vgg16_bn"
  std::string task;         // "classify", ...
  std::string family;       // folder under models/: "vision", ...
  std::string description;  // one line
  Json defaults;            // every model option with its default value (what --set may change)
  int64_t params = 0;       // parameter count at the defaults (verified by tests/unit/test_models.cpp)
  std::function<std::shared_ptr<torch::nn::Module>(const Options&)> create;
};

struct TaskSpec {
  std::string name;
  std::string description;
  std::string data_format;  // the real format --data accepts
  std::function<std::unique_ptr<Task>()> create;  // empty: not available yet
};

class Registry {
 public:
  static Registry& instance();  // with every built-in family and task registered

  void add_model(ModelSpec spec);
  void add_task(TaskSpec spec);

  // Throw UsageError naming the unknown name and listing what exists.
  const ModelSpec& model(const std::string& name) const;
  const TaskSpec& task(const std::string& name) const;

  std::vector<const ModelSpec*> models(const std::string& task = "") const;
  std::vector<const TaskSpec*> tasks() const;

  // The options of the model config["model"] for `task`: its defaults with config["set"]'s
  // key=value assignments applied. UsageError for an unknown model or key, or another task's model.
  Json model_options(const Options& config, const std::string& task) const;
  // Builds a model with its defaults overridden by `options` (already validated keys).
  std::shared_ptr<torch::nn::Module> create_model(const std::string& name, const Json& options) const;
  std::unique_ptr<Task> create_task(const std::string& name) const;

 private:
  std::vector<ModelSpec> models_;
  std::vector<TaskSpec> tasks_;
};

// One registration function per model family and one for the tasks.
void register_vision_models(Registry& registry);
void register_seq2seq_models(Registry& registry);
void register_lm_models(Registry& registry);
void register_tasks(Registry& registry);

int64_t count_parameters(const torch::nn::Module& module);

}  // namespace zoo
