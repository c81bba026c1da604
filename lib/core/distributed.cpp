#include "lib/core/distributed.h"

#include <cstring>

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef ZOO_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif

#include "lib/core/error.h"
#include "lib/core/options.h"

namespace zoo {

namespace {

// An integer environment variable of at least `minimum`, or `fallback` when unset or empty.
int64_t env_int(const std::function<const char*(const char*)>& lookup, const char* name, int64_t fallback, int64_t minimum) {
  const char* text = lookup(name);
  if (!text || !*text) return fallback;
  const auto value = parse_int(text);
  if (!value || *value < minimum)
    throw UsageError("invalid " + std::string(name) + "='" + text + "': expected an integer of at least " + std::to_string(minimum));
  return *value;
}

bool is_set(const char* text) { return text && *text; }

}  // namespace

DistEnv read_dist_env(const std::function<const char*(const char*)>& lookup) {
  DistEnv env;
  const bool rank_set = is_set(lookup("RANK")), world_set = is_set(lookup("WORLD_SIZE"));
  if (!rank_set && !world_set) return env;
  if (rank_set != world_set)
    throw UsageError(std::string(rank_set ? "RANK" : "WORLD_SIZE") + " is set but " + (rank_set ? "WORLD_SIZE" : "RANK") +
                     " is not: a launcher such as torchrun sets both");
  env.launched = true;
  env.world_size = env_int(lookup, "WORLD_SIZE", 1, 1);
  env.rank = env_int(lookup, "RANK", 0, 0);
  if (env.rank >= env.world_size)
    throw UsageError("invalid RANK=" + std::to_string(env.rank) + ": expected less than WORLD_SIZE=" + std::to_string(env.world_size));
  env.local_world_size = env_int(lookup, "LOCAL_WORLD_SIZE", env.world_size, 1);
  env.local_rank = env_int(lookup, "LOCAL_RANK", env.rank % env.local_world_size, 0);
  if (env.local_rank >= env.local_world_size)
    throw UsageError("invalid LOCAL_RANK=" + std::to_string(env.local_rank) + ": expected less than LOCAL_WORLD_SIZE=" +
                     std::to_string(env.local_world_size));
  if (const char* addr = lookup("MASTER_ADDR"); is_set(addr)) env.master_addr = addr;
  env.master_port = env_int(lookup, "MASTER_PORT", env.master_port, 1);
  if (env.master_port > 65535) throw UsageError("invalid MASTER_PORT=" + std::to_string(env.master_port) + ": expected a port up to 65535");
  env.restart_count = env_int(lookup, "TORCHELASTIC_RESTART_COUNT", 0, 0);
  const char* agent = lookup("TORCHELASTIC_USE_AGENT_STORE");
  env.agent_store = is_set(agent) && (std::string(agent) == "True" || std::string(agent) == "true" || std::string(agent) == "1");
  return env;
}

bool gloo_available() {
#ifdef ZOO_GLOO
  return true;
#else
  return false;
#endif
}

namespace {

#ifdef ZOO_GLOO
class GlooCollectives : public Collectives {
 public:
  GlooCollectives(c10::intrusive_ptr<c10d::Store> store, const DistEnv& env, std::chrono::milliseconds timeout)
      : store_(std::move(store)), rank_(env.rank), world_size_(env.world_size) {
    auto options = c10d::ProcessGroupGloo::Options::create();
    options->timeout = timeout;
    // The interface GLOO_SOCKET_IFNAME names, as PyTorch's workers take it; else the one the host name resolves to.
    const char* interface = std::getenv("GLOO_SOCKET_IFNAME");
    options->devices.push_back(is_set(interface) ? c10d::ProcessGroupGloo::createDeviceForInterface(interface)
                                                 : c10d::ProcessGroupGloo::createDefaultDevice());
    group_ = c10::make_intrusive<c10d::ProcessGroupGloo>(store_, static_cast<int>(rank_), static_cast<int>(world_size_), options);
  }
  int64_t rank() const override { return rank_; }
  int64_t world_size() const override { return world_size_; }
  void all_reduce_sum(std::vector<torch::Tensor>& tensors) override {
    each(tensors, [&](std::vector<torch::Tensor>& one) { return group_->allreduce(one); });
  }
  void broadcast(std::vector<torch::Tensor>& tensors, int64_t root) override {
    c10d::BroadcastOptions options;
    options.rootRank = root;
    each(tensors, [&](std::vector<torch::Tensor>& one) { return group_->broadcast(one, options); });
  }
  std::function<void()> start_all_reduce_sum(torch::Tensor tensor) override {
    std::vector<torch::Tensor> one{std::move(tensor)};
    auto work = group_->allreduce(one);
    return [work] { work->wait(); };
  }
  void barrier() override { group_->barrier()->wait(); }

