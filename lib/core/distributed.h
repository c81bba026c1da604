// One process of a data-parallel run launched by torchrun (docs/DISTRIBUTED.md). torchrun tells each worker who it is through the environment; zoo reads the variables
// PyTorch's own workers read, joins the store the same way, and talks over c10d's process groups
// (Gloo on the CPU), behind the few collective operations the trainer needs.
#pragma once
#include <torch/torch.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace zoo {

// What torchrun (or any launcher following its conventions) says about this worker.
struct DistEnv {
  bool launched = false;  // RANK and WORLD_SIZE were set: this is one worker of a run
  int64_t rank = 0, world_size = 1;
  int64_t local_rank = 0, local_world_size = 1;
  std::string master_addr = "127.0.0.1";
  int64_t master_port = 29500;
  int64_t restart_count = 0;  // TORCHELASTIC_RESTART_COUNT: the launcher's attempt
  bool agent_store = false;   // TORCHELASTIC_USE_AGENT_STORE=True: the launcher hosts the store
};

// Reads RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT,
// TORCHELASTIC_RESTART_COUNT and TORCHELASTIC_USE_AGENT_STORE through `lookup` (the environment
// by default). Neither RANK nor WORLD_SIZE set: one process, `launched` false. A malformed or
// inconsistent value: UsageError naming the variable.
DistEnv read_dist_env(const std::function<const char*(const char*)>& lookup = [](const char* name) { return std::getenv(name); });

// Whether this zoo was built with Gloo (scripts/setup.sh installs libgloo-dev).
bool gloo_available();

// The collective operations of a run, over all its processes.
class Collectives {
 public:
  virtual ~Collectives() = default;
  virtual int64_t rank() const = 0;
  virtual int64_t world_size() const = 0;
  virtual void all_reduce_sum(std::vector<torch::Tensor>& tensors) = 0;          // in place, every rank
  // Starts a sum all-reduce of `tensor` in place and returns at once; calling the result waits
  // for it. Every rank must start the same operations in the same order.
  virtual std::function<void()> start_all_reduce_sum(torch::Tensor tensor) = 0;
  virtual void broadcast(std::vector<torch::Tensor>& tensors, int64_t root) = 0;  // root's values to every rank
  virtual void barrier() = 0;
};

// Sums `values` over every rank of `group` (a few scalars: counts, metric statistics), in double
// precision. Without a group (one process) they are the sums already, returned as they are.
std::vector<double> sum_over_ranks(Collectives* group, std::vector<double> values);

// Every rank's `text`, in rank order, on every rank (predictions gathered for a corpus metric).
std::vector<std::string> gather_text(Collectives& group, const std::string& text);

// [begin, end) of this rank's share of `count` items split into `world_size` contiguous parts
// that differ in size by at most one (the first count % world_size ranks take one more).
std::pair<int64_t, int64_t> shard_range(int64_t count, int64_t rank, int64_t world_size);

// The backend --dist-backend names: "auto" is "nccl" on a CUDA device and "gloo" on the CPU.
std::string resolve_dist_backend(const std::string& name, bool cuda);

// Joins the run `env` describes. The store: the launcher's, as a client, when it hosts one (keys
// under "/worker/attempt_<restart count>", as PyTorch's workers keep them, so a restarted attempt
// never reads its predecessor's); otherwise rank 0 hosts a TCPStore at MASTER_ADDR:MASTER_PORT
// and the others connect. backend: "gloo" or "nccl" (resolve_dist_backend). Error when the
// backend is not in this build or the others do not arrive within `timeout`.
std::unique_ptr<Collectives> join_run(const DistEnv& env, const std::string& backend,
                                      std::chrono::milliseconds timeout = std::chrono::minutes(5));

}  // namespace zoo
