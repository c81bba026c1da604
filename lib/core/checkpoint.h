// Self-describing checkpoints (CLI.md, "The run folder"), written atomically.
//
// A checkpoint is a LibTorch archive with:
//   meta       the task's meta() plus training progress (step, epoch, batch, best metric, config)
//   weights    every parameter and buffer by its reference (torchvision) name
//   optimizer  (last.ckpt only) the optimizer's state
//   rng        (last.ckpt only) LibTorch's CPU generator state
//   rng_cudaN  (last.ckpt only) each CUDA device's generator state
#pragma once
#include <torch/torch.h>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

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
};

// Writes to a temporary file beside `path` and renames it over `path`.
void save_checkpoint(const std::string& path, const CheckpointContent& content);

// Why the zip archive at path (a checkpoint or TorchScript file) is damaged, or "" if its
// end-of-archive record is intact and consistent.
std::string zip_damage(const std::string& path);

class CheckpointReader {
 public:
  explicit CheckpointReader(const std::string& path);  // Error naming the file if unreadable
  const Json& meta() const { return meta_; }
  const NamedTensors& weights() const { return weights_; }
  bool has_training_state() const { return has_optimizer_; }
  void load_optimizer(torch::optim::Optimizer& optimizer);
  void restore_rng();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  torch::serialize::InputArchive archive_;
  Json meta_;
  NamedTensors weights_;
  bool has_optimizer_ = false;
};

// Runs `write` on a temporary path beside `path`, then renames it over `path`: readers see the
// old file or the new one, never half of one. Errors name `path`.
void write_atomically(const std::string& path, const std::function<void(const std::string& tmp_path)>& write);

// Writes `text` to `path` atomically.
void write_file_atomic(const std::string& path, const std::string& text);

}  // namespace zoo
