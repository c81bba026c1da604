#include "lib/bench/bench.h"

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <fstream>
#include <sstream>

#if __has_include(<torch/csrc/autograd/profiler_legacy.h>)
#include <torch/csrc/autograd/profiler_legacy.h>
#endif

#include "data/datasets.h"
#include "data/image.h"
#include "data/loader.h"
#include "lib/core/blas_kernels.h"
#include "lib/core/error.h"
#include "lib/core/onednn_matmul.h"
#include "lib/core/runtime.h"
#include "lib/core/registry.h"
#include "lib/export/torchscript.h"
#include "lib/nn/cross_entropy.h"
#include "lib/nn/search.h"
#include "lib/tasks/builtin.h"
#include "lib/tasks/lm.h"
#include "lib/train/fused_optim.h"
#include "lib/train/precision.h"
#include "models/bert/bert.h"
#include "models/caption/caption_model.h"
#include "models/clip/clip.h"
#include "models/ssl/ssl.h"
#include "models/detect/detr.h"
#include "models/detect/set_criterion.h"
#include "models/lm/char_rnn.h"
#include "models/lm/gpt.h"
#include "lib/nn/ctc.h"
#include "models/ocr/crnn.h"
#include "models/seq2seq/rnn_seq2seq.h"
#include "models/seq2seq/transformer.h"
#include "models/vision/resnet.h"
#include "models/video/video_classifier.h"
#include "models/vision/vit.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace zoo {

namespace {

// Waits for queued GPU work so the clock measures it (a no-op on the CPU).
void synchronize(torch::Device device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.index());
}

// --profile: where the configuration being run writes its trace ("" when not profiling).
std::string g_profile_trace;
constexpr int64_t kProfiledSteps = 3;

// Runs `kProfiledSteps` more steps under LibTorch's profiler and writes every operator's span
// as a Chrome trace (benchmarks/profile_table.py reads it). Untimed: profiling slows a step.
void profile_steps(const std::function<void()>& step, torch::Device device) {
  if (g_profile_trace.empty()) return;
#if __has_include(<torch/csrc/autograd/profiler_legacy.h>)
  torch::autograd::profiler::RecordProfile record(g_profile_trace);
  for (int64_t i = 0; i < kProfiledSteps; ++i) step();
  synchronize(device);
#else
  throw UsageError("--profile: this LibTorch has no legacy profiler (torch/csrc/autograd/profiler_legacy.h)");
#endif
}

// Seconds for `steps` calls of `step` after `warmup` untimed ones, GPU work included; with
// --profile, then a profile of a few more.
double time_steps(const std::function<void()>& step, int64_t warmup, int64_t steps, torch::Device device) {
  for (int64_t i = 0; i < warmup; ++i) step();
  synchronize(device);
  const auto t0 = Clock::now();
  for (int64_t i = 0; i < steps; ++i) step();
  synchronize(device);
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  profile_steps(step, device);
  return seconds;
}

// Where a step's time goes: seconds per phase, summed over the timed steps (those after `warmup`).
// Each step calls start() first, then lap(k) at the end of phase k (GPU work included).
class PhaseTimer {
 public:
  PhaseTimer(size_t phases, int64_t warmup, torch::Device device) : seconds_(phases, 0.0), warmup_(warmup), device_(device) {}
  void start() {
    timing_ = ++calls_ > warmup_;
    t0_ = Clock::now();
  }
  void lap(size_t phase) {
    synchronize(device_);
    const auto now = Clock::now();
    if (timing_) seconds_[phase] += std::chrono::duration<double>(now - t0_).count();
    t0_ = now;
  }
  double ms(size_t phase, int64_t steps) const { return 1000.0 * seconds_[phase] / static_cast<double>(steps); }

 private:
  std::vector<double> seconds_;
  int64_t warmup_, calls_ = 0;
  torch::Device device_;
  bool timing_ = false;
  Clock::time_point t0_;
};

Json result(const std::string& config, const std::string& unit, double units_per_step, double seconds, int64_t steps,
            torch::Device device, Json settings) {
  const double step_s = seconds / static_cast<double>(steps);
  Json r = {{"config", config}, {"unit", unit}, {"per_s", units_per_step / step_s}, {"step_ms", 1000.0 * step_s},
            {"peak_rss_mb", peak_rss_mb()}, {"device", device.str()}, {"threads", torch::get_num_threads()}, {"steps", steps},
            {"blas_core", blas_core()},   // OpenBLAS's kernels ("" for another BLAS): lib/core/blas_kernels.h
            {"matmul", onednn_matmul_active() ? "onednn" : "blas"}};  // lib/core/onednn_matmul.h
  for (auto it = settings.begin(); it != settings.end(); ++it) r[it.key()] = it.value();
  return r;
}

// resnet18_64: torchvision-layout ResNet-18, 10 classes, random 64x64 inputs, batch 64; one
// step = forward + cross-entropy + backward + SGD(lr 0.1, momentum 0.9, wd 5e-4) step.
Json bench_resnet18_64(torch::Device device, int64_t warmup, int64_t steps, Precision precision) {
  models::ResNetConfig config;
  config.num_classes = 10;
  auto model = std::make_shared<models::ResNetImpl>(config);
  model->to(device);
  model->train();
  FusedSGD sgd(model->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9).weight_decay(5e-4));
  const int64_t batch = 64;
  auto images = torch::randn({batch, 3, 64, 64}).to(device);
  auto labels = torch::randint(0, 10, {batch}, torch::kInt64).to(device);
  auto step = [&] {
    sgd.zero_grad();
    torch::Tensor loss;
    {
      AutocastScope autocast(precision, device);
      loss = zoo::nn::cross_entropy(model->forward(images), labels);
    }
    loss.backward();
    sgd.step();
  };
  const double seconds = time_steps(step, warmup, steps, device);
  return result("resnet18_64", "images", batch, seconds, steps, device, {{"batch", batch}, {"input", "3x64x64"}, {"precision", precision_name(precision)}});
}

