#include "moekit/stats/weighted_least_squares.hpp"

#include "moekit/core/error.hpp"
#include "moekit/core/parallel.hpp"
#include "moekit/core/process_sums.hpp"

#include <fmt/format.h>

#include <Eigen/Cholesky>

#include <cmath>
#include <limits>

namespace moekit {

OrderedCholesky OrderedCholesky::factor(const Matrix& gram, double rel_tol) {
  const Index p = gram.rows();
  OrderedCholesky c;
  c.L = Matrix::Zero(p, p);
  c.scale = gram.diagonal().cwiseMax(0.0).cwiseSqrt();
  c.min_pivot = 1.0;
  for (Index j = 0; j < p; ++j) {
    if (!(c.scale(j) > 0.0) || !std::isfinite(c.scale(j))) {
      c.deficient = j;
      c.min_pivot = 0.0;
      return c;
    }
  }
  for (Index j = 0; j < p; ++j) {
    // Squared pivot = squared sine of the angle between column j and the span of columns
    // 0..j-1 in the weighted inner product.
    double d = 1.0 - c.L.row(j).head(j).squaredNorm();
    c.min_pivot = std::min(c.min_pivot, d);
    if (!(d > rel_tol)) {
      c.deficient = j;
      return c;
    }
    c.L(j, j) = std::sqrt(d);
    for (Index i = j + 1; i < p; ++i) {
      const double a = gram(i, j) / (c.scale(i) * c.scale(j));
      c.L(i, j) = (a - c.L.row(i).head(j).dot(c.L.row(j).head(j))) / c.L(j, j);
    }
  }
  return c;
}

Matrix OrderedCholesky::solve(const Matrix& rhs) const {
  Matrix b = scale.cwiseInverse().asDiagonal() * rhs;
  L.triangularView<Eigen::Lower>().solveInPlace(b);
  L.transpose().triangularView<Eigen::Upper>().solveInPlace(b);
  return scale.cwiseInverse().asDiagonal() * b;
}

void add_weighted_gram(const ConstMatrixRef& x, const ConstVectorRef& w, Matrix& H) {
  const Index p = x.cols();
  if (p > 16) {
    H.noalias() += x.transpose() * (x.array().colwise() * w.array()).matrix();
    return;
  }
  thread_local Vector wx;
  for (Index j = 0; j < p; ++j) {
    wx = x.col(j).cwiseProduct(w);
    for (Index l = j; l < p; ++l) {
      const double h = wx.dot(x.col(l));
      H(l, j) += h;
      if (l != j) H(j, l) += h;
    }
  }
}

void weighted_cross_products(const ConstMatrixRef& x,
                             const ConstMatrixRef& y,
                             const ConstVectorRef& w,
                             Matrix& gram,
                             Matrix& xty) {
  const Index p = x.cols(), q = y.cols();
  struct Acc {
    Matrix G, XY;
    Acc& operator+=(const Acc& o) {
      G += o.G;
      XY += o.XY;
      return *this;
    }
  };
  const auto pass = [&](Index begin, Index size, Acc& acc) {
    const auto xb = x.middleRows(begin, size);
    const auto wb = w.segment(begin, size);
    add_weighted_gram(xb, wb, acc.G);
    thread_local Matrix wy;
    wy = y.middleRows(begin, size).array().colwise() * wb.array();
    acc.XY.noalias() += xb.transpose() * wy;
  };
  Acc total = reduce_blocks(x.rows(), Acc{Matrix::Zero(p, p), Matrix::Zero(p, q)}, pass);
  gram = std::move(total.G);
  xty = std::move(total.XY);
}

bool solve_normal_equations(const Matrix& gram, const Matrix& rhs, Matrix& b) {
  Eigen::LLT<Matrix> llt(gram);
  if (llt.info() != Eigen::Success) return false;
  Matrix sol = llt.solve(rhs);
  if (!sol.allFinite()) return false;
  b = std::move(sol);
  return true;
}

void check_design_rank(const Matrix& gram,
                       const std::vector<std::string>& names,
                       const std::string& what) {
  const OrderedCholesky c = OrderedCholesky::factor(gram);
  if (c.ok()) return;
  const Index j = c.deficient;
  const std::string name = j < static_cast<Index>(names.size()) ? names[static_cast<size_t>(j)]
                                                                : fmt::format("column {}", j + 1);
  throw InputError(
      fmt::format("{}: the design matrix is rank deficient: column '{}' is constant or a linear "
                  "combination of the "
                  "columns before it (drop it from the formula)",
                  what, name));
}

void check_design_rank_of(const ConstMatrixRef& x,
                          const std::vector<std::string>& names,
                          const std::string& what) {
  // X'X per row block, with unit weights of one block's length (not an n-vector of ones: the
  // logistic and GLM experts check their design at every M-step, and filling n ones was a
  // serial step while the second thread waited).
  const Index p = x.cols();
  Matrix gram = reduce_blocks(x.rows(), Matrix(Matrix::Zero(p, p)),
                              [&](Index begin, Index size, Matrix& acc) {
                                thread_local Vector ones;
                                if (ones.size() < size) ones = Vector::Ones(kBlockRows);
                                add_weighted_gram(x.middleRows(begin, size), ones.head(size), acc);
                              });
  sum_over_processes(gram.data(), gram.size());
  check_design_rank(gram, names, what);
}

}  // namespace moekit
