// The fused optimizer steps (lib/train/fused_optim.h) against LibTorch's own optimizers: the same
// parameters and state after several steps with two parameter groups, a parameter without a
// gradient, sizes that span several of the loop's tasks; state that moves between the two; the
// cases that fall back to LibTorch's step.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "lib/train/fused_optim.h"

namespace test_fused_optim {  // this file's own: the unit tests compile in batches (tests/CMakeLists.txt)

namespace {

// Tensors of awkward sizes (one element, odd lengths, more than two of the loop's 32 K tasks).
std::vector<torch::Tensor> make_parameters(torch::ScalarType dtype = torch::kFloat) {
  torch::manual_seed(3);
  std::vector<torch::Tensor> params;
  for (auto shape : std::vector<std::vector<int64_t>>{{1}, {7, 3}, {257}, {300, 250}, {5}, {64, 33}})
    params.push_back(torch::randn(shape, torch::dtype(dtype)).requires_grad_(true));
  return params;
}

std::vector<torch::Tensor> clone_all(const std::vector<torch::Tensor>& params) {
  std::vector<torch::Tensor> out;
  for (const auto& p : params) out.push_back(p.detach().clone().requires_grad_(true));
  return out;
}

// Two groups (the second at a tenth of the rate, as the trainer's no-decay or backbone groups).
std::vector<torch::optim::OptimizerParamGroup> groups_of(const std::vector<torch::Tensor>& params) {
  return {torch::optim::OptimizerParamGroup({params[0], params[1], params[2], params[3]}),
          torch::optim::OptimizerParamGroup({params[4], params[5]})};
}

void second_group_lr(torch::optim::Optimizer& optimizer, double lr) { optimizer.param_groups()[1].options().set_lr(lr); }

// Gradients of step k, the same for both sides; parameter 4 never gets one.
void set_gradients(const std::vector<torch::Tensor>& params, int64_t k) {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(100 + k);
  for (size_t i = 0; i < params.size(); ++i) {
    if (i == 4) continue;
    params[i].mutable_grad() = torch::randn(params[i].sizes(), generator, torch::dtype(params[i].scalar_type())) * (1.0 + static_cast<double>(i));
  }
}

void check_close(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    INFO("parameter " << i << ", max difference " << (a[i] - b[i]).abs().max().item<double>());
    CHECK(torch::allclose(a[i], b[i], 1e-5, 1e-6));
  }
}

// An optimizer's state of parameter p (keyed by its TensorImpl: as text up to LibTorch 2.1, the
// pointer since).
template <class Optimizer>
const torch::optim::AdamParamState& adam_state(Optimizer& optimizer, const torch::Tensor& p) {
  using Key = typename std::decay_t<decltype(optimizer.state())>::key_type;
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream key;
    key << p.unsafeGetTensorImpl();
    return static_cast<const torch::optim::AdamParamState&>(*optimizer.state().at(key.str()));
  } else {
    return static_cast<const torch::optim::AdamParamState&>(*optimizer.state().at(static_cast<Key>(p.unsafeGetTensorImpl())));
  }
}

using Make = std::function<std::unique_ptr<torch::optim::Optimizer>(const std::vector<torch::Tensor>&, bool fused)>;

// Runs `steps` steps on two copies, fused and LibTorch's; the parameters must agree after each.
void compare_steps(const Make& make, int64_t steps) {
  const auto reference_params = make_parameters();
  const auto fused_params = clone_all(reference_params);
  auto reference = make(reference_params, false);
  auto fused = make(fused_params, true);
  second_group_lr(*reference, 0.003);
  second_group_lr(*fused, 0.003);
  for (int64_t k = 0; k < steps; ++k) {
    set_gradients(reference_params, k);
    set_gradients(fused_params, k);
    reference->step();
    fused->step();
    check_close(fused_params, reference_params);
  }
  CHECK(torch::equal(fused_params[4], reference_params[4]));  // no gradient: untouched
  CHECK(fused->state().size() == reference->state().size());  // and no state made for it
}

}  // namespace

