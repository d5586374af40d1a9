#pragma once
// Helpers shared by the deep MoE tests: random parameters and the objective used by the
// finite-difference checks.

#include "moekit/core/rng.hpp"
#include "moekit/deep/moe_layer.hpp"

#include <vector>

namespace moekit::deep::test {

inline Matrix random_matrix(Index rows, Index cols, Rng& rng, double scale = 1.0) {
  Matrix m(rows, cols);
  for (Index i = 0; i < m.size(); ++i) m.data()[i] = scale * standard_normal(rng);
  return m;
}

// Fills every parameter with N(0, scale^2) draws.
template <typename S>
void randomize(MoeParamsT<S>& p, Rng& rng, double scale = 0.5) {
  for (auto& [ptr, n] : p.spans())
    for (Index i = 0; i < n; ++i) ptr[i] = static_cast<S>(scale * standard_normal(rng));
}

}  // namespace moekit::deep::test
