#include "models/ssl/ssl.h"

#include <cmath>

#include "data/image.h"
#include "lib/nn/init.h"

namespace zoo::models {

ByolMlpImpl::ByolMlpImpl(int64_t in, int64_t hidden, int64_t out) {
  using namespace torch::nn;
  net = register_module("net", Sequential(Linear(in, hidden), BatchNorm1d(hidden), ReLU(ReLUOptions(true)), Linear(hidden, out)));
}

WeightNormLinearImpl::WeightNormLinearImpl(int64_t in, int64_t out) {
  // nn.Linear's initialisation of v (DINO's trunc_normal(0.02) applies to its MLP only), g = 1.
  weight_v = register_parameter("weight_v", torch::empty({out, in}));
  torch::nn::init::kaiming_uniform_(weight_v, std::sqrt(5.0));
  weight_g = register_parameter("weight_g", torch::ones({out, 1}));
}

torch::Tensor WeightNormLinearImpl::forward(const torch::Tensor& x) {
  // W = g v / ||v||, the norm over each output row.
  auto weight = weight_v * (weight_g / weight_v.norm(2, {1}, /*keepdim=*/true));
  return torch::matmul(x, weight.t());
}

DinoHeadImpl::DinoHeadImpl(int64_t in, const SslConfig& c) {
  using namespace torch::nn;
  mlp = register_module("mlp", Sequential(Linear(in, c.head_hidden), GELU(), Linear(c.head_hidden, c.head_hidden), GELU(),
                                          Linear(c.head_hidden, c.head_bottleneck)));
  torch::NoGradGuard no_grad;
  for (auto& module : mlp->modules(/*include_self=*/false))
    if (auto* linear = module->as<LinearImpl>()) {
      nn::trunc_normal_(linear->weight, 0.02);
      linear->bias.zero_();
    }
  last_layer = register_module("last_layer", WeightNormLinear(c.head_bottleneck, c.out_dim));
  if (c.norm_last_layer) last_layer->weight_g.set_requires_grad(false);
}

torch::Tensor DinoHeadImpl::forward(const torch::Tensor& x, torch::Tensor* bottleneck) {
  auto z = torch::nn::functional::normalize(mlp->forward(x), torch::nn::functional::NormalizeFuncOptions().dim(-1));  // (B, bottleneck)
  if (bottleneck) *bottleneck = z;
  return last_layer(z);  // (B, K)
}

SslNetworkImpl::SslNetworkImpl(std::shared_ptr<ImageClassifierImpl> trunk, const SslConfig& c, bool with_predictor) {
  trunk->drop_head();
  backbone = register_module("backbone", std::move(trunk));
  const int64_t dim = backbone->embedding_dim();
  if (c.method == "dino") {
    head = register_module("head", DinoHead(dim, c));
    return;
  }
  projector = register_module("projector", ByolMlp(dim, c.projector_hidden, c.projector_dim));
  if (with_predictor) predictor = register_module("predictor", ByolMlp(c.projector_dim, c.projector_hidden, c.projector_dim));
}

torch::Tensor SslNetworkImpl::project_embedding(const torch::Tensor& y, torch::Tensor* watched) {
  if (head) return head(y, watched);  // (B, D) -> (B, K)
  auto z = projector(y);  // (B, P)
  if (watched) *watched = torch::nn::functional::normalize(z, torch::nn::functional::NormalizeFuncOptions().dim(-1));
  return predictor ? predictor(z) : z;
}

SslModelImpl::SslModelImpl(std::shared_ptr<ImageClassifierImpl> backbone, std::shared_ptr<ImageClassifierImpl> target_backbone, const SslConfig& c)
    : config_(c), teacher_temp_(c.warmup_teacher_temp) {
  SslConfig::options().check(c);
  const bool dino = c.method == "dino";
  online = register_module(dino ? "student" : "online", SslNetwork(std::move(backbone), c, /*with_predictor=*/!dino));
  target = register_module(dino ? "teacher" : "target", SslNetwork(std::move(target_backbone), c, /*with_predictor=*/false));
  // The target starts as a copy of the online network and never trains by gradients.
  update_target(0.0);
  for (auto& p : target->parameters()) p.set_requires_grad(false);
  if (dino) center = register_buffer("center", torch::zeros({1, c.out_dim}));
}

void SslModelImpl::update_target(double lambda) {
  torch::NoGradGuard no_grad;
  const auto from = online->named_parameters(), to = target->named_parameters();
  for (const auto& item : to) {
    const auto& source = from[item.key()];
    // theta' <- lambda theta' + (1 - lambda) theta
    if (lambda == 0.0) item.value().copy_(source);
    else item.value().mul_(lambda).add_(source, 1.0 - lambda);
  }
  const auto from_buffers = online->named_buffers(), to_buffers = target->named_buffers();
  for (const auto& item : to_buffers) {
    const auto& source = from_buffers[item.key()];
    if (lambda == 0.0 || !item.value().is_floating_point()) item.value().copy_(source);
    else item.value().mul_(lambda).add_(source, 1.0 - lambda);
  }
}

double SslModelImpl::momentum_at(int64_t step, int64_t total_steps) const {
  if (total_steps <= 0) return config_.momentum;
  const double pi = std::acos(-1.0), progress = std::min(1.0, static_cast<double>(step) / static_cast<double>(total_steps));
  // lambda = 1 - (1 - lambda_0) (cos(pi k / K) + 1) / 2
  return 1.0 - (1.0 - config_.momentum) * (std::cos(pi * progress) + 1.0) / 2.0;
}

double SslModelImpl::teacher_temp_at(double epoch) const {
  // tau_t rises linearly from warmup_teacher_temp over the warm-up epochs, then stays.
  if (epoch >= config_.warmup_teacher_temp_epochs) return config_.teacher_temp;
  const double t = epoch / config_.warmup_teacher_temp_epochs;
  return config_.warmup_teacher_temp + t * (config_.teacher_temp - config_.warmup_teacher_temp);
}

std::vector<torch::Tensor> SslModelImpl::last_layer_parameters() const {
  if (!online->head) return {};
  std::vector<torch::Tensor> out;
  for (const auto& p : online->head->last_layer->parameters())
    if (p.requires_grad()) out.push_back(p);
  return out;
}

torch::Tensor byol_pair_loss(const torch::Tensor& prediction, const torch::Tensor& target) {
  namespace F = torch::nn::functional;
  // || q/||q|| - z'/||z'|| ||^2 = 2 - 2 cos(q, z')
  auto q = F::normalize(prediction, F::NormalizeFuncOptions().dim(-1));
  auto z = F::normalize(target, F::NormalizeFuncOptions().dim(-1));
  return (2.0 - 2.0 * (q * z).sum(-1)).mean();
}

torch::Tensor dino_loss(const std::vector<torch::Tensor>& student, const std::vector<torch::Tensor>& teacher, const torch::Tensor& center,
                        double student_temp, double teacher_temp) {
  // log P_s = log_softmax(g(x') / tau_s), once per crop: each is paired with both teacher crops.
  std::vector<torch::Tensor> log_student;
  for (const auto& s : student) log_student.push_back(torch::log_softmax(s / student_temp, -1));
  torch::Tensor total;
  int64_t terms = 0;
  for (size_t t = 0; t < teacher.size(); ++t) {
    // P_t = softmax((g'(x) - c) / tau_t): centred, sharpened; no gradient reaches the teacher.
    auto p_teacher = torch::softmax((teacher[t].detach() - center) / teacher_temp, -1);  // (B, K)
    for (size_t s = 0; s < student.size(); ++s) {
      if (s == t) continue;  // the same global view
      // -P_t . log P_s
      auto term = -(p_teacher * log_student[s]).sum(-1).mean();
      total = total.defined() ? total + term : term;
      ++terms;
    }
  }
  return total / static_cast<double>(terms);
}

torch::Tensor updated_center(const torch::Tensor& center, const std::vector<torch::Tensor>& teacher, double momentum) {
  // c <- m c + (1 - m) mean of the teacher's outputs over the batch (both global views)
  auto batch_center = torch::cat(teacher, 0).detach().mean(0, /*keepdim=*/true);  // (1, K)
  return center * momentum + batch_center * (1.0 - momentum);
}

double normalised_std(const torch::Tensor& rows) {
  auto z = torch::nn::functional::normalize(rows.detach().to(torch::kFloat32), torch::nn::functional::NormalizeFuncOptions().dim(-1));
  if (z.size(0) < 2) return 0.0;
  return z.std(0).mean().item<double>();
}

SslLoss SslModelImpl::loss(const std::vector<torch::Tensor>& views) {
  if (views.size() < 2) throw std::invalid_argument("ssl loss: expected two global views");
  SslLoss out;
  torch::Tensor watched;
  if (config_.method == "byol") {
    // q = predictor(projector(f(v))) for both views in one pass; z' of the target in another.
    const int64_t batch = views[0].size(0);
    auto both = torch::cat({views[0], views[1]}, 0);  // (2B, 3, S, S)
    auto q = online->project(both, &watched).split(batch, 0);
    torch::Tensor z;
    {
      torch::NoGradGuard no_grad;
      z = target->project(both);
    }
    auto zs = z.split(batch, 0);
    // L = L(q_1, z'_2) + L(q_2, z'_1)
    out.loss = byol_pair_loss(q[0], zs[1]) + byol_pair_loss(q[1], zs[0]);
    out.embedding_std = normalised_std(watched);
    return out;
  }
  // DINO: the student sees every crop, one backbone pass per resolution (the globals, then the
  // locals); the teacher only the two global crops.
  const int64_t batch = views[0].size(0);
  auto globals = torch::cat({views[0], views[1]}, 0);  // (2B, 3, S, S)
  std::vector<torch::Tensor> student = online->project(globals, &watched).split(batch, 0);
  if (views.size() > 2) {
    auto locals = torch::cat(std::vector<torch::Tensor>(views.begin() + 2, views.end()), 0);  // (nB, 3, s, s)
    for (auto& part : online->project(locals).split(batch, 0)) student.push_back(part);
  }
  std::vector<torch::Tensor> teacher;
  {
    torch::NoGradGuard no_grad;
    teacher = target->project(globals).split(batch, 0);
  }
  out.loss = dino_loss(student, teacher, center, config_.student_temp, teacher_temp_);
  {
    torch::NoGradGuard no_grad;
    center.copy_(updated_center(center, teacher, config_.center_momentum));
  }
  out.embedding_std = normalised_std(watched);
  return out;
}

ModelWrapper ssl_wrapper() {
  ModelWrapper w;
  w.task = "ssl", w.wrapped_task = "classify", w.family = "ssl";
  w.description = "self-supervised BYOL or DINO (--set method=byol|dino)";
  w.options.add(SslConfig::options(), SslConfig{});
  // AdamW with DINO's weight decay and gradient clipping, a warm-up over 5% of the run, cosine;
  // the paper's LARS for BYOL at batch 4096 has no counterpart at CPU batch sizes (docs/RESULTS.md).
  w.recipe = {{"opt", "adamw"}, {"lr", 1e-3}, {"weight_decay", 0.04}, {"sched", "cosine"}, {"warmup_fraction", 0.05},
              {"min_lr", 1e-6}, {"clip_grad", 3.0}, {"batch_size", 128}};
  w.create = [](const ModelSpec& wrapped, const Json& options) -> std::shared_ptr<torch::nn::Module> {
    auto backbone = std::dynamic_pointer_cast<ImageClassifierImpl>(wrapped.create(options));
    if (!backbone) throw UsageError("model " + wrapped.name + " is not an image classifier: ssl needs one as its backbone");
    // The target without dropout or stochastic depth, as DINO's teacher.
    Json target_options = options;
    for (const char* key : {"dropout", "attention_dropout", "drop_path"})
      if (target_options.contains(key) && target_options.at(key).is_number()) target_options[key] = 0.0;
    auto target = std::dynamic_pointer_cast<ImageClassifierImpl>(wrapped.create(target_options));
    return std::make_shared<SslModelImpl>(backbone, target, SslConfig::options().read(options, SslConfig{}));
  };
  return w;
}

}  // namespace zoo::models
