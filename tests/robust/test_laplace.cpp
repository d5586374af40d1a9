// Laplace regression experts (Nguyen & McLachlan 2016): the weighted-median M-step, the
// exact weighted LAD M-step (stats/weighted_lad.hpp), scores, recovery and the model file.

#include "moekit/core/error.hpp"
#include "moekit/core/parallel.hpp"
#include "moekit/experts/laplace.hpp"
#include "moekit/fit/em.hpp"
#include "moekit/gates/constant.hpp"
#include "moekit/model/model_json.hpp"
#include "robust/robust_support.hpp"

#include <Eigen/LU>
#include <catch2/catch.hpp>

using namespace moekit;
using namespace moekit::robust_test;

namespace {

// Brute-force weighted LAD objective.
double lad(const Matrix& x, const Vector& y, const Vector& r, const Vector& b) {
  return (r.array() * (y - x * b).array().abs()).sum();
}

}  // namespace

TEST_CASE("laplace: an intercept-only expert is the weighted median", "[laplace]") {
  Rng rng(17);
  const Index n = 41;
  Matrix y(n, 1);
  for (Index i = 0; i < n; ++i) y(i, 0) = std::pow(standard_normal(rng), 3);
  Vector r(n);
  for (Index i = 0; i < n; ++i) r(i) = 0.1 + uniform01(rng);
  LaplaceExperts e(1, 1, 1);
  e.fit(Matrix::Ones(n, 1), y, r);
  const double b = e.coefficients()(0, 0);
  // The weighted median minimises sum r |y - b|: no data point does better.
  const Vector yv = y.col(0);
  const double best = lad(Matrix::Ones(n, 1), yv, r, Vector::Constant(1, b));
  for (Index i = 0; i < n; ++i)
    CHECK(lad(Matrix::Ones(n, 1), yv, r, Vector::Constant(1, y(i, 0))) >= best - 1e-12);
  // and it is one of the data points (the objective is piecewise linear with kinks there).
  CHECK((yv.array() == b).any());
  // Closed-form scale: the weighted mean absolute deviation about it.
  CHECK(e.scales()(0) == Approx(best / r.sum()).epsilon(1e-14));
}

TEST_CASE("laplace: the M-step never increases the weighted LAD objective and reaches its minimum",
          "[laplace][mm]") {
  Rng rng(23);
  const Index n = 60, p = 3;
  Matrix x(n, p);
  for (Index i = 0; i < n; ++i) x.row(i) << 1.0, standard_normal(rng), uniform01(rng);
  Vector y(n), r(n);
  for (Index i = 0; i < n; ++i) {
    y(i) = 1.0 + 2.0 * x(i, 1) - x(i, 2) + 3.0 * std::pow(standard_normal(rng), 3);
    r(i) = uniform01(rng);
  }
  LaplaceExperts e(1, 1, p);
  double previous = std::numeric_limits<double>::infinity();
  for (int step = 0; step < 8; ++step) {
    e.fit(x, y, r);
    const double A = lad(x, y, r, e.coefficients().col(0));
    CHECK(A <= previous * (1 + 1e-14));
    previous = A;
  }
  // A weighted LAD fit interpolates at least p points; a vertex of the LP: compare with the
  // best fit through every triple of points (brute force over C(60, 3) = 34220 triples).
  double brute = std::numeric_limits<double>::infinity();
  for (Index a = 0; a < n; ++a)
    for (Index b = a + 1; b < n; ++b)
      for (Index c = b + 1; c < n; ++c) {
        Matrix X3(3, 3);
        X3 << x.row(a), x.row(b), x.row(c);
        Vector y3(3);
        y3 << y(a), y(b), y(c);
        const Eigen::FullPivLU<Matrix> lu(X3);
        if (!lu.isInvertible()) continue;
        brute = std::min(brute, lad(x, y, r, lu.solve(y3)));
      }
  CHECK(previous == Approx(brute).epsilon(1e-12));
}

TEST_CASE("laplace: scores agree with finite differences (nonzero residuals)", "[laplace][score]") {
  Rng rng(5);
  for (const std::string gate : {"constant", "softmax"}) {
    Model truth = make_model("laplace", "constant", 2, 1, 2);
    dynamic_cast<LaplaceExperts&>(truth.experts())
        .set_component(0, (Vector(2) << 1.0, 2.0).finished(), 0.5);
    dynamic_cast<LaplaceExperts&>(truth.experts())
        .set_component(1, (Vector(2) << -1.0, -1.0).finished(), 0.8);
    const Dataset d = simulate(truth, 80, rng);
    Model m = make_model("laplace", gate, 2, 1, 2);
    FitOptions o;
    o.max_iter = 5;
    EmFitter(o).fit(m, d);
    // Move off the fit: LAD fits put residuals at exactly 0, where |e| has a kink.
    Vector theta = m.parameters();
    for (Index j = 0; j < theta.size(); ++j) theta(j) += 0.05 * standard_normal(rng);
    m.set_parameters(theta);
    INFO("gate " << gate);
    CHECK(score_fd_error(m, d) < 1e-6);
  }
}

