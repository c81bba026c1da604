// Test helpers for data-parallel code: a free loopback port, and two ranks of a run joined over
// it through Gloo, each in a thread of this process.
#pragma once
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "lib/core/distributed.h"

namespace zoo::testing {

// A port nothing listens on now (the kernel's pick for a socket bound to port 0).
inline int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  socklen_t length = sizeof address;
  REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
  close(fd);
  return ntohs(address.sin_port);
}

// Runs fn(rank, collectives) on two ranks joined over loopback, each in its own thread; the
// first error of either, or "". (Catch's assertions are not for other threads: fn keeps what it
// saw for the test to check after.)
inline std::string on_two_ranks(const std::function<void(int, Collectives&)>& fn) {
  const int port = free_port();
  std::vector<std::string> errors(2);
  auto worker = [&](int rank) {
    try {
      DistEnv env;
      env.launched = true, env.rank = rank, env.world_size = 2, env.local_rank = rank, env.local_world_size = 2;
      env.master_addr = "127.0.0.1", env.master_port = port;
      auto run = join_run(env, "gloo", std::chrono::seconds(60));
      fn(rank, *run);
    } catch (const std::exception& e) {
      errors[rank] = "rank " + std::to_string(rank) + ": " + e.what();
    }
  };
  std::thread rank0(worker, 0), rank1(worker, 1);
  rank0.join(), rank1.join();
  return errors[0].empty() ? errors[1] : errors[0];
}

}  // namespace zoo::testing