// loader_folder: the image-folder loader decoding real JPEGs with random-resized-crop 224 +
// flip + normalise, batch 64, one worker per core; a step is one batch.
Json bench_loader_folder(const std::string& data_dir, int64_t warmup, int64_t steps) {
  std::string root = data_dir;
  fs::path temp;
  if (root.empty()) {
    // tiny_coco's 50 photographs are a flat folder: link them into a one-class image folder.
    const std::string coco = find_shared_data("tiny_coco/train2017");
    if (coco.empty()) throw Error("loader_folder needs real images: give --data DIR (an image folder) or run beside ../shared/data");
    temp = fs::temp_directory_path() / ("zoo-bench-" + std::to_string(::getpid()));
    fs::create_directories(temp / "coco");
    for (const auto& entry : fs::directory_iterator(coco))
      if (data::is_image_file(entry.path().string())) fs::create_symlink(fs::absolute(entry.path()), temp / "coco" / entry.path().filename());
    root = temp.string();
  }
  // The links must outlive the loader (images are decoded lazily); removed on every exit path.
  struct RemoveOnExit {
    fs::path path;
    ~RemoveOnExit() {
      std::error_code ec;
      if (!path.empty()) fs::remove_all(path, ec);
    }
  } cleanup{temp};
  auto folder = std::make_shared<data::ImageFolder>(root);
  const int workers = available_cores();
  const int64_t batch = 64;
  data::Preprocess preprocess;  // 224, ImageNet mean/std, random resized crop + flip
  auto make_batch = [&](int64_t b) {
    std::vector<torch::Tensor> images;
    for (int64_t i = 0; i < batch; ++i) {
      const int64_t index = (b * batch + i) % folder->size();
      Rng rng(mix_seed(0, static_cast<uint64_t>(b), static_cast<uint64_t>(i)));
      images.push_back(preprocess.train(folder->image(index), rng));
    }
    return data::Batch{{data::stack_samples(images)}, batch};
  };
  data::PrefetchLoader loader(0, warmup + steps, make_batch, workers);
  for (int64_t i = 0; i < warmup; ++i) loader.next();
  const auto t0 = Clock::now();
  for (int64_t i = 0; i < steps; ++i) loader.next();
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return result("loader_folder", "images", batch, seconds, steps, torch::kCPU,
                {{"batch", batch}, {"workers", workers}, {"images_in_folder", folder->size()}, {"transform", "rrc224+flip+normalize"}});
}

// gemm_2048: one float32 2048x2048x2048 matrix product, the BLAS ceiling training runs under.
Json bench_gemm(torch::Device device, int64_t warmup, int64_t steps) {
  const int64_t n = 2048;
  auto a = torch::randn({n, n}).to(device), b = torch::randn({n, n}).to(device);
  const double seconds = time_steps([&] { torch::mm(a, b); }, warmup, steps, device);
  return result("gemm_2048", "GFLOP", 2.0 * n * n * n / 1e9, seconds, steps, device, {{"shape", "2048x2048x2048"}});
}

// gru_bahdanau: seq2seq_attn at its defaults (the model): vocabularies 8000/6000,
// embeddings 256, bidirectional GRU encoder 256 per direction, GRU decoder 512 initialised by
// tanh(W [h_fwd_last; h_bwd_first]), additive attention 512, decoder input [emb; c], output over
// [s; c; emb]; no dropout. Batch 64, source and target length 24 (23 teacher-forced steps),
// random ids; one step = forward + cross-entropy + backward + clip 1.0 + Adam(1e-3).
Json bench_gru_bahdanau(torch::Device device, int64_t warmup, int64_t steps) {
  const int64_t batch = 64, length = 24;
  models::RnnSeq2SeqConfig config;
  config.dropout = 0.0;
  auto model = std::make_shared<models::RnnSeq2SeqImpl>(config);
  model->to(device);
  model->train();
  FusedAdam adam(model->parameters(), torch::optim::AdamOptions(1e-3));
  // Ids from 4 up: no <pad>, so every position is real.
  auto src = torch::randint(4, config.src_vocab, {batch, length}, torch::kInt64).to(device);
  auto lengths = torch::full({batch}, length, torch::kInt64);
  auto tgt = torch::randint(4, config.tgt_vocab, {batch, length}, torch::kInt64).to(device);
  auto tgt_in = tgt.narrow(1, 0, length - 1), tgt_out = tgt.narrow(1, 1, length - 1);
  auto step = [&] {
    adam.zero_grad();
    auto logits = model->forward(src, lengths, tgt_in);
    auto loss = zoo::nn::cross_entropy(logits.flatten(0, 1), tgt_out.flatten());
    loss.backward();
    torch::nn::utils::clip_grad_norm_(model->parameters(), 1.0);
    adam.step();
  };
  const double seconds = time_steps(step, warmup, steps, device);
  return result("gru_bahdanau", "sentences", batch, seconds, steps, device,
                {{"batch", batch}, {"src_len", length}, {"tgt_steps", length - 1}, {"params", count_parameters(*model)}});
}

// transformer_mt: the Transformer translator of the paper at transformer_small's size: width 256,
// 8 heads, feed-forward 1024 (ReLU), 3+3 layers, dropout 0.1, post-norm, sinusoidal positions
// with embeddings scaled by sqrt(256), an untied output layer (as benchmarks/pytorch_transformer_mt.py
// builds it around nn.Transformer), vocabularies 8000/6000. Batch 64, source length 24, target
// input length 23 (causal mask), random ids; one step = forward + label-smoothed (0.1)
// cross-entropy + backward + Adam(1e-4). Unit: target tokens (64 x 23).
Json bench_transformer_mt(torch::Device device, int64_t warmup, int64_t steps, Precision precision) {
  const int64_t batch = 64, src_length = 24, tgt_length = 23;
  models::TransformerConfig config;
  config.tie_output = false;
  auto model = std::make_shared<models::TransformerImpl>(config);
  model->to(device);
  model->train();
  FusedAdam adam(model->parameters(), torch::optim::AdamOptions(1e-4));
  auto src = torch::randint(4, config.src_vocab, {batch, src_length}, torch::kInt64).to(device);
  auto lengths = torch::full({batch}, src_length, torch::kInt64);
  auto tgt = torch::randint(4, config.tgt_vocab, {batch, tgt_length + 1}, torch::kInt64).to(device);
  auto tgt_in = tgt.narrow(1, 0, tgt_length), tgt_out = tgt.narrow(1, 1, tgt_length);
  const auto loss_options = torch::nn::functional::CrossEntropyFuncOptions().label_smoothing(0.1);
  auto step = [&] {
    adam.zero_grad();
    torch::Tensor loss;
    {
      AutocastScope autocast(precision, device);
      auto logits = model->forward(src, lengths, tgt_in);
      loss = zoo::nn::cross_entropy(logits.flatten(0, 1), tgt_out.flatten(), loss_options);
    }
    loss.backward();
    adam.step();
  };
  const double seconds = time_steps(step, warmup, steps, device);
  return result("transformer_mt", "tokens", static_cast<double>(batch * tgt_length), seconds, steps, device,
                {{"batch", batch}, {"src_len", src_length}, {"tgt_len", tgt_length}, {"params", count_parameters(*model)},
                 {"precision", precision_name(precision)}});
}

