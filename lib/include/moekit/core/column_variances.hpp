#pragma once
// The variance of every column of a matrix of rows, summed per row block on the threads.

#include "moekit/core/types.hpp"

namespace moekit {

// The variance of each column (n - 1 denominator; 0 for fewer than two rows), in two passes
// (the mean, then the squares about it), each per row block and summed in block order, so
// the same bits for any thread count. With `over_processes`, the rows are those of every
// process that shares them (core/process_sums.hpp): the sums and n go through
// sum_over_processes, and every process gets the same bits.
Vector column_variances(const ConstMatrixRef& a, bool over_processes);

}  // namespace moekit
