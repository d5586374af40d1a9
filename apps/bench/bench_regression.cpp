// Mixtures of regressions and softmax-gated MoE at n = 1e5, p = 4 (intercept + 3
// covariates), K = 3, one response: seconds for 50 EM iterations (E-step + M-step) from a
// fixed start, for a constant gate (mixture of regressions, as mixtools regmixEM / flexmix
// FLXMRglm) and a softmax gate in the same covariates (flexmix FLXPmultinom); and the
// softmax gate at K = 2, the only K of mixtools hmeEM; and a depth-2 softmax HME (--tree 2,2)
// against the flat softmax MoE with the same 4 experts; and logistic experts (binary response
// yb, three logits in the same covariates) under a constant gate, as flexmix
// FLXMRglm(family = "binomial"). apps/bench/peers_regression.R times the peers on the same data:
//   MOEKIT_BENCH_CSV=/tmp/regression.csv ./bench_regression   # writes the data and exits
//   Rscript apps/bench/peers_regression.R /tmp/regression.csv
// `bench_regression --machine` prints the machine's roofs for docs/performance.md: Eigen's
// DGEMM rate and the rate of reading a 256 MiB array, on 1 and 2 threads (best of 3).

#include "moekit/core/parallel.hpp"
#include "moekit/core/rng.hpp"
#include "moekit/fit/em.hpp"

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

namespace {

using namespace moekit;

constexpr Index kRows = 100000, kCols = 4, kK = 3;
constexpr int kIterations = 50;

// Softmax gate in x (3 regions along x1), three lines with different noise.
Dataset make_data() {
  Rng rng(42);
  const Matrix B =
      (Matrix(kCols, kK) << 0.0, 3.0, -3.0, 1.0, -1.0, 0.5, -0.5, 0.5, 2.0, 0.3, 0.0, -0.7)
          .finished();  // p x K
  const Vector V1 = (Vector(kCols) << 0.0, 2.0, 0.0, 0.0).finished();
  const Vector sd = (Vector(kK) << 0.5, 0.3, 0.8).finished();
  Dataset d;
  d.x.resize(kRows, kCols);
  d.y.resize(kRows, 1);
  for (Index i = 0; i < kRows; ++i) {
    d.x(i, 0) = 1.0;
    for (Index j = 1; j < kCols; ++j) d.x(i, j) = standard_normal(rng);
    const double e1 = d.x.row(i).dot(V1), e2 = -d.x.row(i).dot(V1);
    const double w0 = 1.0, w1 = std::exp(e1), w2 = std::exp(e2),
                 u = uniform01(rng) * (w0 + w1 + w2);
    const Index k = u < w0 ? 0 : (u < w0 + w1 ? 1 : 2);
    d.y(i, 0) = d.x.row(i).dot(B.col(k)) + sd(k) * standard_normal(rng);
  }
  d.z = d.x;
  return d;
}

const Dataset& data() {
  static const Dataset d = make_data();
  return d;
}

// The same covariates; each row's class drawn from one of three logistic experts chosen with
// equal probability.
Dataset make_binary_data() {
  const Matrix W = (Matrix(kCols, kK) << 0.0, 1.5, -1.5, 2.0, -2.0, 0.5, -1.0, 1.0, 1.5, 0.5, 0.0,
                    -1.0)
                       .finished();  // p x K logits
  Rng rng(7);
  Dataset d;
  d.x = data().x;
  d.z = d.x;
  d.y.resize(kRows, 1);
  for (Index i = 0; i < kRows; ++i) {
    const auto k = std::min<Index>(kK - 1, static_cast<Index>(uniform01(rng) * kK));
    const double eta = d.x.row(i).dot(W.col(k));
    d.y(i, 0) = uniform01(rng) < 1.0 / (1.0 + std::exp(-eta)) ? 1.0 : 0.0;
  }
  return d;
}

const Dataset& binary_data() {
  static const Dataset d = make_binary_data();
  return d;
}

void run(benchmark::State& state,
         const std::string& gate,
         const TreeShape& shape,
         const std::string& experts = "linear") {
  set_num_threads(static_cast<int>(state.range(0)));
  const bool logistic = experts == "logistic";
  ModelSpec s;
  s.experts = experts;
  if (logistic) {
    s.data.categorical_response = true;
    s.data.response_levels = {"0", "1"};
  }
  s.gate = gate;
  s.set_shape(shape);
  FitOptions o;
  o.max_iter = kIterations;
  o.tol = 1e-300;  // run every iteration
  o.restarts = 1;
  o.init = InitMethod::Random;
  o.split_merge = 0;        // EM iterations only, as the peers run them
  double iterations = 0.0;  // EM may stop early where the log-likelihood stops rising
  for (auto _ : state) {
    Model m(s, 1, kCols, kCols);
    const FitResult r = EmFitter(o).fit(m, logistic ? binary_data() : data());
    benchmark::DoNotOptimize(r.loglik);
    state.counters["loglik"] = r.loglik;
    state.counters["iterations"] = r.iterations;
    iterations += r.iterations;
  }
  state.counters["s_per_iteration"] =
      benchmark::Counter(iterations, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  set_num_threads(0);
}

void BM_MixtureOfRegressions(benchmark::State& state) {
  run(state, "constant", TreeShape::flat(kK));
}
void BM_SoftmaxMoE(benchmark::State& state) { run(state, "softmax", TreeShape::flat(kK)); }
void BM_SoftmaxMoE_K2(benchmark::State& state) { run(state, "softmax", TreeShape::flat(2)); }
void BM_SoftmaxMoE_K4(benchmark::State& state) { run(state, "softmax", TreeShape::flat(4)); }
void BM_SoftmaxHME_2x2(benchmark::State& state) { run(state, "softmax", TreeShape({2, 2})); }
void BM_LogisticExperts(benchmark::State& state) {
  run(state, "constant", TreeShape::flat(kK), "logistic");
}

BENCHMARK(BM_MixtureOfRegressions)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_SoftmaxMoE)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_SoftmaxMoE_K2)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_SoftmaxMoE_K4)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_SoftmaxHME_2x2)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_LogisticExperts)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

