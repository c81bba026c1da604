#include "models/vision/resnet.h"

#include <torch/csrc/jit/frontend/tracer.h>

#include <cmath>

namespace zoo::models {

namespace {
torch::nn::Conv2d conv3x3(int64_t in, int64_t out, int64_t stride = 1, int64_t dilation = 1) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).stride(stride).padding(dilation).dilation(dilation).bias(false));
}
torch::nn::Conv2d conv1x1(int64_t in, int64_t out, int64_t stride = 1) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 1).stride(stride).bias(false));
}

// bn(conv(x)). In evaluation BatchNorm is a fixed affine map per channel, folded into the
// convolution: BN(W * x) = (s W) * x + (beta - s mu), s = gamma / sqrt(var + eps). One pass over
// the activations instead of two (a frozen ResNet-50 trunk at batch 32: about 200 ms of 1.6 s),
// for the cost of scaling the weights; a frozen BatchNorm is folded in training too (the gradient
// reaches the convolution through the scaled weights). In training, batch statistics: the two
// modules as they are.
torch::Tensor conv_bn(torch::nn::Conv2dImpl& conv, zoo::nn::BatchNorm2dImpl& bn, const torch::Tensor& x) {
  if (bn.uses_batch_statistics()) return bn.forward(conv.forward(x));
  auto scale = bn.weight * torch::rsqrt(bn.running_var + bn.options.eps());  // (C)
  auto weight = conv.weight * scale.view({-1, 1, 1, 1});                     // (C, C_in, k, k)
  auto bias = bn.bias - bn.running_mean * scale;
  const auto& o = conv.options;
  return torch::nn::functional::conv2d(
      x, weight, torch::nn::functional::Conv2dFuncOptions().bias(bias).stride(o.stride()).padding(o.padding()).dilation(o.dilation()).groups(o.groups()));
}

// relu(out + identity), in place in `out`. Where no gradient is wanted on the CPU (a frozen
// trunk, evaluation, prediction) ATen's fused kernel makes it one pass over the activations
// instead of two: about 40 ms of a frozen ResNet-50 trunk's 1.4 s at batch 32. It has no
// derivative, and a TorchScript trace keeps the two portable operations.
torch::Tensor add_relu_(torch::Tensor& out, const torch::Tensor& identity) {
  const bool graph = torch::GradMode::is_enabled() && (out.requires_grad() || identity.requires_grad());
  if (!graph && out.device().is_cpu() && !torch::jit::tracer::isTracing()) return at::_add_relu_(out, identity);
  out += identity;
  return out.relu_();
}

// The shortcut: the identity, or the downsampling 1x1 convolution and its BatchNorm.
torch::Tensor shortcut(torch::nn::Sequential& downsample, const torch::Tensor& x) {
  if (!downsample) return x;
  return conv_bn(*downsample->ptr(0)->as<torch::nn::Conv2d>(), *downsample->ptr(1)->as<zoo::nn::BatchNorm2d>(), x);
}
}  // namespace

BasicBlockImpl::BasicBlockImpl(int64_t inplanes, int64_t planes, int64_t stride, torch::nn::Sequential downsample_, bool frozen_bn)
    : conv1(register_module("conv1", conv3x3(inplanes, planes, stride))),
      bn1(register_module("bn1", zoo::nn::BatchNorm2d(planes, frozen_bn))),
      conv2(register_module("conv2", conv3x3(planes, planes))),
      bn2(register_module("bn2", zoo::nn::BatchNorm2d(planes, frozen_bn))) {
  if (downsample_) downsample = register_module("downsample", downsample_);
}

torch::Tensor BasicBlockImpl::forward(torch::Tensor x) {
  auto identity = shortcut(downsample, x);
  // In-place ReLU and add, as torchvision: BatchNorm's backward does not need its output, and
  // fewer large temporaries is measurably faster on CPU.
  auto out = conv_bn(*conv1, *bn1, x).relu_();  // (B, planes, H/stride, W/stride)
  out = conv_bn(*conv2, *bn2, out);
  // y = relu(F(x) + x): the block learns a residual on top of the identity.
  return add_relu_(out, identity);
}

BottleneckImpl::BottleneckImpl(int64_t inplanes, int64_t planes, int64_t stride, torch::nn::Sequential downsample_, int64_t dilation,
                               bool frozen_bn)
    : conv1(register_module("conv1", conv1x1(inplanes, planes))),
      bn1(register_module("bn1", zoo::nn::BatchNorm2d(planes, frozen_bn))),
      conv2(register_module("conv2", conv3x3(planes, planes, stride, dilation))),
      bn2(register_module("bn2", zoo::nn::BatchNorm2d(planes, frozen_bn))),
      conv3(register_module("conv3", conv1x1(planes, planes * expansion))),
      bn3(register_module("bn3", zoo::nn::BatchNorm2d(planes * expansion, frozen_bn))) {
  if (downsample_) downsample = register_module("downsample", downsample_);
}

