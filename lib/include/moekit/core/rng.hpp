#pragma once
// Reproducible random numbers. One engine type everywhere; independent streams (restarts,
// row blocks) are derived from a base seed with SplitMix64, never from the clock.

#include <cstdint>
#include <random>

namespace moekit {

using Rng = std::mt19937_64;

// SplitMix64 finaliser: a well-mixed 64-bit value from a seed and a stream number.
inline std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t stream) {
  std::uint64_t z = seed + 0x9E3779B97F4A7C15ULL * (stream + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// Uniform on [0, 1) from 53 random bits (portable, unlike std::uniform_real_distribution).
inline double uniform01(Rng& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

// Standard normal by the Box-Muller transform on uniform01 (portable across libraries).
double standard_normal(Rng& rng);

}  // namespace moekit