TEST_CASE("fused SGD, Adam and AdamW steps equal LibTorch's over several steps and two groups", "[optim]") {
  SECTION("SGD without momentum") {
    compare_steps([](const auto& p, bool fused) -> std::unique_ptr<torch::optim::Optimizer> {
      auto o = torch::optim::SGDOptions(0.1).weight_decay(5e-4);
      if (fused) return std::make_unique<zoo::FusedSGD>(groups_of(p), o);
      return std::make_unique<torch::optim::SGD>(groups_of(p), o);
    }, 4);
  }
  SECTION("SGD with momentum and weight decay") {
    compare_steps([](const auto& p, bool fused) -> std::unique_ptr<torch::optim::Optimizer> {
      auto o = torch::optim::SGDOptions(0.1).momentum(0.9).weight_decay(5e-4);
      if (fused) return std::make_unique<zoo::FusedSGD>(groups_of(p), o);
      return std::make_unique<torch::optim::SGD>(groups_of(p), o);
    }, 5);
  }
  SECTION("SGD with Nesterov momentum") {
    compare_steps([](const auto& p, bool fused) -> std::unique_ptr<torch::optim::Optimizer> {
      auto o = torch::optim::SGDOptions(0.05).momentum(0.8).nesterov(true);
      if (fused) return std::make_unique<zoo::FusedSGD>(groups_of(p), o);
      return std::make_unique<torch::optim::SGD>(groups_of(p), o);
    }, 5);
  }
  SECTION("Adam with L2 weight decay") {
    compare_steps([](const auto& p, bool fused) -> std::unique_ptr<torch::optim::Optimizer> {
      auto o = torch::optim::AdamOptions(2e-3).weight_decay(1e-2);
      if (fused) return std::make_unique<zoo::FusedAdam>(groups_of(p), o);
      return std::make_unique<torch::optim::Adam>(groups_of(p), o);
    }, 6);
  }
  SECTION("AdamW with decoupled weight decay and other betas") {
    compare_steps([](const auto& p, bool fused) -> std::unique_ptr<torch::optim::Optimizer> {
      auto o = torch::optim::AdamWOptions(1e-3).weight_decay(0.1).betas({0.9, 0.95}).eps(1e-6);
      if (fused) return std::make_unique<zoo::FusedAdamW>(groups_of(p), o);
      return std::make_unique<torch::optim::AdamW>(groups_of(p), o);
    }, 6);
  }
}

TEST_CASE("a fused optimizer's state is LibTorch's: saved by one, loaded by the other, the steps go on alike", "[optim]") {
  const auto params = make_parameters();
  const auto options = torch::optim::AdamWOptions(1e-3).weight_decay(0.05);
  zoo::FusedAdamW fused(groups_of(params), options);
  for (int64_t k = 0; k < 3; ++k) {
    set_gradients(params, k);
    fused.step();
  }
  std::stringstream saved;
  {
    torch::serialize::OutputArchive archive;
    fused.save(archive);
    archive.save_to(saved);
  }
  // Carry on two copies: one with the fused optimizer, one with LibTorch's loading its state.
  const auto copy = clone_all(params);
  torch::optim::AdamW libtorch(groups_of(copy), options);
  {
    torch::serialize::InputArchive archive;
    archive.load_from(saved);
    libtorch.load(archive);
  }
  for (int64_t k = 3; k < 6; ++k) {
    set_gradients(params, k);
    set_gradients(copy, k);
    fused.step();
    libtorch.step();
    check_close(params, copy);
  }
  // The moments agree too, and the step counts.
  for (size_t i = 0; i < params.size(); ++i) {
    if (i == 4) continue;
    const auto& sa = adam_state(fused, params[i]);
    const auto& sb = adam_state(libtorch, copy[i]);
    INFO("parameter " << i << ": exp_avg differs by up to " << (sa.exp_avg() - sb.exp_avg()).abs().max().item<double>()
                      << ", exp_avg_sq by " << (sa.exp_avg_sq() - sb.exp_avg_sq()).abs().max().item<double>());
    CHECK(sa.step() == 6);
    CHECK(sb.step() == 6);
    CHECK(torch::allclose(sa.exp_avg(), sb.exp_avg(), 1e-5, 1e-5));  // gradients up to ~20 here: rounding-level
    CHECK(torch::allclose(sa.exp_avg_sq(), sb.exp_avg_sq(), 1e-5, 1e-5));
  }
}

TEST_CASE("fused steps bump the parameters' versions and fall back to LibTorch's where the loop does not apply", "[optim]") {
  SECTION("a step is an in-place change autograd can see") {
    auto params = make_parameters();
    zoo::FusedSGD sgd(groups_of(params), torch::optim::SGDOptions(0.1));
    const auto before = params[0]._version();
    set_gradients(params, 0);
    sgd.step();
    CHECK(params[0]._version() > before);
  }
  SECTION("double parameters and AMSGrad take LibTorch's step, bit for bit") {
    for (const bool amsgrad : {false, true}) {
      const auto dtype = amsgrad ? torch::kFloat : torch::kDouble;
      const auto a = make_parameters(dtype), b = clone_all(a);
      auto options = torch::optim::AdamOptions(1e-3).amsgrad(amsgrad);
      zoo::FusedAdam fused(groups_of(a), options);
      torch::optim::Adam libtorch(groups_of(b), options);
      for (int64_t k = 0; k < 3; ++k) {
        set_gradients(a, k);
        set_gradients(b, k);
        fused.step();
        libtorch.step();
      }
      for (size_t i = 0; i < a.size(); ++i) CHECK(torch::equal(a[i], b[i]));
    }
  }
}

}  // namespace test_fused_optim
