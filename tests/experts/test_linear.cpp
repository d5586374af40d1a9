// Linear experts: the weighted least-squares M-step, rank deficiency, multivariate
// responses, the model file.

#include "experts/regression_util.hpp"
#include "moekit/core/error.hpp"
#include "moekit/core/rng.hpp"
#include "moekit/experts/linear.hpp"
#include "moekit/infer/predict.hpp"
#include "moekit/model/model_json.hpp"

#include <catch2/catch.hpp>

#include <fmt/format.h>
#include <Eigen/QR>

#include <algorithm>
#include <string>

using namespace moekit;

TEST_CASE("linear M-step equals weighted least squares solved by QR", "[linear]") {
  Rng rng(3);
  const Index n = 80, p = 3, q = 2;
  Matrix x(n, p), y(n, q);
  Vector w(n);
  for (Index i = 0; i < n; ++i) {
    x(i, 0) = 1.0;
    x(i, 1) = standard_normal(rng);
    x(i, 2) = 10.0 * uniform01(rng);
    y(i, 0) = 1.0 + 2.0 * x(i, 1) - 0.5 * x(i, 2) + standard_normal(rng);
    y(i, 1) = -3.0 + 0.1 * x(i, 2) + 0.3 * standard_normal(rng);
    w(i) = uniform01(rng);
  }
  LinearExperts e(1, q, p, CovarianceStructure::Full, 0.0);
  e.fit(x, y, w);
  // Independent route: QR of sqrt(W) X.
  const Matrix sx = w.cwiseSqrt().asDiagonal() * x, sy = w.cwiseSqrt().asDiagonal() * y;
  const Matrix B = sx.colPivHouseholderQr().solve(sy);
  CHECK((e.coefficients(0) - B).cwiseAbs().maxCoeff() < 1e-10);
  const Matrix resid = y - x * B;
  const Matrix S = resid.transpose() * w.asDiagonal() * resid / w.sum();
  CHECK((e.covariances().covariance(0) - S).cwiseAbs().maxCoeff() < 1e-10);
}

TEST_CASE("an aliased design column is an InputError naming the column", "[linear][error]") {
  std::string csv = "y,a,b\n";
  Rng rng(4);
  for (int i = 0; i < 30; ++i) {
    const double a = standard_normal(rng);
    csv += fmt::format("{},{},{}\n", a + standard_normal(rng), a, 2.0 * a + 1.0);
  }
  const CsvTable t = parse_csv(csv, "aliased.csv");
  auto p = testing::make_problem(t, "y ~ a + b", "linear", "constant", 2);
  Model m = testing::make_model(p);
  try {
    testing::fit_em(m, p.data, 1);
    FAIL("no error for an aliased column");
  } catch (const InputError& e) {
    const std::string msg = e.what();
    INFO(msg);
    CHECK(msg.find("'b'") != std::string::npos);
    CHECK(msg.find("rank deficient") != std::string::npos);
  }
}

TEST_CASE("mixture of bivariate regressions recovers its parameters", "[linear][recovery]") {
  Rng rng(5);
  const Index n = 3000;
  Matrix x(n, 2), y(n, 2);
  const Matrix B1 = (Matrix(2, 2) << 0.0, 1.0, 2.0, -1.0).finished();
  const Matrix B2 = (Matrix(2, 2) << 5.0, -2.0, -1.0, 0.5).finished();
  for (Index i = 0; i < n; ++i) {
    x(i, 0) = 1.0;
    x(i, 1) = 4.0 * uniform01(rng) - 2.0;
    const bool first = uniform01(rng) < 0.4;
    const double e1 = standard_normal(rng), e2 = standard_normal(rng);
    // Component 1: correlated noise (rho = 0.6, sds 0.5); component 2: sds 1 and 0.3.
    const Vector e = first ? Vector((Vector(2) << 0.5 * e1, 0.5 * (0.6 * e1 + 0.8 * e2)).finished())
                           : Vector((Vector(2) << e1, 0.3 * e2).finished());
    y.row(i) = x.row(i) * (first ? B1 : B2) + e.transpose();
  }
  Dataset d;
  d.x = x;
  d.y = y;
  d.z = Matrix::Ones(n, 1);
  ModelSpec s;
  s.experts = "linear";
  s.K = 2;
  Model m(s, 2, 2, 1);
  const FitResult r = testing::fit_em(m, d, 3);
  CHECK(r.converged());
  const auto& e = dynamic_cast<const LinearExperts&>(m.experts());
  const Index k1 = (e.coefficients(0) - B1).norm() < (e.coefficients(1) - B1).norm() ? 0 : 1;
  CHECK((e.coefficients(k1) - B1).cwiseAbs().maxCoeff() < 0.1);
  CHECK((e.coefficients(1 - k1) - B2).cwiseAbs().maxCoeff() < 0.1);
  const Matrix S1 = e.covariances().covariance(k1);
  CHECK(S1(0, 1) / std::sqrt(S1(0, 0) * S1(1, 1)) == Approx(0.6).margin(0.06));
  const Vector gate = m.gate().parameters();
  CHECK(std::exp(gate(0)) == Approx(k1 == 0 ? 0.6 / 0.4 : 0.4 / 0.6).epsilon(0.15));
}

TEST_CASE("linear experts round-trip through the model file", "[linear][json]") {
  for (auto c : {CovarianceStructure::Full, CovarianceStructure::TiedSpherical}) {
    auto p = testing::load_problem("tonedata.csv", "tuned ~ stretchratio", "linear", "constant", 2);
    p.spec.covariance = c;
    Model m = testing::make_model(p);
    testing::fit_em(m, p.data, 2);
    const Model back = model_from_json(model_to_json(m, nullptr), "memory");
    CHECK(back.experts().family() == "linear");
    const Vector a = predict_log_density(m, p.data), b = predict_log_density(back, p.data);
    CHECK((a - b).cwiseAbs().maxCoeff() < 1e-9);
  }
}