torch::Tensor BottleneckImpl::forward(torch::Tensor x) {
  auto identity = shortcut(downsample, x);
  auto out = conv_bn(*conv1, *bn1, x).relu_();    // (B, planes, H, W)
  out = conv_bn(*conv2, *bn2, out).relu_();       // (B, planes, H/stride, W/stride)
  out = conv_bn(*conv3, *bn3, out);               // (B, 4 planes, H/stride, W/stride)
  return add_relu_(out, identity);
}

ResNetImpl::ResNetImpl(const ResNetConfig& config) : config_(config) {
  ResNetConfig::options().check(config);
  conv1 = register_module("conv1", config.small_input
      ? torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 64, 3).stride(1).padding(1).bias(false))
      : torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 64, 7).stride(2).padding(3).bias(false)));
  if (config.dilate_last && !config.bottleneck) throw UsageError("a dilated layer4 needs bottleneck blocks (torchvision's BasicBlock has no dilation)");
  bn1 = register_module("bn1", zoo::nn::BatchNorm2d(64, config.frozen_bn));
  maxpool = register_module("maxpool", torch::nn::MaxPool2d(torch::nn::MaxPool2dOptions(3).stride(2).padding(1)));
  layer1 = register_module("layer1", make_layer(64, config.layers.at(0), 1));
  layer2 = register_module("layer2", make_layer(128, config.layers.at(1), 2));
  layer3 = register_module("layer3", make_layer(256, config.layers.at(2), 2));
  layer4 = register_module("layer4", make_layer(512, config.layers.at(3), 2, config.dilate_last));
  const int64_t expansion = config.bottleneck ? BottleneckImpl::expansion : BasicBlockImpl::expansion;
  fc = register_module("fc", torch::nn::Linear(512 * expansion, config.num_classes));
  if (config.self_attention) {
    attention2 = register_module("attention2", SelfAttention2d(128 * expansion));
    attention3 = register_module("attention3", SelfAttention2d(256 * expansion));
  }

  // torchvision's initialisation: He-normal (fan_out) convolutions, unit BatchNorm.
  for (auto& module : modules(/*include_self=*/false)) {
    if (auto* conv = module->as<torch::nn::Conv2d>()) {
      torch::nn::init::kaiming_normal_(conv->weight, 0.0, torch::kFanOut, torch::kReLU);
    } else if (auto* bn = module->as<zoo::nn::BatchNorm2d>()) {
      torch::nn::init::ones_(bn->weight);
      torch::nn::init::zeros_(bn->bias);
    }
  }
  // Optionally start each residual branch at zero so every block begins as the identity.
  if (config.zero_init_residual) {
    for (auto& module : modules(false)) {
      if (auto* block = module->as<Bottleneck>()) torch::nn::init::zeros_(block->bn3->weight);
      if (auto* block = module->as<BasicBlock>()) torch::nn::init::zeros_(block->bn2->weight);
    }
  }
}

torch::nn::Sequential ResNetImpl::make_layer(int64_t planes, int64_t blocks, int64_t stride, bool dilate) {
  const int64_t expansion = config_.bottleneck ? BottleneckImpl::expansion : BasicBlockImpl::expansion;
  // Dilated instead of strided: the first block keeps the previous dilation, the others take
  // the new one (torchvision's replace_stride_with_dilation).
  const int64_t previous_dilation = dilation_;
  if (dilate) dilation_ *= stride, stride = 1;
  torch::nn::Sequential downsample{nullptr};
  if (stride != 1 || inplanes_ != planes * expansion) {
    // The shortcut changes shape with the block: a strided 1x1 projection, as in the paper's option B.
    downsample = torch::nn::Sequential(conv1x1(inplanes_, planes * expansion, stride),
                                       zoo::nn::BatchNorm2d(planes * expansion, config_.frozen_bn));
  }
  torch::nn::Sequential layer;
  for (int64_t i = 0; i < blocks; ++i) {
    const int64_t block_stride = i == 0 ? stride : 1;
    auto block_downsample = i == 0 ? downsample : torch::nn::Sequential{nullptr};
    if (config_.bottleneck) {
      layer->push_back(Bottleneck(inplanes_, planes, block_stride, block_downsample, i == 0 ? previous_dilation : dilation_, config_.frozen_bn));
    } else {
      layer->push_back(BasicBlock(inplanes_, planes, block_stride, block_downsample, config_.frozen_bn));
    }
    inplanes_ = planes * expansion;
  }
  return layer;
}

SelfAttention2dImpl::SelfAttention2dImpl(int64_t channels) {
  // SAGAN's widths: keys and queries C/8, values C/2, projected back to C.
  const int64_t key_width = std::max<int64_t>(1, channels / 8), value_width = std::max<int64_t>(1, channels / 2);
  query = register_module("query", torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, key_width, 1)));
  key = register_module("key", torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, key_width, 1)));
  value = register_module("value", torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, value_width, 1)));
  out = register_module("out", torch::nn::Conv2d(torch::nn::Conv2dOptions(value_width, channels, 1)));
  gamma = register_parameter("gamma", torch::zeros({1}));
}

