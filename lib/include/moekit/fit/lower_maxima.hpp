#pragma once
// The best maxima below a fit that EM's runs from other starts arrived at: where a search
// looks next when no start climbs above the fit at once (select's lookahead,
// docs/math/covariance_structures.md, "The search"). A cell's best maximum can lie a
// split-and-merge move or a few beyond lower ones.

#include "moekit/core/types.hpp"

#include <cstddef>
#include <vector>

namespace moekit {

// One maximum: its objective, its rows' most probable components (renumbered in order of
// first appearance, so that a permutation of the components gives the same key), and the
// posteriors and per-row log-likelihoods the next moves are ranked on.
struct LowerMaximum {
  double objective = 0.0;
  std::vector<Index> key;
  Matrix leaves;
  Vector row_loglik;
};

// At most `capacity` distinct maxima, best first. Two EM runs to one maximum can stop with
// partitions that differ by a row on a boundary between two components: a maximum whose
// objective lies within `margin` (EM's stopping margin) of one kept, or whose key is one
// kept, is that maximum again and is not kept twice.
class LowerMaxima {
 public:
  explicit LowerMaxima(std::size_t capacity) : capacity_(capacity) {}

  // Keeps the maximum if it is new and among the `capacity` best; true when kept.
  bool add(double objective,
           double margin,
           std::vector<Index> key,
           const Matrix& leaves,
           const Vector& row_loglik);

  const std::vector<LowerMaximum>& entries() const { return entries_; }

 private:
  std::size_t capacity_;
  std::vector<LowerMaximum> entries_;
};

}  // namespace moekit
