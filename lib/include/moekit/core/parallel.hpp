#pragma once
// Threads over fixed row blocks. Block boundaries depend only on n and kBlockRows, never on
// the thread count, and partial results are reduced in block order: results are identical
// for any number of threads. The loops run on a persistent pool in which the calling thread
// works too and tasks are claimed one at a time, so a worker that is slow to start (a busy
// core) never holds a loop up: it finds the tasks done. A loop called from inside another,
// or while another thread's loop holds the pool, runs serially on its own thread.

#include "moekit/core/types.hpp"

#include <functional>
#include <vector>

namespace moekit {

inline constexpr Index kBlockRows = 2048;

// Number of threads used by moekit's loops (default: hardware concurrency).
int num_threads();
// 0 restores the default. Affects later calls only.
void set_num_threads(int n);

// Sets the thread count (when threads > 0) for its lifetime and then restores the previous
// one, however the scope ends. Not for use from inside a parallel region.
class ScopedNumThreads {
 public:
  explicit ScopedNumThreads(int threads) : saved_(num_threads()) {
    if (threads > 0) set_num_threads(threads);
  }
  ~ScopedNumThreads() { set_num_threads(saved_); }
  ScopedNumThreads(const ScopedNumThreads&) = delete;
  ScopedNumThreads& operator=(const ScopedNumThreads&) = delete;

 private:
  int saved_;
};

inline Index num_blocks(Index n) { return (n + kBlockRows - 1) / kBlockRows; }

// Calls body(block, begin, size) for every block of rows of [0, n), possibly in parallel.
void parallel_blocks(Index n,
                     const std::function<void(Index block, Index begin, Index size)>& body);

// Calls body(task) for every task in [0, n), possibly in parallel and in any order (dynamic
// schedule, so that tasks of uneven size balance across threads). Each task must write only
// its own outputs; then results do not depend on the thread count or the schedule. `serial`
// runs them in order on the calling thread (work too small to pay for a parallel region).
void parallel_tasks(Index n, const std::function<void(Index task)>& body, bool serial = false);

// One block's partial result on a cache line of its own: bodies that add to it row by row
// would otherwise write the line a neighbouring block's thread writes too, and each such
// write would move the line between cores (a 2-thread pass then cost twice the CPU time
// of a 1-thread one).
template <typename T>
struct alignas(64) BlockPartial {
  T value;
};

// Sums per-block partial results in block order: body(begin, size, partial) adds the
// contribution of rows [begin, begin + size) to `partial`, which starts as a copy of `zero`.
template <typename T, typename Body>
T reduce_blocks(Index n, const T& zero, Body body) {
  std::vector<BlockPartial<T>> partial(static_cast<size_t>(num_blocks(n)), BlockPartial<T>{zero});
  parallel_blocks(n, [&](Index b, Index begin, Index size) {
    body(begin, size, partial[static_cast<size_t>(b)].value);
  });
  T total = zero;
  for (const BlockPartial<T>& p : partial) total += p.value;
  return total;
}

}  // namespace moekit
