// Forward + backward throughput of the deep top-k MoE layer (tokens/s as items_per_second)
// at T = 4096, d = 512, h = 1024, E = 8, k = 2 (Mixtral-style top-2, GELU experts, dropless).
// Compare with apps/bench/bench_deep_torch.py, which times the same layer in PyTorch on the
// CPU with the same thread count (docs/deep.md, "Performance").
//
// Threads: MOEKIT_NUM_THREADS (default: all hardware threads) for moekit's loops and Eigen.

#include "moekit/core/parallel.hpp"
#include "moekit/core/rng.hpp"
#include "moekit/deep/moe_layer.hpp"

#include <benchmark/benchmark.h>

#include <cstdlib>

namespace {

using namespace moekit;
using namespace moekit::deep;

int configured_threads() {
  const char* env = std::getenv("MOEKIT_NUM_THREADS");
  const int n = env ? std::atoi(env) : 0;
  set_num_threads(n);
  Eigen::setNbThreads(num_threads());
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

Matrix normal_matrix(Index rows, Index cols, std::uint64_t seed) {
  Rng rng(seed);
  Matrix m(rows, cols);
  for (Index i = 0; i < m.size(); ++i) m.data()[i] = standard_normal(rng);
  return m;
}

void BM_DeepForwardBackward(benchmark::State& state) {
  const int threads = configured_threads();
  const Index T = state.range(0);
  const MoeConfig c = bench_config();
  MoeLayer layer(c);
  layer.init(1);
  const Matrix x = normal_matrix(T, c.dim, 2);
  const Matrix dy = normal_matrix(T, c.dim, 3);
  Matrix y(T, c.dim), dx(T, c.dim);
  MoeWorkspace ws;
  MoeParams grads;
  grads.resize_zero(c);
  for (auto _ : state) {
    grads.set_zero();
    layer.forward(x, ws, y);
    layer.backward(x, dy, ws, grads, dx);
    benchmark::DoNotOptimize(dx.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * T);
  state.counters["threads"] = threads;
}
BENCHMARK(BM_DeepForwardBackward)->Arg(4096)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_DeepForward(benchmark::State& state) {
  const int threads = configured_threads();
  const Index T = state.range(0);
  const MoeConfig c = bench_config();
  MoeLayer layer(c);
  layer.init(1);
  const Matrix x = normal_matrix(T, c.dim, 2);
  Matrix y(T, c.dim);
  MoeWorkspace ws;
  ForwardContext ctx;
  ctx.training = false;
  for (auto _ : state) {
    layer.forward(x, ws, y, ctx);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * T);
  state.counters["threads"] = threads;
}
BENCHMARK(BM_DeepForward)->Arg(4096)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
