#include "models/vision/googlenet.h"

namespace zoo::models {

using namespace torch::nn;

BasicConv2dImpl::BasicConv2dImpl(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding)
    : conv(register_module("conv", Conv2d(Conv2dOptions(in, out, kernel).stride(stride).padding(padding).bias(false)))),
      bn(register_module("bn", zoo::nn::BatchNorm2d(BatchNorm2dOptions(out).eps(0.001)))) {}

torch::Tensor BasicConv2dImpl::forward(torch::Tensor x) { return torch::relu(bn(conv(x))); }

InceptionImpl::InceptionImpl(int64_t in, int64_t ch1x1, int64_t ch3x3red, int64_t ch3x3, int64_t ch5x5red,
                             int64_t ch5x5, int64_t pool_proj)
    : branch1(register_module("branch1", BasicConv2d(in, ch1x1, 1))),
      branch2(register_module("branch2", Sequential(BasicConv2d(in, ch3x3red, 1), BasicConv2d(ch3x3red, ch3x3, 3, 1, 1)))),
      // torchvision keeps a 3x3 kernel here (a known deviation from the paper's 5x5).
      branch3(register_module("branch3", Sequential(BasicConv2d(in, ch5x5red, 1), BasicConv2d(ch5x5red, ch5x5, 3, 1, 1)))),
      branch4(register_module("branch4", Sequential(MaxPool2d(MaxPool2dOptions(3).stride(1).padding(1).ceil_mode(true)),
                                                    BasicConv2d(in, pool_proj, 1)))) {}

torch::Tensor InceptionImpl::forward(torch::Tensor x) {
  // The four branches see the same input at the same resolution; concatenate along channels:
  // (B, ch1x1 + ch3x3 + ch5x5 + pool_proj, H, W).
  return torch::cat({branch1(x), branch2->forward(x), branch3->forward(x), branch4->forward(x)}, 1);
}

InceptionAuxImpl::InceptionAuxImpl(int64_t in, int64_t num_classes, double p)
    : conv(register_module("conv", BasicConv2d(in, 128, 1))),
      fc1(register_module("fc1", Linear(2048, 1024))),
      fc2(register_module("fc2", Linear(1024, num_classes))),
      dropout(register_module("dropout", Dropout(p))) {}

torch::Tensor InceptionAuxImpl::forward(torch::Tensor x) {
  x = torch::adaptive_avg_pool2d(x, {4, 4});  // (B, C, 4, 4)
  x = conv(x).flatten(1);                       // (B, 2048)
  x = dropout(torch::relu(fc1(x)));             // (B, 1024)
  return fc2(x);                                // (B, num_classes)
}

GoogLeNetImpl::GoogLeNetImpl(const GoogLeNetConfig& config) : config_(config) {
  GoogLeNetConfig::options().check(config);
  auto pool = [](int64_t kernel) { return MaxPool2d(MaxPool2dOptions(kernel).stride(2).ceil_mode(true)); };
  conv1 = register_module("conv1", BasicConv2d(3, 64, 7, 2, 3));
  maxpool1 = register_module("maxpool1", pool(3));
  conv2 = register_module("conv2", BasicConv2d(64, 64, 1));
  conv3 = register_module("conv3", BasicConv2d(64, 192, 3, 1, 1));
  maxpool2 = register_module("maxpool2", pool(3));
  // Inception(in, #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj): the paper's Table 1.
  inception3a = register_module("inception3a", Inception(192, 64, 96, 128, 16, 32, 32));
  inception3b = register_module("inception3b", Inception(256, 128, 128, 192, 32, 96, 64));
  maxpool3 = register_module("maxpool3", pool(3));
  inception4a = register_module("inception4a", Inception(480, 192, 96, 208, 16, 48, 64));
  inception4b = register_module("inception4b", Inception(512, 160, 112, 224, 24, 64, 64));
  inception4c = register_module("inception4c", Inception(512, 128, 128, 256, 24, 64, 64));
  inception4d = register_module("inception4d", Inception(512, 112, 144, 288, 32, 64, 64));
  inception4e = register_module("inception4e", Inception(528, 256, 160, 320, 32, 128, 128));
  maxpool4 = register_module("maxpool4", pool(2));
  inception5a = register_module("inception5a", Inception(832, 256, 160, 320, 32, 128, 128));
  inception5b = register_module("inception5b", Inception(832, 384, 192, 384, 48, 128, 128));
  if (config.aux_logits) {
    aux1 = register_module("aux1", InceptionAux(512, config.num_classes, config.dropout_aux));
    aux2 = register_module("aux2", InceptionAux(528, config.num_classes, config.dropout_aux));
  }
  dropout = register_module("dropout", Dropout(config.dropout));
  fc = register_module("fc", Linear(1024, config.num_classes));

  // torchvision: truncated N(0, 0.01) in [-2, 2] for convolutions and linear weights (at this
  // std the truncation never bites, so a plain normal draws the same distribution).
  for (auto& module : modules(/*include_self=*/false)) {
    if (auto* c = module->as<Conv2d>()) {
      init::normal_(c->weight, 0.0, 0.01);
    } else if (auto* l = module->as<Linear>()) {
      init::normal_(l->weight, 0.0, 0.01);
    } else if (auto* bn = module->as<zoo::nn::BatchNorm2d>()) {
      init::ones_(bn->weight);
      init::zeros_(bn->bias);
    }
  }
}

torch::Tensor GoogLeNetImpl::run(torch::Tensor x, torch::Tensor* aux1_out, torch::Tensor* aux2_out) {
  if (config_.transform_input) {
    // ImageNet mean/std normalisation -> the (x - 0.5) / 0.5 the original weights were trained on.
    auto c0 = x.select(1, 0).unsqueeze(1) * (0.229 / 0.5) + (0.485 - 0.5) / 0.5;
    auto c1 = x.select(1, 1).unsqueeze(1) * (0.224 / 0.5) + (0.456 - 0.5) / 0.5;
    auto c2 = x.select(1, 2).unsqueeze(1) * (0.225 / 0.5) + (0.406 - 0.5) / 0.5;
    x = torch::cat({c0, c1, c2}, 1);
  }
  x = maxpool1(conv1(x));                  // (B, 64, H/4, W/4)
  x = maxpool2(conv3(conv2(x)));           // (B, 192, H/8, W/8)
  x = inception3b(inception3a(x));         // (B, 480, H/8, W/8)
  x = maxpool3(x);                         // (B, 480, H/16, W/16)
  x = inception4a(x);                      // (B, 512, H/16, W/16)
  if (aux1_out) *aux1_out = aux1(x);
  x = inception4d(inception4c(inception4b(x)));  // (B, 528, H/16, W/16)
  if (aux2_out) *aux2_out = aux2(x);
  x = inception4e(x);                      // (B, 832, H/16, W/16)
  x = maxpool4(x);                         // (B, 832, H/32, W/32)
  x = inception5b(inception5a(x));         // (B, 1024, H/32, W/32)
  return torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);  // (B, 1024)
}

torch::Tensor GoogLeNetImpl::forward(torch::Tensor x) { return fc(dropout(embed(x))); }

torch::Tensor GoogLeNetImpl::embed(const torch::Tensor& images) { return run(images, nullptr, nullptr); }

int64_t GoogLeNetImpl::embedding_dim() const { return 1024; }

void GoogLeNetImpl::drop_head() {
  unregister_module("fc"), fc = nullptr;
  if (aux1) unregister_module("aux1"), aux1 = nullptr;
  if (aux2) unregister_module("aux2"), aux2 = nullptr;
}

std::vector<std::string> GoogLeNetImpl::head_prefixes() const { return {"fc.", "aux1.", "aux2."}; }

std::vector<TrainOutput> GoogLeNetImpl::forward_train(torch::Tensor x) {
  if (!config_.aux_logits || !is_training()) return {{forward(x), 1.0}};
  torch::Tensor a1, a2;
  auto logits = fc(dropout(run(x, &a1, &a2)));  // (B, num_classes)
  // loss = L(main) + 0.3 L(aux1) + 0.3 L(aux2), as in the paper.
  return {{logits, 1.0}, {a1, aux_weight}, {a2, aux_weight}};
}

}  // namespace zoo::models
