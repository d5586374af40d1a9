#pragma once
// Stable log-sum-exp over the columns of each row: log sum_k exp(a_ik).

#include "moekit/core/types.hpp"

#include <cmath>
#include <limits>

namespace moekit {

// log(sum(exp(a))) for one row of K values; -inf when every entry is -inf.
template <typename Derived>
inline double log_sum_exp(const Eigen::DenseBase<Derived>& a) {
  const double m = a.maxCoeff();
  if (!std::isfinite(m)) return m;  // all -inf (or a +inf/NaN that the caller must see)
  return m + std::log((a.derived().array() - m).exp().sum());
}

// out(i) = log sum_k exp(a(i, k)); a is n x K.
void row_log_sum_exp(const ConstMatrixRef& a, VectorRef out);

// In place: a(i, :) -= lse(i) for every row, and returns the row sums lse in `lse`.
// Turns log joint densities into log posteriors.
void normalize_rows_log(MatrixRef a, VectorRef lse);

}  // namespace moekit
