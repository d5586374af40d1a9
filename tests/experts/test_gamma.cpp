// Gamma experts (log link, shape estimated) against the best proper maximum found in R
// (tests/reference/values/gamma.json), their score, and the response check.

#include "experts/regression_util.hpp"

#include "moekit/core/error.hpp"
#include "moekit/experts/gamma.hpp"
#include "moekit/infer/predict.hpp"

#include <catch2/catch.hpp>

#include <cmath>

using namespace moekit;
using namespace moekit::testing;

TEST_CASE("gamma experts reach the best proper maximum on faithful", "[gamma]") {
  constexpr double best = -872.0862292994;  // R optim, best of 100 starts
  Problem p = load_problem("faithful.csv", "waiting ~ eruptions", "gamma", "constant", 2);
  p.spec.reg_covar = ModelSpec().reg_covar;
  for (double tol : {1e-8, 1e-12}) {
    CAPTURE(tol);
    Model m = make_model(p);
    FitOptions o;
    o.restarts = 10;
    o.tol = tol;
    const FitResult r = EmFitter(o).fit(m, p.data);
    CHECK(r.loglik >= best - (tol > 1e-10 ? 1e-7 * std::abs(best) : 1e-7));
    CHECK(r.loglik <= best + 1e-6);
    if (tol < 1e-10) {
      const auto& e = dynamic_cast<const GammaExperts&>(m.experts());
      const Index small = e.shape(0) > e.shape(1) ? 0 : 1;  // shapes 343.5 and 178.8
      CHECK(e.shape(small) == Approx(343.500152).epsilon(1e-3));
      CHECK(e.coefficients(small)(1) == Approx(0.18706222).margin(1e-5));
    }
  }
}

TEST_CASE("gamma score = finite differences of the weighted log-likelihood", "[gamma]") {
  Problem p = load_problem("faithful.csv", "waiting ~ eruptions", "gamma", "constant", 2);
  Model m = make_model(p);
  FitOptions o;
  o.restarts = 2;
  EmFitter(o).fit(m, p.data);
  const Experts& e = m.experts();
  const Index n = p.data.rows();
  Matrix resp(n, 2);
  for (Index i = 0; i < n; ++i) resp(i, 0) = 1.0 - (resp(i, 1) = (i % 3) / 3.0);
  const Vector s = e.score(p.data.x, p.data.y, resp);
  const Vector numeric = numeric_expert_score(e, p.data.x, p.data.y, resp);
  REQUIRE(numeric.size() == s.size());
  for (Index j = 0; j < s.size(); ++j) CHECK(s(j) == Approx(numeric(j)).epsilon(1e-4).margin(1e-3));
}

TEST_CASE("gamma experts need a positive response", "[gamma]") {
  Problem p = load_problem("mcycle.csv", "accel ~ times", "gamma", "constant", 2);
  Model m = make_model(p);
  CHECK_THROWS_WITH(EmFitter().fit(m, p.data), Catch::Contains("positive numbers"));
}

TEST_CASE("gamma predictive quantiles solve the mixture CDF (R's pgamma and uniroot)", "[gamma]") {
  // The R optimum of tests/reference/values/gamma.json; the 0.9 quantiles at eruptions 3.6
  // and 1.8 from uniroot(function(y) sum(w * pgamma(y, nu, scale = mu / nu)) - 0.9, tol 1e-13).
  Problem p = load_problem("faithful.csv", "waiting ~ eruptions", "gamma", "constant", 2);
  Model m = make_model(p);
  Matrix w(2, 1);
  w << 0.29397202, 0.70602798;
  m.gate().set_params({{"weights", w}});
  std::vector<ParameterMap> comps(2);
  const double b0[] = {3.51238024, 3.76413061}, b1[] = {0.18706222, 0.14717134},
               nu[] = {343.500152, 178.759898};
  for (int k = 0; k < 2; ++k) {
    Matrix b(2, 1);
    b << b0[k], b1[k];
    comps[static_cast<size_t>(k)] = {{"coefficients", b}, {"shape", Matrix::Constant(1, 1, nu[k])}};
  }
  m.experts().set_params(comps, {});
  Dataset at = p.data;
  at.x.resize(2, 2);
  at.x << 1.0, 3.6, 1.0, 1.8;
  at.z = at.x;
  const Matrix q = predict_quantile(m, at, 0.9);
  CHECK(q(0, 0) == Approx(79.151280694174).epsilon(1e-10));
  CHECK(q(1, 0) == Approx(60.729411375125).epsilon(1e-10));
  CHECK(predict_median(m, at)(0, 0) < q(0, 0));
}