// One training step of a language model on random tokens (B, T+1) of a vocabulary of 65 (tiny-
// shakespeare's characters): forward over the first T, cross-entropy against the next token,
// backward, optional clipping, optimizer step. A recurrent model carries its state, detached
// (truncated BPTT). Reports tokens per second.
Json bench_language_model(const std::string& config, std::shared_ptr<models::LanguageModel> model, torch::optim::Optimizer& optimizer,
                          int64_t batch, int64_t length, double clip, torch::Device device, int64_t warmup, int64_t steps, Json settings) {
  model->train();
  auto tokens = torch::randint(0, model->vocab_size(), {batch, length + 1}, torch::kInt64).to(device);
  auto input = tokens.narrow(1, 0, length), target = tokens.narrow(1, 1, length);
  std::vector<torch::Tensor> state;
  auto step = [&] {
    optimizer.zero_grad();
    auto out = model->forward(input, state);
    auto loss = zoo::nn::cross_entropy(out.logits.flatten(0, 1), target.flatten());
    loss.backward();
    if (clip > 0) torch::nn::utils::clip_grad_norm_(model->parameters(), clip);
    optimizer.step();
    state.clear();
    if (model->recurrent())
      for (const auto& s : out.state) state.push_back(s.detach());
  };
  const double seconds = time_steps(step, warmup, steps, device);
  settings["batch"] = batch, settings["length"] = length, settings["params"] = count_parameters(*model);
  return result(config, "tokens", static_cast<double>(batch * length), seconds, steps, device, settings);
}

// lstm_lm: char_rnn with vocabulary 65, embedding 128, a 2-layer LSTM of 512 (impl=fused: zoo's
// LSTM layer on the CPU, lib/nn/lstm_sequence.h; cuDNN's on CUDA), no dropout; batch 32, sequence
// 128, Adam lr 2e-3, clip 1.0.
Json bench_lstm_lm(torch::Device device, int64_t warmup, int64_t steps) {
  models::CharRnnConfig c;
  c.vocab = 65, c.embedding = 128, c.hidden = 512, c.layers = 2, c.cell = "lstm", c.impl = "fused", c.dropout = 0.0;
  auto model = std::make_shared<models::CharRnnImpl>(c);
  model->to(device);
  FusedAdam adam(model->parameters(), torch::optim::AdamOptions(2e-3));
  return bench_language_model("lstm_lm", model, adam, 32, 128, 1.0, device, warmup, steps, {{"model", "char_rnn lstm 2x512, impl=fused"}});
}

// gpt_char: gpt with vocabulary 65, 4 layers, 4 heads, width 128, context 64, no dropout (nanoGPT's
// shakespeare_char CPU recipe); batch 12, AdamW lr 1e-3 (weight decay 0.1, nanoGPT's).
Json bench_gpt_char(torch::Device device, int64_t warmup, int64_t steps) {
  models::GptConfig c;
  c.vocab = 65, c.layers = 4, c.heads = 4, c.width = 128, c.context = 64, c.dropout = 0.0;
  auto model = std::make_shared<models::GptImpl>(c);
  model->to(device);
  FusedAdamW adamw(model->parameters(), torch::optim::AdamWOptions(1e-3).weight_decay(0.1));
  return bench_language_model("gpt_char", model, adamw, 12, 64, 0.0, device, warmup, steps, {{"model", "gpt 4 layers x 4 heads x 128"}});
}
// beam_transformer_mt: translation as `zoo predict` and `zoo eval` run it (TranslateTask::translate):
// the transformer_mt model in eval mode translating 16 random source sentences of 24 tokens at
// beam 5 through nn::search over TransformerImpl::encode and decode_step (the cross-attention
// keys and values projected once, the self-attention cache reordered with the beams), at most
// 2 x 24 + 10 = 58 tokens each. The output layer's <eos> bias is -1e4 here and in the twin, so
// that every sentence runs to that limit: a random model would stop at random steps. Unit:
// sentences. (benchmarks/pytorch_beam_transformer.py: the same search batched in PyTorch.)
Json bench_beam_transformer_mt(torch::Device device, int64_t warmup, int64_t steps) {
  const int64_t batch = 16, src_length = 24;
  models::TransformerConfig config;
  config.tie_output = false;
  auto model = std::make_shared<models::TransformerImpl>(config);
  model->to(device);
  model->eval();
  nn::SearchOptions search;
  search.beam = 5;
  {
    torch::NoGradGuard no_grad;
    model->named_parameters()["generator.bias"][search.eos].fill_(-1e4);
  }
  auto src = torch::randint(4, config.src_vocab, {batch, src_length}, torch::kInt64).to(device);
  auto lengths = torch::full({batch}, src_length, torch::kInt64);
  const std::vector<int64_t> source_lengths(static_cast<size_t>(batch), src_length);
  const auto want = static_cast<size_t>(search.max_len_ratio * src_length) + static_cast<size_t>(search.max_len_extra) - 1;  // before <eos>
  const nn::StepFunction decode_step = [&](const torch::Tensor& tokens, const std::vector<torch::Tensor>& state) {
    return model->decode_step(tokens, state);
  };
  auto step = [&] {
    torch::NoGradGuard no_grad;  // as TranslateTask::translate
    for (const auto& h : nn::search(decode_step, model->encode(src, lengths), source_lengths, search))
      if (h.tokens.size() != want)
        throw Error("beam_transformer_mt: a translation of " + std::to_string(h.tokens.size()) + " tokens, not " + std::to_string(want));
  };
  const double seconds = time_steps(step, warmup, steps, device);
  return result("beam_transformer_mt", "sentences", static_cast<double>(batch), seconds, steps, device,
                {{"batch", batch}, {"src_len", src_length}, {"beam", search.beam}, {"tgt_len", want + 1}, {"params", count_parameters(*model)}});
}

// sample_gpt: what nanoGPT's sample.py does with its shakespeare_char model (6 layers, 6 heads,
// width 384, context 256, vocabulary 65; 10.7M parameters), with the key/value cache: one step
// is one sample of 255 new tokens after a 1-token prompt, batch 1, temperature 0.8, top-k 200,
// through the lm task's own generation loop (zoo::generate_tokens, as `zoo predict` runs it).
// Unit: generated tokens. (benchmarks/pytorch_gpt_sample.py: nanoGPT's model with an expert's
// preallocated cache.)
Json bench_sample_gpt(torch::Device device, int64_t warmup, int64_t steps) {
  models::GptConfig c;
  c.vocab = 65, c.layers = 6, c.heads = 6, c.width = 384, c.context = 256, c.dropout = 0.0;
  auto model = std::make_shared<models::GptImpl>(c);
  model->to(device);
  model->eval();
  const int64_t new_tokens = c.context - 1;
  const nn::SamplingOptions sampling{0.8, 200, 1.0};
  Rng rng(0);
  const LmRunner run = [&](const torch::Tensor& tokens, const std::vector<torch::Tensor>& state) {
    return model->forward(tokens.to(device), state);
  };
  int64_t generated = 0;
  const LmStateMaker fresh_state = [&] { return model->reserve_state(1); };
  auto step = [&] { generated = static_cast<int64_t>(generate_tokens(run, {0}, c.context, new_tokens, sampling, rng, -1, fresh_state).size()); };
  const double seconds = time_steps(step, warmup, steps, device);
  if (generated != new_tokens) throw Error("sample_gpt: generated " + std::to_string(generated) + " tokens, not " + std::to_string(new_tokens));
  return result("sample_gpt", "tokens", static_cast<double>(new_tokens), seconds, steps, device,
                {{"model", "gpt 6 layers x 6 heads x 384"}, {"batch", 1}, {"prompt", 1}, {"new_tokens", new_tokens},
                 {"params", count_parameters(*model)}, {"temperature", sampling.temperature}, {"top_k", sampling.top_k}});
}

