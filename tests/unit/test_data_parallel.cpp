// lib/train/data_parallel and lib/nn/sync_batch_norm on two ranks joined over loopback (threads
// of this process): what they compute against one process computing the whole batch.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <functional>
#include <sstream>
#include <limits>
#include <thread>

#include "lib/core/distributed.h"
#include "lib/core/error.h"
#include "lib/nn/sync_batch_norm.h"
#include "lib/train/data_parallel.h"
#include "lib/train/precision.h"
#include "tests/unit/two_ranks.h"

namespace test_data_parallel {  // this file's own: the unit tests compile in batches (tests/CMakeLists.txt)

using namespace zoo;
using zoo::testing::on_two_ranks;

namespace {

double relative_difference(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>() / std::max(1e-30, b.abs().max().item<double>());
}

// A small network with parameters in several buckets, one of them never used.
struct Net : torch::nn::Module {
  torch::nn::Linear first{nullptr}, second{nullptr}, unused{nullptr};
  Net() {
    first = register_module("first", torch::nn::Linear(6, 32));
    second = register_module("second", torch::nn::Linear(32, 3));
    unused = register_module("unused", torch::nn::Linear(2, 2));
  }
  torch::Tensor forward(const torch::Tensor& x) { return second(torch::tanh(first(x))); }
};

}  // namespace

TEST_CASE("GradientSync: two ranks' averaged gradients are the whole batch's, unused parameters keep none", "[distributed][data_parallel]") {
  if (!gloo_available()) return;
  torch::manual_seed(3);
  auto x = torch::randn({8, 6}), y = torch::randint(0, 3, {8});
  // One process, the whole batch.
  torch::manual_seed(5);
  Net whole;
  torch::nn::functional::cross_entropy(whole.forward(x), y).backward();
  std::vector<std::vector<torch::Tensor>> grads(2);
  std::vector<int64_t> buckets(2);
  std::vector<bool> unused_grad(2, true);
  // Built here: the generator is global, and the rank threads would race for it.
  std::vector<std::shared_ptr<Net>> nets;
  for (int rank = 0; rank < 2; ++rank) torch::manual_seed(5), nets.push_back(std::make_shared<Net>());
  const auto error = on_two_ranks([&](int rank, Collectives& group) {
    Net& net = *nets[rank];
    // Tiny buckets: several of them, started during the backward pass.
    GradientSync sync(net.parameters(), group, /*bucket_bytes=*/200, /*first_bucket_bytes=*/50);
    buckets[rank] = sync.buckets();
    for (int step = 0; step < 2; ++step) {  // twice: the second reuses the buckets
      for (auto& p : net.parameters()) p.mutable_grad() = torch::Tensor();
      sync.arm(true);
      auto part = x.narrow(0, 4 * rank, 4);
      torch::nn::functional::cross_entropy(net.forward(part), y.narrow(0, 4 * rank, 4)).backward();
      sync.finish();
    }
    for (auto& p : net.parameters()) grads[rank].push_back(p.grad().defined() ? p.grad().clone() : torch::Tensor());
    unused_grad[rank] = net.unused->weight.grad().defined();
  });
  REQUIRE(error == "");
  auto expected = whole.parameters();
  for (int rank = 0; rank < 2; ++rank) {
    CAPTURE(rank);
    CHECK(buckets[rank] >= 2);
    CHECK_FALSE(unused_grad[rank]);
    for (size_t i = 0; i < expected.size(); ++i) {
      CAPTURE(i);
      if (!expected[i].grad().defined()) {
        CHECK_FALSE(grads[rank][i].defined());
        continue;
      }
      REQUIRE(grads[rank][i].defined());
      CHECK(relative_difference(grads[rank][i], expected[i].grad()) < 1e-6);
    }
  }
}

TEST_CASE("GradientSync: a parameter only one rank used gets the average, accumulation without reduction stays local", "[distributed][data_parallel]") {
  if (!gloo_available()) return;
  std::vector<torch::Tensor> used_once(2), accumulated(2);
  const auto error = on_two_ranks([&](int rank, Collectives& group) {
    auto a = torch::zeros({3}, torch::requires_grad()), b = torch::zeros({2}, torch::requires_grad());
    GradientSync sync({a, b}, group, 8, 8);
    // Step 1: rank 1 alone uses b.
    sync.arm(true);
    auto loss = (a * (rank + 1)).sum();
    if (rank == 1) loss = loss + (b * 4).sum();
    loss.backward();
    sync.finish();
    used_once[rank] = b.grad().clone();
    // Step 2: two micro-batches, the first accumulated without communication.
    a.mutable_grad().zero_();
    sync.arm(false);
    (a * 10).sum().backward();
    sync.arm(true);
    (a * (rank + 1)).sum().backward();
    sync.finish();
    accumulated[rank] = a.grad().clone();
  });
  REQUIRE(error == "");
  for (int rank = 0; rank < 2; ++rank) {
    CHECK(torch::allclose(used_once[rank], torch::full({2}, 2.0f)));         // (0 + 4) / 2
    CHECK(torch::allclose(accumulated[rank], torch::full({3}, 11.5f)));      // ((10 + 1) + (10 + 2)) / 2
  }
}

TEST_CASE("sync_batch_norm: two ranks' halves normalise, update and differentiate as BatchNorm on the whole batch", "[distributed][data_parallel]") {
  if (!gloo_available()) return;
  torch::manual_seed(11);
  const bool channels_last = GENERATE(false, true);  // the captioners' trunks run channels-last
  CAPTURE(channels_last);
  auto x = torch::randn({6, 4, 3, 5}) * 3 + 1.5, upstream = torch::randn({6, 4, 3, 5});
  if (channels_last) x = x.contiguous(at::MemoryFormat::ChannelsLast), upstream = upstream.contiguous(at::MemoryFormat::ChannelsLast);
  torch::manual_seed(12);
  nn::BatchNorm2d whole(4);
  {
    torch::NoGradGuard no_grad;
    whole->weight.uniform_(0.5, 1.5), whole->bias.uniform_(-1, 1);
  }
  auto x_whole = x.clone().requires_grad_(true);
  auto y_whole = whole->forward(x_whole);
  (y_whole * upstream).sum().backward();
  // Each rank: its half, the loss scaled by the world size as the trainer's share does; the
  // parameters' gradients then average to the whole batch's.
  std::vector<torch::Tensor> outputs(2), input_grads(2), weight_grads(2), bias_grads(2), running(2);
  const auto error = on_two_ranks([&](int rank, Collectives& group) {
    nn::BatchNorm2d bn(4);
    {
      torch::NoGradGuard no_grad;
      bn->weight.copy_(whole->weight), bn->bias.copy_(whole->bias);
    }
    nn::convert_sync_batch_norm(*bn, &group);
    // Uneven halves (2 and 4 images): the counts weigh the statistics.
    const int64_t begin = rank == 0 ? 0 : 2, size = rank == 0 ? 2 : 4;
    auto part = x.narrow(0, begin, size).clone().requires_grad_(true);
    auto y = bn->forward(part);
    (y * upstream.narrow(0, begin, size)).sum().backward();
    outputs[rank] = y.detach();
    input_grads[rank] = part.grad();
    weight_grads[rank] = bn->weight.grad(), bias_grads[rank] = bn->bias.grad();
    running[rank] = torch::cat({bn->running_mean, bn->running_var});
  });
  REQUIRE(error == "");
  CHECK(relative_difference(torch::cat({outputs[0], outputs[1]}), y_whole.detach()) < 1e-5);
  CHECK(relative_difference(torch::cat({input_grads[0], input_grads[1]}), x_whole.grad()) < 1e-5);
  CHECK(relative_difference(weight_grads[0] + weight_grads[1], whole->weight.grad()) < 1e-5);
  CHECK(relative_difference(bias_grads[0] + bias_grads[1], whole->bias.grad()) < 1e-5);
  for (int rank = 0; rank < 2; ++rank) CHECK(relative_difference(running[rank], torch::cat({whole->running_mean, whole->running_var})) < 1e-6);
}

TEST_CASE("nn::BatchNorm2d without a group is torch::nn::BatchNorm2d: same names, same numbers", "[data_parallel]") {
  torch::manual_seed(2);
  nn::BatchNorm2d ours(torch::nn::BatchNormOptions(5).eps(1e-3));
  torch::nn::BatchNorm2d theirs(torch::nn::BatchNormOptions(5).eps(1e-3));
  std::vector<std::string> our_names, their_names;
  for (const auto& item : ours->named_parameters()) our_names.push_back(item.key());
  for (const auto& item : ours->named_buffers()) our_names.push_back(item.key());
  for (const auto& item : theirs->named_parameters()) their_names.push_back(item.key());
  for (const auto& item : theirs->named_buffers()) their_names.push_back(item.key());
  CHECK(our_names == their_names);
  auto x = torch::randn({3, 5, 4, 4});
  CHECK(torch::equal(ours->forward(x), theirs->forward(x)));
  CHECK(torch::equal(ours->running_var, theirs->running_var));
  CHECK(ours->num_batches_tracked.item<int64_t>() == 1);
  ours->eval(), theirs->eval();
  CHECK(torch::equal(ours->forward(x), theirs->forward(x)));
}

TEST_CASE("LossScaler: an overflowing step is reported and halves the scale, good steps grow it", "[precision]") {
  LossScaler scaler(1024.0, /*growth_interval=*/2);
  auto w = torch::ones({3}, torch::requires_grad());
  scaler.scale_loss((w * 2).sum()).backward();
  CHECK(scaler.unscale({w}));
  CHECK(torch::allclose(w.grad(), torch::full({3}, 2.0f)));  // the true gradient, scale removed
  scaler.update(true);
  CHECK(scaler.scale() == 1024.0);
  // An injected overflow: one infinite gradient.
  w.mutable_grad().zero_();
  w.mutable_grad()[1] = std::numeric_limits<float>::infinity();
  CHECK_FALSE(scaler.unscale({w}));
  scaler.update(false);
  CHECK(scaler.scale() == 512.0);
  for (int i = 0; i < 2; ++i) scaler.update(true);
  CHECK(scaler.scale() == 1024.0);
  LossScaler restored;
  restored.restore(scaler.state());
  CHECK(restored.scale() == 1024.0);
  CHECK(parse_precision("bf16") == Precision::bf16);
  CHECK_THROWS_AS(parse_precision("fp8"), UsageError);
  CHECK_THROWS_AS(check_precision(Precision::fp16, torch::Device(torch::kCPU)), UsageError);
}

TEST_CASE("AutocastScope: bf16 matrix products inside, fp32 after", "[precision]") {
  auto a = torch::randn({4, 8}), b = torch::randn({8, 2});
  {
    AutocastScope autocast(Precision::bf16, torch::Device(torch::kCPU));
    CHECK(torch::mm(a, b).scalar_type() == torch::kBFloat16);
  }
  CHECK(torch::mm(a, b).scalar_type() == torch::kFloat32);
  {
    AutocastScope none(Precision::fp32, torch::Device(torch::kCPU));
    CHECK(torch::mm(a, b).scalar_type() == torch::kFloat32);
  }
}

TEST_CASE("sync_batch_norm in residual blocks (in-place ReLU, strided shortcut): gradients as one process", "[distributed][data_parallel]") {
  if (!gloo_available()) return;
  struct Block : torch::nn::Module {
    torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr}, down{nullptr};
    nn::BatchNorm2d bn1{nullptr}, bn2{nullptr}, bn3{nullptr}, bn_down{nullptr};
    torch::nn::Linear fc{nullptr};
    Block() {
      conv1 = register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 8, 3).padding(1).bias(false)));
      bn1 = register_module("bn1", nn::BatchNorm2d(8));
      conv2 = register_module("conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(8, 8, 3).padding(1).bias(false)));
      bn2 = register_module("bn2", nn::BatchNorm2d(8));
      conv3 = register_module("conv3", torch::nn::Conv2d(torch::nn::Conv2dOptions(8, 16, 3).stride(2).padding(1).bias(false)));
      bn3 = register_module("bn3", nn::BatchNorm2d(16));
      down = register_module("down", torch::nn::Conv2d(torch::nn::Conv2dOptions(8, 16, 1).stride(2).bias(false)));
      bn_down = register_module("bn_down", nn::BatchNorm2d(16));
      fc = register_module("fc", torch::nn::Linear(16, 5));
    }
    torch::Tensor forward(const torch::Tensor& x) {
      auto a = bn1->forward(conv1->forward(x)).relu_();
      auto b = bn2->forward(conv2->forward(a));
      b += a;
      b = b.relu_();
      // A downsampling block: stride-2 convolution and a strided 1x1 shortcut, each with BatchNorm.
      auto c = bn3->forward(conv3->forward(b));
      c += bn_down->forward(down->forward(b));
      c = c.relu_();
      return fc->forward(torch::adaptive_avg_pool2d(c, {1, 1}).flatten(1));
    }
  };
  torch::manual_seed(21);
  auto x = torch::randn({8, 3, 16, 16}), labels = torch::randint(0, 5, {8});
  torch::manual_seed(22);
  Block whole;
  torch::nn::functional::cross_entropy(whole.forward(x), labels).backward();
  std::vector<std::vector<torch::Tensor>> grads(2);
  // Built here: the generator is global, and the rank threads would race for it.
  std::vector<std::shared_ptr<Block>> blocks;  // shared: named_modules needs a shared owner
  for (int rank = 0; rank < 2; ++rank) torch::manual_seed(22), blocks.push_back(std::make_shared<Block>());
  const auto error = on_two_ranks([&](int rank, Collectives& group) {
    auto block = blocks[rank];
    nn::convert_sync_batch_norm(*block, &group);
    GradientSync sync(block->parameters(), group, 1000, 100);
    sync.arm(true);
    // Each rank's mean loss: the trainer's share (world size x its part of the batch) is 1 here.
    torch::nn::functional::cross_entropy(block->forward(x.narrow(0, 4 * rank, 4)), labels.narrow(0, 4 * rank, 4)).backward();
    sync.finish();
    for (auto& p : block->parameters()) grads[rank].push_back(p.grad().clone());
  });
  REQUIRE(error == "");
  auto expected = whole.parameters();
  for (size_t i = 0; i < expected.size(); ++i) {
    CAPTURE(i);
    CHECK(relative_difference(grads[0][i], expected[i].grad()) < 1e-5);
    CHECK(torch::equal(grads[0][i], grads[1][i]));
  }
}

