#pragma once
// A synthetic piecewise regression task for the deep MoE layer: inputs come from P clusters
// (piece j drawn with probability proportional to skew^j), and each piece has its own
// affine map, y = A_j x + b_j. A layer with E >= P experts can fit it by giving each piece
// its own expert; the skew makes an unbalanced router the easy solution.

#include "moekit/core/types.hpp"

#include <cstdint>
#include <vector>

namespace moekit::deep {

struct PiecewiseTask {
  Matrix x;                  // n x d
  Matrix y;                  // n x d
  std::vector<Index> piece;  // n
};

// Throws InputError on n, dim, pieces < 1 or skew <= 0.
PiecewiseTask make_piecewise_task(Index n, Index dim, int pieces, double skew, std::uint64_t seed);

}  // namespace moekit::deep
