#include "lib/train/data_parallel.h"

#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>

#include <chrono>
#include <mutex>

#include "lib/core/error.h"
#include "lib/train/precision.h"

namespace zoo {

namespace {

using Clock = std::chrono::steady_clock;

// Parameters [begin, end) of one bucket and its flat buffer: their gradients, then one count per
// parameter of the ranks whose gradient was defined.
struct Bucket {
  std::vector<size_t> members;       // indices into State::parameters
  std::vector<int64_t> offsets;      // each member's first element in `flat`
  int64_t numel = 0;
  torch::Tensor flat;
  size_t waiting = 0;                // members whose hook has not fired in this backward pass
  std::function<void()> wait;
};

}  // namespace

struct GradientSync::State {
  Collectives* group = nullptr;
  std::vector<torch::Tensor> parameters;
  std::vector<Bucket> buckets;
  std::vector<size_t> bucket_of;                                  // per parameter
  std::vector<std::shared_ptr<torch::autograd::Node>> accumulators;  // kept alive: the hooks live on them
  std::vector<uintptr_t> hook_keys;
  std::mutex mutex;
  bool armed = false;
  size_t next_bucket = 0;  // buckets start strictly in order
  Clock::time_point first_start;
  bool any_started = false;
  double exposed_seconds = 0, window_seconds = 0;

  // Under `mutex`: the parameter's gradient is final for this pass.
  void mark_ready(size_t index) {
    if (!armed) return;
    Bucket& bucket = buckets[bucket_of[index]];
    if (bucket.waiting > 0) --bucket.waiting;
    while (next_bucket < buckets.size() && buckets[next_bucket].waiting == 0) start(next_bucket++);
  }

  void start(size_t b) {
    Bucket& bucket = buckets[b];
    torch::NoGradGuard no_grad;
    const auto members = static_cast<int64_t>(bucket.members.size());
    auto counts = bucket.flat.narrow(0, bucket.numel, members);
    for (size_t k = 0; k < bucket.members.size(); ++k) {
      const torch::Tensor& p = parameters[bucket.members[k]];
      auto slice = bucket.flat.narrow(0, bucket.offsets[k], p.numel()).view(p.sizes());
      const torch::Tensor& grad = p.grad();
      if (grad.defined()) slice.copy_(grad), counts[static_cast<int64_t>(k)].fill_(1);
      else slice.zero_(), counts[static_cast<int64_t>(k)].fill_(0);
    }
    if (!any_started) first_start = Clock::now(), any_started = true;
    bucket.wait = group->start_all_reduce_sum(bucket.flat);
  }
};

namespace {

// Runs after a parameter's AccumulateGrad: its .grad holds this pass's contribution.
class ReadyHook : public torch::autograd::FunctionPostHook {
 public:
  ReadyHook(std::weak_ptr<GradientSync::State> state, size_t index) : state_(std::move(state)), index_(index) {}
  torch::autograd::variable_list operator()(const torch::autograd::variable_list& outputs,
                                            const torch::autograd::variable_list& /*inputs*/) override {
    if (auto state = state_.lock()) {
      std::lock_guard<std::mutex> lock(state->mutex);
      state->mark_ready(index_);
    }
    return outputs;
  }

