#include "moekit/core/process_sums.hpp"

namespace moekit {

namespace {

// Per thread: the pool's workers inside an M-step never reduce over processes (MPI is called
// from the main thread only), and they see no scope.
thread_local const ProcessReduction* g_reduction = nullptr;

}  // namespace

void sum_over_processes(double* values, Index count) {
  if (g_reduction && count > 0) g_reduction->sum(values, count);
}

void max_over_processes(double* values, Index count) {
  if (g_reduction && count > 0) g_reduction->max(values, count);
}

bool rows_are_shared() { return g_reduction != nullptr; }

double summed_over_processes(double value) {
  sum_over_processes(&value, 1);
  return value;
}

ScopedProcessSums::ScopedProcessSums(const ProcessReduction* reduction) : saved_(g_reduction) {
  g_reduction = reduction;
}

ScopedProcessSums::~ScopedProcessSums() { g_reduction = saved_; }

}  // namespace moekit
