#include "models/ocr/ctc_transformer.h"

#include "lib/core/error.h"
#include "lib/nn/positional.h"

namespace zoo::models {

CtcTransformerImpl::CtcTransformerImpl(const CtcTransformerConfig& config) : config_(config) {
  CtcTransformerConfig::options().check(config);
  const int64_t w = config.base_width;
  const std::vector<int64_t> widths{w, 2 * w, 4 * w, 4 * w};
  torch::OrderedDict<std::string, torch::nn::AnyModule> layers_of_stem;
  // Four 3x3 convolutions with batch norm; 2x2 pooling twice (rounding up, so a narrow line keeps a
  // column), then 2x1 twice (height only): 32 rows end as 2, the width as ceil(W / 4).
  for (int64_t i = 0; i < 4; ++i) {
    const auto id = std::to_string(i);
    const int64_t in = i == 0 ? config.channels : widths[static_cast<size_t>(i - 1)], out = widths[static_cast<size_t>(i)];
    layers_of_stem.insert("conv" + id, torch::nn::AnyModule(torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).padding(1).bias(false))));
    layers_of_stem.insert("bn" + id, torch::nn::AnyModule(torch::nn::BatchNorm2d(out)));
    layers_of_stem.insert("relu" + id, torch::nn::AnyModule(torch::nn::ReLU(torch::nn::ReLUOptions(true))));
    auto pool = i < 2 ? torch::nn::MaxPool2dOptions(2).stride(2).ceil_mode(true) : torch::nn::MaxPool2dOptions({2, 1}).stride({2, 1});
    layers_of_stem.insert("pool" + id, torch::nn::AnyModule(torch::nn::MaxPool2d(pool)));
  }
  stem = register_module("stem", torch::nn::Sequential(std::move(layers_of_stem)));
  proj = register_module("proj", torch::nn::Linear(4 * w * 2, config.width));  // a column's 4w channels x 2 rows
  TransformerConfig block;
  block.width = config.width, block.heads = config.heads, block.ffn = config.ffn, block.dropout = config.dropout;
  block.norm = "pre", block.activation = "gelu";
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < config.layers; ++i) layers->push_back(TransformerEncoderLayer(block));
  norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({config.width})));
  head = register_module("head", torch::nn::Linear(config.width, config.num_classes));
  dropout = register_module("dropout", nn::Dropout(config.dropout));
  sinusoids_ = register_buffer("sinusoids", nn::sinusoidal_table(config.max_columns, config.width));
}

torch::Tensor CtcTransformerImpl::output_lengths(const torch::Tensor& widths) const {
  return torch::div(widths.to(torch::kLong) + 3, 4, "floor");
}

torch::Tensor CtcTransformerImpl::forward(torch::Tensor images, torch::Tensor widths) {
  if (images.dim() != 4 || images.size(1) != config_.channels || images.size(2) != 32)
    throw UsageError("the CTC Transformer takes (B, " + std::to_string(config_.channels) + ", 32, W) line images, got " +
                     std::to_string(images.dim()) + " dimensions of sizes " + c10::str(images.sizes()));
  auto features = run_line_stem(stem, images, widths).first;   // (B, 4w, 2, T), each line as if alone
  auto columns = features.flatten(1, 2).transpose(1, 2);        // (B, T, 8w): channels x rows per column
  const int64_t steps = columns.size(1);
  if (steps > config_.max_columns)
    throw UsageError("a line of " + std::to_string(steps) + " columns is longer than this CTC Transformer's max_columns " + std::to_string(config_.max_columns));
  // Column indices from the tensor, not its sizes, so a traced export takes any width.
  const auto t = torch::ones_like(columns.select(2, 0), torch::kLong).cumsum(1) - 1;  // (B, T)
  // z_t = W_p f_t + p(t)
  auto z = dropout(proj(columns) + sinusoids_.index_select(0, t[0]).to(columns.dtype()));  // (B, T, width)
  // Columns at or past each line's own T_b are padding: no column attends to them.
  const auto padding = t >= output_lengths(widths).to(z.device()).unsqueeze(1);
  for (const auto& layer : *layers) z = layer->as<TransformerEncoderLayer>()->forward(z, padding);
  return head(norm(z)).transpose(0, 1);  // (T, B, num_classes)
}

}  // namespace zoo::models
