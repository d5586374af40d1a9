// What EM maximises is what it reports: the variance floor (--reg-covar) leaves the plain
// likelihood's proper maxima where they are and keeps EM monotone in it; re-seeding fires on
// what the data say; a separated logistic expert is reported as a supremum (status
// "separation") and never below the nested model; t experts' nu reaches below 0.5.

#include "experts/regression_util.hpp"
#include "robust/robust_support.hpp"

#include "moekit/core/error.hpp"
#include "moekit/experts/linear.hpp"
#include "moekit/experts/logistic.hpp"
#include "moekit/experts/student_t.hpp"
#include "moekit/fit/em.hpp"
#include "moekit/model/model_json.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <optional>

using namespace moekit;

namespace {

// Every step of EM's objective trace (re-seeds aside) rises, up to 1e-10 relative.
void check_monotone(const FitResult& r) {
  for (size_t t = 1; t < r.loglik_trace.size(); ++t) {
    if (std::find(r.reseed_iterations.begin(), r.reseed_iterations.end(), static_cast<int>(t)) !=
        r.reseed_iterations.end())
      continue;
    INFO("iteration " << t << ": " << r.loglik_trace[t - 1] << " -> " << r.loglik_trace[t]);
    CHECK(r.loglik_trace[t] >= r.loglik_trace[t - 1] - 1e-10 * std::abs(r.loglik_trace[t - 1]));
  }
}

// The CLI's options (one start, tol 1e-8, automatic starts) with `restarts` and `seed`.
FitResult fit_defaults(Model& m, const Dataset& d, int restarts, std::uint64_t seed) {
  FitOptions o;
  o.restarts = restarts;
  o.seed = seed;
  return EmFitter(o).fit(m, d);
}

// Every column a response, as the CLI's Gaussian mixture reads a file without --formula.
Dataset two_columns(const std::string& file) {
  auto p = testing::load_problem(file, "stretchratio ~ tuned", "linear", "constant", 1);
  Dataset d;
  d.y = Matrix(p.data.rows(), 2);
  d.y << p.data.y, p.data.x.col(1);
  d.x = Matrix::Ones(d.y.rows(), 1);
  d.z = d.x;
  d.lines = p.data.lines;
  return d;
}

}  // namespace

TEST_CASE("EM's reported objective never decreases: t experts with a softmax gate, tonedata",
          "[objective][monotone]") {
  auto p = testing::load_problem("tonedata.csv", "tuned ~ stretchratio", "t", "softmax", 2);
  p.spec.reg_covar = ModelSpec().reg_covar;
  for (std::uint64_t seed = 1; seed <= 5; ++seed) {
    CAPTURE(seed);
    Model m = testing::make_model(p);
    const FitResult r = fit_defaults(m, p.data, 1, seed);
    REQUIRE(r.loglik_trace.size() > 2);
    check_monotone(r);
  }
}

TEST_CASE("EM's reported objective never decreases: a Gaussian mixture of tonedata's columns",
          "[objective][monotone]") {
  const Dataset d = two_columns("tonedata.csv");
  REQUIRE(d.y.cols() == 2);
  for (std::uint64_t seed = 1; seed <= 5; ++seed) {
    CAPTURE(seed);
    ModelSpec s;  // the CLI's defaults: full covariances, reg_covar 1e-6 of each variance
    s.K = 3;
    Model m(s, d.y.cols(), d.x.cols(), d.z.cols());
    const FitResult r = fit_defaults(m, d, 1, seed);
    check_monotone(r);
  }
}

TEST_CASE("the variance floor leaves a proper maximum where --reg-covar 0 puts it (t experts)",
          "[objective][reg-covar]") {
  struct Case {
    std::string file, formula, gate;
    Index K;
  };
  const std::vector<Case> cases{{"tonedata.csv", "tuned ~ stretchratio", "constant", 2},
                                {"tonedata.csv", "tuned ~ stretchratio", "softmax", 2},
                                {"mcycle.csv", "accel ~ times", "constant", 3},
                                {"mcycle.csv", "accel ~ times", "constant", 4}};
  for (const auto& c : cases) {
    CAPTURE(c.file, c.gate, c.K);
    auto p = testing::load_problem(c.file, c.formula, "t", c.gate, c.K);
    p.spec.reg_covar = 0.0;
    Model unfloored = testing::make_model(p);
    std::optional<FitResult> zero;
    try {
      zero = fit_defaults(unfloored, p.data, 10, 1);
    } catch (const NumericalError&) {
      // Without a floor a start can end singular: no unregularised optimum to compare with.
    }
    p.spec.reg_covar = ModelSpec().reg_covar;
    Model m = testing::make_model(p);
    const FitResult r = fit_defaults(m, p.data, 10, 1);
    INFO("default " << r.loglik << ", --reg-covar 0 " << (zero ? zero->loglik : 0.0));
    check_monotone(r);
    if (zero && zero->degenerate.empty())
      CHECK(r.loglik >= zero->loglik - 1e-8 * std::abs(zero->loglik));
  }
}

