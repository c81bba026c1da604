// lib/core/distributed: the torchrun environment, and two ranks in one process joining a run
// over loopback and talking through Gloo.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <map>
#include <string>
#include <thread>

#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "lib/core/error.h"
#include "lib/core/distributed.h"
#include "tests/unit/two_ranks.h"

namespace test_distributed {  // this file's own: the unit tests compile in batches (tests/CMakeLists.txt)

using namespace zoo;
using zoo::testing::free_port;
using zoo::testing::on_two_ranks;

namespace {

DistEnv env_of(const std::map<std::string, std::string>& vars) {
  return read_dist_env([&](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  });
}

}  // namespace

TEST_CASE("read_dist_env: one process without the launcher's variables, a worker with them", "[distributed]") {
  CHECK_FALSE(env_of({}).launched);
  CHECK(env_of({}).world_size == 1);
  auto env = env_of({{"RANK", "3"}, {"WORLD_SIZE", "4"}, {"LOCAL_RANK", "1"}, {"LOCAL_WORLD_SIZE", "2"}, {"MASTER_ADDR", "10.0.0.7"},
                     {"MASTER_PORT", "29511"}, {"TORCHELASTIC_RESTART_COUNT", "2"}, {"TORCHELASTIC_USE_AGENT_STORE", "True"}});
  CHECK(env.launched);
  CHECK(env.rank == 3);
  CHECK(env.world_size == 4);
  CHECK(env.local_rank == 1);
  CHECK(env.local_world_size == 2);
  CHECK(env.master_addr == "10.0.0.7");
  CHECK(env.master_port == 29511);
  CHECK(env.restart_count == 2);
  CHECK(env.agent_store);
  // Defaults for what a bare launcher leaves out: one node, 127.0.0.1:29500, first attempt.
  auto bare = env_of({{"RANK", "1"}, {"WORLD_SIZE", "2"}});
  CHECK(bare.local_rank == 1);
  CHECK(bare.local_world_size == 2);
  CHECK(bare.master_addr == "127.0.0.1");
  CHECK(bare.master_port == 29500);
  CHECK_FALSE(bare.agent_store);
}

TEST_CASE("read_dist_env: a malformed or inconsistent variable is a usage error naming it", "[distributed]") {
  auto message = [](const std::map<std::string, std::string>& vars) {
    try {
      env_of(vars);
    } catch (const UsageError& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  CHECK_THAT(message({{"RANK", "0"}}), Catch::Contains("WORLD_SIZE"));
  CHECK_THAT(message({{"RANK", "x"}, {"WORLD_SIZE", "2"}}), Catch::Contains("RANK='x'"));
  CHECK_THAT(message({{"RANK", "2"}, {"WORLD_SIZE", "2"}}), Catch::Contains("RANK=2"));
  CHECK_THAT(message({{"RANK", "0"}, {"WORLD_SIZE", "0"}}), Catch::Contains("WORLD_SIZE='0'"));
  CHECK_THAT(message({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "70000"}}), Catch::Contains("MASTER_PORT=70000"));
  CHECK_THAT(message({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"LOCAL_RANK", "2"}, {"LOCAL_WORLD_SIZE", "2"}}), Catch::Contains("LOCAL_RANK=2"));
  CHECK_THROWS_AS(join_run(env_of({{"RANK", "0"}, {"WORLD_SIZE", "1"}}), "mpi"), UsageError);
}

TEST_CASE("two ranks join a run over loopback and reduce, broadcast and meet through Gloo", "[distributed]") {
  if (!gloo_available()) {
    WARN("this zoo was built without Gloo: join_run is an error");
    CHECK_THROWS_AS(join_run(env_of({{"RANK", "0"}, {"WORLD_SIZE", "2"}}), "gloo"), Error);
    return;
  }
  const bool agent_store = GENERATE(false, true);
  CAPTURE(agent_store);
  const std::string port = std::to_string(free_port());
  // The launcher's store, when the launcher hosts it (torchrun's agent): here a server the test holds.
  c10::intrusive_ptr<c10d::Store> launcher_store;
  // Catch's assertions are not for other threads: the workers keep what they saw.
  std::vector<torch::Tensor> sums(2), broadcasts(2);
  std::vector<std::string> errors(2);
  std::vector<int64_t> ranks(2, -1), sizes(2, -1);
  auto worker = [&](int rank) {
    try {
      std::map<std::string, std::string> vars{{"RANK", std::to_string(rank)}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", port}};
      if (agent_store) vars["TORCHELASTIC_USE_AGENT_STORE"] = "True", vars["TORCHELASTIC_RESTART_COUNT"] = "1";
      auto run = join_run(env_of(vars), "auto", std::chrono::seconds(60));
      ranks[rank] = run->rank(), sizes[rank] = run->world_size();
      std::vector<torch::Tensor> values{torch::full({5}, static_cast<float>(rank + 1)), torch::arange(3, torch::kFloat64) * (rank + 1)};
      run->all_reduce_sum(values);
      sums[rank] = torch::cat({values[0].to(torch::kFloat64), values[1]});
      std::vector<torch::Tensor> mine{torch::full({2, 2}, static_cast<float>(10 * rank + 7))};
      run->broadcast(mine, 1);
      broadcasts[rank] = mine[0];
      run->barrier();
    } catch (const std::exception& e) {
      errors[rank] = e.what();
    }
  };
  if (agent_store) {
    c10d::TCPStoreOptions options;
    options.port = static_cast<std::uint16_t>(std::stoi(port));
    options.isServer = true;
    options.waitWorkers = false;
    launcher_store = c10::make_intrusive<c10d::TCPStore>("127.0.0.1", options);
  }
  std::thread rank0(worker, 0), rank1(worker, 1);
  rank0.join(), rank1.join();
  auto expected = torch::cat({torch::full({5}, 3.0, torch::kFloat64), torch::arange(3, torch::kFloat64) * 3});
  for (int rank = 0; rank < 2; ++rank) {
    CAPTURE(rank);
    REQUIRE(errors[rank] == "");
    CHECK(ranks[rank] == rank);
    CHECK(sizes[rank] == 2);
    CHECK(torch::equal(sums[rank], expected));
    CHECK(torch::equal(broadcasts[rank], torch::full({2, 2}, 17.0f)));
  }
}

TEST_CASE("shard_range: contiguous parts that cover the items once and differ by at most one", "[distributed]") {
  for (int64_t count : {0, 1, 5, 8, 13}) {
    for (int64_t world : {1, 2, 3, 4}) {
      int64_t next = 0;
      for (int64_t rank = 0; rank < world; ++rank) {
        auto [begin, end] = shard_range(count, rank, world);
        CHECK(begin == next);
        CHECK(end - begin >= count / world);
        CHECK(end - begin <= count / world + 1);
        next = end;
      }
      CHECK(next == count);
    }
  }
  CHECK(shard_range(5, 0, 2) == std::make_pair<int64_t, int64_t>(0, 3));
  CHECK(shard_range(5, 1, 2) == std::make_pair<int64_t, int64_t>(3, 5));
}

TEST_CASE("gather_text and sum_over_ranks: every rank's values on every rank, in rank order", "[distributed]") {
  if (!gloo_available()) return;
  std::vector<std::vector<std::string>> texts(2);
  std::vector<std::vector<double>> sums(2);
  const auto error = on_two_ranks([&](int rank, Collectives& group) {
    texts[rank] = gather_text(group, rank == 0 ? std::string("h\xc3\xa9llo\n") : std::string(""));
    sums[rank] = sum_over_ranks(&group, {1.5 * (rank + 1), 1e15 + rank});
  });
  REQUIRE(error == "");
  for (int rank = 0; rank < 2; ++rank) {
    CHECK(texts[rank] == std::vector<std::string>{"h\xc3\xa9llo\n", ""});
    CHECK(sums[rank] == std::vector<double>{4.5, 2e15 + 1});
  }
}

}  // namespace test_distributed