// classify_r50_ts: batched image classification through the TorchScript export, as `zoo predict
// --torchscript` runs it: torchvision's ResNet-50 (25,557,032 parameters) traced and saved by
// zoo's exporter (ClassifyTask::export_torchscript's way), loaded back, optimized for inference
// as ClassifyTask::use_torchscript does (frozen, batch norms folded into the convolutions, oneDNN
// convolutions), then batches of 16 random 224x224 images under inference mode. Unit: images.
// (benchmarks/pytorch_classify_r50_ts.py: torchvision's model, scripted and optimized the same way.)
Json bench_classify_r50_ts(torch::Device device, int64_t warmup, int64_t steps) {
  models::ResNetConfig config;
  config.bottleneck = true, config.layers = {3, 4, 6, 3};
  auto model = std::make_shared<models::ResNetImpl>(config);
  const int64_t params = count_parameters(*model);
  auto traced = trace_module(*model, "resnet50", [&](const std::vector<torch::Tensor>& in) { return model->forward(in[0]); },
                             {torch::randn({2, 3, 224, 224})});
  const fs::path path = fs::temp_directory_path() / ("zoo_bench_resnet50." + std::to_string(::getpid()) + ".pt");
  save_torchscript(traced, path.string(), Json{{"task", "classify"}, {"model", "resnet50"}});
  torch::jit::Module loaded;
  try {
    loaded = load_torchscript(path.string(), device, nullptr);
  } catch (...) {
    fs::remove(path);
    throw;
  }
  fs::remove(path);
  const auto t0 = Clock::now();
  auto optimized = optimize_for_inference(loaded);
  const double optimize_s = std::chrono::duration<double>(Clock::now() - t0).count();
  const int64_t batch = 16;
  auto images = torch::randn({batch, 3, 224, 224}).to(device);
  auto step = [&] {
    c10::InferenceMode inference;
    auto logits = optimized.forward({images}).toTensor();
    if (logits.size(0) != batch || logits.size(1) != 1000) throw Error("classify_r50_ts: unexpected logits shape");
  };
  const double seconds = time_steps(step, warmup, steps, device);
  return result("classify_r50_ts", "images", static_cast<double>(batch), seconds, steps, device,
                {{"model", "resnet50 (TorchScript export)"}, {"batch", batch}, {"image_size", 224}, {"params", params},
                 {"optimize_s", optimize_s}});
}

// vit_cifar: a ViT for 32x32 images (vit_tiny_patch4_32): 4x4 patches by a strided convolution
// (64 tokens and a class token), width 192, depth 6, 3 heads, MLP 768 with GELU, pre-norm, no
// dropout, learned positions, 10 classes. Batch 128 random images; one step = forward +
// cross-entropy + backward + AdamW(lr 1e-3, weight decay 0.05). Unit: images.
// (benchmarks/pytorch_vit_cifar.py is the same model on PyTorch's stock nn.TransformerEncoder.)
Json bench_vit_cifar(torch::Device device, int64_t warmup, int64_t steps, Precision precision) {
  const int64_t batch = 128;
  models::VitConfig config;
  config.image_size = 32, config.patch_size = 4, config.layers = 6, config.heads = 3, config.width = 192, config.mlp = 768;
  config.num_classes = 10;
  auto model = std::make_shared<models::VisionTransformerImpl>(config);
  model->to(device);
  model->train();
  FusedAdamW adamw(model->parameters(), torch::optim::AdamWOptions(1e-3).weight_decay(0.05));
  auto images = torch::randn({batch, 3, 32, 32}).to(device);
  auto labels = torch::randint(0, 10, {batch}, torch::kInt64).to(device);
  auto step = [&] {
    adamw.zero_grad();
    torch::Tensor loss;
    {
      AutocastScope autocast(precision, device);
      loss = zoo::nn::cross_entropy(model->forward(images), labels);
    }
    loss.backward();
    adamw.step();
  };
  const double seconds = time_steps(step, warmup, steps, device);
  return result("vit_cifar", "images", batch, seconds, steps, device,
                {{"batch", batch}, {"input", "3x32x32"}, {"params", count_parameters(*model)}, {"precision", precision_name(precision)}});
}

// timesformer_small: TimeSformer for 32x32 clips at the registry's size (4x4 patches, width 192,
// 4 blocks, 3 heads, MLP 768), divided space-time attention over 8 frames: 512 patch tokens and a
// class token per clip; 9 classes, no dropout or stochastic depth. Batch 16 random clips
// (16, 3, 8, 32, 32); one step = forward + cross-entropy + backward + AdamW(lr 1e-3, weight decay
// 0.05). Unit: clips. (benchmarks/pytorch_timesformer.py is the same model in PyTorch.)
Json bench_timesformer_small(torch::Device device, int64_t warmup, int64_t steps) {
  const int64_t batch = 16, frames = 8, side = 32;
  auto model = std::dynamic_pointer_cast<models::VideoClassifierImpl>(registry().create_model("timesformer_small", {{"drop_path", 0.0}}));
  model->to(device);
  model->train();
  FusedAdamW adamw(model->parameters(), torch::optim::AdamWOptions(1e-3).weight_decay(0.05));
  auto clips = torch::randn({batch, 3, frames, side, side}).to(device);
  auto labels = torch::randint(0, 9, {batch}, torch::kInt64).to(device);
  auto step = [&] {
    adamw.zero_grad();
    zoo::nn::cross_entropy(model->forward(clips), labels).backward();
    adamw.step();
  };
  const double seconds = time_steps(step, warmup, steps, device);
  return result("timesformer_small", "clips", batch, seconds, steps, device,
                {{"batch", batch}, {"input", "3x8x32x32"}, {"attention", "divided"}, {"tokens", 1 + frames * 64}, {"params", count_parameters(*model)}});
}

