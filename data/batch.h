// What the data layer hands to a task: one collated batch, and a stream of them for an epoch.
#pragma once
#include <torch/torch.h>

#include <optional>
#include <vector>

namespace zoo::data {

// One collated batch: the task decides what each tensor means; `size` counts examples.
struct Batch {
  std::vector<torch::Tensor> tensors;
  int64_t size = 0;
  std::vector<int64_t> ids;  // the training examples it holds (Task::describe_sample names them)
};

class BatchStream {
 public:
  virtual ~BatchStream() = default;
  virtual std::optional<Batch> next() = 0;  // nullopt at the end of the epoch
};

}  // namespace zoo::data
