#pragma once
// Simulated Gaussian mixtures with known parameters for recovery tests.

#include "moekit/core/rng.hpp"
#include "moekit/core/types.hpp"

#include <vector>

namespace moekit::testing {

struct SimulatedMixture {
  Matrix y;
  std::vector<Index> label;
};

// Draws n rows from sum_k w_k N(mu_k, L_k L_k'); means is K x q, chol holds K factors.
inline SimulatedMixture simulate_mixture(
    Index n, const Vector& w, const Matrix& means, const std::vector<Matrix>& chol, Rng& rng) {
  const Index q = means.cols();
  SimulatedMixture s{Matrix(n, q), std::vector<Index>(static_cast<size_t>(n))};
  Vector z(q);
  for (Index i = 0; i < n; ++i) {
    double u = uniform01(rng), acc = 0.0;
    Index k = 0;
    for (; k < w.size() - 1; ++k) {
      acc += w(k);
      if (u < acc) break;
    }
    for (Index j = 0; j < q; ++j) z(j) = standard_normal(rng);
    s.y.row(i) = means.row(k) + (chol[static_cast<size_t>(k)] * z).transpose();
    s.label[static_cast<size_t>(i)] = k;
  }
  return s;
}

}  // namespace moekit::testing
