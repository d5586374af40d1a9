// Robust regression experts beside Gaussian-noise (linear) experts of the same size:
// seconds per EM iteration (E-step + M-step) for a K = 3 mixture of regressions with
// n = 20000 and 100000 rows, p = 3 design columns (intercept + 2 covariates), one response with t_3
// noise, constant gate, one thread and two. Families: linear (weighted least squares), t
// with nu estimated (ECM, digamma root per expert), t with fixed nu, laplace (exact weighted
// LAD by the Barrodale-Roberts simplex, warm-started from the previous M-step's basis);
// and the GLM experts (IRLS) on responses of their own from the same design: Poisson and
// negative binomial counts, binomial successes of 10 trials, Gamma amounts.

#include "moekit/core/parallel.hpp"
#include "moekit/core/rng.hpp"
#include "moekit/fit/em.hpp"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <string>
#include <utility>

namespace {

using namespace moekit;

Dataset make_data(Index n) {
  Rng rng(7);
  const Matrix B =
      (Matrix(3, 3) << 0.0, 3.0, -3.0, 1.0, -1.0, 0.5, -0.5, 0.5, 2.0).finished();  // p x K
  Dataset d;
  d.x.resize(n, 3);
  d.y.resize(n, 1);
  for (Index i = 0; i < n; ++i) {
    d.x.row(i) << 1.0, standard_normal(rng), standard_normal(rng);
    const Index k = i % 3;
    // t_3 noise: a normal over sqrt(chi2_3 / 3).
    double chi2 = 0.0;
    for (int j = 0; j < 3; ++j) chi2 += std::pow(standard_normal(rng), 2);
    d.y(i, 0) = d.x.row(i).dot(B.col(k)) + 0.5 * standard_normal(rng) / std::sqrt(chi2 / 3.0);
  }
  d.z = d.x;
  return d;
}

// Counts for the Poisson experts: y_i ~ Poisson(exp(x_i' b_k)), k = i mod 3.
Dataset make_counts(Index n) {
  Rng rng(11);
  const Matrix B =
      (Matrix(3, 3) << 0.5, 1.5, 2.5, 0.3, -0.3, 0.2, -0.2, 0.4, 0.1).finished();  // p x K
  Dataset d;
  d.x.resize(n, 3);
  d.y.resize(n, 1);
  for (Index i = 0; i < n; ++i) {
    d.x.row(i) << 1.0, standard_normal(rng), standard_normal(rng);
    std::poisson_distribution<int> count(std::exp(d.x.row(i).dot(B.col(i % 3))));
    d.y(i, 0) = count(rng);
  }
  d.z = d.x;
  return d;
}

// Responses of the other GLM families, mean exp(x_i' b_k) (binomial: probability
// logistic(x_i' b_k)), k = i mod 3: negative binomial counts of size 3, binomial successes
// and failures of 10 trials (two columns, as cbind(successes, failures)), Gamma amounts of
// shape 4.
Dataset make_glm(Index n, const std::string& family) {
  Rng rng(13);
  const Matrix B =
      (Matrix(3, 3) << 0.5, 1.5, 2.5, 0.3, -0.3, 0.2, -0.2, 0.4, 0.1).finished();  // p x K
  Dataset d;
  d.x.resize(n, 3);
  d.y.resize(n, family == "binomial" ? 2 : 1);
  for (Index i = 0; i < n; ++i) {
    d.x.row(i) << 1.0, standard_normal(rng), standard_normal(rng);
    const double eta = d.x.row(i).dot(B.col(i % 3)) - (family == "binomial" ? 1.5 : 0.0);
    if (family == "negbin") {
      const double mean = std::exp(eta);
      std::negative_binomial_distribution<int> count(3, 3.0 / (3.0 + mean));
      d.y(i, 0) = count(rng);
    } else if (family == "binomial") {
      std::binomial_distribution<int> successes(10, 1.0 / (1.0 + std::exp(-eta)));
      d.y(i, 0) = successes(rng);
      d.y(i, 1) = 10 - d.y(i, 0);
    } else {
      std::gamma_distribution<double> amount(4.0, std::exp(eta) / 4.0);
      d.y(i, 0) = std::max(amount(rng), 1e-300);
    }
  }
  d.z = d.x;
  return d;
}

// The rows: 20000 (the figures of docs/performance.md's robust table) or 100000 (the n of
// issue 19's thread-scaling goal).
const Dataset& data(Index n, const std::string& experts) {
  static const Dataset small = make_data(20000), large = make_data(100000),
                       small_counts = make_counts(20000), large_counts = make_counts(100000);
  if (experts == "negbin" || experts == "binomial" || experts == "gamma") {
    static std::map<std::pair<std::string, Index>, Dataset> glm;
    auto it = glm.find({experts, n});
    if (it == glm.end()) it = glm.emplace(std::make_pair(experts, n), make_glm(n, experts)).first;
    return it->second;
  }
  if (experts == "poisson") return n == 20000 ? small_counts : large_counts;
  return n == 20000 ? small : large;
}

void run(benchmark::State& state, const std::string& experts, double df) {
  set_num_threads(static_cast<int>(state.range(0)));
  const Dataset& rows = data(state.range(1), experts);
  ModelSpec spec;
  spec.experts = experts;
  spec.K = 3;
  spec.df = df;
  Model model(spec, rows.y.cols(), 3, 3);
  FitOptions o;
  o.max_iter = 2;
  o.split_merge = 0;
  o.seed = 3;
  EmFitter(o).fit(model, rows);  // initialised; then time plain EM iterations
  FitOptions iterate;
  iterate.max_iter = 10;
  iterate.tol = 1e-300;
  int iterations = 0;
  double seconds = 0.0;
  for (auto _ : state) {
    Model m = model;
    const FitResult r = EmFitter(iterate).refine(m, rows);
    iterations += r.iterations;
    seconds += r.seconds;
    benchmark::DoNotOptimize(r.loglik);
  }
  state.counters["s_per_em_iter"] = seconds / std::max(1, iterations);
  state.counters["rows_per_s"] = benchmark::Counter(static_cast<double>(rows.rows()) * iterations,
                                                    benchmark::Counter::kIsRate);
  set_num_threads(0);
}

void BM_Linear(benchmark::State& s) { run(s, "linear", 0.0); }
void BM_StudentT(benchmark::State& s) { run(s, "t", 0.0); }
void BM_StudentTFixedDf(benchmark::State& s) { run(s, "t", 4.0); }
void BM_Laplace(benchmark::State& s) { run(s, "laplace", 0.0); }
void BM_Poisson(benchmark::State& s) { run(s, "poisson", 0.0); }
void BM_NegativeBinomial(benchmark::State& s) { run(s, "negbin", 0.0); }
void BM_Binomial(benchmark::State& s) { run(s, "binomial", 0.0); }
void BM_Gamma(benchmark::State& s) { run(s, "gamma", 0.0); }

BENCHMARK(BM_Linear)
    ->ArgsProduct({{1, 2}, {20000, 100000}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_StudentT)
    ->ArgsProduct({{1, 2}, {20000, 100000}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_StudentTFixedDf)
    ->ArgsProduct({{1, 2}, {20000, 100000}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_Laplace)
    ->ArgsProduct({{1, 2}, {20000, 100000}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_Poisson)
    ->ArgsProduct({{1, 2}, {20000, 100000}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_NegativeBinomial)
    ->ArgsProduct({{1, 2}, {100000}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_Binomial)
    ->ArgsProduct({{1, 2}, {100000}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_Gamma)->ArgsProduct({{1, 2}, {100000}})->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
