// BatchNorm2d whose batch statistics can span the ranks of a data-parallel run (--sync-bn;
// PyTorch's SyncBatchNorm). The CNN families build their BatchNorm from it; without a group
// (one process, or no --sync-bn) it computes what torch::nn::BatchNorm2d does, through the same
// ATen call, with the same state-dict names (weight, bias, running_mean, running_var,
// num_batches_tracked). Its own module rather than a subclass: LibTorch exports no vtable parts
// a subclass of its BatchNorm2dImpl could link against.
//
// Synchronised, in training, over ranks r with values x_ri per channel (N in all):
//   mu = sum_ri x_ri / N,   var = sum_ri (x_ri - mu)^2 / N
//   y = gamma (x - mu) / sqrt(var + eps) + beta
// and the backward pass sums d(y) and d(y) x_hat over ranks the same way.
//
// Frozen (DETR's FrozenBatchNorm2d, for a detector's pretrained backbone): gamma, beta and the
// running statistics are all buffers that nothing trains, no num_batches_tracked, and it
// normalises with the running statistics in training too: y = gamma (x - mu) / sqrt(var + eps) + beta.
#pragma once
#include <torch/torch.h>

#include "lib/core/distributed.h"

namespace zoo::nn {

class BatchNorm2dImpl : public torch::nn::Cloneable<BatchNorm2dImpl> {
 public:
  explicit BatchNorm2dImpl(int64_t num_features, bool frozen = false)
      : BatchNorm2dImpl(torch::nn::BatchNormOptions(num_features), frozen) {}
  explicit BatchNorm2dImpl(const torch::nn::BatchNormOptions& options, bool frozen = false);
  void reset() override;
  void reset_parameters();
  torch::Tensor forward(const torch::Tensor& input);
  void pretty_print(std::ostream& stream) const override;
  // Statistics over `group`'s ranks from now on (nullptr: this rank's batch alone).
  void synchronise(Collectives* group) { group_ = group; }
  bool synchronised() const { return group_ != nullptr; }
  bool frozen() const { return frozen_; }
  // Whether it normalises with batch statistics now (in training, unless frozen).
  bool uses_batch_statistics() const { return is_training() && !frozen_; }

  torch::nn::BatchNormOptions options;
  torch::Tensor weight, bias;                                     // gamma, beta (affine)
  torch::Tensor running_mean, running_var, num_batches_tracked;   // buffers (track_running_stats)

 private:
  Collectives* group_ = nullptr;
  bool frozen_ = false;
};
TORCH_MODULE(BatchNorm2d);

// --sync-bn: every BatchNorm2d of `model` takes its statistics over `group` (nullptr, one
// process: nothing changes). A BatchNorm layer of another kind is a UsageError naming it.
void convert_sync_batch_norm(torch::nn::Module& model, Collectives* group);

// The synchronised batch normalisation itself (training mode): normalises `input` (N, C, ...)
// with statistics over every rank and updates the running ones. Exposed for the tests.
torch::Tensor sync_batch_norm(const torch::Tensor& input, const torch::Tensor& weight, const torch::Tensor& bias, torch::Tensor running_mean,
                              torch::Tensor running_var, double momentum, double eps, Collectives& group);

}  // namespace zoo::nn
