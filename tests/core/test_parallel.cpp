// core/parallel.hpp: every task runs exactly once for any thread count (more threads than
// cores included), nested loops and loops from several threads at once run correctly, and an
// exception thrown by a task reaches the caller and leaves the pool usable.

#include "moekit/core/parallel.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

using namespace moekit;

TEST_CASE("parallel_tasks and parallel_blocks run every task once", "[parallel]") {
  for (int threads : {1, 2, 3, 8}) {
    ScopedNumThreads scope(threads);
    for (Index n : {Index{0}, Index{1}, Index{2}, Index{7}, Index{1000}}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      for (int repeat = 0; repeat < 20; ++repeat)
        parallel_tasks(n, [&](Index i) { hits[static_cast<size_t>(i)].fetch_add(1); });
      for (const auto& h : hits) CHECK(h.load() == 20);
    }
    const Index rows = 5 * kBlockRows + 17;
    std::vector<int> covered(static_cast<size_t>(rows), 0);
    std::atomic<int> misplaced{0};  // Catch's assertions are not thread-safe: count, then check
    parallel_blocks(rows, [&](Index b, Index begin, Index size) {
      if (begin != b * kBlockRows) misplaced.fetch_add(1);
      for (Index i = begin; i < begin + size; ++i) ++covered[static_cast<size_t>(i)];
    });
    CHECK(misplaced.load() == 0);
    for (int c : covered) CHECK(c == 1);
    // The block-order reduction gives the same bits for every thread count.
    const double sum = reduce_blocks(rows, 0.0, [](Index begin, Index size, double& s) {
      for (Index i = begin; i < begin + size; ++i) s += 1.0 / static_cast<double>(i + 1);
    });
    ScopedNumThreads one(1);
    const double serial = reduce_blocks(rows, 0.0, [](Index begin, Index size, double& s) {
      for (Index i = begin; i < begin + size; ++i) s += 1.0 / static_cast<double>(i + 1);
    });
    CHECK(sum == serial);
  }
}

TEST_CASE("nested loops and loops from several threads at once", "[parallel]") {
  ScopedNumThreads scope(2);
  std::atomic<long> total{0};
  parallel_tasks(16, [&](Index) {
    parallel_tasks(16, [&](Index j) { total.fetch_add(j + 1); });  // runs on the task's thread
  });
  CHECK(total.load() == 16 * (16 * 17 / 2));

  std::vector<long> sums(4, 0);
  std::vector<std::thread> callers;
  for (size_t c = 0; c < sums.size(); ++c)
    callers.emplace_back([&, c] {
      for (int repeat = 0; repeat < 50; ++repeat) {
        std::vector<long> part(64, 0);
        parallel_tasks(64, [&](Index i) { part[static_cast<size_t>(i)] = i; });
        for (long v : part) sums[c] += v;
      }
    });
  for (auto& t : callers) t.join();
  for (long s : sums) CHECK(s == 50L * (63 * 64 / 2));
}

TEST_CASE("an exception thrown by a task reaches the caller", "[parallel]") {
  for (int threads : {1, 2}) {
    ScopedNumThreads scope(threads);
    CHECK_THROWS_AS(parallel_tasks(100,
                                   [](Index i) {
                                     if (i == 37) throw std::runtime_error("task 37");
                                   }),
                    std::runtime_error);
    std::atomic<int> ran{0};
    parallel_tasks(100, [&](Index) { ran.fetch_add(1); });
    CHECK(ran.load() == 100);
  }
}