// crnn_lines: CRNN at the paper's size (the registry's crnn: 8,331,301 parameters, grey lines, the
// blank and 36 characters) on the paper's 100x32 line images. Batch 64 random lines with random
// transcripts of 5-10 characters; one step = forward + log-softmax + CTC (per character, averaged
// over the lines: PyTorch's CTCLoss "mean", zero_infinity) + backward + clip 5 + Adam(1e-3), as the
// OCR task trains (NCHW; channels-last measured no faster for zoo here). Unit: lines.
// (benchmarks/pytorch_crnn.py is the same step in PyTorch.)
Json bench_crnn_lines(torch::Device device, int64_t warmup, int64_t steps) {
  const int64_t batch = 64, width = 100;
  auto model = std::dynamic_pointer_cast<models::CrnnImpl>(registry().create_model("crnn", Json::object()));
  model->to(device);
  model->train();
  FusedAdam adam(model->parameters(), torch::optim::AdamOptions(1e-3));
  auto images = torch::randn({batch, 1, 32, width}).to(device);
  auto widths = torch::full({batch}, width, torch::kInt64).to(device);
  auto target_lengths = torch::randint(5, 11, {batch}, torch::kInt64).to(device);
  auto targets = torch::randint(1, 37, {batch, 10}, torch::kInt64).to(device);
  auto step = [&] {
    adam.zero_grad();
    const auto log_probs = torch::log_softmax(model->forward(images, widths), 2);  // (T, B, 37)
    const auto per_line = nn::ctc_loss(log_probs, targets, model->output_lengths(widths), target_lengths, 0, true);
    (per_line / target_lengths.to(per_line.dtype())).mean().backward();
    torch::nn::utils::clip_grad_norm_(model->parameters(), 5.0);
    adam.step();
  };
  const double seconds = time_steps(step, warmup, steps, device);
  return result("crnn_lines", "lines", batch, seconds, steps, device,
                {{"batch", batch}, {"input", "1x32x100"}, {"columns", width / 4 + 1}, {"params", count_parameters(*model)}});
}

// bert_mini_mlm: BERT-Mini (the registry's bert_mini: 4 layers, width 256, 4 heads, FFN 1024,
// dropout 0.1) at the published uncased vocabulary of 30,522 pieces, masked-LM pretraining as
// BERT's first phase: batch 32 sequences of 128 pieces ([CLS] ... [SEP]), 19 of the 126 pieces of
// each (round(15%)) to predict; one step = encoder forward + the masked positions' states gathered
// + head (transform, tied decoder) + cross-entropy + backward + clip 1 + AdamW(1e-4, weight decay
// 0.01), as the mlm task trains. Unit: sequences. (benchmarks/pytorch_bert.py is the same step.)
Json bench_bert_mini_mlm(torch::Device device, int64_t warmup, int64_t steps) {
  const int64_t batch = 32, length = 128, vocab = 30522, masked = 19;
  auto model = std::dynamic_pointer_cast<models::BertForMaskedLmImpl>(registry().create_model("bert_mini", Json::object()));
  model->to(device);
  model->train();
  FusedAdamW adamw(model->parameters(), torch::optim::AdamWOptions(1e-4).weight_decay(0.01));
  auto tokens = torch::randint(5, vocab, {batch, length}, torch::kInt64);
  tokens.select(1, 0).fill_(2), tokens.select(1, length - 1).fill_(3);  // [CLS], [SEP]
  // 19 distinct positions in 1..126 per row, as flat indices into (B x T).
  auto positions = std::get<1>(torch::rand({batch, length - 2}).sort(/*dim=*/1)).narrow(1, 0, masked) + 1;
  auto flat = (positions + torch::arange(batch).unsqueeze(1) * length).flatten().to(device);
  auto labels = tokens.flatten().index_select(0, flat.cpu()).to(device);
  tokens = tokens.to(device);
  auto step = [&] {
    adamw.zero_grad();
    const auto states = model->forward(tokens).flatten(0, 1).index_select(0, flat);  // (B x 19, H)
    zoo::nn::cross_entropy(model->predict_tokens(states), labels).backward();
    torch::nn::utils::clip_grad_norm_(model->parameters(), 1.0);
    adamw.step();
  };
  const double seconds = time_steps(step, warmup, steps, device);
  return result("bert_mini_mlm", "sequences", batch, seconds, steps, device,
                {{"batch", batch}, {"length", length}, {"masked", masked}, {"vocab", vocab}, {"params", count_parameters(*model)}});
}

// adamw_bert_mini: the optimizer step alone, one AdamW(1e-4, weight decay 0.01) step over BERT-
// Mini's 11,267,386 parameters in 69 tensors (the word embeddings 7.8 M of them), gradients
// random and fixed: what issue 27's fused step saves (ZOO_OPTIMIZER=libtorch gives LibTorch's
// step for comparison). Unit: parameters updated.
Json bench_adamw_bert_mini(torch::Device device, int64_t warmup, int64_t steps) {
  auto model = registry().create_model("bert_mini", Json::object());
  model->to(device);
  const auto parameters = model->parameters();
  for (auto& p : parameters) p.mutable_grad() = torch::randn_like(p) * 1e-3;
  FusedAdamW adamw(parameters, torch::optim::AdamWOptions(1e-4).weight_decay(0.01));
  const double seconds = time_steps([&] { adamw.step(); }, warmup, steps, device);
  const auto count = count_parameters(*model);
  return result("adamw_bert_mini", "parameters", static_cast<double>(count), seconds, steps, device,
                {{"params", count}, {"tensors", parameters.size()}, {"optimizer", std::getenv("ZOO_OPTIMIZER") ? std::getenv("ZOO_OPTIMIZER") : "fused"}});
}

// softmax_ce_6000: the loss alone, forward and backward: cross-entropy of (64 x 23) positions over
// 6,000 classes (gru_bahdanau's output layer) with label smoothing 0.1 and a tenth of the targets
// pads (ignored), through the loss the tasks train with (lib/nn/cross_entropy.h; LibTorch's under
// ZOO_CROSS_ENTROPY=libtorch). Unit: positions.
Json bench_softmax_ce(torch::Device device, int64_t warmup, int64_t steps) {
  const int64_t positions = 64 * 23, classes = 6000;
  auto logits = (torch::randn({positions, classes}) * 3).to(device).set_requires_grad(true);
  auto target = torch::randint(1, classes, {positions}, torch::kInt64);
  target.masked_fill_(torch::rand({positions}) < 0.1, 0);
  target = target.to(device);
  const auto options = torch::nn::functional::CrossEntropyFuncOptions().ignore_index(0).label_smoothing(0.1);
  auto step = [&] {
    logits.mutable_grad() = torch::Tensor();
    zoo::nn::cross_entropy(logits, target, options).backward();
  };
  const double seconds = time_steps(step, warmup, steps, device);
  const char* forced = std::getenv("ZOO_CROSS_ENTROPY");
  return result("softmax_ce_6000", "positions", static_cast<double>(positions), seconds, steps, device,
                {{"positions", positions}, {"classes", classes}, {"implementation", forced ? forced : "fused"}});
}

