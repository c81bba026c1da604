// Self-supervised image representations without labels: BYOL (Grill et al. 2020, "Bootstrap Your
// Own Latent") and DINO (Caron et al. 2021, "Emerging Properties in Self-Supervised Vision
// Transformers"). Both train an online (student) network to match a target (teacher) network
// that is an exponential moving average of it, on different augmented views of one image:
//
//   BYOL:  q = g(z) = predictor(projector(f(v))),  z' = projector'(f'(v')),
//          L = || q/||q|| - z'/||z'|| ||^2 = 2 - 2 cos(q, z'),  symmetrised over (v, v') and (v', v)
//   DINO:  P_t(x) = softmax((g'(x) - c) / tau_t),  P_s(x) = softmax(g(x) / tau_s),
//          L = sum over global x, other crops x' != x of  -P_t(x) . log P_s(x')   (averaged)
//          c <- m c + (1 - m) mean over the batch of g'(x)      (the centre)
//   both:  theta' <- lambda theta' + (1 - lambda) theta,
//          lambda = 1 - (1 - lambda_0) (cos(pi k / K) + 1) / 2   (k of K steps: 0.996 -> 1)
//
// The backbone f is any zoo image classifier without its head (ImageClassifierImpl::embed), so
// its weights carry over to `--task classify` (a linear probe or fine-tuning) under its own names.
#pragma once
#include <torch/torch.h>

#include "lib/core/option_schema.h"
#include "lib/core/registry.h"
#include "models/vision/classifier.h"

