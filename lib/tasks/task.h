// The seam between the one trainer and everything task-specific. The trainer asks a task for
// batches, for a loss on a batch and for metrics on a split; it knows nothing of images or words
// (the LightningModule / fairseq-task split).
#pragma once
#include <opencv2/core.hpp>
#include <torch/script.h>
#include <torch/torch.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "data/batch.h"
#include "lib/core/checkpoint.h"
#include "lib/core/distributed.h"
#include "lib/core/error.h"
#include "lib/core/options.h"

namespace zoo {

using data::Batch;
using data::BatchStream;

// Whether `data` names a built-in synthetic set (synth:NAME) rather than a path.
inline bool is_synthetic(const std::string& data) { return data.rfind("synth:", 0) == 0; }

// Parameters that train with their own learning rate, or only from a given epoch on (a
// captioner's pretrained image encoder, fine-tuned later and slower than its decoder).
struct ParameterGroup {
  std::string name;                       // for the training log
  std::vector<torch::Tensor> parameters;
  double lr = 0;                          // peak learning rate, shaped by the run's schedule; 0: the run's --lr
  int64_t first_epoch = 0;                // 0-based epoch from which it trains; before it, no gradients reach it
  double weight_decay = -1;               // < 0: the run's --weight-decay
};

// This process's part of the data in a data-parallel run, and of each step under --accum-steps
// (docs/DISTRIBUTED.md). A global batch of n examples is cut into world_size x accum_steps
// contiguous parts; rank r reads parts r*K .. r*K+K-1, one micro-batch each. Evaluation splits
// the split's examples by rank and combines the metrics' statistics over `group`.
struct DataShard {
  int64_t rank = 0, world_size = 1, accum_steps = 1;
  Collectives* group = nullptr;  // null in one process
  bool distributed() const { return world_size > 1; }
  // Positions [begin, end) of micro-batch `micro` (0 .. accum_steps-1) within a global batch of n.
  std::pair<int64_t, int64_t> micro_batch(int64_t n, int64_t micro) const {
    return shard_range(n, rank * accum_steps + micro, world_size * accum_steps);
  }
  // This rank's [begin, end) of n evaluation items.
  std::pair<int64_t, int64_t> eval_part(int64_t n) const { return shard_range(n, rank, world_size); }
};

class Task {
 public:
  virtual ~Task() = default;
  virtual std::string name() const = 0;

  // --- building ---
  // For `train`, before anything is read or written: every option this task and its model take
  // (the model's --set options, --batch-size, --val-fraction, --label-smoothing, ...);
  // UsageError naming the first bad one.
  virtual void check_options(const Options& config) const = 0;
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
  // --init's weights, with the meta of the checkpoint they come from (another task's: a
  // classifier takes a self-supervised backbone), fitted to this model. Default: adapt_weights.
  virtual void adapt_init_weights(const Json& meta, NamedTensors& tensors) const { adapt_weights(tensors); }

