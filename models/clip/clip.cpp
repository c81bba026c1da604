#include "models/clip/clip.h"

#include <torch/csrc/jit/frontend/tracer.h>

#include <cmath>
#include <mutex>

#include "lib/core/error.h"
#include "lib/nn/cross_entropy.h"

namespace zoo::models {

namespace {

torch::nn::Conv2d conv(int64_t in, int64_t out, int64_t kernel, int64_t stride = 1, int64_t padding = 0) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, kernel).stride(stride).padding(padding).bias(false));
}

torch::nn::AvgPool2d avg_pool(int64_t size) { return torch::nn::AvgPool2d(torch::nn::AvgPool2dOptions(size)); }

// (B, 1, ...) slice of x: expanding a parameter to it keeps an exported trace's batch free.
torch::Tensor one_per_row(const torch::Tensor& x) { return x.narrow(1, 0, 1); }

}  // namespace

ClipBlockImpl::ClipBlockImpl(int64_t width, int64_t heads) {
  nn::MultiheadAttentionOptions options;
  options.embed_dim = width, options.heads = heads;
  options.in_proj_parameters = true;  // attn.in_proj_weight / in_proj_bias, as nn.MultiheadAttention
  attn = register_module("attn", nn::MultiheadAttention(options));
  ln_1 = register_module("ln_1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({width})));
  mlp = register_module("mlp", torch::nn::Sequential());
  mlp->push_back("c_fc", torch::nn::Linear(width, 4 * width));
  mlp->push_back("gelu", QuickGelu());
  mlp->push_back("c_proj", torch::nn::Linear(4 * width, width));
  ln_2 = register_module("ln_2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({width})));
  torch::NoGradGuard no_grad;
  attn->out_proj->bias.zero_();  // nn.MultiheadAttention's
}

torch::Tensor ClipBlockImpl::forward(const torch::Tensor& x, bool causal) {
  // x = x + Attn(LN_1(x))   (causal in the text tower: position t sees positions <= t)
  auto h = x + attn(ln_1(x), causal);
  // x = x + MLP(LN_2(x)),  MLP = c_proj(QuickGELU(c_fc(.)))
  return h + mlp->forward(ln_2(h));
}

ClipTransformerImpl::ClipTransformerImpl(int64_t width_, int64_t layers_, int64_t heads) : width(width_), layers(layers_) {
  resblocks = register_module("resblocks", torch::nn::Sequential());
  for (int64_t i = 0; i < layers; ++i) resblocks->push_back(std::to_string(i), ClipBlock(width, heads));
}

torch::Tensor ClipTransformerImpl::forward(torch::Tensor x, bool causal) {
  for (const auto& block : resblocks->children()) x = block->as<ClipBlockImpl>()->forward(x, causal);
  return x;
}

void ClipTransformerImpl::init_openai() {
  torch::NoGradGuard no_grad;
  const double w = static_cast<double>(width);
  const double proj_std = std::pow(w, -0.5) * std::pow(2.0 * static_cast<double>(layers), -0.5);
  const double attn_std = std::pow(w, -0.5), fc_std = std::pow(2.0 * w, -0.5);
  for (const auto& child : resblocks->children()) {
    auto* block = child->as<ClipBlockImpl>();
    block->attn->in_proj_weight.normal_(0.0, attn_std);
    block->attn->out_proj->weight.normal_(0.0, proj_std);
    block->mlp[0]->as<torch::nn::LinearImpl>()->weight.normal_(0.0, fc_std);
    block->mlp[2]->as<torch::nn::LinearImpl>()->weight.normal_(0.0, proj_std);
  }
}

void ClipTransformerImpl::keep_attention(bool keep) {
  for (const auto& block : resblocks->children()) block->as<ClipBlockImpl>()->attn->keep_weights(keep);
}

std::vector<torch::Tensor> ClipTransformerImpl::attention_maps() const {
  std::vector<torch::Tensor> maps;
  for (const auto& block : resblocks->children()) maps.push_back(block->as<ClipBlockImpl>()->attn->last_weights());
  return maps;
}

ClipVisionTransformerImpl::ClipVisionTransformerImpl(const ClipConfig& c) : grid(c.image_size / c.patch_size) {
  const int64_t width = c.vision_width;
  const double scale = std::pow(static_cast<double>(width), -0.5);
  conv1 = register_module("conv1", conv(3, width, c.patch_size, c.patch_size));
  class_embedding = register_parameter("class_embedding", scale * torch::randn({width}));
  positional_embedding = register_parameter("positional_embedding", scale * torch::randn({grid * grid + 1, width}));
  ln_pre = register_module("ln_pre", torch::nn::LayerNorm(torch::nn::LayerNormOptions({width})));
  transformer = register_module("transformer", ClipTransformer(width, c.vision_layers, c.heads_of_vision()));
  ln_post = register_module("ln_post", torch::nn::LayerNorm(torch::nn::LayerNormOptions({width})));
  proj = register_parameter("proj", scale * torch::randn({width, c.embed_dim}));
}

torch::Tensor ClipVisionTransformerImpl::forward(const torch::Tensor& images) {
  // Patches as tokens: (B, 3, S, S) -> (B, W, S/P, S/P) -> (B, N, W)
  auto x = conv1(images).flatten(2).transpose(1, 2);
  if (x.size(1) != grid * grid)
    throw Error("CLIP's image tower takes " + std::to_string(grid * conv1->options.kernel_size()->at(0)) + " px images, got " +
                std::to_string(images.size(-1)));
  // [x_class; x_p^1 E; ...] + E_pos: (B, 1 + N, W)
  x = torch::cat({class_embedding.view({1, 1, -1}).expand_as(one_per_row(x)), x}, 1) + positional_embedding;
  x = transformer(ln_pre(x), /*causal=*/false);
  // The class token's final state, normalised and projected: (B, W) @ (W, D) -> (B, D)
  return torch::matmul(ln_post(x.select(1, 0)), proj);
}

ClipBottleneckImpl::ClipBottleneckImpl(int64_t inplanes, int64_t planes, int64_t stride_) : stride(stride_) {
  constexpr int64_t expansion = 4;
  conv1 = register_module("conv1", conv(inplanes, planes, 1));
  bn1 = register_module("bn1", torch::nn::BatchNorm2d(planes));
  conv2 = register_module("conv2", conv(planes, planes, 3, 1, 1));
  bn2 = register_module("bn2", torch::nn::BatchNorm2d(planes));
  conv3 = register_module("conv3", conv(planes, planes * expansion, 1));
  bn3 = register_module("bn3", torch::nn::BatchNorm2d(planes * expansion));
  if (stride > 1 || inplanes != planes * expansion) {
    downsample = register_module("downsample", torch::nn::Sequential());
    downsample->push_back("-1", avg_pool(stride));
    downsample->push_back("0", conv(inplanes, planes * expansion, 1));
    downsample->push_back("1", torch::nn::BatchNorm2d(planes * expansion));
  }
}

torch::Tensor ClipBottleneckImpl::forward(const torch::Tensor& x) {
  auto out = torch::relu(bn1(conv1(x)));
  out = torch::relu(bn2(conv2(out)));
  // The stride is a 2x2 average pool before the expanding 1x1 (the anti-aliased ResNet-D form).
  if (stride > 1) out = torch::avg_pool2d(out, stride);
  out = bn3(conv3(out));
  const auto identity = downsample ? downsample->forward(x) : x;
  return torch::relu(out + identity);
}

ClipAttentionPoolImpl::ClipAttentionPoolImpl(int64_t spatial, int64_t width, int64_t heads_, int64_t output_dim) : heads(heads_) {
  positional_embedding =
      register_parameter("positional_embedding", torch::randn({spatial * spatial + 1, width}) / std::sqrt(static_cast<double>(width)));
  k_proj = register_module("k_proj", torch::nn::Linear(width, width));
  q_proj = register_module("q_proj", torch::nn::Linear(width, width));
  v_proj = register_module("v_proj", torch::nn::Linear(width, width));
  c_proj = register_module("c_proj", torch::nn::Linear(width, output_dim));
}

torch::Tensor ClipAttentionPoolImpl::forward(const torch::Tensor& features) {
  // (B, C, H, W) -> (B, HW, C); the mean prepended as the query's token: (B, 1 + HW, C)
  auto x = features.flatten(2).transpose(1, 2);
  x = torch::cat({x.mean(1, /*keepdim=*/true), x}, 1) + positional_embedding;
  const int64_t width = x.size(2), head_dim = width / heads;
  auto split = [&](const torch::Tensor& t) { return t.unflatten(-1, {heads, head_dim}).transpose(1, 2); };  // (B, H, T, d)
  const auto q = split(q_proj(x.narrow(1, 0, 1))), k = split(k_proj(x)), v = split(v_proj(x));
  // softmax(q k^T / sqrt(d)): (B, H, 1, 1 + HW)
  auto weights = torch::softmax(torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(static_cast<double>(head_dim)), -1);
  if (keep_weights) last_weights = weights.detach();
  // heads concatenated, through c_proj: (B, H, 1, d) -> (B, C) -> (B, D)
  return c_proj(torch::matmul(weights, v).transpose(1, 2).flatten(2).squeeze(1));
}

ClipModifiedResNetImpl::ClipModifiedResNetImpl(const ClipConfig& c) {
  const int64_t width = c.vision_width;
  // The stem: three 3x3 convolutions (the first with stride 2) and a 2x2 average pool.
  conv1 = register_module("conv1", conv(3, width / 2, 3, 2, 1));
  bn1 = register_module("bn1", torch::nn::BatchNorm2d(width / 2));
  conv2 = register_module("conv2", conv(width / 2, width / 2, 3, 1, 1));
  bn2 = register_module("bn2", torch::nn::BatchNorm2d(width / 2));
  conv3 = register_module("conv3", conv(width / 2, width, 3, 1, 1));
  bn3 = register_module("bn3", torch::nn::BatchNorm2d(width));
  int64_t inplanes = width;
  auto stage = [&](const char* name, int64_t planes, int64_t blocks, int64_t stride) {
    torch::nn::Sequential layer;
    layer->push_back(ClipBottleneck(inplanes, planes, stride));
    inplanes = planes * 4;
    for (int64_t i = 1; i < blocks; ++i) layer->push_back(ClipBottleneck(inplanes, planes, 1));
    return register_module(name, layer);
  };
  layer1 = stage("layer1", width, c.resnet_blocks[0], 1);
  layer2 = stage("layer2", width * 2, c.resnet_blocks[1], 2);
  layer3 = stage("layer3", width * 4, c.resnet_blocks[2], 2);
  layer4 = stage("layer4", width * 8, c.resnet_blocks[3], 2);
  attnpool = register_module("attnpool", ClipAttentionPool(c.image_size / 32, width * 32, c.heads_of_vision(), c.embed_dim));
  // OpenAI's initialisation: the pooling's projections N(0, C^-1/2), each block's last BatchNorm
  // zero (the block starts as the identity).
  torch::NoGradGuard no_grad;
  const double std = std::pow(static_cast<double>(width * 32), -0.5);
  for (auto& linear : {attnpool->q_proj, attnpool->k_proj, attnpool->v_proj, attnpool->c_proj}) linear->weight.normal_(0.0, std);
  for (auto& layer : {layer1, layer2, layer3, layer4})
    for (const auto& block : layer->children()) block->as<ClipBottleneckImpl>()->bn3->weight.zero_();
}

torch::Tensor ClipModifiedResNetImpl::forward(const torch::Tensor& images) {
  // (B, 3, S, S) -> (B, w, S/4, S/4)
  auto x = torch::relu(bn1(conv1(images)));
  x = torch::relu(bn2(conv2(x)));
  x = torch::avg_pool2d(torch::relu(bn3(conv3(x))), 2);
  // -> (B, 32 w, S/32, S/32) -> attention pooling -> (B, D)
  x = layer4->forward(layer3->forward(layer2->forward(layer1->forward(x))));
  if (x.size(-1) * x.size(-2) + 1 != attnpool->positional_embedding.size(0))
    throw Error("CLIP's ResNet tower takes " + std::to_string(32 * static_cast<int64_t>(std::lround(std::sqrt(attnpool->positional_embedding.size(0) - 1)))) +
                " px images, got " + std::to_string(images.size(-1)));
  return attnpool(x);
}

ClipImpl::ClipImpl(const ClipConfig& c) : config_(c) {
  ClipConfig::options().check(c);
  if (c.vision == "vit") visual_vit = register_module("visual", ClipVisionTransformer(c));
  else visual_resnet = register_module("visual", ClipModifiedResNet(c));
  transformer = register_module("transformer", ClipTransformer(c.text_width, c.text_layers, c.text_heads));
  token_embedding = register_module("token_embedding", torch::nn::Embedding(c.vocab_size, c.text_width));
  positional_embedding = register_parameter("positional_embedding", torch::empty({c.context_length, c.text_width}));
  ln_final = register_module("ln_final", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.text_width})));
  text_projection = register_parameter("text_projection", torch::empty({c.text_width, c.embed_dim}));
  // t = log(1 / 0.07): the paper's initial temperature 0.07.
  logit_scale = register_parameter("logit_scale", torch::tensor(std::log(1.0 / 0.07), torch::kFloat32));
  // OpenAI's initialisation of the text side.
  torch::NoGradGuard no_grad;
  token_embedding->weight.normal_(0.0, 0.02);
  positional_embedding.normal_(0.0, 0.01);
  transformer->init_openai();
  text_projection.normal_(0.0, std::pow(static_cast<double>(c.text_width), -0.5));
}

