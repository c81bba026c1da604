// Self-supervised representation learning (BYOL, DINO) on an image folder: labels are ignored in
// training and used to evaluate by weighted k-NN (the training tree the memory, the validation
// or test tree the queries); the backbone carries over to `--task classify` for a linear probe.
#pragma once
#include "data/datasets.h"
#include "data/image.h"
#include "data/ssl_augment.h"
#include "lib/tasks/task.h"
#include "models/ssl/ssl.h"

namespace zoo {

// Each query's vote: its k most similar memories (cosine s of L2-normalised rows, memory (N, D),
// queries (M, D)) add exp(s / T) to their class -> votes (M, classes), and the neighbours'
// similarities and memory indices (M, k), most similar first.
struct KnnVote {
  torch::Tensor votes, similarity, index;
};
KnnVote knn_vote(const torch::Tensor& memory, const torch::Tensor& memory_labels, const torch::Tensor& queries, int64_t k, double temperature,
                 int64_t classes);

// DINO's weighted k-NN (eval_knn.py): rows of memory (N, D) and queries (M, D) L2-normalised,
// each query's k most similar memories (cosine s) vote for their class with weight exp(s / T);
// the class with the most weight wins. -> the percentage of queries whose label wins.
double knn_top1(const torch::Tensor& memory, const torch::Tensor& memory_labels, const torch::Tensor& queries, const torch::Tensor& query_labels,
                int64_t k, double temperature, int64_t classes);

// DINO's thresholded attention: per row of `attention` (heads, N), the largest values that
// together hold `mass` of the row's sum (0.6 in DINO's figure) -> a 0/1 mask (heads, N).
torch::Tensor keep_mass(const torch::Tensor& attention, double mass);

class SslTask : public TaskBase {
 public:
  SslTask() : TaskBase("ssl") {}
  // The DINO centre and BatchNorm statistics would need all-reduces across ranks: one process only.
  void set_shard(const DataShard& shard) override { Task::set_shard(shard); }
  void setup_training(const Options& config, torch::Device device) override;
  void use_torchscript(torch::jit::Module module) override { scripted_ = std::move(module); }

  // Beside the common meta: the classes, the preprocessing, and backbone_prefix, the names under
  // which the evaluated backbone's weights sit (classify --init takes them from there).
  Json meta() const override;
  void adapt_weights(NamedTensors& tensors) const override;
  std::vector<ParameterGroup> parameter_groups() const override;

  int64_t batches_per_epoch() const override;
  int64_t examples_per_epoch() const override { return train_set_->size(); }
  std::string describe_sample(int64_t id) const override { return train_set_->describe(id); }
  std::vector<std::string> take_notices() override;
  void set_inference_options(const Options& options) override;
  // Each example's views (seeded by seed, epoch, index), one tensor per view, then the labels.
  std::unique_ptr<BatchStream> train_batches(int64_t epoch, int64_t first_batch) override;
  void before_step(int64_t step, int64_t total_steps, double epoch) override;
  torch::Tensor loss(const Batch& batch) override;
  void after_step() override;
  // knn_top1_k20, knn_top1_k200 and embedding_std (the collapse watch) on `split`'s images.
  Json evaluate(const std::string& split, const std::string& data = "") override;
  std::string main_metric() const override { return "knn_top1_k200"; }

  // Per image: the classes by their share of the k-NN vote (k = 20; --topk of them, "top") and the
  // five most similar training images ("neighbours": file, class, cosine similarity).
  Json predict(const std::vector<std::string>& inputs, const Options& options) override;
  // The evaluated backbone as a feature extractor: images (B, 3, S, S) -> embeddings (B, D).
  void export_torchscript(const std::string& path) override;
  // A ViT backbone: the last layer's class-token attention per head and DINO's 60%-mass masks;
  // others: what the classifier shows (ImageClassifierImpl::look).
  std::vector<std::string> visualize(const std::string& input, const std::string& out_png) override;
  std::vector<std::string> visualize_validation_example(const std::string& out_png) override;

  models::SslModelImpl& model_ref() { return *model_; }
  const data::Preprocess& preprocess() const { return preprocess_; }
  std::shared_ptr<data::ImageDataset> open_split(const std::string& data, const std::string& split) const;
  // The views the method trains on, at the model's input size.
  std::vector<data::ViewAugment> views() const;

 private:
  void read_meta(const Json& meta) override;
  void build_model() override;
  // L2-normalised embeddings (N, D) of a dataset's images under the evaluation preprocessing, and
  // their labels; with `watched`, also the collapse watch's std of the normalised projections.
  std::pair<torch::Tensor, torch::Tensor> embed_all(const data::ImageDataset& dataset, double* watched = nullptr);
  // Preprocessed images (B, 3, S, S) through the evaluated backbone (or the TorchScript file) ->
  // L2-normalised embeddings (B, D) on the CPU; `watched`, when given and the C++ model runs,
  // receives the collapse watch's projections (B, P) on the CPU from the same backbone pass.
  torch::Tensor embed_images(const torch::Tensor& images, torch::Tensor* watched = nullptr);

  data::Preprocess preprocess_;
  std::vector<std::string> classes_;
  std::shared_ptr<models::SslModelImpl> model_;
  std::optional<torch::jit::Module> scripted_;
  std::shared_ptr<data::ImageDataset> train_set_, val_set_;
  std::shared_ptr<data::BadSamples> bad_samples_ = data::bad_samples_policy("fail");
  bool channels_last_ = false;  // --channels-last: NHWC weights and views (oneDNN's preferred layout for CNNs)
  double momentum_ = 1.0;  // the EMA's lambda for the step under way
  double std_sum_ = 0;     // the training views' collapse watch since the last evaluation
  int64_t std_count_ = 0;
  std::vector<std::string> notices_;
};

}  // namespace zoo