TEST_CASE("the variance floor is a fraction of each response's variance",
          "[objective][reg-covar]") {
  // Rescaling the response rescales the fit: the floor (and the collapse test under it) is
  // scale-free, so the log-likelihood moves by n log(scale) and the variances by scale^2 (up
  // to EM's stopping tolerance; an absolute floor would bind on one scale and not the other).
  auto p = testing::load_problem("tonedata.csv", "tuned ~ stretchratio", "linear", "constant", 2);
  p.spec.reg_covar = 1e-4;
  Model a = testing::make_model(p);
  const FitResult ra = fit_defaults(a, p.data, 3, 2);
  Dataset scaled = p.data;
  const double s = 1000.0;
  scaled.y *= s;
  Model b = testing::make_model(p);
  const FitResult rb = fit_defaults(b, scaled, 3, 2);
  CHECK(rb.loglik ==
        Approx(ra.loglik - static_cast<double>(p.data.rows()) * std::log(s)).epsilon(1e-7));
  const auto& ea = dynamic_cast<const LinearExperts&>(a.experts());
  const auto& eb = dynamic_cast<const LinearExperts&>(b.experts());
  const double var =
      (p.data.y.array() - p.data.y.mean()).square().sum() / static_cast<double>(p.data.rows() - 1);
  for (Index k = 0; k < 2; ++k) {
    CHECK(ea.covariances().covariance(k)(0, 0) >= 1e-4 * var * (1 - 1e-12));
    CHECK(eb.covariances().covariance(k)(0, 0) ==
          Approx(s * s * ea.covariances().covariance(k)(0, 0)).epsilon(1e-3));
  }
}

TEST_CASE("a linear expert that fits a few rows exactly collapses and is re-seeded",
          "[objective][collapse]") {
  // A noisy line plus six rows exactly on another line: a component that takes the six rows
  // has zero residual variance. The collapse test sees the raw estimate, before the floor,
  // so it fires and the component is re-seeded (an absolute ridge added first hid it).
  Rng rng(4);
  const Index n = 66;
  Dataset d;
  d.x = Matrix::Ones(n, 2);
  d.y = Matrix(n, 1);
  for (Index i = 0; i < n; ++i) {
    const double x = static_cast<double>(i % 30);
    d.x(i, 1) = x;
    d.y(i, 0) = i < 60 ? 1.0 + 0.5 * x + 3.0 * standard_normal(rng) : 40.0 - 2.0 * x;
    d.lines.push_back(i + 2);
  }
  d.z = d.x;
  ModelSpec s;
  s.experts = "linear";
  s.K = 3;  // a spare component to take the six rows
  s.data.x_names = {"(Intercept)", "x"};
  s.data.z_names = s.data.x_names;
  bool reseeded = false;
  for (std::uint64_t seed = 1; seed <= 40 && !reseeded; ++seed) {
    Model m(s, 1, 2, 2);
    FitOptions o;
    o.seed = seed;
    o.init = InitMethod::Random;
    const FitResult r = EmFitter(o).fit(m, d);
    bool warned = false;
    for (const auto& w : r.warnings)
      warned = warned || (w.find("collapsed") != std::string::npos &&
                          w.find("re-seeded") != std::string::npos);
    if (warned) {
      CHECK(!r.reseed_iterations.empty());
      CHECK(std::isfinite(r.loglik));
      reseeded = true;
    }
  }
  CHECK(reseeded);
}

namespace {

// The 200 training rows (split == train) of MASS's Pima.tr.
Dataset pima_train(testing::Problem& p, Index K) {
  std::ifstream in(testing::dataset_path("pima.csv"));
  std::string line, text;
  std::getline(in, line);
  text = line + "\n";
  while (std::getline(in, line))
    if (line.size() >= 6 && line.compare(line.size() - 6, 6, ",train") == 0) text += line + "\n";
  p = testing::make_problem(parse_csv(text, "pima-train.csv"), "diabetes ~ glu + bmi", "logistic",
                            "constant", K);
  return p.data;
}

}  // namespace

