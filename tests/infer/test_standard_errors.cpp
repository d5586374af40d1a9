// Standard errors from the observed information: against R's inverse optimHess at the same
// maximum, the names of the natural parameters, and the singular case (no SE, a warning,
// never NaN).

#include "experts/regression_util.hpp"
#include "moekit/experts/gaussian.hpp"
#include "moekit/gates/constant.hpp"
#include "moekit/infer/natural_parameters.hpp"
#include "moekit/infer/standard_errors.hpp"

#include <fmt/format.h>
#include <Eigen/Eigenvalues>
#include <catch2/catch.hpp>

#include <cmath>
#include <map>

using namespace moekit;

namespace ref {
// REFERENCE_VALUES_BEGIN
// tests/reference/values/se_NOdata.json (tests/reference/gen/standard_errors.R, R 4.2.2,
// mixtools 2.0.0): `set.seed(1); regmixEM(y=Equivalence, x=NO, k=2, epsilon=1e-12,
// maxit=10000)`, polished by BFGS + Newton, SEs = sqrt(diag(solve(optimHess(theta, f, g)))).
// Component with the rising line first.
constexpr double loglik = 122.038355785474;
constexpr double coef[2][2] = {{0.564985904591236, 0.0850229368688518}, {1.247081, -0.08299949}};
constexpr double coef_se[2][2] = {{0.0142852564516006, 0.00629282258181869},
                                  {0.008072494, 0.004731142}};
constexpr double variance_se[2] = {0.000432602336111036, 0.0001383082};
constexpr double lambda_se = 0.056405765775883;
// tests/reference/values/se_faithful.json (same script, mclust 6.0.0): `Mclust(faithful,
// G=2, modelNames='VVV')`, polished by BFGS, SEs = sqrt(diag(solve(optimHess(theta, f)))).
// Means (eruptions, waiting) of the long-eruption component first.
constexpr double faithful_loglik = -1130.2639601848;
constexpr double faithful_mean_se[2][2] = {{0.0314031281549266, 0.456185882817153},
                                           {0.0271083659859871, 0.591873992810359}};
// tests/reference/values/se_NOdata_softmax.json (tests/reference/gen/standard_errors_softmax.R,
// R 4.2.2, mixtools 2.0.0): `set.seed(100); em <- regmixEM(Equivalence, NO); hme <-
// hmeEM(Equivalence, NO, beta = em$beta)`, gate started by glm on its posteriors, polished by
// BFGS + Newton, SEs = sqrt(diag(solve(optimHess(theta, f, g)))). The falling line is the
// gate's reference component; P(rising | NO) = plogis(v0 + v1 NO).
constexpr double softmax_loglik = 123.620590748684;
constexpr double softmax_gate[2] = {-0.764365427891319, 0.417192691589426};
constexpr double softmax_gate_se[2] = {0.472967154303129, 0.240562862380369};
// Falling line first.
constexpr double softmax_coef_se[2][2] = {{0.00846303796309733, 0.00537156260317618},
                                          {0.0146427246919463, 0.0064386730220643}};
// REFERENCE_VALUES_END
}  // namespace ref

namespace {

std::map<std::string, ParameterInference> by_name(const StandardErrors& s) {
  std::map<std::string, ParameterInference> m;
  for (const auto& r : s.table) m[r.parameter] = r;
  return m;
}

}  // namespace