// sat_soft: Show, Attend and Tell with soft attention at the paper's COCO size: a frozen ResNet-50
// trunk (through layer4, pooled to 14x14 = 196 annotation vectors of 2048), embedding, attention
// and LSTM 512, dropout 0.5, vocabulary 10,000; the registry's show_attend_tell with these options.
// Batch 32 of random 224x224 images with 20-word captions (random ids, teacher forcing); one step =
// trunk (no gradient) + decoder forward + cross-entropy + doubly stochastic penalty (lambda 1) +
// backward + clip 5 + Adam(4e-4) on the decoder. Unit: images.
Json bench_sat_soft(torch::Device device, int64_t warmup, int64_t steps) {
  const int64_t batch = 32, words = 20, vocab = 10000;
  const Json options = {{"encoder", "resnet50"}, {"encoder_stage", 4}, {"encoder_grid", 14}, {"freeze_encoder", true},
                        {"vocab", vocab}, {"embed", 512}, {"attention", 512}, {"hidden", 512}};
  auto model = std::dynamic_pointer_cast<models::CaptionModel>(registry().create_model("show_attend_tell", options));
  model->to(device);
  model->train();
  std::vector<torch::Tensor> trainable;
  for (const auto& p : model->parameters())
    if (p.requires_grad()) trainable.push_back(p);
  FusedAdam adam(trainable, torch::optim::AdamOptions(4e-4));
  auto images = torch::randn({batch, 3, 224, 224}).to(device);
  auto tokens = torch::randint(4, vocab, {batch, words + 1}, torch::kInt64).to(device);
  auto tokens_in = tokens.narrow(1, 0, words), tokens_out = tokens.narrow(1, 1, words);
  auto step = [&] {
    adam.zero_grad();
    model->loss(images, tokens_in, tokens_out, 0.0).backward();
    torch::nn::utils::clip_grad_norm_(trainable, 5.0);
    adam.step();
  };
  const double seconds = time_steps(step, warmup, steps, device);
  int64_t trainable_count = 0;
  for (const auto& p : trainable) trainable_count += p.numel();
  return result("sat_soft", "images", batch, seconds, steps, device,
                {{"batch", batch}, {"input", "3x224x224"}, {"words", words}, {"vocab", vocab}, {"params", count_parameters(*model)},
                 {"trainable", trainable_count}});
}

// A DETR training step on random images with random boxes, timed phase by phase (forward; matching
// and set loss of every decoder layer; backward; clipping and AdamW) so the result says where the
// time goes. `counts` boxes per image, of 5% to 35% of the side, centred in the middle 60%.
Json bench_detr(const std::string& config, const std::string& model_name, int64_t batch, int64_t side, const std::vector<int64_t>& counts,
                torch::Device device, int64_t warmup, int64_t steps) {
  auto model = std::dynamic_pointer_cast<models::DetrImpl>(registry().create_model(model_name, Json::object()));
  model->to(device);
  model->train();
  const auto& detr = model->config();
  // DETR's recipe: AdamW 1e-4, the backbone at backbone_lr, weight decay 1e-4, clipping at 0.1.
  std::vector<torch::optim::OptimizerParamGroup> groups{torch::optim::OptimizerParamGroup(model->head_parameters())};
  if (!model->backbone_parameters().empty())
    groups.emplace_back(model->backbone_parameters(),
                        std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(detr.backbone_lr > 0 ? detr.backbone_lr : 1e-4).weight_decay(1e-4)));
  FusedAdamW adamw(std::move(groups), torch::optim::AdamWOptions(1e-4).weight_decay(1e-4));
  std::vector<torch::Tensor> trainable = model->head_parameters();
  for (const auto& p : model->backbone_parameters()) trainable.push_back(p);
  torch::manual_seed(1);
  auto images = torch::randn({batch, 3, side, side}).to(device);
  auto mask = torch::zeros({batch, side, side}, torch::kBool).to(device);
  int64_t boxes = 0;
  for (int64_t c : counts) boxes += c;
  auto centres = torch::rand({boxes, 2}) * 0.6 + 0.2, sizes = torch::rand({boxes, 2}) * 0.3 + 0.05;
  models::DetectionTargets targets{torch::cat({centres, sizes}, 1).to(device),
                                   torch::randint(0, detr.num_classes, {boxes}, torch::kInt64).to(device), counts};
  const models::DetrLossConfig loss_config;
  PhaseTimer phases(4, warmup, device);  // forward, matching + loss, backward, optimizer
  auto step = [&] {
    phases.start();
    adamw.zero_grad();
    const auto output = model->forward(images, mask);
    phases.lap(0);
    auto loss = models::detr_loss(output, targets, loss_config, detr.num_classes);
    phases.lap(1);
    loss.backward();
    phases.lap(2);
    torch::nn::utils::clip_grad_norm_(trainable, 0.1);
    adamw.step();
    phases.lap(3);
  };
  const double seconds = time_steps(step, warmup, steps, device);
  int64_t trainable_count = 0;
  for (const auto& p : trainable) trainable_count += p.numel();
  auto ms = [&](size_t k) { return phases.ms(k, steps); };
  return result(config, "images", static_cast<double>(batch), seconds, steps, device,
                {{"model", model_name}, {"batch", batch}, {"input", "3x" + std::to_string(side) + "x" + std::to_string(side)}, {"boxes", boxes},
                 {"params", count_parameters(*model)}, {"trainable", trainable_count}, {"forward_ms", ms(0)}, {"loss_ms", ms(1)},
                 {"backward_ms", ms(2)}, {"optimizer_ms", ms(3)}});
}

// detr_r50: the registry's detr_resnet50 (frozen BatchNorm, stem and layer1 frozen, 6+6 layers of
// 256, 100 queries, 91 classes, dropout 0.1, auxiliary losses) on a batch of 2 random 384x384
// images with 5 and 7 boxes; one step = forward + Hungarian matching and set loss of all 6 decoder
// layers + backward + clip 0.1 + AdamW (1e-4, the backbone 1e-5, weight decay 1e-4), DETR's
// recipe. Unit: images. (benchmarks/pytorch_detr.py is DETR's own code for the same step.)
Json bench_detr_r50(torch::Device device, int64_t warmup, int64_t steps) {
  return bench_detr("detr_r50", "detr_resnet50", 2, 384, {5, 7}, device, warmup, steps);
}

// detr_small: detr_resnet18_small as CI and docs/RESULTS.md train it: batch 8 of 128x128 images
// with 1 to 4 boxes.
Json bench_detr_small(torch::Device device, int64_t warmup, int64_t steps) {
  return bench_detr("detr_small", "detr_resnet18_small", 8, 128, {1, 2, 3, 4, 1, 2, 3, 4}, device, warmup, steps);
}

