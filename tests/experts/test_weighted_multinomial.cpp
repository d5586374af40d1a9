// The weighted multinomial logit (stats/weighted_multinomial.hpp) that logistic experts and
// softmax gates share: its log-probabilities against long double, Newton's quadratic
// convergence to a zero gradient (a wrong Hessian would show as many more steps), the binary
// (D = 1) and general (D >= 2) paths, the eta bound of a separated fit, and thread
// invariance.

#include "moekit/core/parallel.hpp"
#include "moekit/core/rng.hpp"
#include "moekit/stats/weighted_multinomial.hpp"

#include <catch2/catch.hpp>

#include <cmath>

using namespace moekit;

namespace {

// n rows: an intercept and p - 1 normal covariates; soft targets T (n x C), each row's
// weight w_i in (0, 1] spread over the classes drawn from a true multinomial logit.
void make_problem(Index n, Index p, Index C, std::uint64_t seed, Matrix& x, Matrix& T) {
  Rng rng(seed);
  x = Matrix::Ones(n, p);
  for (Index i = 0; i < n; ++i)
    for (Index j = 1; j < p; ++j) x(i, j) = standard_normal(rng);
  Matrix W(p, C - 1);
  for (Index j = 0; j < p; ++j)
    for (Index d = 0; d < C - 1; ++d) W(j, d) = standard_normal(rng);
  Matrix lp(n, C);
  multinomial_log_probs(x, W, lp);
  T = Matrix::Zero(n, C);
  for (Index i = 0; i < n; ++i) {
    const double w = 0.05 + 0.95 * uniform01(rng), u = uniform01(rng);
    double cum = 0.0;
    Index c = 0;
    for (; c < C - 1; ++c) {
      cum += std::exp(lp(i, c));
      if (u < cum) break;
    }
    T(i, c) = 0.8 * w;
    T(i, (c + 1) % C) = 0.2 * w;
  }
}

}  // namespace

TEST_CASE("multinomial log-probabilities agree with long double", "[multinomial]") {
  Rng rng(7);
  for (Index C : {2, 3, 5}) {
    CAPTURE(C);
    const Index n = 301, p = 3;  // not a multiple of 8: the lanes' padded tail is used
    Matrix x(n, p), W(p, C - 1);
    for (Index i = 0; i < n; ++i)
      for (Index j = 0; j < p; ++j) x(i, j) = 12.0 * (uniform01(rng) - 0.5);
    for (Index j = 0; j < p; ++j)
      for (Index d = 0; d < C - 1; ++d) W(j, d) = 3.0 * standard_normal(rng);
    Matrix lp(n, C);
    multinomial_log_probs(x, W, lp);
    double worst = 0.0;
    for (Index i = 0; i < n; ++i) {
      std::vector<long double> eta(static_cast<size_t>(C), 0.0L);
      for (Index d = 0; d < C - 1; ++d)
        for (Index j = 0; j < p; ++j)
          eta[static_cast<size_t>(d + 1)] += static_cast<long double>(x(i, j)) * W(j, d);
      long double m = eta[0];
      for (auto e : eta) m = std::max(m, e);
      long double s = 0.0L;
      for (auto e : eta) s += std::exp(e - m);
      for (Index c = 0; c < C; ++c) {
        const long double want = eta[static_cast<size_t>(c)] - m - std::log(s);
        // Relative where the log-probability is large, absolute near 0.
        const double err =
            static_cast<double>(std::abs(lp(i, c) - want) / std::max(1.0L, std::abs(want)));
        worst = std::max(worst, err);
      }
    }
    // Each eta = x'W carries the rounding of its p-term sum (|x'W| up to ~50 here).
    CHECK(worst < 1e-14);
  }
}

TEST_CASE("Newton reaches a zero gradient in a few steps, on one thread as on two",
          "[multinomial]") {
  for (Index C : {2, 3, 4}) {
    CAPTURE(C);
    Matrix x, T;
    make_problem(5000, 4, C, 11 + static_cast<std::uint64_t>(C), x, T);
    Matrix W1 = Matrix::Zero(4, C - 1), W2 = W1;
    MultinomialFit f1, f2;
    {
      const ScopedNumThreads one(1);
      f1 = fit_multinomial(x, T, Vector(), W1, 50, 1e-14);
    }
    {
      const ScopedNumThreads two(2);
      f2 = fit_multinomial(x, T, Vector(), W2, 50, 1e-14);
    }
    CHECK(f1.converged);
    // Quadratic convergence from zero: a wrong Hessian (a missing block, a misplaced
    // off-diagonal block) needs many more steps or stalls short of a zero gradient.
    CHECK(f1.iterations <= 8);
    Matrix g;
    const double Q = multinomial_objective(x, T, Vector(), W1, &g);
    CHECK(Q == f1.objective);
    CHECK(g.cwiseAbs().maxCoeff() < 1e-8 * T.sum());
    // Results do not depend on the thread count.
    CHECK(W1 == W2);
    CHECK(f1.objective == f2.objective);
    CHECK(f1.iterations == f2.iterations);
  }
}

TEST_CASE("a separated binary logit climbs inside the eta bound", "[multinomial][separation]") {
  const Index n = 200;
  Matrix x(n, 2), T = Matrix::Zero(n, 2);
  for (Index i = 0; i < n; ++i) {
    x(i, 0) = 1.0;
    x(i, 1) = static_cast<double>(i) - 99.5;
    T(i, x(i, 1) > 0.0 ? 1 : 0) = 1.0;  // completely separated at 0
  }
  Matrix W = Matrix::Zero(2, 1);
  const double start = multinomial_objective(x, T, Vector(), W);
  constexpr double bound = 30.0;
  const MultinomialFit f = fit_multinomial(x, T, Vector(), W, 50, 1e-12, bound);
  CHECK(f.max_abs_eta <= bound);
  CHECK((x * W).cwiseAbs().maxCoeff() <= bound * (1.0 + 1e-12));
  CHECK(f.objective > start);
  // The supremum is 0; inside the bound the best is the symmetric logit with slope
  // bound / 99.5 (the outermost rows at the bound): Q = -2 sum_k log(1 + exp(-(k + 1/2) s)).
  double best = 0.0;
  for (int k = 0; k < 100; ++k) best -= 2.0 * std::log1p(std::exp(-(k + 0.5) * bound / 99.5));
  CHECK(f.objective <= best + 1e-9);
  CHECK(f.objective >= best - 1e-6);
  CHECK(std::isfinite(f.objective));
}