TEST_CASE("SE: NOdata, two linear experts, constant gate, agree with R's optimHess",
          "[se][reference]") {
  auto p = testing::load_problem("NOdata.csv", "Equivalence ~ NO", "linear", "constant", 2);
  Model m = testing::make_model(p);
  FitOptions o;
  o.restarts = 10;
  o.tol = 1e-13;
  o.max_iter = 20000;
  const FitResult r = EmFitter(o).fit(m, p.data);
  REQUIRE(r.loglik == Approx(ref::loglik).margin(1e-7));
  const StandardErrors s = standard_errors(m, p.data);
  CHECK(s.warnings.empty());
  const auto t = by_name(s);
  // The rising line is R's component 1.
  const bool first_rises = t.at("expert1.NO").estimate > 0;
  for (int k = 0; k < 2; ++k) {
    const std::string e = fmt::format("expert{}", (k == 0) == first_rises ? 1 : 2);
    const std::string names[2] = {e + ".(Intercept)", e + ".NO"};
    for (int j = 0; j < 2; ++j) {
      INFO(names[j]);
      const ParameterInference& row = t.at(names[j]);
      CHECK(row.estimate == Approx(ref::coef[k][j]).epsilon(1e-4));
      REQUIRE(row.se.has_value());
      CHECK(*row.se == Approx(ref::coef_se[k][j]).epsilon(0.01));
      CHECK(*row.z == Approx(row.estimate / *row.se));
      CHECK(*row.p == Approx(std::erfc(std::abs(*row.z) / std::sqrt(2.0))));
    }
    INFO(e << ".variance");
    REQUIRE(t.at(e + ".variance").se.has_value());
    CHECK(*t.at(e + ".variance").se == Approx(ref::variance_se[k]).epsilon(0.01));
  }
  // Both weights have the same SE (they sum to one).
  for (const char* w : {"gate.expert1.weight", "gate.expert2.weight"}) {
    INFO(w);
    REQUIRE(t.at(w).se.has_value());
    CHECK(*t.at(w).se == Approx(ref::lambda_se).epsilon(0.01));
  }
  // The observed information is symmetric and positive definite at the maximum.
  CHECK((s.information - s.information.transpose()).norm() == 0.0);
  CHECK(Eigen::SelfAdjointEigenSolver<Matrix>(s.information).eigenvalues().minCoeff() > 0);
}

TEST_CASE("SE: faithful, K = 2 full covariances, means agree with R's optimHess",
          "[se][reference]") {
  const CsvTable table = read_csv(testing::dataset_path("faithful.csv"));
  ModelSpec spec;
  spec.K = 2;
  spec.reg_covar = 0.0;
  const Dataset data = make_dataset(table, spec.data);
  Model m(spec, data.y.cols(), data.x.cols(), data.z.cols());
  FitOptions o;
  o.restarts = 5;
  o.tol = 1e-13;
  o.max_iter = 20000;
  const FitResult r = EmFitter(o).fit(m, data);
  REQUIRE(r.loglik == Approx(ref::faithful_loglik).margin(1e-7));
  const StandardErrors s = standard_errors(m, data);
  CHECK(s.warnings.empty());
  const auto t = by_name(s);
  const bool first_long = t.at("expert1.mean.eruptions").estimate > 3.0;
  const char* responses[2] = {"eruptions", "waiting"};
  for (int k = 0; k < 2; ++k)
    for (int j = 0; j < 2; ++j) {
      const std::string name =
          fmt::format("expert{}.mean.{}", (k == 0) == first_long ? 1 : 2, responses[j]);
      INFO(name);
      REQUIRE(t.at(name).se.has_value());
      CHECK(*t.at(name).se == Approx(ref::faithful_mean_se[k][j]).epsilon(0.01));
    }
}

TEST_CASE("SE: natural parameter names follow the data's names", "[se][names]") {
  auto p = testing::load_problem("NOdata.csv", "Equivalence ~ NO", "linear", "softmax", 2);
  const Model m = testing::make_model(p);
  const NaturalParameters n = natural_parameters(m);
  REQUIRE(n.names.size() == static_cast<size_t>(n.values.size()));
  const std::vector<std::string> expected{
      "gate.expert1.(Intercept)", "gate.expert1.NO",     "gate.expert2.(Intercept)",
      "gate.expert2.NO",          "expert1.(Intercept)", "expert1.NO",
      "expert1.variance",         "expert2.(Intercept)", "expert2.NO",
      "expert2.variance"};
  CHECK(n.names == expected);
}

