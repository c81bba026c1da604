#include "lib/core/registry.h"

#include <mutex>

#include "lib/core/error.h"
#include "lib/tasks/task.h"

namespace zoo {

Registry& Registry::instance() {
  static Registry registry;
  static std::once_flag once;
  std::call_once(once, [] {
    register_tasks(registry);
    register_vision_models(registry);
    register_seq2seq_models(registry);
    register_lm_models(registry);
  });
  return registry;
}

void Registry::add_model(ModelSpec spec) {
  for (const auto& m : models_)
    if (m.name == spec.name) throw std::logic_error("model registered twice: " + spec.name);
  models_.push_back(std::move(spec));
}

void Registry::add_task(TaskSpec spec) { tasks_.push_back(std::move(spec)); }

const ModelSpec& Registry::model(const std::string& name) const {
  for (const auto& m : models_)
    if (m.name == name) return m;
  std::string known;
  for (const auto& m : models_) known += (known.empty() ? "" : ", ") + m.name;
  throw UsageError("unknown model '" + name + "'; known models: " + known);
}

const TaskSpec& Registry::task(const std::string& name) const {
  for (const auto& t : tasks_)
    if (t.name == name) return t;
  std::string known;
  for (const auto& t : tasks_) known += (known.empty() ? "" : "|") + t.name;
  throw UsageError("unknown task '" + name + "'; expected " + known);
}

std::vector<const ModelSpec*> Registry::models(const std::string& task) const {
  if (!task.empty()) this->task(task);  // validates the name
  std::vector<const ModelSpec*> out;
  for (const auto& m : models_)
    if (task.empty() || m.task == task) out.push_back(&m);
  return out;
}

std::vector<const TaskSpec*> Registry::tasks() const {
  std::vector<const TaskSpec*> out;
  for (const auto& t : tasks_) out.push_back(&t);
  return out;
}

Json Registry::model_options(const Options& config, const std::string& task) const {
  const std::string name = config.get_string("model");
  const ModelSpec& spec = model(name);
  if (spec.task != task) throw UsageError("model " + name + " is for task " + spec.task + ", not " + task);
  std::vector<std::string> assignments;  // "key=value" strings, from the command line or a config file
  if (config.has("set"))
    for (const auto& item : config.json().at("set")) assignments.push_back(item.get<std::string>());
  return apply_overrides(spec.defaults, assignments, "model " + name);
}

std::shared_ptr<torch::nn::Module> Registry::create_model(const std::string& name, const Json& options) const {
  const ModelSpec& spec = model(name);
  Json merged = spec.defaults;
  for (auto it = options.begin(); it != options.end(); ++it) {
    if (!merged.contains(it.key()))
      throw UsageError("unknown option '" + it.key() + "' for model " + name);
    merged[it.key()] = it.value();
  }
  return spec.create(Options(merged, "model option"));
}

std::unique_ptr<Task> Registry::create_task(const std::string& name) const {
  const TaskSpec& spec = task(name);
  if (!spec.create) throw UsageError("task '" + name + "' is not available yet");
  return spec.create();
}

int64_t count_parameters(const torch::nn::Module& module) {
  int64_t total = 0;
  for (const auto& p : module.parameters()) total += p.numel();
  return total;
}

}  // namespace zoo