TEST_CASE("DataShard: the micro-batches of every rank are disjoint and cover each global batch in order", "[data_parallel]") {
  for (int64_t world : {1, 2, 3}) {
    for (int64_t accum : {1, 2, 4}) {
      for (int64_t n : {12, 13, 7}) {
        CAPTURE(world, accum, n);
        std::vector<int> covered(static_cast<size_t>(n), 0);
        int64_t next = 0;
        for (int64_t rank = 0; rank < world; ++rank) {
          DataShard shard;
          shard.rank = rank, shard.world_size = world, shard.accum_steps = accum;
          for (int64_t micro = 0; micro < accum; ++micro) {
            const auto [begin, end] = shard.micro_batch(n, micro);
            CHECK(begin == next);  // rank-major, then micro-batch: one process's order
            for (int64_t i = begin; i < end; ++i) ++covered[static_cast<size_t>(i)];
            next = end;
          }
        }
        CHECK(next == n);
        CHECK(std::all_of(covered.begin(), covered.end(), [](int c) { return c == 1; }));
      }
    }
  }
}

TEST_CASE("cpuinfo_has_bf16: AVX-512 BF16 or AMX in the flags line, nothing else", "[precision]") {
  auto has = [](const std::string& text) {
    std::istringstream in(text);
    return cpuinfo_has_bf16(in);
  };
  CHECK(has("processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512_bf16 avx512_vnni\n"));
  CHECK(has("flags\t\t: fpu amx_bf16 amx_tile\n"));
  CHECK_FALSE(has("flags\t\t: fpu sse avx2 fma avx512f avx512_vnni\n"));  // AVX-512 without BF16
  CHECK_FALSE(has("flags\t\t: fpu avx512_bf16x\n"));                     // a whole word, not a prefix
  CHECK_FALSE(has("model name\t: no flags line\n"));
}

}  // namespace test_data_parallel
