// Forward + backward throughput of the deep top-k MoE layer (tokens/s as items_per_second)
// at T = 4096, d = 512, h = 1024, E = 8, k = 2 (Mixtral-style top-2, GELU experts, dropless),
// in float32 (the layer's default; BM_DeepForwardBackward) and float64
// (BM_DeepForwardBackward64). Compare with apps/bench/bench_deep_torch.py, which times the
// same layer in PyTorch on the CPU with the same thread count (docs/deep.md, "Performance").
//
// BM_SgemmLayerShapes: SGEMM at the expert GEMMs' shape (1024 x 512 times 512 x 1024, the rows
// of one balanced bucket), one independent product per thread, by moekit's sgemm (the layer's
// kernel) and by Eigen, as GFLOP/s. BM_FmaPeak: the float32 FMA peak, the hard bound. A layer
// step is 6 such GEMMs per expert (about 52 GFLOP at these shapes).
//
// Threads: MOEKIT_NUM_THREADS (default: all hardware threads) for moekit's loops.

#include "moekit/core/parallel.hpp"
#include "moekit/core/rng.hpp"
#include "moekit/core/sgemm.hpp"
#include "moekit/deep/moe_layer.hpp"

#include <benchmark/benchmark.h>

#include <cstdlib>
#if defined(__AVX512F__) || defined(__FMA__)
#include <immintrin.h>
#endif
#include <thread>
#include <vector>

