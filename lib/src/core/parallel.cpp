#include "moekit/core/parallel.hpp"

#include <atomic>
#include <thread>
#if defined(_OPENMP)
#include <omp.h>
#endif

namespace moekit {

namespace {
std::atomic<int> g_threads{0};
}

int num_threads() {
  const int n = g_threads.load();
  if (n > 0) return n;
  // glibc answers hardware_concurrency() by reading /sys/devices/system/cpu/online: once per
  // process, not once per parallel loop (a short fit makes hundreds of thousands of them).
  static const int hardware = [] {
    const unsigned hw = std::thread::hardware_concurrency();
    return hw == 0 ? 1 : static_cast<int>(hw);
  }();
  return hardware;
}

void set_num_threads(int n) { g_threads.store(n < 0 ? 0 : n); }

void parallel_blocks(Index n,
                     const std::function<void(Index block, Index begin, Index size)>& body) {
  const Index blocks = num_blocks(n);
  const int threads = static_cast<int>(std::min<Index>(num_threads(), blocks));
  if (threads <= 1) {
    for (Index b = 0; b < blocks; ++b)
      body(b, b * kBlockRows, std::min(kBlockRows, n - b * kBlockRows));
    return;
  }
#if defined(_OPENMP)
  // Dynamic: on a machine shared with other work a descheduled thread's blocks go to the
  // others instead of holding the loop up (the results are per block: no change).
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (Index b = 0; b < blocks; ++b)
    body(b, b * kBlockRows, std::min(kBlockRows, n - b * kBlockRows));
#else
  std::vector<std::thread> pool;
  std::atomic<Index> next{0};
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&] {
      for (Index b = next++; b < blocks; b = next++)
        body(b, b * kBlockRows, std::min(kBlockRows, n - b * kBlockRows));
    });
  for (auto& th : pool) th.join();
#endif
}

void parallel_tasks(Index n, const std::function<void(Index task)>& body, bool serial) {
  const int threads = serial ? 1 : static_cast<int>(std::min<Index>(num_threads(), n));
  if (threads <= 1) {
    for (Index i = 0; i < n; ++i) body(i);
    return;
  }
#if defined(_OPENMP)
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (Index i = 0; i < n; ++i) body(i);
#else
  std::vector<std::thread> pool;
  std::atomic<Index> next{0};
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&] {
      for (Index i = next++; i < n; i = next++) body(i);
    });
  for (auto& th : pool) th.join();
#endif
}

}  // namespace moekit
