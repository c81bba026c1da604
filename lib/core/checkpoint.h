// Self-describing checkpoints (CLI.md, "The run folder"), written so that no reader ever sees
// half of one, and sealed so that a damaged one is recognised (docs/RELIABILITY.md).
//
// A checkpoint is a LibTorch archive (a zip file) with:
//   meta       the task's meta() plus training progress (step, epoch, batch, best metric, config)
//   weights    every parameter and buffer by its reference (torchvision) name
//   optimizer  (last.ckpt only) the optimizer's state
//   rng        (last.ckpt only) LibTorch's CPU generator state
//   rng_cudaN  (last.ckpt only) each CUDA device's generator state
//   task_state (last.ckpt only, when the task has one) what the task carries from batch to
//              batch: a recurrent language model's hidden state under truncated BPTT
// and, as the zip archive's comment, the seal of lib/core/checkpoint_file.h. Format 1 files
// (no seal) still load.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "lib/core/atomic_file.h"  // the writes save_checkpoint makes, for its callers too
#include "lib/core/checkpoint_file.h"
#include "lib/core/options.h"

namespace zoo {

using NamedTensors = std::map<std::string, torch::Tensor>;

NamedTensors state_dict(const torch::nn::Module& module);

// Copies `tensors` into `module` by name. Every parameter and buffer of the module must be
// present with the same shape, except those under `skippable_prefixes` whose shape differs
// (a new classification head), which are kept as initialised and listed in the return value.
// Tensors the module does not have are an Error naming the first, as are missing or mis-shaped
// ones; `source` names the file in messages.
std::vector<std::string> load_state_dict(torch::nn::Module& module, const NamedTensors& tensors,
                                         const std::string& source,
                                         const std::vector<std::string>& skippable_prefixes = {});

struct CheckpointContent {
  Json meta;
  NamedTensors weights;
  torch::optim::Optimizer* optimizer = nullptr;  // saved when set
  bool save_rng = false;
  NamedTensors task_state;  // saved when not empty
};

// Writes a sealed checkpoint to a temporary file beside `path`, syncs it, renames it over
// `path` and syncs the folder. A failed write (a full disk) is an Error naming `path` and leaves
// any previous file at `path` untouched.
void save_checkpoint(const std::string& path, const CheckpointContent& content);

class CheckpointReader {
 public:
  explicit CheckpointReader(const std::string& path);  // Error naming the file if unreadable
  const Json& meta() const { return meta_; }
  const NamedTensors& weights() const { return weights_; }
  const NamedTensors& task_state() const { return task_state_; }
  bool has_training_state() const { return has_optimizer_; }
  void load_optimizer(torch::optim::Optimizer& optimizer);
  void restore_rng();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  torch::serialize::InputArchive archive_;
  Json meta_;
  NamedTensors weights_, task_state_;
  bool has_optimizer_ = false;
};

}  // namespace zoo
