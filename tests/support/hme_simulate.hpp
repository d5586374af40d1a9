#pragma once
// Draws from a depth-2 hierarchical mixture of linear experts with logistic gates on x,
// written out path by path (root branch, then the branch within it, then y), independently
// of moekit's model code, for the tree's recovery tests.

#include "moekit/core/rng.hpp"
#include "moekit/core/types.hpp"

#include <array>
#include <cmath>

namespace moekit::testing {

struct TwoLevelHme {
  // P(second branch | x) = 1 / (1 + exp(-(a + b x))) at the root and at each of its two
  // children; leaf 2 * i + j is branch i at the root and j below it.
  std::array<double, 2> root;
  std::array<std::array<double, 2>, 2> node;
  std::array<std::array<double, 2>, 4> line;  // intercept, slope of each expert
  std::array<double, 4> sigma;
};

inline double second_branch(const std::array<double, 2>& g, double x) {
  return 1.0 / (1.0 + std::exp(-(g[0] + g[1] * x)));
}

struct HmeSample {
  Vector x, y;
  std::vector<Index> leaf;
};

// x uniform on [lo, hi].
inline HmeSample simulate_hme(const TwoLevelHme& m, Index n, double lo, double hi, Rng& rng) {
  HmeSample s{Vector(n), Vector(n), std::vector<Index>(static_cast<size_t>(n))};
  for (Index i = 0; i < n; ++i) {
    const double x = lo + (hi - lo) * uniform01(rng);
    const int a = uniform01(rng) < second_branch(m.root, x) ? 1 : 0;
    const int b = uniform01(rng) < second_branch(m.node[static_cast<size_t>(a)], x) ? 1 : 0;
    const auto k = static_cast<size_t>(2 * a + b);
    s.x(i) = x;
    s.y(i) = m.line[k][0] + m.line[k][1] * x + m.sigma[k] * standard_normal(rng);
    s.leaf[static_cast<size_t>(i)] = static_cast<Index>(k);
  }
  return s;
}

// The leaf weights g_k(x) of the model, n x 4.
inline Matrix hme_leaf_weights(const TwoLevelHme& m, const Vector& x) {
  Matrix g(x.size(), 4);
  for (Index i = 0; i < x.size(); ++i)
    for (int a = 0; a < 2; ++a)
      for (int b = 0; b < 2; ++b) {
        const double pa = second_branch(m.root, x(i)), pb = second_branch(m.node[a], x(i));
        g(i, 2 * a + b) = (a ? pa : 1 - pa) * (b ? pb : 1 - pb);
      }
  return g;
}

}  // namespace moekit::testing
