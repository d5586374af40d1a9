// Gaussian-mixture EM, d = 8, K = 8: seconds per EM iteration.
//   bench_gmm                      Google Benchmark, n = 1e5, full covariances
//   bench_gmm --per-iter [--n N] [--covariance full|diag|spherical] [--threads T] [--no-dgemm]
//       the issue-19 protocol: per thread count (1 and 2, or T), the wall-clock difference of a
//       1-iteration and an 11-iteration EM run from the same start (the fastest of 5 of each), over
//       10; then the machine's DGEMM rate (Eigen, 2 threads) and the peak resident memory
//   bench_gmm --write-csv PATH [--n N]   the same data as CSV, for scikit-learn

#include "moekit/core/covariance.hpp"
#include "moekit/core/parallel.hpp"
#include "moekit/core/rng.hpp"
#include "moekit/fit/em.hpp"

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

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

Index g_rows = 100000;
std::vector<int> g_threads = {1, 2};
bool g_dgemm = true;
CovarianceStructure g_covariance = CovarianceStructure::Full;

const Dataset& data() {
  static const Dataset d = make_data(g_rows, 8, 8);
  return d;
}

Model started_model() {
  ModelSpec spec;
  spec.K = 8;
  spec.covariance = g_covariance;
  Model model(spec, 8, 1, 1);
  FitOptions o;
  o.max_iter = 1;
  o.split_merge = 0;  // the start only: the timed iterations are plain EM
  o.kmeans_iter = 5;
  EmFitter(o).fit(model, data());
  return model;
}

double seconds_of(const std::function<void()>& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Eigen's DGEMM (C = A B, square, n = 1536) on the given threads: GFLOP/s, best of 3.
double dgemm_rate(int threads) {
  set_num_threads(threads);
  Eigen::setNbThreads(threads);
  const Index m = 1536;
  const Matrix A = Matrix::Random(m, m), B = Matrix::Random(m, m);
  Matrix C(m, m);
  double best = 1e300;
  for (int r = 0; r < 3; ++r) best = std::min(best, seconds_of([&] { C.noalias() = A * B; }));
  benchmark::DoNotOptimize(C.data());
  return 2.0 * static_cast<double>(m) * m * m / best * 1e-9;
}

// STREAM's triad a = b + s c over three arrays of 2^23 doubles (64 MiB each) on the given
// threads: GB/s counting 24 bytes per element (McCalpin's convention), best of 5.
double triad_rate(int threads) {
  set_num_threads(threads);
  const Index m = Index{1} << 23;
  Vector a = Vector::Zero(m), b = Vector::Constant(m, 1.0), c = Vector::Constant(m, 2.0);
  double best = 1e300;
  for (int r = 0; r < 5; ++r)
    best = std::min(best, seconds_of([&] {
                      parallel_blocks(m, [&](Index, Index begin, Index size) {
                        a.segment(begin, size) =
                            b.segment(begin, size) + 3.0 * c.segment(begin, size);
                      });
                    }));
  benchmark::DoNotOptimize(a.data());
  return 24.0 * static_cast<double>(m) / best * 1e-9;
}

int per_iteration() {
  const Model start = started_model();
  const double flops = 4.0 * static_cast<double>(g_rows) * 8 * 8 * 8;
  std::printf("moekit GMM n=%ld d=8 K=8 covariance=%s\n", static_cast<long>(g_rows),
              to_string(g_covariance).c_str());
  for (int threads : g_threads) {
    FitOptions o;
    o.tol = 1e-300;
    o.threads = threads;
    // The fastest 1-iteration and the fastest 11-iteration run are taken apart: a stall
    // in one 1-iteration run must not turn into a negative difference.
    double fastest[2] = {1e300, 1e300}, loglik = 0.0;
    for (int rep = 0; rep < 5; ++rep)
      for (int j = 0; j < 2; ++j) {
        o.max_iter = j == 0 ? 1 : 11;
        Model m = start;
        FitResult r;
        fastest[j] = std::min(fastest[j], seconds_of([&] { r = EmFitter(o).refine(m, data()); }));
        if (j == 1) loglik = r.loglik;
      }
    const double best = (fastest[1] - fastest[0]) / 10.0;
    std::printf(
        "  threads=%d: %.4f s per EM iteration (fastest of 5 each), %.1f GFLOP/s of "
        "4nKd^2, loglik after 11 %.10f\n",
        threads, best, flops / best * 1e-9, loglik);
  }
  // The iteration's memory traffic: the rows read once (the moments are summed in the
  // E-step's pass) and the n row log-likelihoods written (counted twice: the write-allocate
  // read); a constant gate's M-step needs no n x K posteriors (written once, when the fit ends).
  const double bytes = 8.0 * static_cast<double>(g_rows) * (8 + 2);
  std::printf("  roofline: %.2f GFLOP (4nKd^2) and %.0f MB per iteration\n", flops * 1e-9,
              bytes * 1e-6);
  for (int threads : g_threads) {
    if (g_dgemm)
      std::printf("  Eigen DGEMM 1536^3, %d thread(s): %.1f GFLOP/s\n", threads,
                  dgemm_rate(threads));
    std::printf("  STREAM triad, %d thread(s): %.1f GB/s\n", threads, triad_rate(threads));
  }
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  std::printf("  peak RSS %.0f MiB\n", static_cast<double>(u.ru_maxrss) / 1024.0);
  set_num_threads(0);
  return 0;
}

void BM_GmmEmIteration(benchmark::State& state) {
  set_num_threads(static_cast<int>(state.range(0)));
  const Model model = started_model();  // then time plain EM iterations
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
  bool per_iter = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--per-iter") == 0) per_iter = true;
    if (std::strcmp(argv[i], "--no-dgemm") == 0) g_dgemm = false;
    if (i + 1 < argc && std::strcmp(argv[i], "--threads") == 0)
      g_threads = {std::atoi(argv[i + 1])};
    if (i + 1 < argc && std::strcmp(argv[i], "--n") == 0) g_rows = std::atol(argv[i + 1]);
    if (i + 1 < argc && std::strcmp(argv[i], "--covariance") == 0)
      g_covariance = parse_covariance(argv[i + 1]);
  }
  if (per_iter) return per_iteration();
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
