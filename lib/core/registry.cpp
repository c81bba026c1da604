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

Json Registry::model_options(const Options& config, const std::string& task) const {
  const std::string name = config.get_string("model");
  const ModelSpec& spec = model(name);
  if (spec.task != task) throw UsageError("model " + name + " is for task " + spec.task + ", not " + task);
  std::vector<std::string> assignments;  // "key=value" strings, from the command line or a config file
  if (config.has("set"))
    for (const auto& item : config.json().at("set")) assignments.push_back(item.get<std::string>());
  return spec.options.resolve(assignments, "model " + name);
}

std::shared_ptr<torch::nn::Module> Registry::create_model(const std::string& name, const Json& options) const {
  const ModelSpec& spec = model(name);
  return spec.create(spec.options.resolve({}, "model " + name, options));
}

int64_t count_parameters(const torch::nn::Module& module) {
  int64_t total = 0;
  for (const auto& p : module.parameters()) total += p.numel();
  return total;
}

}  // namespace zoo
