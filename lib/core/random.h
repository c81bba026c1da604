// Seeds and a small portable RNG, without LibTorch: the data side (sample order, augmentation,
// synthetic sets) is a pure function of them on every platform.
#pragma once
#include <cstdint>

namespace zoo {

// SplitMix64 (Steele, Lea and Flood 2014): the i-th output (from 0) of the generator started at
// `seed`, computed directly, so that any thread can draw any element of a sequence.
inline uint64_t splitmix64(uint64_t seed, uint64_t i = 0) {
  uint64_t z = seed + (i + 1) * 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

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
