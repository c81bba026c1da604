#include "models/video/r2plus1d.h"

namespace zoo::models {

namespace {

torch::nn::Conv3d conv3d(int64_t in, int64_t out, std::vector<int64_t> kernel, std::vector<int64_t> stride, std::vector<int64_t> padding) {
  return torch::nn::Conv3d(torch::nn::Conv3dOptions(in, out, kernel).stride(stride).padding(padding).bias(false));
}

torch::nn::BatchNorm3d batch_norm(int64_t channels) { return torch::nn::BatchNorm3d(channels); }

// A Sequential that can sit inside another (LibTorch's own forward is a template).
struct NestedSequentialImpl : torch::nn::SequentialImpl {
  using SequentialImpl::SequentialImpl;
  torch::Tensor forward(torch::Tensor x) { return SequentialImpl::forward(x); }
};
TORCH_MODULE(NestedSequential);

// Conv2Plus1D: a 1x3x3 spatial convolution (stride s in space) into `mid` channels, BN, ReLU, and a
// 3x1x1 temporal one (stride s in time): names 0, 1, 3 as torchvision's Sequential.
NestedSequential conv2plus1d(int64_t in, int64_t out, int64_t mid, int64_t stride) {
  return NestedSequential(conv3d(in, mid, {1, 3, 3}, {1, stride, stride}, {0, 1, 1}), batch_norm(mid), torch::nn::ReLU(torch::nn::ReLUOptions(true)),
                               conv3d(mid, out, {3, 1, 1}, {stride, 1, 1}, {1, 0, 0}));
}

}  // namespace

R2plus1dBlockImpl::R2plus1dBlockImpl(int64_t in_planes, int64_t planes, int64_t stride) {
  // M = floor(3 * 3^2 N_in N_out / (3^2 N_in + 3 N_out)): the (2+1)D pair's parameters match a
  // 3x3x3 convolution's (torchvision computes it once per block, for both convolutions).
  const int64_t mid = (in_planes * planes * 3 * 3 * 3) / (in_planes * 3 * 3 + 3 * planes);
  conv1 = register_module("conv1", torch::nn::Sequential(conv2plus1d(in_planes, planes, mid, stride), batch_norm(planes),
                                                         torch::nn::ReLU(torch::nn::ReLUOptions(true))));
  conv2 = register_module("conv2", torch::nn::Sequential(conv2plus1d(planes, planes, mid, 1), batch_norm(planes)));
  if (stride != 1 || in_planes != planes)
    downsample = register_module("downsample", torch::nn::Sequential(conv3d(in_planes, planes, {1, 1, 1}, {stride, stride, stride}, {0, 0, 0}),
                                                                     batch_norm(planes)));
}

torch::Tensor R2plus1dBlockImpl::forward(const torch::Tensor& x) {
  auto shortcut = downsample ? downsample->forward(x) : x;
  return torch::relu(conv2->forward(conv1->forward(x)) + shortcut);
}

R2plus1dImpl::R2plus1dImpl(const R2plus1dConfig& config) {
  // R2Plus1dStem: a 1x7x7 spatial convolution (stride 2) into 45 channels, then 3x1x1 temporal into 64.
  stem = register_module("stem", torch::nn::Sequential(conv3d(3, 45, {1, 7, 7}, {1, 2, 2}, {0, 3, 3}), batch_norm(45),
                                                       torch::nn::ReLU(torch::nn::ReLUOptions(true)), conv3d(45, 64, {3, 1, 1}, {1, 1, 1}, {1, 0, 0}),
                                                       batch_norm(64), torch::nn::ReLU(torch::nn::ReLUOptions(true))));
  int64_t in_planes = 64;
  auto make_layer = [&](int64_t planes, int64_t blocks, int64_t stride) {
    torch::nn::Sequential layer;
    for (int64_t i = 0; i < blocks; ++i) {
      layer->push_back(R2plus1dBlock(in_planes, planes, i == 0 ? stride : 1));
      in_planes = planes;
    }
    return layer;
  };
  layer1 = register_module("layer1", make_layer(64, config.layers[0], 1));
  layer2 = register_module("layer2", make_layer(128, config.layers[1], 2));
  layer3 = register_module("layer3", make_layer(256, config.layers[2], 2));
  layer4 = register_module("layer4", make_layer(512, config.layers[3], 2));
  fc = register_module("fc", torch::nn::Linear(512, config.num_classes));
  // torchvision's initialisation: convolutions Kaiming normal (fan out), BatchNorm 1 and 0, the
  // classifier N(0, 0.01^2) with zero bias.
  torch::NoGradGuard no_grad;
  for (auto& module : modules(/*include_self=*/false)) {
    if (auto* conv = module->as<torch::nn::Conv3dImpl>()) torch::nn::init::kaiming_normal_(conv->weight, 0, torch::kFanOut, torch::kReLU);
  }
  torch::nn::init::normal_(fc->weight, 0, 0.01);
  fc->bias.zero_();
}

torch::Tensor R2plus1dImpl::forward(torch::Tensor clips) {
  auto x = stem->forward(clips);                      // (B, 64, T, H/2, W/2)
  x = layer4->forward(layer3->forward(layer2->forward(layer1->forward(x))));  // (B, 512, T/8, H/16, W/16)
  return fc(x.mean({2, 3, 4}));                        // global average pool -> (B, classes)
}

}  // namespace zoo::models