// Every configuration, in the order "all" runs them.
// clip_small: the registry's clip_small (32 px images on 4 px patches, 4-layer ViT and 4-layer
// causal text Transformer of width 128 with 4 heads, contexts of 32 tokens, joint space 128,
// CLIP's 49,408-token vocabulary). Batch 128 random image-text pairs (texts of 4-31 tokens then
// padding); one step = both towers + the symmetric contrastive loss + backward + AdamW(5e-4,
// weight decay 0.2 on the matrices only, as zoo train). Unit: pairs.
// (benchmarks/pytorch_clip.py is the same model and step in PyTorch.)
Json bench_clip_small(torch::Device device, int64_t warmup, int64_t steps) {
  const int64_t batch = 128, context = 32;
  auto model = std::dynamic_pointer_cast<models::ClipImpl>(registry().create_model("clip_small", Json::object()));
  model->to(device);
  model->train();
  std::vector<torch::Tensor> decay, no_decay;
  for (const auto& item : model->named_parameters())
    (models::clip_weight_decayed(item.key(), item.value()) ? decay : no_decay).push_back(item.value());
  std::vector<torch::optim::OptimizerParamGroup> groups{torch::optim::OptimizerParamGroup(decay), torch::optim::OptimizerParamGroup(no_decay)};
  FusedAdamW adamw(groups, torch::optim::AdamWOptions(5e-4).weight_decay(0.2));
  static_cast<torch::optim::AdamWOptions&>(adamw.param_groups()[1].options()).weight_decay(0.0);
  auto images = torch::randn({batch, 3, 32, 32}).to(device);
  // <|startoftext|>, random ids, <|endoftext|> at a random position, zeros after it.
  auto tokens = torch::randint(1, 49406, {batch, context}, torch::kInt64);
  tokens.select(1, 0).fill_(49406);
  const auto lengths = torch::randint(4, context, {batch}, torch::kInt64);
  const auto positions = torch::arange(context, torch::kInt64).unsqueeze(0);
  tokens.masked_fill_(positions > lengths.unsqueeze(1), 0);
  tokens.masked_fill_(positions == lengths.unsqueeze(1), 49407);
  tokens = tokens.to(device);
  PhaseTimer phases(4, warmup, device);  // image tower, text tower, loss + backward, optimizer
  auto step = [&] {
    phases.start();
    adamw.zero_grad();
    const auto image_embeddings = model->encode_image(images);
    phases.lap(0);
    const auto text_embeddings = model->encode_text(tokens);
    phases.lap(1);
    models::clip_contrastive_loss(image_embeddings, text_embeddings, model->temperature()).backward();
    phases.lap(2);
    adamw.step();
    phases.lap(3);
  };
  const double seconds = time_steps(step, warmup, steps, device);
  auto ms = [&](size_t k) { return phases.ms(k, steps); };
  return result("clip_small", "pairs", batch, seconds, steps, device,
                {{"batch", batch}, {"input", "3x32x32 images, 32-token texts"}, {"params", count_parameters(*model)},
                 {"image_forward_ms", ms(0)}, {"text_forward_ms", ms(1)}, {"backward_ms", ms(2)}, {"optimizer_ms", ms(3)}});
}

// A self-supervised step of the registry's ssl wrapper around `backbone` with `options` (--set
// values), on random views: views[v] (batch, 3, s, s). One step = the method's loss (online and
// target forward; BYOL: both views through both networks; DINO: every crop through the student,
// the global ones through the teacher) + backward + clipping at 3 + AdamW(1e-3, weight decay
// 0.04) on the online network, as zoo train's ssl recipe + the EMA update of the target (weights
// and buffers). Unit: images (each with all its views).
Json bench_ssl(const std::string& config, const std::string& backbone, const Json& options, const std::vector<int64_t>& view_sides,
               int64_t batch, bool channels_last, torch::Device device, int64_t warmup, int64_t steps) {
  auto model = std::dynamic_pointer_cast<models::SslModelImpl>(registry().create_model(backbone, options, "ssl"));
  model->to(device);
  if (channels_last) models::to_channels_last(*model);
  model->train();
  std::vector<torch::Tensor> trainable;
  for (const auto& p : model->online->parameters())
    if (p.requires_grad()) trainable.push_back(p);
  FusedAdamW adamw(trainable, torch::optim::AdamWOptions(1e-3).weight_decay(0.04));
  std::vector<torch::Tensor> views;
  for (int64_t side : view_sides) {
    auto view = torch::randn({batch, 3, side, side}).to(device);
    views.push_back(channels_last ? view.contiguous(at::MemoryFormat::ChannelsLast) : view);
  }
  PhaseTimer phases(3, warmup, device);  // loss + backward, clipping + optimizer, EMA
  auto step = [&] {
    phases.start();
    adamw.zero_grad();
    model->loss(views).loss.backward();
    phases.lap(0);
    torch::nn::utils::clip_grad_norm_(trainable, 3.0);
    adamw.step();
    phases.lap(1);
    model->update_target(0.996);
    phases.lap(2);
  };
  const double seconds = time_steps(step, warmup, steps, device);
  auto ms = [&](size_t k) { return phases.ms(k, steps); };
  std::string input;
  for (int64_t side : view_sides) input += (input.empty() ? "" : " + ") + std::string("3x") + std::to_string(side) + "x" + std::to_string(side);
  return result(config, "images", batch, seconds, steps, device,
                {{"batch", batch}, {"input", input}, {"params", count_parameters(*model)}, {"channels_last", channels_last}, {"loss_backward_ms", ms(0)},
                 {"optimizer_ms", ms(1)}, {"ema_ms", ms(2)}});
}

// byol_r18: BYOL around resnet18_cifar with the paper's projector and predictor (4096 -> 256),
// batch 128 images as two 32x32 views, NHWC (zoo train --channels-last). (benchmarks/pytorch_byol.py is the same step in PyTorch.)
Json bench_byol_r18(torch::Device device, int64_t warmup, int64_t steps) {
  return bench_ssl("byol_r18", "resnet18_cifar", {{"method", "byol"}}, {32, 32}, 128, /*channels_last=*/true, device, warmup, steps);
}

// dino_vit_tiny: DINO around vit_tiny_patch4_32 (6 layers of width 192, 3 heads), its head 2048
// wide to a 256 bottleneck and K = 4096 outputs; batch 64 images as 2 global 32 px crops and 4
// local 16 px ones. (benchmarks/pytorch_dino.py is the same step in PyTorch.)
Json bench_dino_vit_tiny(torch::Device device, int64_t warmup, int64_t steps) {
  return bench_ssl("dino_vit_tiny", "vit_tiny_patch4_32", {{"method", "dino"}, {"out_dim", 4096}, {"local_crops", 4}}, {32, 32, 16, 16, 16, 16}, 64,
                   /*channels_last=*/false, device, warmup, steps);
}

struct Benchmark {
  const char* name;
  std::function<Json(torch::Device, const Options&, int64_t warmup, int64_t steps)> run;
  bool mixed_precision = false;  // takes --precision bf16/fp16
};

// --precision of `zoo bench` (fp32 when a library caller gives none).
Precision precision_of(const Options& o) { return parse_precision(o.has("precision") ? o.get_string("precision") : "fp32"); }

