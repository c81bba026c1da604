#include "lib/core/registry.h"

#include "lib/core/error.h"

namespace zoo {

void Registry::add_model(ModelSpec spec) {
  for (const auto& m : models_)
    if (m.name == spec.name) throw std::logic_error("model registered twice: " + spec.name);
  models_.push_back(std::move(spec));
}

const ModelSpec& Registry::model(const std::string& name) const {
  for (const auto& m : models_)
    if (m.name == name) return m;
  std::string known;
  for (const auto& m : models_) known += (known.empty() ? "" : ", ") + m.name;
  throw UsageError("unknown model '" + name + "'; known models: " + known);
}

std::vector<const ModelSpec*> Registry::models(const std::string& task) const {
  std::vector<const ModelSpec*> out;
  for (const auto& m : models_)
    if (task.empty() || m.task == task) out.push_back(&m);
  return out;
}

void Registry::add_wrapper(ModelWrapper wrapper) {
  if (this->wrapper(wrapper.task)) throw std::logic_error("wrapper registered twice for task " + wrapper.task);
  wrappers_.push_back(std::move(wrapper));
}

const ModelWrapper* Registry::wrapper(const std::string& task) const {
  for (const auto& w : wrappers_)
    if (w.task == task) return &w;
  return nullptr;
}

OptionSet Registry::options_in(const std::string& name, const std::string& task) const {
  const ModelSpec& spec = model(name);
  if (task.empty() || spec.task == task) return spec.options;
  const ModelWrapper* w = wrapper(task);
  if (!w || w->wrapped_task != spec.task) throw UsageError("model " + name + " is for task " + spec.task + ", not " + task);
  OptionSet both = spec.options;
  return both.append(w->options);
}

Recipe Registry::recipe(const std::string& name, const std::string& task) const {
  const ModelSpec& spec = model(name);
  const ModelWrapper* w = wrapper(task);
  // Whether `task` can train the model at all is for the caller to say, after it checked the task.
  if (spec.task != task && w && w->wrapped_task == spec.task) return w->recipe;
  return spec.recipe;
}

Json Registry::model_options(const Options& config, const std::string& task) const {
  const std::string name = config.get_string("model");
  const OptionSet options = options_in(name, task);
  std::vector<std::string> assignments;  // "key=value" strings, from the command line or a config file
  if (config.has("set"))
    for (const auto& item : config.json().at("set")) assignments.push_back(item.get<std::string>());
  return options.resolve(assignments, "model " + name);
}

std::shared_ptr<torch::nn::Module> Registry::create_model(const std::string& name, const Json& options, const std::string& task) const {
  const ModelSpec& spec = model(name);
  const Json resolved = options_in(name, task).resolve({}, "model " + name, options);
  if (task.empty() || task == spec.task) return spec.create(resolved);
  return wrapper(task)->create(spec, resolved);
}

int64_t count_parameters(const torch::nn::Module& module) {
  int64_t total = 0;
  for (const auto& p : module.parameters()) total += p.numel();
  return total;
}

}  // namespace zoo