torch::Tensor ClipImpl::encode_image(const torch::Tensor& images) {
  return visual_vit ? visual_vit(images) : visual_resnet(images);
}

torch::Tensor ClipImpl::encode_text(const torch::Tensor& all_tokens) {
  if (all_tokens.size(1) > config_.context_length)
    throw Error("CLIP's text tower reads at most " + std::to_string(config_.context_length) + " tokens, got " + std::to_string(all_tokens.size(1)));
  // Where each text is read: its first end-of-text token (B).
  const auto at_end = (all_tokens == config_.eot_token).to(torch::kInt32).argmax(-1).to(torch::kInt64);
  // The attention is causal, so the positions after the batch's last end-of-text token change
  // nothing that is read: they are cut (captions are far shorter than the context). Not while
  // tracing an export, whose graph must take any text.
  auto tokens = all_tokens;
  if (!torch::jit::tracer::isTracing() && tokens.size(1) > 1) tokens = tokens.narrow(1, 0, at_end.max().item<int64_t>() + 1);
  // (B, T) -> (B, T, W): tokens and their positions
  auto x = token_embedding(tokens) + positional_embedding.narrow(0, 0, tokens.size(1));
  x = ln_final(transformer(x, /*causal=*/true));
  // Read at the end-of-text token (B, W), projected: (B, D)
  // (a gather, not an index by arange(B): an exported trace keeps the batch free)
  const auto pooled = x.gather(1, at_end.view({-1, 1, 1}).expand({-1, 1, x.size(2)})).squeeze(1);    // (B, W)
  return torch::matmul(pooled, text_projection);
}

