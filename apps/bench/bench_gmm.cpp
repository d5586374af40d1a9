// Gaussian-mixture EM at n = 1e5, d = 8, K = 8 (full covariances): seconds per EM iteration.
// The same data are written to CSV for scikit-learn by compare_peers.sh (--write-csv PATH).

#include "moekit/core/parallel.hpp"
#include "moekit/core/rng.hpp"
#include "moekit/fit/em.hpp"

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>

namespace {

using namespace moekit;

// Eight overlapping clusters in 8 dimensions, random covariances (fixed seed).
Dataset make_data(Index n, Index d, Index K) {
  Rng rng(42);
  Matrix means(K, d);
  for (Index i = 0; i < means.size(); ++i)
    means.data()[i] = 1.5 * standard_normal(rng);  // overlapping: EM keeps moving
  std::vector<Matrix> L(static_cast<size_t>(K), Matrix::Zero(d, d));
  for (auto& l : L)
    for (Index c = 0; c < d; ++c)
      for (Index r = c; r < d; ++r)
        l(r, c) = r == c ? 0.5 + uniform01(rng) : 0.3 * standard_normal(rng);
  Dataset data;
  data.y.resize(n, d);
  Vector z(d);
  for (Index i = 0; i < n; ++i) {
    const Index k = i % K;
    for (Index j = 0; j < d; ++j) z(j) = standard_normal(rng);
    data.y.row(i) = means.row(k) + (L[static_cast<size_t>(k)] * z).transpose();
  }
  data.x = Matrix::Ones(n, 1);
  data.z = Matrix::Ones(n, 1);
  return data;
}

const Dataset& data() {
  static const Dataset d = make_data(100000, 8, 8);
  return d;
}

void BM_GmmEmIteration(benchmark::State& state) {
  set_num_threads(static_cast<int>(state.range(0)));
  ModelSpec spec;
  spec.K = 8;
  Model model(spec, 8, 1, 1);
  FitOptions o;
  o.max_iter = 1;
  o.split_merge = 0;  // the start only: the timed iterations are plain EM
  o.kmeans_iter = 5;
  EmFitter(o).fit(model, data());  // initialised model; then time plain EM iterations
  FitOptions iterate;
  iterate.max_iter = 10;
  iterate.tol = 1e-300;
  int iterations = 0;
  double seconds = 0.0;
  for (auto _ : state) {
    Model m = model;
    const FitResult r = EmFitter(iterate).refine(m, data());
    iterations += r.iterations;
    seconds += r.seconds;
    benchmark::DoNotOptimize(r.loglik);
  }
  // Wall-clock seconds per EM iteration (E-step + M-step), as FitResult measures them.
  state.counters["s_per_em_iter"] = seconds / std::max(1, iterations);
  set_num_threads(0);
}
BENCHMARK(BM_GmmEmIteration)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], "--write-csv") == 0) {
      std::ofstream out(argv[i + 1]);
      const Matrix& y = data().y;
      for (Index j = 0; j < y.cols(); ++j) out << (j ? "," : "") << "y" << j + 1;
      out << "\n";
      for (Index r = 0; r < y.rows(); ++r) {
        for (Index j = 0; j < y.cols(); ++j)
          out << (j ? "," : "") << fmt::format("{:.17g}", y(r, j));
        out << "\n";
      }
      return 0;
    }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