 private:
  std::weak_ptr<GradientSync::State> state_;
  size_t index_;
};

}  // namespace

GradientSync::GradientSync(std::vector<torch::Tensor> parameters, Collectives& group, int64_t bucket_bytes, int64_t first_bucket_bytes)
    : state_(std::make_shared<State>()) {
  State& s = *state_;
  s.group = &group;
  s.parameters = std::move(parameters);
  s.bucket_of.assign(s.parameters.size(), 0);
  // Reverse registration order: the output layers' gradients come first in the backward pass.
  // A small first bucket starts communication early, as DDP's does.
  Bucket current;
  int64_t cap = first_bucket_bytes, bytes = 0;
  auto close = [&] {
    if (current.members.empty()) return;
    const auto& first = s.parameters[current.members.front()];
    current.flat = torch::zeros({current.numel + static_cast<int64_t>(current.members.size())}, first.options().requires_grad(false));
    s.buckets.push_back(std::move(current));
    current = Bucket{};
    bytes = 0;
    cap = bucket_bytes;
  };
  for (size_t i = s.parameters.size(); i-- > 0;) {
    const auto& p = s.parameters[i];
    if (!current.members.empty()) {
      const auto& first = s.parameters[current.members.front()];
      if (first.scalar_type() != p.scalar_type() || first.device() != p.device() || bytes >= cap) close();
    }
    current.offsets.push_back(current.numel);
    current.members.push_back(i);
    current.numel += p.numel();
    bytes += p.numel() * static_cast<int64_t>(p.element_size());
    s.bucket_of[i] = s.buckets.size();
  }
  close();
  s.accumulators.resize(s.parameters.size());
  s.hook_keys.assign(s.parameters.size(), 0);
}

GradientSync::~GradientSync() {
  for (size_t i = 0; i < state_->accumulators.size(); ++i)
    if (state_->accumulators[i]) state_->accumulators[i]->del_post_hook(state_->hook_keys[i]);
}

void GradientSync::arm(bool reduce) {
  State& s = *state_;
  std::lock_guard<std::mutex> lock(s.mutex);
  // A parameter frozen at the start (a captioner's encoder) gets its hook once it trains.
  for (size_t i = 0; i < s.parameters.size(); ++i) {
    if (s.accumulators[i] || !s.parameters[i].requires_grad()) continue;
    s.accumulators[i] = torch::autograd::impl::grad_accumulator(s.parameters[i]);
    s.hook_keys[i] = s.accumulators[i]->add_post_hook(std::make_unique<ReadyHook>(state_, i));
  }
  s.armed = reduce;
  for (auto& bucket : s.buckets) bucket.waiting = bucket.members.size();
}

void GradientSync::finish() {
  State& s = *state_;
  std::unique_lock<std::mutex> lock(s.mutex);
  s.armed = false;
  while (s.next_bucket < s.buckets.size()) s.start(s.next_bucket++);
  const auto wait_start = Clock::now();
  for (auto& bucket : s.buckets) bucket.wait();
  const auto done = Clock::now();
  s.exposed_seconds += std::chrono::duration<double>(done - wait_start).count();
  s.window_seconds += std::chrono::duration<double>(done - s.first_start).count();
  torch::NoGradGuard no_grad;
  const auto world = static_cast<double>(s.group->world_size());
  for (auto& bucket : s.buckets) {
    auto counts = bucket.flat.narrow(0, bucket.numel, static_cast<int64_t>(bucket.members.size())).to(torch::kCPU, torch::kFloat64);
    const double* count = counts.data_ptr<double>();
    for (size_t k = 0; k < bucket.members.size(); ++k) {
      if (count[k] == 0) continue;  // no rank has a gradient for it
      torch::Tensor& p = s.parameters[bucket.members[k]];
      auto average = bucket.flat.narrow(0, bucket.offsets[k], p.numel()).view(p.sizes()).div(world);
      if (p.grad().defined()) p.mutable_grad().copy_(average);
      else p.mutable_grad() = average;  // a fresh tensor: div allocated it
    }
    bucket.wait = nullptr;
  }
  s.next_bucket = 0;
  s.any_started = false;
}

int64_t GradientSync::buckets() const { return static_cast<int64_t>(state_->buckets.size()); }

std::pair<double, double> GradientSync::take_timings() {
  std::lock_guard<std::mutex> lock(state_->mutex);
  std::pair<double, double> out{state_->exposed_seconds, state_->window_seconds};
  state_->exposed_seconds = state_->window_seconds = 0;
  return out;
}

void check_data_parallel_options(const Options& config, const DataShard& shard) {
  const int64_t accum = shard.accum_steps;
  if (accum < 1) throw UsageError("invalid --accum-steps " + std::to_string(accum) + ": expected 1 or more");
  parse_precision(config.get_string("precision"));
  const std::string backend = config.get_string("dist_backend");
  if (backend != "auto" && backend != "gloo" && backend != "nccl")
    throw UsageError("invalid --dist-backend '" + backend + "': expected auto, gloo or nccl");
  const int64_t batch = config.get_int("batch_size"), parts = shard.world_size * accum;
  if (batch < parts)
    throw UsageError("--batch-size " + std::to_string(batch) + " is the global batch; " + std::to_string(shard.world_size) + " process(es) x " +
                     std::to_string(accum) + " accumulation step(s) need at least " + std::to_string(parts) + " examples in it");
}

void broadcast_module(torch::nn::Module& module, Collectives& group, int64_t root) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> targets, sent;
  for (const auto& p : module.parameters()) targets.push_back(p);
  for (const auto& b : module.buffers()) targets.push_back(b);
  for (auto& t : targets) sent.push_back(t.is_contiguous() ? t : t.contiguous());
  group.broadcast(sent, root);
  for (size_t i = 0; i < targets.size(); ++i)
    if (!sent[i].is_same(targets[i])) targets[i].copy_(sent[i]);
}

}  // namespace zoo