torch::Tensor SelfAttention2dImpl::forward(const torch::Tensor& x) {
  // Positions as a sequence: q (B, HW, d), k (B, d, HW), v (B, d_v, HW)
  auto q = query(x).flatten(2).transpose(1, 2), k = key(x).flatten(2), v = value(x).flatten(2);
  // a_ij = softmax_j(q_i . k_j / sqrt(d)): (B, HW, HW)
  auto weights = torch::softmax(torch::bmm(q, k) / std::sqrt(static_cast<double>(k.size(1))), -1);
  if (keep_weights_) last_weights_ = weights.detach();
  // sum_j a_ij v_j at every i: (B, d_v, HW) -> (B, d_v, H, W), then W_o back to C channels
  // (unflatten, not view with the batch size: an exported trace keeps the batch free)
  auto attended = torch::bmm(v, weights.transpose(1, 2)).unflatten(2, {x.size(2), x.size(3)});
  // y = x + gamma o
  return x + gamma * out(attended);
}

torch::Tensor ResNetImpl::forward(torch::Tensor x) { return fc(embed(x)); }  // (B, num_classes)

torch::Tensor ResNetImpl::embed(const torch::Tensor& images) {
  auto x = feature_map(images, 4);  // (B, 512e, H/32, W/32)
  // Global average pool; flatten(1), not view(B, -1), so a trace keeps the batch size free.
  return torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);  // (B, 512e)
}

int64_t ResNetImpl::embedding_dim() const { return feature_channels(4); }

void ResNetImpl::drop_head() { unregister_module("fc"), fc = nullptr; }

std::vector<std::string> ResNetImpl::head_prefixes() const { return {"fc."}; }

torch::Tensor ResNetImpl::feature_map(const torch::Tensor& images, int64_t stage) {
  auto x = conv_bn(*conv1, *bn1, images).relu_();  // (B, 64, H/2, W/2); CIFAR stem: (B, 64, H, W)
  if (!config_.small_input) x = maxpool(x);         // (B, 64, H/4, W/4)
  x = layer1->forward(x);  // stage 1: (B, 64e, H/4, W/4)
  if (stage == 1) return x;
  x = layer2->forward(x);  // stage 2: (B, 128e, H/8, W/8)
  if (attention2) x = attention2(x);
  if (stage == 2) return x;
  x = layer3->forward(x);  // stage 3: (B, 256e, H/16, W/16)
  if (attention3) x = attention3(x);
  if (stage == 3) return x;
  return layer4->forward(x);  // stage 4: (B, 512e, H/32, W/32)
}

int64_t ResNetImpl::feature_channels(int64_t stage) const {
  const int64_t expansion = config_.bottleneck ? BottleneckImpl::expansion : BasicBlockImpl::expansion;
  return (int64_t{64} << (stage - 1)) * expansion;
}

void ResNetImpl::keep_trunk(int64_t stage) {
  unregister_module("fc");
  fc = nullptr;
  if (stage < 4) unregister_module("layer4"), layer4 = nullptr;
  if (stage < 3) {
    unregister_module("layer3"), layer3 = nullptr;
    if (attention3) unregister_module("attention3"), attention3 = nullptr;
  }
  if (stage < 2) {
    unregister_module("layer2"), layer2 = nullptr;
    if (attention2) unregister_module("attention2"), attention2 = nullptr;
  }
}

std::vector<viz::Figure> ResNetImpl::look(const torch::Tensor& image, const viz::LookOptions& options) {
  if (!attention2) return ImageClassifierImpl::look(image, options);
  torch::NoGradGuard no_grad;
  attention2->keep_weights(true), attention3->keep_weights(true);
  forward(image);
  attention2->keep_weights(false), attention3->keep_weights(false);
  const cv::Point query = options.query.value_or(cv::Point(0, 0));
  const int64_t side = image.size(-1);
  viz::Figure figure;
  int block = 2;
  for (auto* attention : {attention2.get(), attention3.get()}) {
    const auto& kept = attention->last_weights();  // (1, HW, HW)
    const auto grid = static_cast<int64_t>(std::lround(std::sqrt(static_cast<double>(kept.size(1)))));
    const int64_t cell = std::max<int64_t>(1, side / grid);
    const int64_t at = std::min<int64_t>(query.y / cell, grid - 1) * grid + std::min<int64_t>(query.x / cell, grid - 1);
    auto map = kept[0][at].view({grid, grid}).to(torch::kCPU);
    figure.maps.push_back(map);
    figure.labels.push_back(
        viz::with_peak("after layer" + std::to_string(block) + " (" + std::to_string(grid) + "x" + std::to_string(grid) + ")", map));
    ++block;
  }
  figure.columns = 2;
  figure.marker = query;
  char gains[96];
  std::snprintf(gains, sizeof(gains), "gains %.3f, %.3f", attention2->gamma.item<double>(), attention3->gamma.item<double>());
  figure.title = options.model + ": attention of the marked position; " + gains;
  return {figure};
}

}  // namespace zoo::models
