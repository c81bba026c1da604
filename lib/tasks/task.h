// The seam between the one trainer and everything task-specific. The trainer asks a task for
// batches, for a loss on a batch and for metrics on a split; it knows nothing of images or words
// (the LightningModule / fairseq-task split).
#pragma once
#include <torch/script.h>
#include <torch/torch.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lib/core/checkpoint.h"
#include "lib/core/options.h"

namespace zoo {

// One collated batch: the task decides what each tensor means; `size` counts examples.
struct Batch {
  std::vector<torch::Tensor> tensors;
  int64_t size = 0;
  std::vector<int64_t> ids;  // the training examples it holds (Task::describe_sample names them)
};

class BatchStream {
 public:
  virtual ~BatchStream() = default;
  virtual std::optional<Batch> next() = 0;  // nullopt at the end of the epoch
};

class Task {
 public:
  virtual ~Task() = default;
  virtual std::string name() const = 0;

  // --- building ---
  // For `train`: reads --data and the options in `config`, builds the model named in it.
  virtual void setup_training(const Options& config, torch::Device device) = 0;
  // For every other command: rebuilds what a checkpoint's (or export's) meta describes. With
  // build_model false (predict --torchscript) only the data side (classes, preprocessing) is set.
  virtual void setup_from_meta(const Json& meta, torch::Device device, bool build_model = true) = 0;
  // Batch size and loader threads for evaluation and prediction outside training.
  virtual void set_loader(int64_t batch_size, int workers) = 0;
  // Options of eval and predict beyond the loader (beam size, ...), before evaluate/predict.
  virtual void set_inference_options(const Options& options) {}
  // Runs inference through an exported TorchScript module instead of the C++ model.
  virtual void use_torchscript(torch::jit::Module module) = 0;

  virtual std::shared_ptr<torch::nn::Module> model() const = 0;
  // The self-describing part of a checkpoint: task, model name and options, classes or
  // vocabulary, preprocessing, data; everything another command needs besides the weights.
  virtual Json meta() const = 0;
  // Parameter-name prefixes of the output head, which --init may skip when shapes differ.
  virtual std::vector<std::string> head_prefixes() const { return {}; }
  // Fits weights made for another configuration of the model (--init, import) before loading
  // them: a ViT's position embeddings for another image size. Default: as they are.
  virtual void adapt_weights(NamedTensors& tensors) const {}

  // --- training ---
  virtual int64_t batches_per_epoch() const = 0;
  virtual int64_t examples_per_epoch() const = 0;
  // The batches of `epoch` starting at `first_batch` (for --resume mid-epoch); the order
  // depends only on the seed and the epoch.
  virtual std::unique_ptr<BatchStream> train_batches(int64_t epoch, int64_t first_batch) = 0;
  // The training loss of one batch, with the model in train mode.
  virtual torch::Tensor loss(const Batch& batch) = 0;
  // What the task carries from one batch to the next (a recurrent language model's hidden state
  // under truncated BPTT): saved in last.ckpt and handed back on --resume, so a resumed run
  // continues exactly. Most tasks carry nothing.
  virtual std::map<std::string, torch::Tensor> training_state() const { return {}; }
  virtual void restore_training_state(const std::map<std::string, torch::Tensor>& state) {}
  // Lines for the training log that the data side gathered since the last call (with
  // --bad-samples skip: the samples it left out).
  virtual std::vector<std::string> take_notices() { return {}; }
  // Where training example `id` (a Batch::ids entry) came from, for messages: a file, FILE:LINE.
  virtual std::string describe_sample(int64_t id) const { return "example " + std::to_string(id); }
  // Metrics on a split ("val", "train", "test"), with the model in eval mode: a JSON object
  // with "examples" and "metrics". `data` overrides the data the model was trained on.
  virtual Json evaluate(const std::string& split, const std::string& data = "") = 0;
  virtual std::string main_metric() const = 0;
  virtual bool higher_is_better() const { return true; }

  // --- using ---
  virtual Json predict(const std::vector<std::string>& inputs, const Options& options) = 0;
  virtual void export_torchscript(const std::string& path) = 0;
  // Writes out_png (and, for some models, more PNGs beside it); returns every path written.
  virtual std::vector<std::string> visualize(const std::string& input, const std::string& out_png) {
    throw_not_available("visualize");
  }

 protected:
  [[noreturn]] void throw_not_available(const std::string& command) const;
};

}  // namespace zoo