namespace {

using namespace moekit;
using namespace moekit::deep;

int configured_threads() {
  const char* env = std::getenv("MOEKIT_NUM_THREADS");
  const int n = env ? std::atoi(env) : 0;
  set_num_threads(n);
  return num_threads();
}

MoeConfig bench_config() {
  MoeConfig c;
  c.dim = 512;
  c.hidden = 1024;
  c.num_experts = 8;
  c.activation = Activation::kGelu;
  c.router = RouterOptions::mixtral_top2();
  return c;
}

template <typename S>
MatrixT<S> normal_matrix(Index rows, Index cols, std::uint64_t seed) {
  Rng rng(seed);
  MatrixT<S> m(rows, cols);
  for (Index i = 0; i < m.size(); ++i) m.data()[i] = static_cast<S>(standard_normal(rng));
  return m;
}

// Multiply-adds x 2 of one forward + backward: 6 GEMMs of (rows x d x h) over all slots.
double step_flop(const MoeConfig& c, Index slots) {
  return 6.0 * 2.0 * static_cast<double>(slots * c.dim * c.hidden);
}

template <typename S>
void forward_backward(benchmark::State& state) {
  const int threads = configured_threads();
  const Index T = state.range(0);
  const MoeConfig c = bench_config();
  MoeLayerT<S> layer(c);
  layer.init(1);
  const MatrixT<S> x = normal_matrix<S>(T, c.dim, 2);
  const MatrixT<S> dy = normal_matrix<S>(T, c.dim, 3);
  MatrixT<S> y(T, c.dim), dx(T, c.dim);
  MoeWorkspaceT<S> ws;
  MoeParamsT<S> grads;
  grads.resize_zero(c);
  // Warm-up step (untimed, as in the PyTorch script): sizes the workspace and faults its
  // pages in, so that the timed steps are the steady state.
  layer.forward(x, ws, y);
  layer.backward(x, dy, ws, grads, dx);
  for (auto _ : state) {
    grads.set_zero();
    layer.forward(x, ws, y);
    layer.backward(x, dy, ws, grads, dx);
    benchmark::DoNotOptimize(dx.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * T);
  state.counters["threads"] = threads;
  state.counters["GFLOP/s"] = benchmark::Counter(
      step_flop(c, ws.dispatch.num_slots()) * 1e-9 * static_cast<double>(state.iterations()),
      benchmark::Counter::kIsRate);
}

void BM_DeepForwardBackward(benchmark::State& state) { forward_backward<float>(state); }
BENCHMARK(BM_DeepForwardBackward)->Arg(4096)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_DeepForwardBackward64(benchmark::State& state) { forward_backward<double>(state); }
BENCHMARK(BM_DeepForwardBackward64)->Arg(4096)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_DeepForward(benchmark::State& state) {
  const int threads = configured_threads();
  const Index T = state.range(0);
  const MoeConfig c = bench_config();
  MoeLayer layer(c);
  layer.init(1);
  const MatrixF x = normal_matrix<float>(T, c.dim, 2);
  MatrixF y(T, c.dim);
  MoeWorkspace ws;
  ForwardContext ctx;
  ctx.training = false;
  layer.forward(x, ws, y, ctx);  // warm-up
  for (auto _ : state) {
    layer.forward(x, ws, y, ctx);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * T);
  state.counters["threads"] = threads;
}
BENCHMARK(BM_DeepForward)->Arg(4096)->Unit(benchmark::kMillisecond)->UseRealTime();

// The SGEMM rate at the layer's shapes: C (n x h) = A (n x d) B (d x h) with n = 1024 (one
// balanced bucket: T k / E), on every thread at once, each its own product (as the layer
// runs experts side by side). Arg 0: moekit's sgemm (the layer's kernel), 1: Eigen's product.
void BM_SgemmLayerShapes(benchmark::State& state) {
  const int threads = configured_threads();
  const bool eigen = state.range(0) == 1;
  // This file is compiled without the library's EIGEN_DONT_PARALLELIZE: keep Eigen's product
  // on its calling thread, one product per thread as in the layer.
  Eigen::setNbThreads(1);
  const Index n = 1024, d = 512, h = 1024;
  std::vector<MatrixF> a, b, out;
  for (int t = 0; t < threads; ++t) {
    a.push_back(normal_matrix<float>(n, d, 10 + static_cast<std::uint64_t>(t)));
    b.push_back(normal_matrix<float>(d, h, 20 + static_cast<std::uint64_t>(t)));
    out.emplace_back(n, h);
  }
  auto product = [&](std::size_t i) {
    if (eigen)
      out[i].noalias() = a[i] * b[i];
    else
      sgemm(sgemm_operand(a[i]), sgemm_operand(b[i]), out[i], false);
  };
  parallel_tasks(threads, [&](Index t) { product(static_cast<std::size_t>(t)); });  // warm-up
  for (auto _ : state) {
    parallel_tasks(threads, [&](Index t) {
      for (int r = 0; r < 4; ++r) product(static_cast<std::size_t>(t));
    });
    benchmark::DoNotOptimize(out[0].data());
  }
  state.SetLabel(eigen ? "Eigen" : (sgemm_uses_own_kernel() ? "moekit AVX-512" : "moekit (Eigen)"));
  state.counters["threads"] = threads;
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * 4 * static_cast<double>(n * d * h) * threads * 1e-9 *
                             static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate);
}
BENCHMARK(BM_SgemmLayerShapes)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();

// The machine's float32 FMA peak: 16 independent vector FMA chains per thread (enough to hide
// the FMA latency on two pipes), on every thread at once. No layer step can run faster than
// its flops at this rate.
void BM_FmaPeak(benchmark::State& state) {
  const int threads = configured_threads();
#if defined(__AVX512F__)
  using V = __m512;
  constexpr int kLanes = 16;
  auto fma = [](V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); };
  auto splat = [](float v) { return _mm512_set1_ps(v); };
  auto sum = [](V v) { return _mm512_reduce_add_ps(v); };
#elif defined(__FMA__)
  using V = __m256;
  constexpr int kLanes = 8;
  auto fma = [](V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); };
  auto splat = [](float v) { return _mm256_set1_ps(v); };
  auto sum = [](V v) {
    alignas(32) float l[8];
    _mm256_store_ps(l, v);
    return l[0] + l[1] + l[2] + l[3] + l[4] + l[5] + l[6] + l[7];
  };
#else
  state.SkipWithError("built without FMA (MOEKIT_NATIVE=OFF)");
  return;
#endif
#if defined(__AVX512F__) || defined(__FMA__)
  constexpr long kRounds = 1 << 22;
  std::vector<float> result(static_cast<std::size_t>(threads));
  for (auto _ : state) {
    parallel_tasks(threads, [&](Index t) {
      V acc[16];
      for (int i = 0; i < 16; ++i) acc[i] = splat(0.001f * static_cast<float>(i + t));
      const V m = splat(0.9999f), c = splat(1e-4f);
      for (long r = 0; r < kRounds; ++r) {
#pragma GCC unroll 16
        for (int i = 0; i < 16; ++i) acc[i] = fma(acc[i], m, c);
      }
      float s = 0.0f;
      for (int i = 0; i < 16; ++i) s += sum(acc[i]);
      result[static_cast<std::size_t>(t)] = s;
    });
    benchmark::DoNotOptimize(result.data());
  }
  state.counters["threads"] = threads;
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * kLanes * 16 * static_cast<double>(kRounds) * threads * 1e-9 *
                             static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate);
#endif
}
BENCHMARK(BM_FmaPeak)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
