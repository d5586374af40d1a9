#include "moekit/core/parallel.hpp"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define MOEKIT_CPU_RELAX() _mm_pause()
#else
#define MOEKIT_CPU_RELAX() std::this_thread::yield()
#endif

namespace moekit {

namespace {

std::atomic<int> g_threads{0};

// Set on the pool's workers, and on a caller while it runs a region: a parallel loop called
// from inside one runs serially on its thread (nested regions would oversubscribe the cores).
thread_local bool t_in_region = false;

// A persistent pool whose caller works too and never waits for a worker that has not
// started. Tasks are claimed one at a time by compare-and-swap on `word_` (generation << 32 |
// next task), so a worker that wakes late, after the caller has done every task itself,
// finds nothing to claim and the region ends without it. On a machine shared with other
// work this keeps a region's cost near that of running it serially when the second core is
// busy, where a fork-join runtime waits for its descheduled threads at every barrier (with
// OpenMP, 2-thread EM iterations ran up to 20x slower than 1-thread ones under a load of
// 2-3). Which thread runs a task never changes what the task computes: results are per task
// or per block, reduced in order by the callers.
class Pool {
 public:
  static Pool& instance() {
    // Leaked on purpose: its threads never outlive it, and no static destructor can run a
    // parallel loop after it is gone.
    static Pool* pool = new Pool;
    return *pool;
  }

  // Runs body(i) for i in [0, n) on the caller and up to `threads - 1` workers. Returns false
  // (nothing run) when another thread's region holds the pool: the caller then runs serially.
  bool run(Index n, int threads, const std::function<void(Index)>& body) {
    std::unique_lock<std::mutex> caller(caller_mutex_, std::try_to_lock);
    if (!caller.owns_lock()) return false;
    ensure_workers(threads - 1);
    error_ = nullptr;
    failed_.store(false, std::memory_order_relaxed);
    body_.store(&body, std::memory_order_relaxed);
    count_.store(n, std::memory_order_relaxed);
    helpers_.store(threads - 1, std::memory_order_relaxed);
    done_.store(0, std::memory_order_relaxed);
    const std::uint32_t g = ++last_generation_;
    word_.store(static_cast<std::uint64_t>(g) << 32, std::memory_order_release);
    bool notify = false;
    {
      std::lock_guard<std::mutex> lock(sleep_mutex_);
      generation_.store(g, std::memory_order_release);
      notify = sleepers_ > 0;
    }
    if (notify) wake_.notify_all();
    t_in_region = true;
    work(g);
    t_in_region = false;
    // Only tasks already claimed (running on a worker) are waited for.
    for (int spins = 0; done_.load(std::memory_order_acquire) < n; ++spins) {
      if (spins < 4096)
        MOEKIT_CPU_RELAX();
      else
        std::this_thread::yield();
    }
    if (error_) std::rethrow_exception(error_);
    return true;
  }

 private:
  static constexpr std::uint64_t kTaskMask = 0xffffffffULL;
  // How long an idle worker polls for the next region before it sleeps: EM's regions follow
  // each other within microseconds, so a short poll saves most wake-ups.
  static constexpr int kPollSpins = 10000;

  void ensure_workers(int wanted) {
    while (static_cast<int>(workers_.size()) < wanted) {
      const int index = static_cast<int>(workers_.size());
      workers_.emplace_back([this, index] { worker_loop(index); });
      workers_.back().detach();
    }
  }

  // Claims and runs the tasks of generation g until none is left.
  void work(std::uint32_t g) {
    for (;;) {
      std::uint64_t cur = word_.load(std::memory_order_acquire);
      if (static_cast<std::uint32_t>(cur >> 32) != g) return;
      const auto task = static_cast<Index>(cur & kTaskMask);
      const Index n = count_.load(std::memory_order_relaxed);
      const std::function<void(Index)>* body = body_.load(std::memory_order_relaxed);
      if (task >= n) return;
      // A successful swap means generation g was still unfinished, so n and body were its.
      if (!word_.compare_exchange_weak(cur, cur + 1, std::memory_order_acq_rel)) continue;
      if (!failed_.load(std::memory_order_relaxed)) {
        try {
          (*body)(task);
        } catch (...) {
          std::lock_guard<std::mutex> lock(error_mutex_);
          if (!error_) error_ = std::current_exception();
          failed_.store(true, std::memory_order_relaxed);
        }
      }
      done_.fetch_add(1, std::memory_order_release);
    }
  }

  void worker_loop(int index) {
    t_in_region = true;
    std::uint32_t seen = generation_.load(std::memory_order_acquire);
    for (;;) {
      std::uint32_t g = seen;
      for (int spins = 0; spins < kPollSpins && g == seen; ++spins) {
        MOEKIT_CPU_RELAX();
        g = generation_.load(std::memory_order_acquire);
      }
      if (g == seen) {
        std::unique_lock<std::mutex> lock(sleep_mutex_);
        ++sleepers_;
        wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
        --sleepers_;
        g = generation_.load(std::memory_order_acquire);
      }
      seen = g;
      if (index < helpers_.load(std::memory_order_relaxed)) work(g);
    }
  }

  std::mutex caller_mutex_;  // one region at a time
  std::vector<std::thread> workers_;
  std::uint32_t last_generation_ = 0;
  std::atomic<std::uint64_t> word_{0};
  std::atomic<const std::function<void(Index)>*> body_{nullptr};
  std::atomic<Index> count_{0};
  std::atomic<int> helpers_{0};
  std::atomic<Index> done_{0};
  std::atomic<bool> failed_{false};
  std::mutex error_mutex_;
  std::exception_ptr error_;
  std::mutex sleep_mutex_;
  std::condition_variable wake_;
  std::atomic<std::uint32_t> generation_{0};
  int sleepers_ = 0;
};

void run_tasks(Index n, int threads, const std::function<void(Index)>& body) {
  if (threads > 1 && !t_in_region && Pool::instance().run(n, threads, body)) return;
  for (Index i = 0; i < n; ++i) body(i);
}

}  // namespace

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
  run_tasks(blocks, threads,
            [&](Index b) { body(b, b * kBlockRows, std::min(kBlockRows, n - b * kBlockRows)); });
}

void parallel_tasks(Index n, const std::function<void(Index task)>& body, bool serial) {
  const int threads = serial ? 1 : static_cast<int>(std::min<Index>(num_threads(), n));
  run_tasks(n, threads, body);
}

}  // namespace moekit