double best_seconds(const std::function<void()>& f) {
  double best = 1e300;
  for (int rep = 0; rep < 3; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    best = std::min(best,
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

void print_machine() {
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    Eigen::setNbThreads(threads);
    const Index m = 1536;
    const Matrix A = Matrix::Random(m, m), B = Matrix::Random(m, m);
    Matrix C(m, m);
    const double gemm = best_seconds([&] { C.noalias() = A * B; });
    benchmark::DoNotOptimize(C.data());
    // Reading: each fixed block of rows summed into its own slot (no false sharing of writes
    // inside the loop).
    const Index n = Index(32) << 20;  // 256 MiB of doubles
    const Vector v = Vector::Ones(n);
    std::vector<double> sums(static_cast<size_t>(num_blocks(n / 64)));
    const double read = best_seconds([&] {
      parallel_blocks(n / 64, [&](Index b, Index begin, Index size) {
        sums[static_cast<size_t>(b)] = v.segment(begin * 64, size * 64).sum();
      });
    });
    benchmark::DoNotOptimize(sums.data());
    std::printf("threads=%d: Eigen DGEMM 1536^3 %.1f GFLOP/s, read bandwidth %.1f GB/s\n", threads,
                2.0 * static_cast<double>(m) * m * m / gemm * 1e-9,
                static_cast<double>(n) * sizeof(double) / read * 1e-9);
  }
  set_num_threads(0);
  Eigen::setNbThreads(0);
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::strcmp(argv[i], "--machine") == 0) {
      print_machine();
      return 0;
    }
  if (const char* path = std::getenv("MOEKIT_BENCH_CSV")) {
    const Dataset& d = data();
    const Dataset& b = binary_data();
    std::FILE* f = std::fopen(path, "w");
    if (!f) return 1;
    std::fprintf(f, "y,x1,x2,x3,yb\n");
    for (Index i = 0; i < d.y.rows(); ++i)
      std::fprintf(f, "%.17g,%.17g,%.17g,%.17g,%.17g\n", d.y(i, 0), d.x(i, 1), d.x(i, 2), d.x(i, 3),
                   b.y(i, 0));
    std::fclose(f);
    return 0;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
