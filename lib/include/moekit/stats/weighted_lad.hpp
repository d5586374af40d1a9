#pragma once
// Weighted least absolute deviations, solved exactly:
//     minimise f(b) = sum_i w_i |y_i - x_i'b|   over b in R^p.
// The Laplace experts' M-step for the coefficients (docs/math/laplace.md).
//
// f is convex and piecewise linear, and its minimum is attained at a vertex: a b that
// interpolates p rows with linearly independent x_i (a basic solution of the LP). The
// solver is the simplex method of Barrodale & Roberts (1973, SIAM J. Numer. Anal. 10,
// 839-848; 1974, CACM 17, 319-320, Algorithm 478), the algorithm behind R's
// quantreg::rq.fit.br, written on the residuals instead of a tableau:
//   * start: from any b (e.g. the previous M-step's coefficients), p exact line searches,
//     each along a direction that keeps the rows already interpolated at residual 0, reach a
//     vertex whose objective is no larger than f(b);
//   * pivot: at a vertex with basis rows B, moving off row j of B along the edge d_j
//     (x_l'd_j = 0 for the other rows of B) changes f by (|g_j| - w_j) per unit step in the
//     better direction, where g = X_B^{-T} sum_{i not in B} w_i sign(e_i) x_i. The vertex is
//     optimal when |g_j| <= w_j for every j (the subgradient condition, with multipliers
//     -g_j / w_j in [-1, 1] on the rows of B); otherwise the edge with the largest gain is
//     followed to the minimum of f along it, which is a weighted median of the breakpoints
//     e_i / z_i (weights w_i |z_i|, z = X d_j). Crossing several vertices in one step is
//     Barrodale & Roberts' improvement over the plain simplex. The weighted median is found
//     by selection in O(n), so a pivot costs O(n p).
// Rows on the fit besides the basis (ties, duplicated rows) enter the edge rates exactly, so
// every pivot strictly decreases f and no vertex repeats. At a degenerate vertex that no edge
// leaves downhill but that the edge test cannot certify (p + 1 rows on one hyperplane, not
// parallel), the pivots continue on y plus a tiny fixed perturbation (Charnes 1952) and then
// return to y from that optimum's basis, kept only if no worse.
// With one design column (an intercept) the start alone gives the exact weighted median.
//
// Rows are visited in fixed blocks and reduced in block order, and selections break ties
// by row: the result does not depend on the thread count.

#include "moekit/core/types.hpp"

#include <vector>

namespace moekit {

struct WeightedLad {
  Vector b;                  // the minimiser (a vertex of the LP)
  std::vector<Index> basis;  // the p rows it interpolates (residual exactly 0 in exact math)
  double objective = 0.0;    // f(b), summed in block order
  int pivots = 0;            // simplex steps after the start
  bool optimal = false;      // the subgradient condition holds (false: stopped at max_pivots)
  bool warm = false;         // started from basis0's vertex (not from b0 by line searches)
};

// Minimises sum_i w_i |y_i - x_i'b| from the start b0 (any p-vector; the objective at the
// result is never larger than at b0), or from the vertex through the rows basis0 (e.g. the
// previous M-step's WeightedLad::basis) when those are p weighted rows with independent
// x_i whose vertex is no worse than b0 (within the rounding of f). Rows with w_i = 0 are ignored.
// Returns false (out untouched) when the rows with positive weight do not span R^p (a
// rank-deficient design or too few weighted rows), where the minimiser is not unique. Throws Error
// on a negative or non-finite weight or mismatched shapes.
bool weighted_lad(const ConstMatrixRef& x,
                  const ConstVectorRef& y,
                  const ConstVectorRef& w,
                  const ConstVectorRef& b0,
                  WeightedLad& out,
                  const std::vector<Index>& basis0 = {},
                  int max_pivots = 1000);

// f(b) = sum_i w_i |y_i - x_i'b|, summed over fixed row blocks in block order.
double weighted_lad_objective(const ConstMatrixRef& x,
                              const ConstVectorRef& y,
                              const ConstVectorRef& w,
                              const ConstVectorRef& b);

}  // namespace moekit
