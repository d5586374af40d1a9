#include "moekit/core/column_variances.hpp"

#include "moekit/core/parallel.hpp"
#include "moekit/core/process_sums.hpp"

namespace moekit {

Vector column_variances(const ConstMatrixRef& a, bool over_processes) {
  const Index q = a.cols();
  const Vector zero = Vector::Zero(q);
  Vector sum = reduce_blocks(a.rows(), zero, [&](Index begin, Index size, Vector& acc) {
    acc += a.middleRows(begin, size).colwise().sum().transpose();
  });
  double n = static_cast<double>(a.rows());
  if (over_processes) {
    sum_over_processes(sum.data(), q);
    n = summed_over_processes(n);
  }
  if (n < 2.0) return zero;
  const Vector mean = sum / n;
  Vector squares = reduce_blocks(a.rows(), zero, [&](Index begin, Index size, Vector& acc) {
    acc += (a.middleRows(begin, size).rowwise() - mean.transpose())
               .array()
               .square()
               .colwise()
               .sum()
               .matrix()
               .transpose();
  });
  if (over_processes) sum_over_processes(squares.data(), q);
  return squares / (n - 1.0);
}

}  // namespace moekit
