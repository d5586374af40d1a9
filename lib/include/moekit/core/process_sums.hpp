#pragma once
// Rows spread over processes (MPI, docs/scale-out.md): each process holds a share of the
// rows, and a sum over the rows is the sum over the processes of the sums over their shares.
// An M-step that iterates over its rows (the weighted multinomial Newton of the softmax gate
// and the logistic experts) passes its sums through sum_over_processes() at every inner step,
// so that every process takes the same step from the same bits. Outside a
// ScopedProcessSums, and on threads other than the one that opened it, both calls leave
// the values as they are: one process runs the same code unchanged.

#include "moekit/core/types.hpp"

namespace moekit {

class ProcessReduction {
 public:
  virtual ~ProcessReduction() = default;
  // Replaces each value by its sum over the processes, the same bits on every process.
  virtual void sum(double* values, Index count) const = 0;
  // Replaces each value by its maximum over the processes.
  virtual void max(double* values, Index count) const = 0;
};

// Through the innermost ScopedProcessSums of this thread; nothing outside one.
void sum_over_processes(double* values, Index count);
void max_over_processes(double* values, Index count);
// True inside a ScopedProcessSums with a reduction: the rows in hand are one process's share.
bool rows_are_shared();
// One value summed over the processes (the value itself outside a scope).
double summed_over_processes(double value);

// For its lifetime the rows this thread's M-steps see are one process's share, reduced by
// `reduction` (null: the rows are all the rows, as outside any scope).
class ScopedProcessSums {
 public:
  explicit ScopedProcessSums(const ProcessReduction* reduction);
  ~ScopedProcessSums();
  ScopedProcessSums(const ScopedProcessSums&) = delete;
  ScopedProcessSums& operator=(const ScopedProcessSums&) = delete;

 private:
  const ProcessReduction* saved_;
};

}  // namespace moekit
