#include "models/vision/classifier.h"

#include "lib/core/error.h"

namespace zoo::models {

void load_classifier_trunk(torch::nn::Module& trunk, const std::string& checkpoint, const std::string& model, const std::string& option) {
  CheckpointReader reader(checkpoint);
  const Json& meta = reader.meta();
  if (meta.value("task", "") != "classify")
    throw Error(option + "=" + checkpoint + ": not a classifier checkpoint (task " + meta.value("task", "?") + ")");
  if (meta.value("model", "") != model) throw Error(option + "=" + checkpoint + " holds a " + meta.value("model", "?") + ", not the " + model + " it needs");
  NamedTensors wanted;
  const NamedTensors own = state_dict(trunk);
  for (const auto& [name, tensor] : reader.weights())
    if (own.count(name)) wanted[name] = tensor;
  load_state_dict(trunk, wanted, checkpoint);
}

void to_channels_last(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  for (auto& p : module.parameters())
    if (p.dim() == 4) p.set_data(p.contiguous(at::MemoryFormat::ChannelsLast));
}

}  // namespace zoo::models
