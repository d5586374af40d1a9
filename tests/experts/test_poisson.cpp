// Poisson experts (log link) against flexmix's FLXMRglm(family = "poisson") optima
// (tests/reference/values/poisson.json), their score against finite differences, the count
// check on the response, and the model file round trip.

#include "experts/regression_util.hpp"

#include "moekit/core/error.hpp"
#include "moekit/experts/poisson.hpp"
#include "moekit/infer/predict.hpp"
#include "moekit/model/model_json.hpp"

#include <catch2/catch.hpp>

#include <cmath>

using namespace moekit;
using namespace moekit::testing;

namespace {

// Best of `restarts` CLI-default EM fits (random and k-means++ starts, tol 1e-8).
FitResult fit_poisson(Problem& p, Model& m, int restarts, double tol = 1e-8) {
  p.spec.reg_covar = ModelSpec().reg_covar;
  m = make_model(p);
  FitOptions o;
  o.restarts = restarts;
  o.tol = tol;
  return EmFitter(o).fit(m, p.data);
}

// EM from the fitted parameters of `m` on to a relative change of 1e-12.
FitResult polish(const Problem& p, Model& m) {
  FitOptions o;
  o.tol = 1e-12;
  return EmFitter(o).refine(m, p.data);
}

}  // namespace

TEST_CASE("poisson experts reach flexmix's optimum on bioChemists, K = 2", "[poisson]") {
  // flexmix 2.3.18, best of 60 starts at tol 1e-12: -1561.0708709178.
  constexpr double best = -1561.0708709178;
  Problem p = load_problem("bioChemists.csv", "art ~ fem + mar + kid5 + phd + ment", "poisson",
                           "constant", 2);
  Model m;
  const FitResult r = fit_poisson(p, m, 10);
  // The default stopping rule (relative change 1e-8) stops this slow EM 1.2e-4 short.
  CHECK(r.loglik >= best - 1e-7 * std::abs(best));
  CHECK(r.loglik <= best + 1e-8);
  // Polished: EM from the fitted parameters on to a relative change of 1e-12.
  const FitResult polished = polish(p, m);
  CHECK(polished.loglik == Approx(best).margin(1e-8));
  // The larger component (weight 0.7457) has intercept -0.5097 and phd 0.0919.
  const auto& e = dynamic_cast<const PoissonExperts&>(m.experts());
  const Index big = e.coefficients(0)(0) < 0 ? 0 : 1;
  // Parameters are flat to 1e-10 in log-likelihood at the 1e-4 level (both stop at tol 1e-12).
  CHECK(e.coefficients(big)(0) == Approx(-0.50970662).margin(2e-4));
  CHECK(e.coefficients(big)(4) == Approx(0.09189644).margin(2e-4));
}

// The CLI's defaults (one start of short EM, seed 1): its k-means++ candidate splits the rows
// by the binary covariates, so each expert's rows hold one value of fem or mar and the first
// M-step's designs are singular. That candidate's experts are then fitted on the start with a
// share of every row, instead of being collapsed and re-seeded (two warnings of a collapse in
// the default fit before).
TEST_CASE("poisson experts on bioChemists with the defaults: no expert collapses at the start",
          "[poisson]") {
  constexpr double best = -1561.0708709178;  // as above
  Problem p = load_problem("bioChemists.csv", "art ~ fem + mar + kid5 + phd + ment", "poisson",
                           "constant", 2);
  p.spec.reg_covar = ModelSpec().reg_covar;
  Model m = make_model(p);
  const FitResult r = EmFitter(FitOptions{}).fit(m, p.data);
  CAPTURE(r.warnings);
  CHECK(r.warnings.empty());
  CHECK(r.loglik >= best - 1e-7 * std::abs(best));
}

TEST_CASE("poisson experts reach flexmix's optimum on NPreg yp ~ x, K = 2", "[poisson]") {
  constexpr double best = -440.6402943217;  // flexmix 2.3.18, best of 60 starts, tol 1e-12
  Problem p = load_problem("NPreg.csv", "yp ~ x", "poisson", "constant", 2);
  Model m;
  const FitResult r = fit_poisson(p, m, 10);
  CHECK(r.loglik >= best - 1e-7 * std::abs(best));
  CHECK(polish(p, m).loglik == Approx(best).margin(1e-8));
}

TEST_CASE("poisson score = finite differences of the weighted log-likelihood", "[poisson]") {
  Problem p = load_problem("NPreg.csv", "yp ~ x", "poisson", "constant", 2);
  Model m;
  fit_poisson(p, m, 2);
  Experts& e = m.experts();
  const Index n = p.data.rows();
  Matrix resp(n, 2);
  for (Index i = 0; i < n; ++i) resp(i, 0) = 1.0 - (resp(i, 1) = (i % 3) / 3.0);
  const Vector s = e.score(p.data.x, p.data.y, resp);
  const Vector numeric = numeric_expert_score(e, p.data.x, p.data.y, resp);
  REQUIRE(numeric.size() == s.size());
  for (Index j = 0; j < s.size(); ++j) CHECK(s(j) == Approx(numeric(j)).epsilon(1e-5).margin(1e-4));
}

TEST_CASE("poisson experts refuse a response that is not a count", "[poisson]") {
  Problem p = load_problem("NPreg.csv", "yn ~ x", "poisson", "constant", 2);
  Model m = make_model(p);
  try {
    EmFitter().fit(m, p.data);
    FAIL("a continuous response was accepted");
  } catch (const InputError& e) {
    CHECK_THAT(e.what(), Catch::Contains("line 2"));
    CHECK_THAT(e.what(), Catch::Contains("non-negative whole counts"));
  }
}

TEST_CASE("poisson experts: the model file round trip", "[poisson]") {
  Problem p = load_problem("NPreg.csv", "yp ~ x", "poisson", "constant", 2);
  Model m;
  const FitResult r = fit_poisson(p, m, 2);
  const Model back = model_from_json(model_to_json(m, &r), "roundtrip.json");
  CHECK((back.parameters() - m.parameters()).cwiseAbs().maxCoeff() == 0.0);
  Posteriors a, b;
  m.e_step(p.data, a);
  back.e_step(p.data, b);
  CHECK(a.loglik == b.loglik);
}

TEST_CASE("poisson predictive quantiles are the mixture's smallest count at the level",
          "[poisson]") {
  Problem p = load_problem("NPreg.csv", "yp ~ x", "poisson", "constant", 2);
  Model m;
  fit_poisson(p, m, 2);
  const Matrix g = predict_gate(m, p.data);
  const std::vector<Matrix> mu = m.experts().predict_means(p.data.x);
  auto F = [&](Index i, double y) {
    double acc = 0.0;
    for (Index k = 0; k < 2; ++k) {
      double cdf = 0.0, term = std::exp(-mu[static_cast<size_t>(k)](i, 0));
      for (int c = 0; c <= static_cast<int>(y); ++c) {
        cdf += term;
        term *= mu[static_cast<size_t>(k)](i, 0) / (c + 1);
      }
      acc += g(i, k) * cdf;
    }
    return acc;
  };
  for (double level : {0.1, 0.5, 0.9}) {
    const Matrix q = predict_quantile(m, p.data, level);
    for (Index i = 0; i < p.data.rows(); i += 17) {
      CAPTURE(level, i, q(i, 0));
      CHECK(q(i, 0) == std::floor(q(i, 0)));
      CHECK(F(i, q(i, 0)) >= level - 1e-12);
      if (q(i, 0) > 0) CHECK(F(i, q(i, 0) - 1) < level);
    }
  }
}