const std::vector<Benchmark>& benchmarks() {
  static const std::vector<Benchmark> table{
      {"resnet18_64", [](torch::Device d, const Options& o, int64_t w, int64_t s) { return bench_resnet18_64(d, w, s, precision_of(o)); }, true},
      {"loader_folder",
       [](torch::Device, const Options& o, int64_t w, int64_t s) { return bench_loader_folder(o.has("data") ? o.get_string("data") : "", w, s); }},
      {"gemm_2048", [](torch::Device d, const Options&, int64_t w, int64_t s) { return bench_gemm(d, w, s); }},
      {"gru_bahdanau", [](torch::Device d, const Options&, int64_t w, int64_t s) { return bench_gru_bahdanau(d, w, s); }},
      {"lstm_lm", [](torch::Device d, const Options&, int64_t w, int64_t s) { return bench_lstm_lm(d, w, s); }},
      {"gpt_char", [](torch::Device d, const Options&, int64_t w, int64_t s) { return bench_gpt_char(d, w, s); }},
      {"sample_gpt", [](torch::Device d, const Options&, int64_t w, int64_t s) { return bench_sample_gpt(d, w, s); }},
      {"transformer_mt", [](torch::Device d, const Options& o, int64_t w, int64_t s) { return bench_transformer_mt(d, w, s, precision_of(o)); }, true},
      {"classify_r50_ts", [](torch::Device d, const Options&, int64_t w, int64_t s) { return bench_classify_r50_ts(d, w, s); }},
      {"beam_transformer_mt", [](torch::Device d, const Options&, int64_t w, int64_t s) { return bench_beam_transformer_mt(d, w, s); }},
      {"vit_cifar", [](torch::Device d, const Options& o, int64_t w, int64_t s) { return bench_vit_cifar(d, w, s, precision_of(o)); }, true},
      {"timesformer_small", [](torch::Device d, const Options&, int64_t w, int64_t s) { return bench_timesformer_small(d, w, s); }},
      {"crnn_lines", [](torch::Device d, const Options&, int64_t w, int64_t s) { return bench_crnn_lines(d, w, s); }},
      {"bert_mini_mlm", [](torch::Device d, const Options&, int64_t w, int64_t s) { return bench_bert_mini_mlm(d, w, s); }},
      {"adamw_bert_mini", [](torch::Device d, const Options&, int64_t w, int64_t s) { return bench_adamw_bert_mini(d, w, s); }},
      {"softmax_ce_6000", [](torch::Device d, const Options&, int64_t w, int64_t s) { return bench_softmax_ce(d, w, s); }},
      {"sat_soft", [](torch::Device d, const Options&, int64_t w, int64_t s) { return bench_sat_soft(d, w, s); }},
      {"detr_r50", [](torch::Device d, const Options&, int64_t w, int64_t s) { return bench_detr_r50(d, w, s); }},
      {"detr_small", [](torch::Device d, const Options&, int64_t w, int64_t s) { return bench_detr_small(d, w, s); }},
      {"clip_small", [](torch::Device d, const Options&, int64_t w, int64_t s) { return bench_clip_small(d, w, s); }},
      {"byol_r18", [](torch::Device d, const Options&, int64_t w, int64_t s) { return bench_byol_r18(d, w, s); }},
      {"dino_vit_tiny", [](torch::Device d, const Options&, int64_t w, int64_t s) { return bench_dino_vit_tiny(d, w, s); }},
  };
  return table;
}

}  // namespace

std::string benchmark_names() {
  std::string names;
  for (const auto& b : benchmarks()) names += (names.empty() ? "" : ", ") + std::string(b.name);
  return names;
}

double peak_rss_mb() {
  // VmHWM rather than getrusage's ru_maxrss: only VmHWM can be reset between configurations.
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;  // kB
  return 0.0;
}

void reset_peak_rss() {
  // Give freed heap back first (zoo raises glibc's trim threshold), then restart the
  // high-water mark at the current RSS (Linux >= 4.0: "5" > /proc/self/clear_refs).
#ifdef __GLIBC__
  malloc_trim(0);
#endif
  std::ofstream("/proc/self/clear_refs") << "5";
}

std::string find_shared_data(const std::string& relative) {
  std::vector<fs::path> roots;
  if (const char* env = std::getenv("ZOO_SHARED_DATA")) roots.emplace_back(env);
  for (fs::path dir = fs::current_path(); !dir.empty(); dir = dir.parent_path()) {
    roots.push_back(dir / ".." / "shared" / "data");
    roots.push_back(dir / "shared" / "data");
    if (dir == dir.root_path()) break;
  }
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec)
    for (fs::path dir = exe.parent_path(); !dir.empty() && dir != dir.root_path(); dir = dir.parent_path())
      roots.push_back(dir / ".." / "shared" / "data");
  for (const auto& root : roots)
    if (fs::exists(root / relative, ec)) return (root / relative).lexically_normal().string();
  return "";
}

std::vector<Json> run_benchmarks(const std::string& names, torch::Device device, const Options& options) {
  const int64_t warmup = options.get_int("warmup"), steps = options.get_int("steps");
  if (warmup < 0 || steps <= 0) throw UsageError("invalid --warmup/--steps: expected warmup >= 0 and steps > 0");
  std::vector<const Benchmark*> wanted;
  if (names == "all") {
    for (const auto& b : benchmarks()) wanted.push_back(&b);
  } else {
    std::stringstream in(names);
    for (std::string name; std::getline(in, name, ',');) {
      if (name.empty()) continue;
      const auto& table = benchmarks();
      const auto found = std::find_if(table.begin(), table.end(), [&](const Benchmark& b) { return name == b.name; });
      if (found == table.end()) throw UsageError("unknown benchmark configuration '" + name + "'; known: " + benchmark_names());
      wanted.push_back(&*found);
    }
  }
  const Precision precision = precision_of(options);
  check_precision(precision, device);
  if (precision != Precision::fp32) {
    // "all" means the configurations that take it; a named one that does not is a mistake.
    std::vector<const Benchmark*> mixed;
    for (const auto* b : wanted) {
      if (b->mixed_precision) mixed.push_back(b);
      else if (names != "all") throw UsageError("--precision " + precision_name(precision) + " applies to resnet18_64, transformer_mt and vit_cifar, not " + b->name);
    }
    wanted = mixed;
  }
  const std::string profile_dir = options.has("profile") ? options.get_string("profile") : "";
  if (!profile_dir.empty()) {
    std::error_code ec;
    fs::create_directories(profile_dir, ec);
    if (ec) throw Error("cannot create " + profile_dir + ": " + ec.message());
  }
  std::vector<Json> out;
  for (const auto* b : wanted) {
    reset_peak_rss();  // each configuration reports its own peak, not the run's so far
    g_profile_trace = profile_dir.empty() ? "" : (fs::path(profile_dir) / (std::string(b->name) + ".zoo.trace.json")).string();
    out.push_back(b->run(device, options, warmup, steps));
    if (!g_profile_trace.empty()) {
      out.back()["profile"] = g_profile_trace;
      out.back()["profiled_steps"] = fs::exists(g_profile_trace) ? kProfiledSteps : 0;
    }
  }
  g_profile_trace.clear();
  return out;
}

}  // namespace zoo
