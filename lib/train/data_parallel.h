// Data parallelism over a Collectives (PyTorch's DistributedDataParallel, written small; Li et
// al. 2020, "PyTorch Distributed"): every rank holds the whole model, computes gradients on its
// shard of the batch, and the gradients are averaged while the backward pass still runs.
//
// Parameters are packed in reverse registration order (roughly the order backward produces their
// gradients) into buckets of about `bucket_bytes`; a hook after each parameter's gradient
// accumulator marks it ready, and a bucket whose parameters are all ready is copied into one
// flat buffer and all-reduced asynchronously, in bucket order, so that every rank starts the
// same operations in the same order. finish() starts what is left (parameters no rank's graph
// reached this step), waits, and writes the averages back. Each bucket carries one extra slot per
// parameter counting the ranks that produced its gradient: a parameter no rank used keeps no
// gradient (as in one process), one used by some ranks gets the average over all of them.
#pragma once
#include <torch/torch.h>

#include <memory>
#include <vector>

#include "lib/core/distributed.h"
#include "lib/core/options.h"
#include "lib/tasks/task.h"

namespace zoo {

class GradientSync {
 public:
  GradientSync(std::vector<torch::Tensor> parameters, Collectives& group, int64_t bucket_bytes = 25 << 20,
               int64_t first_bucket_bytes = 1 << 20);
  ~GradientSync();
  GradientSync(const GradientSync&) = delete;
  GradientSync& operator=(const GradientSync&) = delete;

  // Before a backward pass: `reduce` true reduces its gradients as they become ready (the last
  // micro-batch of a step); false only accumulates them locally (the inner micro-batches of
  // --accum-steps, which need no communication).
  void arm(bool reduce);
  // After the step's last backward pass (or instead of it, on a rank with nothing to compute):
  // every parameter's gradient is the average over ranks.
  void finish();

  int64_t buckets() const;
  // Seconds finish() spent waiting for communication that the backward pass did not hide, and
  // seconds from a bucket's start to its completion, both summed over steps since the last call.
  std::pair<double, double> take_timings();

  struct State;

 private:
  std::shared_ptr<State> state_;
};

// --accum-steps, --precision, --dist-backend against the run `shard` describes: UsageError
// naming the first bad one (every micro-batch of every rank must hold an example).
void check_data_parallel_options(const Options& config, const DataShard& shard);

// Every parameter and buffer of `module` set to `root`'s values (the start of a run, so that
// differently seeded or loaded ranks begin identical).
void broadcast_module(torch::nn::Module& module, Collectives& group, int64_t root = 0);

}  // namespace zoo
