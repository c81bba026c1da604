#include "lib/train/fused_optim.h"

#include "lib/core/kernels.h"
#include "lib/train/optimizer_kernels.h"


#include <algorithm>
#include <cstdlib>
#include <cmath>
#include <memory>
#include <sstream>
#include <string>
#include <type_traits>

namespace zoo {

namespace {

// ZOO_OPTIMIZER=libtorch sends every step to LibTorch's own optimizer: the "before" of
// docs/PERFORMANCE.md's measurement of this lever, and a way out should the loop ever be suspect.
bool libtorch_step_forced() {
  static const bool forced = env_is("ZOO_OPTIMIZER", "libtorch");
  return forced;
}

// LibTorch keys an optimizer's per-parameter state by the tensor's TensorImpl: as its address in
// text up to 2.1, as the pointer itself since. The same key here whichever this build has.
template <class Map>
typename Map::key_type state_key(const Map&, const torch::Tensor& p) {
  using Key = typename Map::key_type;
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream text;
    text << p.unsafeGetTensorImpl();
    return text.str();
  } else {
    return static_cast<Key>(p.unsafeGetTensorImpl());
  }
}

// A tensor the loop can walk as a flat float array: float32, on the CPU, dense and contiguous.
bool plain_float(const torch::Tensor& t) {
  return t.defined() && t.device().is_cpu() && t.scalar_type() == torch::kFloat && t.layout() == torch::kStrided && t.is_contiguous();
}

// A parameter the loop can update: it, its gradient and whatever state it already has (moments
// made by zeros_like or read from a checkpoint) are plain float arrays of one size.
template <class StateMap>
bool fusable(const StateMap& state, const torch::Tensor& p) {
  if (!plain_float(p) || !plain_float(p.grad()) || p.grad().numel() != p.numel()) return false;
  const auto found = state.find(state_key(state, p));
  if (found == state.end()) return true;
  if (const auto* adam = dynamic_cast<const torch::optim::AdamParamState*>(found->second.get()))
    return plain_float(adam->exp_avg()) && plain_float(adam->exp_avg_sq()) && adam->exp_avg().numel() == p.numel() &&
           adam->exp_avg_sq().numel() == p.numel();
  if (const auto* sgd = dynamic_cast<const torch::optim::SGDParamState*>(found->second.get()))
    return !sgd->momentum_buffer().defined() || (plain_float(sgd->momentum_buffer()) && sgd->momentum_buffer().numel() == p.numel());
  return false;
}

// Every optimizer's step but the update itself: no autograd, the closure's loss (under autograd)
// when there is one.
template <class Update>
torch::Tensor run_step(const torch::optim::Optimizer::LossClosure& closure, Update update) {
  torch::NoGradGuard no_grad;
  torch::Tensor loss;
  if (closure) {
    at::AutoGradMode enable_grad(true);
    loss = closure();
  }
  update();
  return loss;
}

// The tensors of one step seen as one buffer: segment i (parameter updated[i]) is elements
// [offset[i], offset[i + 1]). `update(segment, begin, end)` runs on a thread's share, the
// element range local to the segment.
template <class Segment>
void for_all_elements(const std::vector<Segment>& segments, const std::vector<torch::Tensor>& updated,
                      void (*update)(const Segment&, int64_t, int64_t)) {
  std::vector<int64_t> offset{0};
  for (const auto& s : segments) offset.push_back(offset.back() + s.n);
  // Written through raw pointers, so autograd's version counters are bumped by hand, as an
  // in-place op would: a graph still holding a parameter then sees that it changed.
  for (const auto& p : updated) p.unsafeGetTensorImpl()->bump_version();
  // 32 K floats a task: large enough to amortise the hand-off, small enough to spread the tail.
  at::parallel_for(0, offset.back(), 32768, [&](int64_t begin, int64_t end) {
    size_t i = static_cast<size_t>(std::upper_bound(offset.begin(), offset.end(), begin) - offset.begin()) - 1;
    for (int64_t at = begin; at < end; ++i) {
      const int64_t stop = std::min(end, offset[i + 1]);
      if (stop > at) update(segments[i], at - offset[i], stop - offset[i]);
      at = stop;
    }
  });
}

// The Adam family's options differ only in their type; the loop reads them through this.
template <class Options, class StateMap>
void fused_adam_step(torch::optim::Optimizer& optimizer, StateMap& state, bool decoupled) {
  std::vector<AdamSegment> segments;
  std::vector<torch::Tensor> updated;
  for (auto& group : optimizer.param_groups()) {
    const auto& o = static_cast<const Options&>(group.options());
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      const auto key = state_key(state, p);
      auto found = state.find(key);
      if (found == state.end()) {
        auto fresh = std::make_unique<torch::optim::AdamParamState>();
        fresh->step(0);
        fresh->exp_avg(torch::zeros_like(p, torch::MemoryFormat::Preserve));
        fresh->exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
        found = state.emplace(key, std::move(fresh)).first;
      }
      auto& s = static_cast<torch::optim::AdamParamState&>(*found->second);
      s.step(s.step() + 1);
      const double beta1 = std::get<0>(o.betas()), beta2 = std::get<1>(o.betas());
      const double bias_correction1 = 1 - std::pow(beta1, static_cast<double>(s.step()));
      const double bias_correction2 = 1 - std::pow(beta2, static_cast<double>(s.step()));
      AdamSegment segment;
      segment.p = p.data_ptr<float>();
      segment.g = p.grad().data_ptr<float>();
      segment.m = s.exp_avg().data_ptr<float>();
      segment.v = s.exp_avg_sq().data_ptr<float>();
      segment.n = p.numel();
      segment.keep = decoupled ? static_cast<float>(1 - o.lr() * o.weight_decay()) : 1.0f;
      segment.l2 = decoupled ? 0.0f : static_cast<float>(o.weight_decay());
      segment.beta1 = static_cast<float>(beta1), segment.beta2 = static_cast<float>(beta2);
      segment.one_minus_beta1 = static_cast<float>(1 - beta1), segment.one_minus_beta2 = static_cast<float>(1 - beta2);
      segment.sqrt_bias_correction2 = static_cast<float>(std::sqrt(bias_correction2));
      segment.eps = static_cast<float>(o.eps());
      segment.step_size = static_cast<float>(o.lr() / bias_correction1);
      segments.push_back(segment);
      updated.push_back(p);
    }
  }
  for_all_elements(segments, updated, adam_update);
}

