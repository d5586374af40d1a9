#include "moekit/core/logsumexp.hpp"

#include "moekit/kernels/lanes.hpp"

#include <algorithm>

namespace moekit {

void row_log_sum_exp(const ConstMatrixRef& a, VectorRef out) {
  // Down the columns (storage order) in chunks of rows, so that exp runs on Eigen's packets;
  // each row still sums its K terms in order k = 0, 1, ... about its own maximum.
  constexpr Index kChunk = 256;
  using Chunk = Eigen::Array<double, Eigen::Dynamic, 1, 0, kChunk, 1>;
  const Index n = a.rows(), K = a.cols();
  if (K == 0) {
    out.setConstant(-std::numeric_limits<double>::infinity());
    return;
  }
  for (Index begin = 0; begin < n; begin += kChunk) {
    const Index size = std::min(kChunk, n - begin);
    Chunk m = a.col(0).segment(begin, size).array();
    for (Index k = 1; k < K; ++k) m = m.max(a.col(k).segment(begin, size).array());
    // A row whose maximum is -inf (every entry -inf) or +inf keeps it: the shift is 0 there,
    // its terms are 0 (or inf) and log of their sum is -inf (or inf).
    const Chunk shift = m.isFinite().select(m, 0.0);
    Chunk s = Chunk::Zero(size);
    for (Index k = 0; k < K; ++k) s += (a.col(k).segment(begin, size).array() - shift).exp();
    kernels::apply_lanes(s.data(), s.data(), size,
                         [](kernels::Lanes v) { return kernels::log_lanes(v); });
    for (Index i = 0; i < size; ++i) out(begin + i) = std::isfinite(m(i)) ? m(i) + s(i) : m(i);
  }
}

void normalize_rows_log(MatrixRef a, VectorRef lse) {
  row_log_sum_exp(a, lse);
  for (Index k = 0; k < a.cols(); ++k) a.col(k).array() -= lse.array();
}

}  // namespace moekit