namespace zoo::models {

struct SslConfig {
  std::string method = "byol";
  // BYOL's projector and predictor: Linear(D, hidden) BN ReLU Linear(hidden, dim).
  int64_t projector_hidden = 4096, projector_dim = 256;
  // DINO's head: 3-layer MLP (GELU) to a bottleneck, L2-normalised, then a weight-normalised
  // Linear(bottleneck, out_dim) without bias.
  int64_t head_hidden = 2048, head_bottleneck = 256, out_dim = 65536;
  bool norm_last_layer = true;  // the last layer's weight_g fixed at 1
  int64_t freeze_last_layer = 1;  // epochs in which the last layer does not train
  double student_temp = 0.1, teacher_temp = 0.04, warmup_teacher_temp = 0.04;
  double warmup_teacher_temp_epochs = 0;
  double center_momentum = 0.9;
  // Both: the EMA's momentum at the first step, rising to 1 on a cosine.
  double momentum = 0.996;
  // The views (data/ssl_augment.h): DINO's local crops and their side (0: 3/7 of input_size
  // rounded up to a multiple of 8, DINO's 96 px of 224).
  int64_t local_crops = 0, local_crop_size = 0;
  // k-NN evaluation (DINO's): neighbours weighted by exp(s / knn_temperature).
  double knn_temperature = 0.07;
  static const OptionSchema<SslConfig>& options();
};

inline const OptionSchema<SslConfig>& SslConfig::options() {
  static const auto schema =
      OptionSchema<SslConfig>("self-supervised (BYOL, DINO)")
          .option("method", &SslConfig::method, one_of({"byol", "dino"}), "byol: online network + predictor regress the EMA target's projection; "
                                                                           "dino: self-distillation from the EMA teacher over multi-crop views")
          .option("projector_hidden", &SslConfig::projector_hidden, at_least(1), "BYOL: hidden width of the projector and predictor MLPs")
          .option("projector_dim", &SslConfig::projector_dim, at_least(1), "BYOL: the projection's width")
          .option("head_hidden", &SslConfig::head_hidden, at_least(1), "DINO: hidden width of the head's 3-layer MLP")
          .option("head_bottleneck", &SslConfig::head_bottleneck, at_least(1), "DINO: the L2-normalised bottleneck's width")
          .option("out_dim", &SslConfig::out_dim, at_least(2), "DINO: K, the outputs of the head's weight-normalised last layer")
          .option("norm_last_layer", &SslConfig::norm_last_layer, "DINO: fix the last layer's weight norm g at 1")
          .option("freeze_last_layer", &SslConfig::freeze_last_layer, at_least(0), "DINO: epochs in which the head's last layer is frozen")
          .option("student_temp", &SslConfig::student_temp, positive(), "DINO: tau_s of the student's softmax")
          .option("teacher_temp", &SslConfig::teacher_temp, positive(), "DINO: tau_t of the teacher's softmax after the warm-up")
          .option("warmup_teacher_temp", &SslConfig::warmup_teacher_temp, positive(), "DINO: tau_t at the first step, rising linearly")
          .option("warmup_teacher_temp_epochs", &SslConfig::warmup_teacher_temp_epochs, at_least(0), "DINO: epochs of the tau_t warm-up")
          .option("center_momentum", &SslConfig::center_momentum, probability(), "DINO: m of the centre's moving average")
          .option("momentum", &SslConfig::momentum, probability(), "the EMA's momentum at the first step, rising to 1 on a cosine")
          .option("local_crops", &SslConfig::local_crops, at_least(0), "DINO: small crops the student sees beside the two global ones")
          .option("local_crop_size", &SslConfig::local_crop_size, at_least(0), "DINO: their side; 0: 3/7 of input_size, up to a multiple of 8")
          .option("knn_temperature", &SslConfig::knn_temperature, positive(), "k-NN evaluation: neighbours weigh exp(similarity / T)")
          .rule([](const SslConfig& c) {
            if (c.method == "byol" && c.local_crops > 0) throw UsageError("local_crops=" + std::to_string(c.local_crops) + " is DINO's: set method=dino");
          });
  return schema;
}

// BYOL's projector and predictor (and their layout's names): 0 Linear(in, hidden), 1 BatchNorm1d,
// 2 ReLU, 3 Linear(hidden, out). (B, in) -> (B, out).
class ByolMlpImpl : public torch::nn::Module {
 public:
  ByolMlpImpl(int64_t in, int64_t hidden, int64_t out);
  torch::Tensor forward(const torch::Tensor& x) { return net->forward(x); }
  torch::nn::Sequential net{nullptr};
};
TORCH_MODULE(ByolMlp);

// DINO's weight-normalised last layer, W = g v / ||v|| per output row (torch.nn.utils.weight_norm's
// weight_g (K, 1) and weight_v (K, bottleneck)); no bias. (B, bottleneck) -> (B, K).
class WeightNormLinearImpl : public torch::nn::Module {
 public:
  WeightNormLinearImpl(int64_t in, int64_t out);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight_g, weight_v;
};
TORCH_MODULE(WeightNormLinear);

// DINO's head: mlp = Linear GELU Linear GELU Linear to the bottleneck, x / ||x||, last_layer.
class DinoHeadImpl : public torch::nn::Module {
 public:
  DinoHeadImpl(int64_t in, const SslConfig& config);
  // (B, in) -> (B, K); bottleneck, when given, receives the normalised (B, bottleneck).
  torch::Tensor forward(const torch::Tensor& x, torch::Tensor* bottleneck = nullptr);
  torch::nn::Sequential mlp{nullptr};
  WeightNormLinear last_layer{nullptr};
};
TORCH_MODULE(DinoHead);

// One side of the pair: the backbone, its projection (BYOL: "projector", DINO: "head") and, on
// BYOL's online side only, the predictor.
class SslNetworkImpl : public torch::nn::Module {
 public:
  SslNetworkImpl(std::shared_ptr<ImageClassifierImpl> backbone, const SslConfig& config, bool with_predictor);
  // Views of one resolution (B, 3, S, S) -> the projection (B, P) (DINO: the K logits), and the
  // L2-normalised representation the collapse watch measures (BYOL: the projection; DINO: the
  // head's bottleneck) in `watched`.
  torch::Tensor project(const torch::Tensor& views, torch::Tensor* watched = nullptr) { return project_embedding(backbone->embed(views), watched); }
  // The same from the backbone's embeddings (B, D), for a caller that has them already.
  torch::Tensor project_embedding(const torch::Tensor& embeddings, torch::Tensor* watched = nullptr);
  std::shared_ptr<ImageClassifierImpl> backbone;
  ByolMlp projector{nullptr}, predictor{nullptr};
  DinoHead head{nullptr};
};
TORCH_MODULE(SslNetwork);

// What one training step returns: the loss, and the collapse watch's std of the normalised
// representation (0 when collapsed, about 1/sqrt(dim) when spread out).
struct SslLoss {
  torch::Tensor loss;
  double embedding_std = 0;
};

class SslModelImpl : public torch::nn::Module {
 public:
  // `backbone` and `target_backbone` are two builds of the same classifier (the target's with
  // dropout and drop-path off, as DINO's teacher); their heads are dropped here.
  SslModelImpl(std::shared_ptr<ImageClassifierImpl> backbone, std::shared_ptr<ImageClassifierImpl> target_backbone, const SslConfig& config);

