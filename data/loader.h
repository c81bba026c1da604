// A multi-threaded prefetching batch loader. Batch b of an epoch is built by make_batch(b) on
// worker b % workers and handed out strictly in order, so the stream is the same for any
// number of workers: determinism comes from the batch function, not from thread timing.
#pragma once
#include <condition_variable>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "data/batch.h"

namespace zoo::data {

class PrefetchLoader : public BatchStream {
 public:
  // Yields make_batch(b) for b in [first, count). workers == 0 builds batches in the calling
  // thread; otherwise at most `prefetch` batches are built ahead of the consumer.
  PrefetchLoader(int64_t first, int64_t count, std::function<Batch(int64_t)> make_batch, int workers, int prefetch = 0);
  ~PrefetchLoader() override;
  std::optional<Batch> next() override;

 private:
  void work(int worker);

  int64_t next_, count_;
  std::function<Batch(int64_t)> make_batch_;
  int workers_, prefetch_;
  std::mutex mutex_;
  std::condition_variable ready_, room_;
  std::map<int64_t, Batch> done_;
  std::map<int64_t, std::exception_ptr> failed_;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

// Fills one preallocated (B, ...) tensor from per-sample tensors without LibTorch ops, so
// workers stay single-threaded.
torch::Tensor stack_samples(const std::vector<torch::Tensor>& samples);

// A decoder's teacher-forced inputs and targets for token sequences that end in <eos>:
// in = <bos> y_1 .. y_{n-1}, out = y_1 .. y_n, each (B, longest) padded with 0 (at least one column).
std::pair<torch::Tensor, torch::Tensor> shifted_targets(const std::vector<const std::vector<int64_t>*>& sequences, int64_t bos);

// The sample order of an epoch: a permutation of [0, n) that depends only on (seed, epoch).
std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int64_t epoch);

}  // namespace zoo::data
