// Reading zoo's switches from the environment (no LibTorch: the torch-free units use it too).
#pragma once
#include <cstdlib>
#include <cstring>

namespace zoo {

// Whether the environment variable `name` is `value` (ZOO_OPTIMIZER=libtorch, ZOO_KERNELS=baseline, ...).
inline bool env_is(const char* name, const char* value) {
  const char* set = std::getenv(name);
  return set && std::strcmp(set, value) == 0;
}

}  // namespace zoo