  // One step's loss over the views of a batch: views[0], views[1] the two global views
  // (B, 3, S, S), then DINO's local crops (B, 3, s, s).
  SslLoss loss(const std::vector<torch::Tensor>& views);
  // theta' <- lambda theta' + (1 - lambda) theta over every parameter and floating-point buffer
  // (BatchNorm's running statistics); integer buffers copied.
  void update_target(double lambda);
  // The schedules at step k of K (epoch = k / steps per epoch): the EMA's lambda, DINO's tau_t.
  double momentum_at(int64_t step, int64_t total_steps) const;
  double teacher_temp_at(double epoch) const;
  void set_teacher_temp(double temp) { teacher_temp_ = temp; }

  // The network whose backbone is evaluated and exported: BYOL's online network (the paper's),
  // DINO's teacher (DINO's: it is the better one).
  SslNetworkImpl& eval_network() { return config_.method == "dino" ? *target : *online; }
  // The head's last layer, frozen for freeze_last_layer epochs (DINO); empty for BYOL.
  std::vector<torch::Tensor> last_layer_parameters() const;
  const SslConfig& config() const { return config_; }

  SslNetwork online{nullptr}, target{nullptr};  // registered as online/target (BYOL), student/teacher (DINO)
  torch::Tensor center;  // DINO: (1, K)

 private:
  SslConfig config_;
  double teacher_temp_;
};
TORCH_MODULE(SslModel);

// BYOL's loss of one pair, 2 - 2 cos(q, z'), averaged over the batch: (B, P), (B, P) -> ().
torch::Tensor byol_pair_loss(const torch::Tensor& prediction, const torch::Tensor& target);
// DINO's loss: student logits per crop (each (B, K)), teacher logits of the global crops (each
// (B, K)), the centre (1, K) and temperatures; every (teacher crop, other student crop) pair, averaged.
torch::Tensor dino_loss(const std::vector<torch::Tensor>& student, const std::vector<torch::Tensor>& teacher, const torch::Tensor& center,
                        double student_temp, double teacher_temp);
// c <- m c + (1 - m) mean over rows of the teacher logits (each (B, K)).
torch::Tensor updated_center(const torch::Tensor& center, const std::vector<torch::Tensor>& teacher, double momentum);
// The standard deviation over the batch of L2-normalised rows, averaged over dimensions: (B, D) -> ().
double normalised_std(const torch::Tensor& rows);

// Where the evaluated backbone's tensors sit in a checkpoint of `method` (eval_network's): BYOL's
// online network, DINO's teacher.
inline std::string ssl_backbone_prefix(const std::string& method) { return method == "dino" ? "teacher.backbone." : "online.backbone."; }

// The registry's wrapper: --task ssl takes any classify model as the backbone.
ModelWrapper ssl_wrapper();

}  // namespace zoo::models