 private:
  // c10d's vector arguments are one tensor per device: each tensor here is its own operation,
  // all started before any is awaited.
  template <typename Start>
  static void each(std::vector<torch::Tensor>& tensors, const Start& start) {
    std::vector<c10::intrusive_ptr<c10d::Work>> works;
    for (auto& t : tensors) {
      std::vector<torch::Tensor> one{t};
      works.push_back(start(one));
    }
    for (auto& work : works) work->wait();
  }

  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group_;
  int64_t rank_, world_size_;
};
#endif

}  // namespace

std::vector<double> sum_over_ranks(Collectives* group, std::vector<double> values) {
  if (!group || values.empty()) return values;
  std::vector<torch::Tensor> tensors{torch::tensor(values, torch::kFloat64)};
  group->all_reduce_sum(tensors);
  const double* summed = tensors[0].data_ptr<double>();
  return std::vector<double>(summed, summed + values.size());
}

std::vector<std::string> gather_text(Collectives& group, const std::string& text) {
  // The lengths first, then one buffer in which each rank fills its own span: a sum is a gather.
  const auto world = static_cast<size_t>(group.world_size()), rank = static_cast<size_t>(group.rank());
  std::vector<double> lengths(world, 0.0);
  lengths[rank] = static_cast<double>(text.size());
  lengths = sum_over_ranks(&group, lengths);
  std::vector<int64_t> offsets(world + 1, 0);
  for (size_t r = 0; r < world; ++r) offsets[r + 1] = offsets[r] + static_cast<int64_t>(lengths[r]);
  std::vector<torch::Tensor> buffer{torch::zeros({std::max<int64_t>(1, offsets[world])}, torch::kUInt8)};
  std::memcpy(buffer[0].data_ptr<uint8_t>() + offsets[rank], text.data(), text.size());
  group.all_reduce_sum(buffer);
  std::vector<std::string> texts;
  const auto* bytes = reinterpret_cast<const char*>(buffer[0].data_ptr<uint8_t>());
  for (size_t r = 0; r < world; ++r) texts.emplace_back(bytes + offsets[r], static_cast<size_t>(offsets[r + 1] - offsets[r]));
  return texts;
}

std::pair<int64_t, int64_t> shard_range(int64_t count, int64_t rank, int64_t world_size) {
  const int64_t base = count / world_size, extra = count % world_size;
  const int64_t begin = rank * base + std::min(rank, extra);
  return {begin, begin + base + (rank < extra ? 1 : 0)};
}

std::string resolve_dist_backend(const std::string& name, bool cuda) {
  // This build has no NCCL process group, and Gloo reduces CUDA tensors too (through the host).
  if (name == "auto") return "gloo";
  (void)cuda;
  if (name != "gloo" && name != "nccl") throw UsageError("invalid --dist-backend '" + name + "': expected auto, gloo or nccl");
  return name;
}

std::unique_ptr<Collectives> join_run(const DistEnv& env, const std::string& backend, std::chrono::milliseconds timeout) {
  if (backend == "nccl")
    throw Error("this zoo was built without NCCL (LibTorch's ProcessGroupNCCL); on this build use --dist-backend gloo, which also reduces CUDA tensors");
  if (backend != "auto" && backend != "gloo")
    throw UsageError("invalid --dist-backend '" + backend + "': expected auto, gloo or nccl");
#ifdef ZOO_GLOO
  c10d::TCPStoreOptions options;
  options.port = static_cast<std::uint16_t>(env.master_port);
  options.isServer = !env.agent_store && env.rank == 0;
  options.numWorkers = static_cast<std::size_t>(env.world_size);
  options.timeout = timeout;
  c10::intrusive_ptr<c10d::Store> store;
  try {
    store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, options);
  } catch (const std::exception& e) {
    throw Error("cannot reach the run's store at " + env.master_addr + ":" + std::to_string(env.master_port) + " (rank " +
                std::to_string(env.rank) + " of " + std::to_string(env.world_size) + "): " + e.what());
  }
  if (env.agent_store) store = c10::make_intrusive<c10d::PrefixStore>("/worker/attempt_" + std::to_string(env.restart_count), store);
  return std::make_unique<GlooCollectives>(store, env, timeout);
#else
  (void)timeout;
  throw Error("this zoo was built without Gloo, so it cannot join a run of " + std::to_string(env.world_size) +
              " processes: install libgloo-dev (scripts/setup.sh) and rebuild");
#endif
}

}  // namespace zoo
