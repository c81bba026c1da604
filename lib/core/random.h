// Seeds and a small portable RNG, without LibTorch: the data side (sample order, augmentation,
// synthetic sets) is a pure function of them on every platform.
#pragma once
#include <cstdint>

namespace zoo {

// Mixes numbers into one 64-bit seed (splitmix64), e.g. (seed, epoch, sample index): a
// sample's augmentation then does not depend on which worker thread drew it.
uint64_t mix_seed(uint64_t a, uint64_t b = 0, uint64_t c = 0);

// A small RNG with the same output on every platform (std:: distributions are not).
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next_u64();
  double uniform(double lo = 0.0, double hi = 1.0);          // [lo, hi)
  int64_t randint(int64_t lo, int64_t hi_exclusive);        // [lo, hi)
  double normal();                                           // N(0, 1)
  bool bernoulli(double p) { return uniform() < p; }

 private:
  uint64_t state_;
};

}  // namespace zoo
