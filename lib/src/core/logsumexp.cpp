#include "moekit/core/logsumexp.hpp"

namespace moekit {

void row_log_sum_exp(const ConstMatrixRef& a, VectorRef out) {
  const Index n = a.rows(), K = a.cols();
  for (Index i = 0; i < n; ++i) {
    double m = -std::numeric_limits<double>::infinity();
    for (Index k = 0; k < K; ++k) m = std::max(m, a(i, k));
    if (!std::isfinite(m)) {
      out(i) = m;
      continue;
    }
    double s = 0.0;
    for (Index k = 0; k < K; ++k) s += std::exp(a(i, k) - m);
    out(i) = m + std::log(s);
  }
}

void normalize_rows_log(MatrixRef a, VectorRef lse) {
  row_log_sum_exp(a, lse);
  for (Index k = 0; k < a.cols(); ++k) a.col(k).array() -= lse.array();
}

}  // namespace moekit