  // --- training ---
  // How the optimizer groups the model's parameters; every trainable parameter in exactly one
  // group. Default: one group of them all, at the run's learning rate from the first epoch.
  virtual std::vector<ParameterGroup> parameter_groups() const { return {{"model", model()->parameters()}}; }
  virtual int64_t batches_per_epoch() const = 0;
  virtual int64_t examples_per_epoch() const = 0;
  // The batches of `epoch` starting at `first_batch` (for --resume mid-epoch); the order
  // depends only on the seed and the epoch. With a shard (set_shard), the stream holds this
  // rank's accum_steps micro-batches of each global batch in turn; one may be empty (size 0).
  virtual std::unique_ptr<BatchStream> train_batches(int64_t epoch, int64_t first_batch) = 0;
  // Before setup_training's data is read: which part of every batch and evaluation this process
  // takes. Tasks that cannot split their data refuse any shard but the whole (UsageError).
  virtual void set_shard(const DataShard& shard);
  // The training loss of one batch, with the model in train mode.
  virtual torch::Tensor loss(const Batch& batch) = 0;
  // A task that runs its own backward pass (CLIP's gradient caching) returns the batch's loss
  // (detached) with its gradient, times gradient_scale, already added to the parameters' .grad;
  // nullopt (the default): the trainer calls loss() and runs backward itself.
  virtual std::optional<torch::Tensor> loss_with_backward(const Batch& batch, double gradient_scale) { return std::nullopt; }
  // Before each training step: the step about to run (0-based) of total_steps, and where it falls
  // in epochs (step / steps per epoch). Methods with schedules of their own follow it (the EMA's
  // momentum, DINO's teacher temperature). After a step's update: the EMA teacher follows.
  virtual void before_step(int64_t step, int64_t total_steps, double epoch) {}
  virtual void after_step() {}
  // How many terms loss(batch) averages over (examples, or target tokens): micro-batches and
  // ranks are weighted by it, so that their combined gradient is the whole batch's.
  virtual double loss_weight(const Batch& batch) const { return static_cast<double>(batch.size); }
  // What the task carries from one batch to the next (a recurrent language model's hidden state
  // under truncated BPTT): saved in last.ckpt and handed back on --resume, so a resumed run
  // continues exactly. Most tasks carry nothing. In a data-parallel run every rank calls it at
  // each save (it may gather over the shard's group) and rank 0 writes the result.
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
  // Token ids of `text` under the model's tokenizer (zoo data tokenize --checkpoint C); models
  // without text refuse.
  virtual std::vector<int64_t> tokenize(const std::string& text) const { throw_not_available("tokenize"); }
  // For `import`: the meta of a checkpoint holding `tensors` (a published state_dict) as `model`
  // with `options`, fitted to what the tensors imply (a head's size), with everything else the
  // task's checkpoints carry. Default: this task imports nothing.
  virtual Json import_meta(const std::string& model, Json options, const NamedTensors& tensors) const { throw_not_available("import"); }
  // For `import`, first: a published state dict in another layout of the same model renamed to
  // the task's (timm's ViT/DeiT names to torchvision's); the default keeps the names.
  virtual void rename_published(NamedTensors& tensors) const {}
  // Writes out_png (and, for some models, more PNGs beside it); returns every path written.
  virtual std::vector<std::string> visualize(const std::string& input, const std::string& out_png) {
    throw_not_available("visualize");
  }
  // What TensorBoard shows at each evaluation (the trainer asks on rank 0, after evaluate("val")):
  // the figures `zoo visualize` draws for one fixed validation example, written as visualize()
  // writes them; and the evaluation's first outputs as Markdown (translations, captions,
  // generated text). Defaults: none.
  virtual std::vector<std::string> visualize_validation_example(const std::string& out_png) { return {}; }
  virtual std::string sample_outputs() { return ""; }

 protected:
  [[noreturn]] void throw_not_available(const std::string& command) const;
  // visualize() of an RGB image held in memory (a synthetic set's, or one already read): written
  // beside out_png as the input, removed after.
  std::vector<std::string> visualize_image(const cv::Mat& rgb, const std::string& out_png);
  // visualize_validation_example of an image set (size(), image(i)) behind a pointer or an
  // optional: its first image's figures, none when it is not loaded or empty.
  template <class ImageSet>
  std::vector<std::string> visualize_first_image(const ImageSet& set, const std::string& out_png) {
    if (!set || set->size() == 0) return {};
    return visualize_image(set->image(0), out_png);
  }
};

// A Markdown table (TensorBoard's text plugin renders it); a '|' or line break in a cell is escaped.
std::string markdown_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows);

// What `zoo data synth` asks a task's synthetic data set for.
struct SynthRequest {
  std::string out;  // the folder to write
  int64_t n = 1000;  // training examples (held-out splits: a quarter, at least 64)
  int64_t image_size = 64;
  uint64_t seed = 0;
};