// Whether every parameter with a gradient can go through the loop, and no group asks for AMSGrad.
template <class Options, class StateMap>
bool adam_fusable(torch::optim::Optimizer& optimizer, const StateMap& state) {
  for (auto& group : optimizer.param_groups()) {
    if (static_cast<const Options&>(group.options()).amsgrad()) return false;
    for (auto& p : group.params())
      if (p.grad().defined() && !fusable(state, p)) return false;
  }
  return true;
}

}  // namespace

torch::Tensor FusedAdam::step(LossClosure closure) {
  if (libtorch_step_forced() || !adam_fusable<torch::optim::AdamOptions>(*this, state_)) return torch::optim::Adam::step(std::move(closure));
  return run_step(closure, [&] { fused_adam_step<torch::optim::AdamOptions>(*this, state_, /*decoupled=*/false); });
}

torch::Tensor FusedAdamW::step(LossClosure closure) {
  if (libtorch_step_forced() || !adam_fusable<torch::optim::AdamWOptions>(*this, state_)) return torch::optim::AdamW::step(std::move(closure));
  return run_step(closure, [&] { fused_adam_step<torch::optim::AdamWOptions>(*this, state_, /*decoupled=*/true); });
}

torch::Tensor FusedSGD::step(LossClosure closure) {
  if (libtorch_step_forced()) return torch::optim::SGD::step(std::move(closure));
  for (auto& group : param_groups()) {
    const auto& o = static_cast<const torch::optim::SGDOptions&>(group.options());
    if (o.dampening() != 0) return torch::optim::SGD::step(std::move(closure));
    for (auto& p : group.params())
      if (p.grad().defined() && !fusable(state_, p)) return torch::optim::SGD::step(std::move(closure));
  }
  return run_step(closure, [&] {
    std::vector<SgdSegment> segments;
    std::vector<torch::Tensor> updated;
    for (auto& group : param_groups()) {
      const auto& o = static_cast<const torch::optim::SGDOptions&>(group.options());
      for (auto& p : group.params()) {
        if (!p.grad().defined()) continue;
        SgdSegment segment{p.data_ptr<float>(), p.grad().data_ptr<float>(), nullptr, p.numel(), false, o.nesterov(),
                           static_cast<float>(o.lr()), static_cast<float>(o.weight_decay()), static_cast<float>(o.momentum())};
        if (o.momentum() != 0) {
          const auto key = state_key(state_, p);
          auto found = state_.find(key);
          if (found == state_.end()) {
            // LibTorch's first step clones d_p into the buffer; the loop writes it, so start empty.
            auto fresh = std::make_unique<torch::optim::SGDParamState>();
            fresh->momentum_buffer(torch::empty_like(p, torch::MemoryFormat::Preserve));
            found = state_.emplace(key, std::move(fresh)).first;
            segment.first = true;
          }
          segment.buffer = static_cast<torch::optim::SGDParamState&>(*found->second).momentum_buffer().data_ptr<float>();
        }
        segments.push_back(segment);
        updated.push_back(p);
      }
    }
    for_all_elements(segments, updated, sgd_update);
  });
}

}  // namespace zoo
