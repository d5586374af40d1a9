// Binomial experts with trials (cbind(successes, failures) ~ x) against flexmix's
// FLXMRglm(family = "binomial") optima on the beta-blocker trials
// (tests/reference/values/binomial.json), their score, and the response checks.

#include "experts/regression_util.hpp"

#include "moekit/core/error.hpp"
#include "moekit/experts/binomial.hpp"
#include "moekit/infer/simulate.hpp"

#include <catch2/catch.hpp>

#include <cmath>

using namespace moekit;
using namespace moekit::testing;

namespace {

FitResult fit_binomial(Problem& p, Model& m, int restarts, double tol = 1e-8) {
  p.spec.reg_covar = ModelSpec().reg_covar;
  m = make_model(p);
  FitOptions o;
  o.restarts = restarts;
  o.tol = tol;
  return EmFitter(o).fit(m, p.data);
}

}  // namespace

TEST_CASE("binomial experts reach flexmix's optimum on betablocker", "[binomial]") {
  {
    constexpr double best = -187.8983974407;  // flexmix 2.3.18, best of 100 starts
    Problem p = load_problem("betablocker.csv", "cbind(Deaths, Survivors) ~ Treatment", "binomial",
                             "constant", 2);
    Model m;
    CHECK(fit_binomial(p, m, 10).loglik >= best - 1e-7 * std::abs(best));
    CHECK(fit_binomial(p, m, 10, 1e-12).loglik == Approx(best).margin(1e-8));
  }
  {
    // Grouped by trial: every center's two arms share one expert (flexmix's `| Center`).
    constexpr double best = -158.3094802863;
    Problem p = load_problem("betablocker.csv", "cbind(Deaths, Survivors) ~ Treatment | Center",
                             "binomial", "constant", 3);
    Model m;
    CHECK(fit_binomial(p, m, 10).loglik >= best - 1e-7 * std::abs(best));
    CHECK(fit_binomial(p, m, 10, 1e-12).loglik == Approx(best).margin(1e-8));
  }
}

TEST_CASE("binomial score = finite differences of the weighted log-likelihood", "[binomial]") {
  Problem p = load_problem("betablocker.csv", "cbind(Deaths, Survivors) ~ Treatment", "binomial",
                           "constant", 2);
  Model m;
  fit_binomial(p, m, 2);
  const Experts& e = m.experts();
  const Index n = p.data.rows();
  Matrix resp(n, 2);
  for (Index i = 0; i < n; ++i) resp(i, 0) = 1.0 - (resp(i, 1) = (i % 3) / 3.0);
  const Vector s = e.score(p.data.x, p.data.y, resp);
  const Vector numeric = numeric_expert_score(e, p.data.x, p.data.y, resp);
  REQUIRE(numeric.size() == s.size());
  for (Index j = 0; j < s.size(); ++j) CHECK(s(j) == Approx(numeric(j)).epsilon(1e-5).margin(1e-4));
  // The log-density is the binomial probability: C(39, 3) p^3 (1 - p)^36 for the first row.
  Matrix ld(n, 2);
  e.log_density(p.data.x, p.data.y, ld);
  const double eta = p.data.x.row(0).dot(dynamic_cast<const BinomialExperts&>(e).coefficients(0));
  const double pr = 1.0 / (1.0 + std::exp(-eta));
  CHECK(ld(0, 0) == Approx(std::log(9139.0) + 3 * std::log(pr) + 36 * std::log(1 - pr)));
}

TEST_CASE("binomial experts check their response", "[binomial]") {
  // One column is not successes and failures.
  Problem one = load_problem("betablocker.csv", "Deaths ~ Treatment", "binomial", "constant", 2);
  CHECK_THROWS_WITH(make_model(one), Catch::Contains("cbind(successes, failures)"));
  Problem frac =
      load_problem("NOdata.csv", "cbind(NO, Equivalence) ~ 1", "binomial", "constant", 2);
  Model m = make_model(frac);
  CHECK_THROWS_WITH(EmFitter().fit(m, frac.data), Catch::Contains("line 2"));
  Problem ok = load_problem("betablocker.csv", "cbind(Deaths, Survivors) ~ Treatment", "binomial",
                            "constant", 2);
  Model fitted;
  fit_binomial(ok, fitted, 1);
  Rng rng(1);
  CHECK_THROWS_WITH(simulate(fitted, ok.data, rng), Catch::Contains("number of trials"));
}