torch::Tensor ClipImpl::temperature() const {
  // exp(t), at most 100: the clamp stops the gradient once reached, as clamping t would.
  return logit_scale.clamp_max(std::log(100.0)).exp();
}

ClipOutput ClipImpl::forward(const torch::Tensor& images, const torch::Tensor& tokens) {
  return {encode_image(images), encode_text(tokens), temperature()};
}

void ClipImpl::keep_attention(bool keep) {
  if (visual_vit) visual_vit->transformer->keep_attention(keep);
  if (visual_resnet) visual_resnet->attnpool->keep_weights = keep;
  transformer->keep_attention(keep);
}

std::vector<torch::Tensor> ClipImpl::image_attention() const {
  if (visual_vit) return visual_vit->transformer->attention_maps();
  return {visual_resnet->attnpool->last_weights};
}

torch::Tensor clip_contrastive_loss(const torch::Tensor& image_embeddings, const torch::Tensor& text_embeddings,
                                    const torch::Tensor& logit_scale) {
  namespace F = torch::nn::functional;
  // I_e, T_e: unit rows; logits = exp(t) I_e T_e^T: (N, N), row i image i against every text
  const auto images = F::normalize(image_embeddings.to(torch::kFloat32), F::NormalizeFuncOptions().dim(-1));
  const auto texts = F::normalize(text_embeddings.to(torch::kFloat32), F::NormalizeFuncOptions().dim(-1));
  const auto logits = logit_scale * torch::matmul(images, texts.t());
  // The true pairs sit on the diagonal: (CE(logits, i) + CE(logits^T, i)) / 2
  const auto labels = torch::arange(logits.size(0), logits.options().dtype(torch::kInt64));
  return (zoo::nn::cross_entropy(logits, labels) + zoo::nn::cross_entropy(logits.t(), labels)) / 2;
}

