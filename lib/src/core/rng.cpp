#include "moekit/core/rng.hpp"

#include <cmath>

namespace moekit {

double standard_normal(Rng& rng) {
  // Box-Muller; u1 in (0, 1] so that log(u1) is finite.
  const double u1 = 1.0 - uniform01(rng);
  const double u2 = uniform01(rng);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

}  // namespace moekit