TEST_CASE("SE: a singular information gives a warning and no SE, never NaN", "[se][singular]") {
  // Two identical Gaussian components: the likelihood does not depend on the weights, so
  // the information is singular in their direction.
  ModelSpec spec;
  spec.K = 2;
  spec.data.response_names = {"y1", "y2"};
  Model m(spec, 2, 1, 1);
  Rng rng(3);
  Dataset d;
  d.y.resize(200, 2);
  for (Index i = 0; i < 200; ++i) d.y.row(i) << standard_normal(rng), standard_normal(rng);
  d.x = Matrix::Ones(200, 1);
  d.z = d.x;
  for (Index i = 0; i < 200; ++i) d.lines.push_back(i + 2);
  auto& e = dynamic_cast<GaussianExperts&>(m.experts());
  std::vector<ParameterMap> comps(2);
  for (auto& c : comps) {
    c["mean"] = d.y.colwise().mean().transpose();
    c["covariance"] = Matrix::Identity(2, 2);
  }
  e.set_params(comps, {});
  dynamic_cast<ConstantGate&>(m.gate()).set_weights(Vector::Constant(2, 0.5));
  const StandardErrors s = standard_errors(m, d);
  REQUIRE(s.warnings.size() == 1);
  CHECK_THAT(s.warnings[0], Catch::Contains("no standard errors for"));
  CHECK_THAT(s.warnings[0], Catch::Contains("gate.expert2.weight"));
  bool weight_without = false;
  for (const auto& r : s.table) {
    INFO(r.parameter);
    CHECK(std::isfinite(r.estimate));
    if (r.se) {
      CHECK(std::isfinite(*r.se));
      CHECK(*r.se > 0);
      CHECK(std::isfinite(*r.z));
      CHECK(std::isfinite(*r.p));
    }
    if (r.parameter == "gate.expert2.weight") weight_without = !r.se.has_value();
  }
  CHECK(weight_without);
}

TEST_CASE("SE: NOdata, two linear experts, softmax gate: gate coefficients agree with R",
          "[se][reference][softmax]") {
  auto p = testing::load_problem("NOdata.csv", "Equivalence ~ NO", "linear", "softmax", 2);
  Model m = testing::make_model(p);
  FitOptions o;
  o.restarts = 10;
  o.tol = 1e-13;
  o.max_iter = 20000;
  const FitResult r = EmFitter(o).fit(m, p.data);
  REQUIRE(r.loglik == Approx(ref::softmax_loglik).margin(1e-7));
  const StandardErrors s = standard_errors(m, p.data);
  CHECK(s.warnings.empty());
  const auto t = by_name(s);
  // moekit's gate coefficients are those of expert 2 against expert 1: R's v when expert 1
  // is the falling line, -v otherwise; the SEs do not depend on the labels.
  const bool first_falls = t.at("expert1.NO").estimate < 0;
  const double sign = first_falls ? 1.0 : -1.0;
  const char* gate[2] = {"gate.expert2.(Intercept)", "gate.expert2.NO"};
  for (int j = 0; j < 2; ++j) {
    INFO(gate[j]);
    const ParameterInference& row = t.at(gate[j]);
    CHECK(row.estimate == Approx(sign * ref::softmax_gate[j]).epsilon(1e-4));
    REQUIRE(row.se.has_value());
    CHECK(*row.se == Approx(ref::softmax_gate_se[j]).epsilon(0.01));
  }
  // The reference column is not a free parameter: no row for it.
  CHECK(t.count("gate.expert1.NO") == 0);
  for (int k = 0; k < 2; ++k) {
    const std::string e = fmt::format("expert{}", (k == 0) == first_falls ? 1 : 2);
    for (const char* c : {".(Intercept)", ".NO"}) {
      const std::string name = e + c;
      INFO(name);
      REQUIRE(t.at(name).se.has_value());
      CHECK(*t.at(name).se == Approx(ref::softmax_coef_se[k][c[1] == 'N' ? 1 : 0]).epsilon(0.01));
    }
  }
}