TEST_CASE("laplace: parameters of a simulated mixture are recovered", "[laplace][recovery]") {
  Rng rng(2016);
  Model truth = make_model("laplace", "constant", 2, 1, 2);
  auto& te = dynamic_cast<LaplaceExperts&>(truth.experts());
  te.set_component(0, (Vector(2) << 2.0, 1.5).finished(), 0.4);
  te.set_component(1, (Vector(2) << -2.0, -1.0).finished(), 0.7);
  dynamic_cast<ConstantGate&>(truth.gate()).set_weights((Vector(2) << 0.4, 0.6).finished());
  const Dataset d = simulate(truth, 3000, rng);
  Model m = make_model("laplace", "constant", 2, 1, 2);
  FitOptions o;
  o.restarts = 3;
  const FitResult r = EmFitter(o).fit(m, d);
  CHECK(r.converged());
  const auto& e = dynamic_cast<const LaplaceExperts&>(m.experts());
  const auto& g = dynamic_cast<const ConstantGate&>(m.gate());
  for (Index k = 0; k < 2; ++k) {
    Index j;
    (e.coefficients().colwise() - te.coefficients().col(k)).colwise().norm().minCoeff(&j);
    INFO("component " << k);
    // se of a LAD coefficient ~ s / sqrt(n_k) ~ 0.02; of a weight ~ 0.009.
    CHECK((e.coefficients().col(j) - te.coefficients().col(k)).norm() < 0.12);
    CHECK(e.scales()(j) == Approx(te.scales()(k)).epsilon(0.08));
    CHECK(std::abs(g.weights()(j) - (k == 0 ? 0.4 : 0.6)) < 0.04);
  }
}

TEST_CASE("laplace: the model file round trip and shape errors", "[laplace][json]") {
  Rng rng(8);
  Model truth = make_model("laplace", "constant", 2, 1, 2);
  dynamic_cast<LaplaceExperts&>(truth.experts())
      .set_component(1, (Vector(2) << 3.0, -1.0).finished(), 0.5);
  const Dataset d = simulate(truth, 200, rng);
  Model m = make_model("laplace", "constant", 2, 1, 2);
  const FitResult r = EmFitter(FitOptions{}).fit(m, d);
  const Model back = model_from_json(model_to_json(m, &r), "memory");
  CHECK(back.experts().family() == "laplace");
  CHECK(back.parameters() == m.parameters());
  CHECK(predict_log_density(back, d) == predict_log_density(m, d));
  CHECK(m.num_params() == 1 + 2 * 3);
  // One response column only: a clear InputError naming the formula.
  CHECK_THROWS_AS(make_model("laplace", "constant", 2, 2, 2), InputError);
  std::string text = model_to_json(m, nullptr);
  text.replace(text.find("\"scale\""), 7, "\"sigma\"");
  CHECK_THROWS_WITH(model_from_json(text, "m.json"), Catch::Matchers::Contains("'scale'"));
}

TEST_CASE("laplace: a fit does not depend on the number of threads", "[laplace][threads]") {
  Rng rng(1974);
  Model truth = make_model("laplace", "constant", 2, 1, 2);
  auto& te = dynamic_cast<LaplaceExperts&>(truth.experts());
  te.set_component(0, (Vector(2) << 2.0, 1.5).finished(), 0.4);
  te.set_component(1, (Vector(2) << -2.0, -1.0).finished(), 0.7);
  const Dataset d = simulate(truth, 3 * kBlockRows + 55, rng);
  FitOptions o;
  o.restarts = 1;
  o.max_iter = 15;
  o.threads = 1;
  Model m1 = make_model("laplace", "softmax", 2, 1, 2);
  const FitResult r1 = EmFitter(o).fit(m1, d);
  o.threads = 2;
  Model m2 = make_model("laplace", "softmax", 2, 1, 2);
  const FitResult r2 = EmFitter(o).fit(m2, d);
  CHECK(r1.loglik_trace == r2.loglik_trace);  // bitwise
  CHECK(m1.parameters() == m2.parameters());
  CHECK(r1.iterations == r2.iterations);
}