TEST_CASE(
    "separated logistic experts: a supremum, reported as such and never below the nested model",
    "[objective][separation]") {
  SECTION("iris: one multinomial logit, then two") {
    // nnet 7.3.18, multinom(Species ~ ., data = iris, maxit = 10000, reltol = 1e-16):
    // -5.94927418077493 (tests/reference/values/iris.json): setosa is separable, so this is
    // the approach to a supremum.
    constexpr double nested = -5.94927418077493;
    auto p1 = testing::load_problem("iris.csv", "Species ~ .", "logistic", "constant", 1);
    Model one = testing::make_model(p1);
    const FitResult r1 = fit_defaults(one, p1.data, 1, 1);
    CHECK(r1.status == FitStatus::Separation);
    CHECK_FALSE(r1.converged());
    CHECK(r1.loglik >= nested - 1e-6);
    check_monotone(r1);
    CHECK(to_string(r1.status) == "separation");  // the JSON and text reports' word
    auto p2 = testing::load_problem("iris.csv", "Species ~ .", "logistic", "constant", 2);
    for (std::uint64_t seed = 1; seed <= 3; ++seed) {
      CAPTURE(seed);
      Model two = testing::make_model(p2);
      const FitResult r2 = fit_defaults(two, p2.data, 1, seed);
      CHECK(r2.loglik >= std::max(nested, r1.loglik) - 1e-6);
      check_monotone(r2);
    }
  }
  SECTION("pima: the objective rises at every iteration and stays above the single logit") {
    // R 4.2.2, glm(diabetes ~ glu + bmi, family = binomial, data = train):
    // -99.235224585352 (tests/reference/values/pima.json).
    constexpr double nested = -99.235224585352;
    testing::Problem p;
    pima_train(p, 2);
    for (std::uint64_t seed = 1; seed <= 3; ++seed) {
      CAPTURE(seed);
      Model m = testing::make_model(p);
      FitOptions o;
      o.seed = seed;
      o.max_iter = 1500;
      const FitResult r = EmFitter(o).fit(m, p.data);
      check_monotone(r);
      CHECK(r.loglik >= nested - 1e-6);
      if (r.status == FitStatus::Separation) CHECK_FALSE(r.converged());
    }
  }
}

TEST_CASE("t experts: nu goes below 0.5, and a fit at the lower bound says so", "[objective][t]") {
  auto bound_warning = [](const FitResult& r) {
    for (const auto& w : r.warnings)
      if (w.find("lower bound") != std::string::npos) return true;
    return false;
  };
  auto fitted_nu = [](const Model& m) {
    return dynamic_cast<const StudentTExperts&>(m.experts()).df(0);
  };
  {
    // Magnitudes spread evenly over 3.5 decades, y = +-exp(8 u): the maximum-likelihood nu
    // is about 0.4 (the old clamp at 0.5 would have stopped there).
    Rng rng(12);
    const Index n = 400;
    Matrix x(n, 2), y(n, 1);
    for (Index i = 0; i < n; ++i) {
      x.row(i) << 1.0, 4.0 * uniform01(rng) - 2.0;
      y(i, 0) = (i % 2 ? 1.0 : -1.0) * std::exp(8.0 * uniform01(rng));
    }
    Model m = robust_test::make_model("t", "constant", 1, 1, 2);
    FitOptions o;
    o.max_iter = 2000;
    const FitResult r = EmFitter(o).fit(m, robust_test::dataset_of(x, y));
    INFO("nu " << fitted_nu(m));
    CHECK(fitted_nu(m) < 0.5);
    CHECK(fitted_nu(m) > StudentTExperts::kMinDf);
    CHECK_FALSE(bound_warning(r));
  }
  {
    // Over 17 decades, y = +-exp(40 u): the maximum-likelihood nu is about 0.055 (scipy's
    // t.fit), below the bound. The expert alone (no variance floor, no collapse test: var(y)
    // is dominated by the largest values) runs its nu down to the bound and says so.
    Rng rng(13);
    const Index n = 400;
    Matrix x = Matrix::Ones(n, 1), y(n, 1);
    for (Index i = 0; i < n; ++i) y(i, 0) = (i % 2 ? 1.0 : -1.0) * std::exp(40.0 * uniform01(rng));
    StudentTExperts e(1, 1, 1, CovarianceStructure::Full, 0.0, 0.0, 0.0);
    const Matrix resp = Matrix::Ones(n, 1);
    bool warned = false;
    for (int it = 0; it < 300; ++it) {
      const MStepReport rep = e.fit(x, y, resp);
      for (const auto& w : rep.warnings)
        warned = warned || w.find("lower bound") != std::string::npos;
    }
    INFO("nu " << e.df(0));
    CHECK(e.df(0) == StudentTExperts::kMinDf);
    CHECK(warned);
  }
}
