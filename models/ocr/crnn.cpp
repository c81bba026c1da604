#include "models/ocr/crnn.h"

#include "lib/core/error.h"

namespace zoo::models {

BidirectionalLstmImpl::BidirectionalLstmImpl(int64_t in, int64_t hidden, int64_t out) {
  rnn = register_module("rnn", torch::nn::LSTM(torch::nn::LSTMOptions(in, hidden).bidirectional(true)));
  embedding = register_module("embedding", torch::nn::Linear(2 * hidden, out));
}

torch::Tensor BidirectionalLstmImpl::forward(const torch::Tensor& x, const torch::Tensor& lengths) {
  return embedding->forward(bidirectional_lstm(rnn, x, lengths));
}

CrnnImpl::CrnnImpl(const CrnnConfig& config) : config_(config) {
  if (config.channels != 1 && config.channels != 3) throw UsageError("invalid CRNN channels " + std::to_string(config.channels) + ": 1 (grey) or 3 (RGB)");
  // The paper's Table 1: seven convolutions of 64..512 channels (3x3, the last 2x2 unpadded),
  // batch norm after the 3rd, 5th and 7th; 2x2 pooling twice, then 2x1 (height only, with a
  // column of padding each side) twice, so a 32-pixel line ends 1 row high and W/4 + 1 columns wide.
  const int64_t w = config.base_width;
  const std::vector<int64_t> widths{w, 2 * w, 4 * w, 4 * w, 8 * w, 8 * w, 8 * w};
  torch::OrderedDict<std::string, torch::nn::AnyModule> layers;
  auto conv = [&](int64_t i, bool batch_norm) {
    const int64_t in = i == 0 ? config.channels : widths[static_cast<size_t>(i - 1)];
    const int64_t kernel = i == 6 ? 2 : 3, padding = i == 6 ? 0 : 1;
    const auto id = std::to_string(i);
    layers.insert("conv" + id, torch::nn::AnyModule(torch::nn::Conv2d(torch::nn::Conv2dOptions(in, widths[static_cast<size_t>(i)], kernel).padding(padding))));
    if (batch_norm) layers.insert("batchnorm" + id, torch::nn::AnyModule(torch::nn::BatchNorm2d(widths[static_cast<size_t>(i)])));
    layers.insert("relu" + id, torch::nn::AnyModule(torch::nn::ReLU(torch::nn::ReLUOptions(true))));
  };
  auto pool = [&](int64_t i, bool height_only) {
    auto options = torch::nn::MaxPool2dOptions(2).stride(2);
    if (height_only) options = torch::nn::MaxPool2dOptions(2).stride({2, 1}).padding({0, 1});
    layers.insert("pooling" + std::to_string(i), torch::nn::AnyModule(torch::nn::MaxPool2d(options)));
  };
  conv(0, false), pool(0, false);                // w x H/2 x W/2
  conv(1, false), pool(1, false);                // 2w x H/4 x W/4
  conv(2, true), conv(3, false), pool(2, true);  // 4w x H/8 x (W/4 + 1)
  conv(4, true), conv(5, false), pool(3, true);  // 8w x H/16 x (W/4 + 2)
  conv(6, true);                                 // 8w x 1 x (W/4 + 1)
  cnn = register_module("cnn", torch::nn::Sequential(std::move(layers)));
  rnn = register_module("rnn", torch::nn::ModuleList(BidirectionalLstm(8 * w, config.hidden, config.hidden),
                                                     BidirectionalLstm(config.hidden, config.hidden, config.num_classes)));
}

torch::Tensor CrnnImpl::output_lengths(const torch::Tensor& widths) const {
  // Two halvings (floor), then +1 from each padded 2x1 pooling and -1 from the unpadded 2x2 conv.
  return torch::div(widths.to(torch::kLong), 4, "floor") + 1;
}

torch::Tensor CrnnImpl::forward(torch::Tensor images, torch::Tensor widths) {
  if (images.dim() != 4 || images.size(1) != config_.channels || images.size(2) != 32)
    throw UsageError("CRNN takes (B, " + std::to_string(config_.channels) + ", 32, W) line images, got " + std::to_string(images.dim()) +
                     " dimensions of sizes " + c10::str(images.sizes()));
  auto features = run_line_stem(cnn, images, widths).first;  // (B, 8w, 1, T), each line as if alone
  auto columns = features.squeeze(2).permute({2, 0, 1});  // (T, B, 8w): the columns in reading order
  const auto lengths = output_lengths(widths);
  for (const auto& layer : *rnn) columns = layer->as<BidirectionalLstm>()->forward(columns, lengths);
  return columns;  // (T, B, num_classes)
}

}  // namespace zoo::models
