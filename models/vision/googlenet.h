// GoogLeNet / Inception v1 (Szegedy et al., 2014): stacked "Inception modules", each running
// 1x1, 3x3, 5x5 and pooled branches side by side and concatenating them along channels.
// torchvision's layout (BatchNorm after every convolution, 3x3 in the "5x5" branch), names and
// parameter counts; the two auxiliary classifiers exist only with aux_logits.
#pragma once
#include "lib/nn/sync_batch_norm.h"
#include "models/vision/classifier.h"

namespace zoo::models {

// conv -> BatchNorm (eps 1e-3) -> ReLU.
class BasicConv2dImpl : public torch::nn::Module {
 public:
  BasicConv2dImpl(int64_t in, int64_t out, int64_t kernel, int64_t stride = 1, int64_t padding = 0);
  torch::Tensor forward(torch::Tensor x);
  torch::nn::Conv2d conv{nullptr};
  zoo::nn::BatchNorm2d bn{nullptr};
};
TORCH_MODULE(BasicConv2d);

class InceptionImpl : public torch::nn::Module {
 public:
  InceptionImpl(int64_t in, int64_t ch1x1, int64_t ch3x3red, int64_t ch3x3, int64_t ch5x5red, int64_t ch5x5, int64_t pool_proj);
  torch::Tensor forward(torch::Tensor x);
  BasicConv2d branch1{nullptr};
  torch::nn::Sequential branch2{nullptr}, branch3{nullptr}, branch4{nullptr};
};
TORCH_MODULE(Inception);

// A side classifier on an intermediate feature map; its loss is added with weight 0.3.
class InceptionAuxImpl : public torch::nn::Module {
 public:
  InceptionAuxImpl(int64_t in, int64_t num_classes, double dropout);
  torch::Tensor forward(torch::Tensor x);
  BasicConv2d conv{nullptr};
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
  torch::nn::Dropout dropout{nullptr};
};
TORCH_MODULE(InceptionAux);

struct GoogLeNetConfig {
  int64_t num_classes = 1000;
  bool aux_logits = false;
  bool transform_input = false;
  double dropout = 0.2;
  double dropout_aux = 0.7;
  static const OptionSchema<GoogLeNetConfig>& options();
};

inline const OptionSchema<GoogLeNetConfig>& GoogLeNetConfig::options() {
  static const auto schema =
      OptionSchema<GoogLeNetConfig>("GoogLeNet")
          .option("num_classes", &GoogLeNetConfig::num_classes, at_least(1), num_classes_help)
          .option("aux_logits", &GoogLeNetConfig::aux_logits, "build and train the two side classifiers; their losses are added with weight 0.3")
          .option("transform_input", &GoogLeNetConfig::transform_input,
                  "re-normalise ImageNet-normalised input to [-1, 1], as the original Google weights expect")
          .option("dropout", &GoogLeNetConfig::dropout, fraction(), "dropout before the main classifier")
          .option("dropout_aux", &GoogLeNetConfig::dropout_aux, fraction(), "dropout in the side classifiers");
  return schema;
}

class GoogLeNetImpl : public ImageClassifierImpl {
 public:
  static constexpr double aux_weight = 0.3;
  explicit GoogLeNetImpl(const GoogLeNetConfig& config);
  torch::Tensor forward(torch::Tensor x) override;
  std::vector<TrainOutput> forward_train(torch::Tensor x) override;
  // The pooled inception5b output (B, 1024); the head is fc and the side classifiers.
  torch::Tensor embed(const torch::Tensor& images) override;
  int64_t embedding_dim() const override;
  void drop_head() override;
  std::vector<std::string> head_prefixes() const override;

  BasicConv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  torch::nn::MaxPool2d maxpool1{nullptr}, maxpool2{nullptr}, maxpool3{nullptr}, maxpool4{nullptr};
  Inception inception3a{nullptr}, inception3b{nullptr}, inception4a{nullptr}, inception4b{nullptr},
      inception4c{nullptr}, inception4d{nullptr}, inception4e{nullptr}, inception5a{nullptr}, inception5b{nullptr};
  InceptionAux aux1{nullptr}, aux2{nullptr};
  torch::nn::Dropout dropout{nullptr};
  torch::nn::Linear fc{nullptr};

 private:
  // The network up to the pooled features (B, 1024); fills aux outputs when they are asked for.
  torch::Tensor run(torch::Tensor x, torch::Tensor* aux1_out, torch::Tensor* aux2_out);
  GoogLeNetConfig config_;
};
TORCH_MODULE(GoogLeNet);

}  // namespace zoo::models
