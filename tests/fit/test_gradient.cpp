// --method gradient: L-BFGS from EM's starts reaches the maximum EM reaches, on the issue's
// acceptance problems (faithful, tonedata, NOdata with a softmax gate, t experts), each
// compared with an EM fit with the same seed and starts in the same test.

#include "experts/regression_util.hpp"
#include "moekit/core/error.hpp"
#include "moekit/experts/student_t.hpp"
#include "moekit/fit/fit_model.hpp"
#include "moekit/fit/gradient.hpp"
#include "moekit/gates/constant.hpp"
#include "robust/robust_support.hpp"

#include <catch2/catch.hpp>

#include <cmath>

using namespace moekit;

namespace {

struct Pair {
  FitResult em, gradient;
  Model em_model, gradient_model;
};

// Both methods from the same starts (seed 1, `restarts` starts).
Pair fit_both(const Model& model, const Dataset& data, int restarts, InitMethod init) {
  FitOptions o;
  o.restarts = restarts;
  o.seed = 1;
  o.init = init;
  o.tol = 1e-10;
  o.max_iter = 5000;
  Pair p{{}, {}, model, model};
  p.em = fit_model(p.em_model, data, o);
  o.method = FitMethod::Gradient;
  p.gradient = fit_model(p.gradient_model, data, o);
  return p;
}

void check_same_maximum(const Pair& p) {
  INFO("EM " << p.em.brief_report());
  INFO("gradient " << p.gradient.brief_report());
  CHECK(p.em.method == "em");
  CHECK(p.gradient.method == "gradient");
  CHECK(p.gradient.converged());
  CHECK(p.gradient.iterations > 0);
  REQUIRE(p.gradient.gradient_norm.has_value());
  const double rel =
      std::abs(p.gradient.objective() - p.em.objective()) / std::abs(p.em.objective());
  CHECK(rel <= 1e-6);
  // L-BFGS's trace never goes down: every accepted step passed the Armijo test.
  for (size_t t = 1; t < p.gradient.loglik_trace.size(); ++t)
    CHECK(p.gradient.loglik_trace[t] >= p.gradient.loglik_trace[t - 1]);
}

}  // namespace

TEST_CASE("gradient: faithful, K = 2, full covariances reaches EM's maximum", "[gradient]") {
  const CsvTable table = read_csv(testing::dataset_path("faithful.csv"));
  ModelSpec spec;
  spec.K = 2;
  const Dataset data = make_dataset(table, spec.data);
  const Model model(spec, data.y.cols(), data.x.cols(), data.z.cols());
  const Pair p = fit_both(model, data, 5, InitMethod::Auto);
  check_same_maximum(p);
  CHECK(p.em.loglik == Approx(-1130.264).margin(1e-3));  // mclust's VVV, K = 2
  // The score at the maximum is small on the scale of the data (n = 272). (1.0008e-5 once
  // the EM warm-up ran without the absolute ridge: L-BFGS stops on its relative change.)
  CHECK(*p.gradient.gradient_norm / 272.0 < 2e-5);
}

TEST_CASE("gradient: tonedata, two linear experts reaches EM's maximum", "[gradient]") {
  const auto prob =
      testing::load_problem("tonedata.csv", "tuned ~ stretchratio", "linear", "constant", 2);
  const Pair p = fit_both(testing::make_model(prob), prob.data, 10, InitMethod::Auto);
  check_same_maximum(p);
}

TEST_CASE("gradient: NOdata, softmax gate reaches EM's maximum", "[gradient][softmax]") {
  const auto prob = testing::load_problem("NOdata.csv", "Equivalence ~ NO", "linear", "softmax", 2);
  const Pair p = fit_both(testing::make_model(prob), prob.data, 10, InitMethod::Random);
  check_same_maximum(p);
  // mixtools' hmeEM optimum, polished (tests/reference/values/NOdata.json).
  CHECK(p.gradient.loglik == Approx(123.620590748684).margin(1e-6));
}

TEST_CASE("gradient: t experts (nu estimated) reach EM's maximum", "[gradient][t]") {
  // Simulated lines with t_3 and t_5 noise: both nu inside EM's range [0.1, 200]. (On data
  // whose best nu lies beyond 200, EM stops at the bound and L-BFGS, unbounded, goes on.)
  Rng rng(79);
  Model truth = robust_test::make_model("t", "constant", 2, 1, 2);
  auto& t = dynamic_cast<StudentTExperts&>(truth.experts());
  t.set_component(0, (Matrix(2, 1) << 2.0, 1.5).finished(), Matrix::Constant(1, 1, 0.25), 3.0);
  t.set_component(1, (Matrix(2, 1) << -2.0, -1.0).finished(), Matrix::Constant(1, 1, 0.5), 5.0);
  dynamic_cast<ConstantGate&>(truth.gate()).set_weights((Vector(2) << 0.45, 0.55).finished());
  const Dataset data = robust_test::simulate(truth, 600, rng);
  const Model model =
      robust_test::make_model("t", "constant", 2, 1, 2, 0.0, CovarianceStructure::Full, 0.0);
  const Pair p = fit_both(model, data, 5, InitMethod::Auto);
  check_same_maximum(p);
  const auto& fitted = dynamic_cast<const StudentTExperts&>(p.gradient_model.experts());
  for (Index k = 0; k < 2; ++k) {
    INFO("nu_" << k + 1 << " = " << fitted.df(k));
    CHECK(fitted.df(k) > StudentTExperts::kMinDf);
    CHECK(fitted.df(k) < StudentTExperts::kMaxDf);
  }
}

TEST_CASE("gradient: refine from a fitted model stays at the maximum", "[gradient]") {
  const auto prob =
      testing::load_problem("tonedata.csv", "tuned ~ stretchratio", "linear", "constant", 2);
  Model m = testing::make_model(prob);
  const FitResult em = testing::fit_em(m, prob.data, 10);
  FitOptions o;
  o.method = FitMethod::Gradient;
  const FitResult r = GradientFitter(o).refine(m, prob.data);
  CHECK(r.converged());
  CHECK(r.loglik >= em.loglik - 1e-9 * std::abs(em.loglik));
}

TEST_CASE("gradient: options name the flag at fault", "[gradient][options]") {
  CHECK(parse_method("gradient") == FitMethod::Gradient);
  CHECK(parse_method("em") == FitMethod::Em);
  CHECK_THROWS_WITH(parse_method("newton"), Catch::Contains("--method"));
  FitOptions o;
  o.warmup_iter = 0;
  CHECK_THROWS_WITH(o.validate(), Catch::Contains("--warmup-iter"));
  o.warmup_iter = 5;
  o.gradient_tol = -1.0;
  CHECK_THROWS_WITH(o.validate(), Catch::Contains("--gradient-tol"));
}