torch::Tensor clip_prompt_ensemble(const torch::Tensor& prompt_embeddings) {
  namespace F = torch::nn::functional;
  const auto each = F::normalize(prompt_embeddings.to(torch::kFloat32), F::NormalizeFuncOptions().dim(-1));
  return F::normalize(each.mean(0), F::NormalizeFuncOptions().dim(0));
}

torch::Tensor clip_grad_cache_backward(ClipImpl& model, const torch::Tensor& images, const torch::Tensor& tokens, int64_t chunk,
                                       double gradient_scale) {
  const int64_t n = images.size(0);
  if (chunk < 1) throw UsageError("grad_cache needs a chunk of at least one pair");
  std::vector<std::pair<int64_t, int64_t>> chunks;
  for (int64_t start = 0; start < n; start += chunk) chunks.emplace_back(start, std::min(chunk, n - start));
  // BatchNorm's running statistics as they were, to restore after the graph-free pass (else
  // each chunk would move them twice).
  std::vector<std::pair<torch::Tensor, torch::Tensor>> buffers;
  for (const auto& buffer : model.buffers()) buffers.emplace_back(buffer, buffer.clone());
  const bool on_cuda = images.is_cuda();
  std::vector<torch::Tensor> generator_states;
  auto generator_state = [&] {
    return on_cuda ? torch::Tensor() : at::detail::getDefaultCPUGenerator().get_state();
  };
  auto set_generator_state = [&](const torch::Tensor& state) {
    if (!state.defined()) return;
    at::Generator generator = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(generator.mutex());
    generator.set_state(state);
  };

  // 1. Every chunk's embeddings, without graphs.
  std::vector<torch::Tensor> image_parts, text_parts;
  {
    torch::NoGradGuard no_grad;
    for (const auto& [start, size] : chunks) {
      generator_states.push_back(generator_state());
      image_parts.push_back(model.encode_image(images.narrow(0, start, size)));
      text_parts.push_back(model.encode_text(tokens.narrow(0, start, size)));
    }
  }
  const auto after_first_pass = generator_state();
  {
    torch::NoGradGuard no_grad;
    for (auto& [buffer, saved] : buffers) buffer.copy_(saved);
  }
  // 2. The whole batch's loss, and its gradient with respect to the embeddings (and t).
  auto image_embeddings = torch::cat(image_parts).detach().requires_grad_(true);
  auto text_embeddings = torch::cat(text_parts).detach().requires_grad_(true);
  const auto scale = model.temperature();
  const auto loss = clip_contrastive_loss(image_embeddings, text_embeddings, scale);
  (loss * gradient_scale).backward();  // reaches logit_scale's .grad through `scale`
  const auto image_grad = image_embeddings.grad(), text_grad = text_embeddings.grad();
  // 3. Each chunk again, with its graph, the cached gradient sent back through it.
  for (size_t i = 0; i < chunks.size(); ++i) {
    const auto [start, size] = chunks[i];
    set_generator_state(generator_states[i]);
    const auto image_part = model.encode_image(images.narrow(0, start, size));
    const auto text_part = model.encode_text(tokens.narrow(0, start, size));
    torch::autograd::backward({image_part, text_part},
                              {image_grad.narrow(0, start, size).to(image_part.dtype()), text_grad.narrow(0, start, size).to(text_part.dtype())});
  }
  set_generator_state(after_first_pass);
  return loss.detach();
}

}  // namespace zoo::models