// A task as the registry lists it (lib/tasks/builtin.cpp).
struct TaskSpec {
  std::string name;
  std::string description;
  std::string data_format;  // the real format --data accepts
  std::string synthetic;    // its built-in synthetic set, the default --data: "synth:shapes"
  std::function<std::unique_ptr<Task>()> create;  // empty: not available yet
  // Writes the synthetic set to disk in the task's real format (`zoo data synth --kind`); returns
  // one line saying what it wrote.
  std::function<std::string(const SynthRequest&)> write_synthetic;
};

// What every task shares, written once: the model it trains (its name, its checked options, the
// module), the data path, the loader's batch size and threads, the seed, the label smoothing,
// and the meta a checkpoint stores of these. A task derives from it and adds its data, its
// model's interface and its metrics; lib/tasks/classify.cpp is the pattern.
class TaskBase : public Task {
 public:
  explicit TaskBase(std::string name) : name_(std::move(name)) {}
  std::string name() const override { return name_; }
  void check_options(const Options& config) const override;
  void set_loader(int64_t batch_size, int workers) override { batch_size_ = batch_size, workers_ = workers; }
  // Every task on TaskBase splits its data (a new one must, before it derives from TaskBase).
  void set_shard(const DataShard& shard) override;
  std::shared_ptr<torch::nn::Module> model() const override { return module_; }
  // The common meta, then the task's (read_meta), then the model (build_model); a missing or
  // mistyped key is an Error naming it.
  void setup_from_meta(const Json& meta, torch::Device device, bool build_model = true) final;

 protected:
  // The task's own part of a checkpoint's meta (classes, tokenizers, ...).
  virtual void read_meta(const Json& meta) = 0;
  // Builds the model from model_name_ and model_options_ onto device_ (build_model_as).
  virtual void build_model() = 0;
  // The first step of setup_training: check_options, then the model's options, the data path
  // (synth:NAME as given, a file path made absolute), batch size, loader threads, seed. Reads
  // no data.
  void setup_common(const Options& config, torch::Device device);
  // The head follows the data's `data_classes` unless --set num_classes says otherwise, which must
  // then agree (UsageError).
  void fit_num_classes(int64_t data_classes);
  // task, model, model_options, data: the meta every task's checkpoints carry.
  Json common_meta() const;
  // Builds model_name_ with model_options_ onto device_, as M ("an image classifier").
  template <class M>
  std::shared_ptr<M> build_model_as(const char* what) {
    auto typed = std::dynamic_pointer_cast<M>(build_module());
    if (!typed) throw Error("model " + model_name_ + " is not " + what);
    return typed;
  }
  std::string data_path() const { return data_.at("path").get<std::string>(); }
  // train_batches' stream for this shard: from global batch first_batch to the epoch's end, each
  // as this rank's accum_steps micro-batches, make(b, micro) building micro-batch `micro` of
  // global batch b (shard_.micro_batch says which of its examples) on the loader's workers.
  std::unique_ptr<BatchStream> micro_batch_stream(int64_t first_batch, std::function<Batch(int64_t b, int64_t micro)> make) const;
  // What `eval --data D` names: the training data when D is empty, synth:NAME as given, a path
  // made absolute.
  std::string data_for(const std::string& data) const;
  bool synthetic_data() const { return is_synthetic(data_path()); }
  // Whether `data` is this task's synthetic set (spec().synthetic); another synth:NAME is a
  // UsageError, a path false.
  bool own_synthetic(const std::string& data) const;

  const TaskSpec& spec() const;  // this task's entry in the registry (lib/tasks/builtin.h)

  torch::Device device_{torch::kCPU};
  std::string model_name_;
  Json model_options_;  // every model option in effect: the registry's defaults with --set applied
  Json data_;           // {"path", "val_fraction", "synth_size", "seed"} and the task's own: what --data meant
  int64_t batch_size_ = 64;
  int workers_ = 0;
  uint64_t seed_ = 0;
  double label_smoothing_ = 0;
  DataShard shard_;

 private:
  std::shared_ptr<torch::nn::Module> build_module();
  std::string name_;
  std::shared_ptr<torch::nn::Module> module_;
};

}  // namespace zoo
