#include "lib/core/random.h"

#include <cmath>

namespace zoo {

uint64_t mix_seed(uint64_t a, uint64_t b, uint64_t c) {
  return splitmix64(splitmix64(splitmix64(a) ^ b) ^ c);
}

uint64_t Rng::next_u64() {
  const uint64_t next = splitmix64(state_);
  state_ += 0x9E3779B97F4A7C15ull;
  return next;
}

double Rng::uniform(double lo, double hi) {
  const double unit = static_cast<double>(next_u64() >> 11) * 0x1.0p-53;
  return lo + (hi - lo) * unit;
}

int64_t Rng::randint(int64_t lo, int64_t hi_exclusive) {
  if (hi_exclusive <= lo) return lo;
  return lo + static_cast<int64_t>(next_u64() % static_cast<uint64_t>(hi_exclusive - lo));
}

double Rng::normal() {
  // Box-Muller; u1 in (0, 1] so the log is finite.
  const double u1 = 1.0 - uniform(), u2 = uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

}  // namespace zoo
