#pragma once
// Weighted least squares: the normal equations that the regression experts (linear, Laplace,
// t) solve in their M-steps, and the rank diagnosis of a design.

#include "moekit/core/types.hpp"

#include <string>
#include <vector>

namespace moekit {

// Cholesky factor of a p x p Gram matrix taken column by column in the design's own
// order (no pivoting), so that the first column found to lie in the span of the columns
// before it can be named. Columns are scaled to unit diagonal first: the test is on the
// cosine of the angle between a column and the span of the others, whatever the units.
struct OrderedCholesky {
  Matrix L;                // lower factor of D^{-1/2} G D^{-1/2}
  Vector scale;            // D^{1/2}: square roots of the diagonal of G
  Index deficient = -1;    // first column in the span of earlier ones (-1: full rank)
  double min_pivot = 0.0;  // smallest squared pivot of the scaled matrix (1: orthogonal)

  // rel_tol bounds the squared sine of the angle between a column and the span of the
  // earlier ones; below it the column counts as collinear.
  static OrderedCholesky factor(const Matrix& gram, double rel_tol = 1e-10);
  bool ok() const { return deficient < 0; }
  // Solves G b = rhs for every column of rhs (requires ok()).
  Matrix solve(const Matrix& rhs) const;
};

// A Newton step's score g and information H, as partial sums of row blocks (reduce_blocks).
struct ScoreAndInformation {
  Vector g;
  Matrix H;
  static ScoreAndInformation zero(Index p) { return {Vector::Zero(p), Matrix::Zero(p, p)}; }
  ScoreAndInformation& operator+=(const ScoreAndInformation& o) {
    g += o.g;
    H += o.H;
    return *this;
  }
};

// H += X' diag(w) X for one block of rows (both triangles). For narrow designs (p <= 16) by
// column products: Eigen's GEMM would spend most of a 2048 x 3 block's time packing.
void add_weighted_gram(const ConstMatrixRef& x, const ConstVectorRef& w, Matrix& H);

// Weighted Gram matrix X' diag(w) X and cross-product X' diag(w) Y, summed over fixed row
// blocks in block order (results do not depend on the thread count).
void weighted_cross_products(const ConstMatrixRef& x,
                             const ConstMatrixRef& y,
                             const ConstVectorRef& w,
                             Matrix& gram,
                             Matrix& xty);

// Solves gram * b = rhs by Cholesky; false (b untouched) when gram is not positive definite
// or the solution is not finite. The weighted least-squares step of the IRLS/ECM M-steps
// (Laplace and t experts), whose weights can leave a design singular without it being an
// input error.
bool solve_normal_equations(const Matrix& gram, const Matrix& rhs, Matrix& b);

// Throws InputError naming the first column of the design that is a linear combination of
// the earlier ones (an aliased or constant column), using names where given.
void check_design_rank(const Matrix& gram,
                       const std::vector<std::string>& names,
                       const std::string& what);
// check_design_rank of X'X (unweighted), summed over the processes that share the rows
// (core/process_sums.hpp): the rank of the whole design, not of one process's share.
void check_design_rank_of(const ConstMatrixRef& x,
                          const std::vector<std::string>& names,
                          const std::string& what);

}  // namespace moekit
