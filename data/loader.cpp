#include "data/loader.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "lib/core/error.h"
#include "lib/core/runtime.h"

namespace zoo::data {

PrefetchLoader::PrefetchLoader(int64_t first, int64_t count, std::function<Batch(int64_t)> make_batch, int workers, int prefetch)
    : next_(first), count_(count), make_batch_(std::move(make_batch)), workers_(std::max(0, workers)),
      prefetch_(prefetch > 0 ? prefetch : 2 * std::max(1, workers)) {
  for (int w = 0; w < workers_; ++w) threads_.emplace_back([this, w] { work(w); });
}

PrefetchLoader::~PrefetchLoader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  room_.notify_all();
  for (auto& t : threads_) t.join();
}

void PrefetchLoader::work(int worker) {
  // Worker w builds batches first + w, first + w + W, ... (the first one it owns at or after next_).
  int64_t b = next_;
  while (b % workers_ != worker % workers_) ++b;
  for (; b < count_; b += workers_) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      room_.wait(lock, [&] { return stop_ || b < next_ + prefetch_; });
      if (stop_) return;
    }
    Batch batch;
    std::exception_ptr error;
    try {
      batch = make_batch_(b);
    } catch (...) {
      error = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (error) failed_[b] = error; else done_[b] = std::move(batch);
    }
    ready_.notify_all();
    if (error) return;
  }
}

std::optional<Batch> PrefetchLoader::next() {
  if (next_ >= count_) return std::nullopt;
  if (workers_ == 0) return make_batch_(next_++);
  std::unique_lock<std::mutex> lock(mutex_);
  ready_.wait(lock, [&] { return done_.count(next_) || failed_.count(next_); });
  if (failed_.count(next_)) std::rethrow_exception(failed_[next_]);
  Batch batch = std::move(done_[next_]);
  done_.erase(next_);
  ++next_;
  lock.unlock();
  room_.notify_all();
  return batch;
}

torch::Tensor stack_samples(const std::vector<torch::Tensor>& samples) {
  if (samples.empty()) throw Error("cannot stack an empty batch");
  std::vector<int64_t> shape{static_cast<int64_t>(samples.size())};
  for (auto s : samples[0].sizes()) shape.push_back(s);
  auto out = torch::empty(shape, samples[0].options());
  const size_t bytes = samples[0].numel() * samples[0].element_size();
  auto* dst = static_cast<char*>(out.data_ptr());
  for (size_t i = 0; i < samples.size(); ++i) {
    if (samples[i].sizes() != samples[0].sizes()) throw Error("samples of one batch differ in shape");
    auto sample = samples[i].contiguous();
    std::memcpy(dst + i * bytes, sample.data_ptr(), bytes);
  }
  return out;
}

std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> order(n);
  for (int64_t i = 0; i < n; ++i) order[i] = i;
  Rng rng(mix_seed(seed, static_cast<uint64_t>(epoch), 0x5eed));
  for (int64_t i = n - 1; i > 0; --i) std::swap(order[i], order[rng.randint(0, i + 1)]);  // Fisher-Yates
  return order;
}

std::pair<torch::Tensor, torch::Tensor> shifted_targets(const std::vector<const std::vector<int64_t>*>& sequences, int64_t bos) {
  const auto n = static_cast<int64_t>(sequences.size());
  int64_t longest = 1;
  for (const auto* s : sequences) longest = std::max<int64_t>(longest, static_cast<int64_t>(s->size()));
  auto in = torch::zeros({n, longest}, torch::kInt64), out = torch::zeros({n, longest}, torch::kInt64);
  auto in_a = in.accessor<int64_t, 2>(), out_a = out.accessor<int64_t, 2>();
  for (int64_t b = 0; b < n; ++b) {
    const auto& y = *sequences[static_cast<size_t>(b)];
    for (size_t j = 0; j < y.size(); ++j) {
      out_a[b][static_cast<int64_t>(j)] = y[j];
      in_a[b][static_cast<int64_t>(j)] = j == 0 ? bos : y[j - 1];
    }
  }
  return {in, out};
}

}  // namespace zoo::data
