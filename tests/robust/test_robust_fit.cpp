// Robust experts in whole fits: EM/ECM/MM monotonicity on many random problems, the tone
// data with outliers, the EM optimum against a direct optimiser, predictive quantiles.

#include "moekit/core/error.hpp"
#include "moekit/experts/laplace.hpp"
#include "moekit/experts/student_t.hpp"
#include "moekit/fit/em.hpp"
#include "moekit/gates/constant.hpp"
#include "robust/robust_support.hpp"

#include <boost/math/distributions/students_t.hpp>
#include <catch2/catch.hpp>

using namespace moekit;
using namespace moekit::robust_test;

namespace {

// Slopes of the K = 2 regression lines of a fitted model on x = [1, stretchratio], sorted.
std::vector<double> slopes(const Model& m) {
  const Matrix x = (Matrix(2, 2) << 1.0, 0.0, 1.0, 1.0).finished();
  const std::vector<Matrix> mu = m.experts().predict_means(x);
  std::vector<double> s;
  for (const Matrix& v : mu) s.push_back(v(1, 0) - v(0, 0));
  std::sort(s.begin(), s.end());
  return s;
}

Model fit_tone(const std::string& experts,
               const Dataset& d,
               double df = 0.0,
               FitResult* result = nullptr,
               double reg_covar = 1e-6) {
  Model m = make_model(experts, "constant", 2, 1, 2, df, CovarianceStructure::Full, reg_covar);
  FitOptions o;
  // Random initial partitions: k-means++ on [x, y] lumps the outliers with a line and leads
  // the t fit to a poorer local optimum (log-likelihood 43.2 against 159.1).
  o.init = InitMethod::Random;
  o.restarts = 3;
  o.seed = 2016;
  o.tol = 1e-10;
  o.max_iter = 5000;
  FitResult r = EmFitter(o).fit(m, d);
  if (result) *result = r;
  return m;
}

}  // namespace

TEST_CASE("ECM and MM never decrease the log-likelihood (200 random problems)",
          "[robust][monotone]") {
  Rng rng(4242);
  int checked = 0;
  for (int trial = 0; trial < 200; ++trial) {
    const int family = trial % 5;  // laplace p=2, laplace p=1, t (nu), t (fixed nu), bivariate t
    const std::string gate = (trial / 5) % 2 ? "softmax" : "constant";
    const Index K = 1 + static_cast<Index>(uniform01(rng) * 3);
    const Index n = 30 + static_cast<Index>(uniform01(rng) * 50);
    const Index q = family == 4 ? 2 : 1;
    const Index p = family == 1 ? 1 : 2;
    const auto structure =
        static_cast<CovarianceStructure>(static_cast<int>(uniform01(rng) * 6) % 6);
    Matrix x(n, p), y(n, q);
    for (Index i = 0; i < n; ++i) {
      if (p == 2)
        x.row(i) << 1.0, 4.0 * uniform01(rng) - 2.0;
      else
        x(i, 0) = 1.0;
      const Index k = static_cast<Index>(uniform01(rng) * static_cast<double>(K));
      for (Index j = 0; j < q; ++j) {
        // Heavy tails: a normal over the square root of a chi-square(2) / 2 (a t_2), and a
        // few gross outliers.
        const double t2 = standard_normal(rng) / std::sqrt(-std::log(1.0 - uniform01(rng)));
        y(i, j) = 3.0 * static_cast<double>(k) * (j ? -1.0 : 1.0) +
                  (p == 2 ? (1.0 - k) * x(i, 1) : 0.0) + 0.5 * t2 +
                  (uniform01(rng) < 0.05 ? 20.0 : 0.0);
      }
    }
    const Dataset d = dataset_of(x, y);
    const std::string experts = family < 2 ? "laplace" : "t";
    Model m = make_model(experts, gate, K, q, p, family == 3 ? 4.0 : 0.0,
                         family == 4 ? structure : CovarianceStructure::Full);
    FitOptions o;
    o.seed = static_cast<std::uint64_t>(trial);
    o.max_iter = 100;
    o.init = trial % 3 ? InitMethod::KMeansPlusPlus : InitMethod::Random;
    FitResult r;
    try {
      r = EmFitter(o).fit(m, d);
    } catch (const NumericalError&) {
      continue;  // a start that collapsed beyond repair is reported, not part of this property
    }
    ++checked;
    for (size_t t = 1; t < r.loglik_trace.size(); ++t) {
      if (std::find(r.reseed_iterations.begin(), r.reseed_iterations.end(), static_cast<int>(t)) !=
          r.reseed_iterations.end())
        continue;
      INFO("trial " << trial << " " << experts << " gate " << gate << " K=" << K << " q=" << q
                    << " p=" << p << " iteration " << t);
      CHECK(r.loglik_trace[t] >= r.loglik_trace[t - 1] - 1e-10 * std::abs(r.loglik_trace[t - 1]));
    }
  }
  CHECK(checked >= 180);
}

TEST_CASE("tone data with outliers: t and Laplace experts keep the regression lines",
          "[robust][outliers]") {
  const Dataset clean = tonedata(false), dirty = tonedata(true);
  REQUIRE(clean.rows() == 150);
  REQUIRE(dirty.rows() == 160);
  // The reference: Gaussian-noise (linear) experts on the clean data.
  const std::vector<double> ref = slopes(fit_tone("linear", clean));
  // The two lines of the tone data: one flat (tuned ~ 2, slope ~ 0) and one on the diagonal.
  CHECK(std::abs(ref[0]) < 0.15);
  CHECK(std::abs(ref[1] - 1.0) < 0.15);
  const std::vector<double> gauss = slopes(fit_tone("linear", dirty));
  const std::vector<double> t = slopes(fit_tone("t", dirty));
  const std::vector<double> lap = slopes(fit_tone("laplace", dirty));
  auto deviation = [&](const std::vector<double>& s) {
    return std::max(std::abs(s[0] - ref[0]), std::abs(s[1] - ref[1]));
  };
  INFO("clean " << ref[0] << ", " << ref[1] << "; gaussian " << gauss[0] << ", " << gauss[1]
                << "; t " << t[0] << ", " << t[1] << "; laplace " << lap[0] << ", " << lap[1]);
  CHECK(deviation(gauss) > 0.3);  // the outliers pull a Gaussian line away
  CHECK(deviation(t) < 0.1);
  CHECK(deviation(lap) < 0.1);
  // A t with a huge fixed nu is Gaussian: pulled away like the linear experts.
  CHECK(deviation(slopes(fit_tone("t", dirty, 1e6))) > 0.3);
}

TEST_CASE("at the EM optimum the score is ~0 and Nelder-Mead gains nothing", "[robust][optimum]") {
  const Dataset d = tonedata(true);
  for (const std::string experts : {"t", "laplace"}) {
    FitResult r;
    // reg_covar = 0: the ridge would move the EM fixed point off the likelihood's optimum.
    Model m = fit_tone(experts, d, 0.0, &r, 0.0);
    // Polish: EM from the optimum at a tight tolerance.
    FitOptions o;
    o.tol = 1e-14;
    o.max_iter = 20000;
    r = EmFitter(o).refine(m, d);
    const double l0 = loglik_of(m, d);
    const Vector theta = m.parameters();
    // Coordinates free to move: all but an estimated nu_k sitting on one of its bounds.
    std::vector<Index> free;
    for (Index j = 0; j < theta.size(); ++j) free.push_back(j);
    if (experts == "t") {
      const auto& e = dynamic_cast<const StudentTExperts&>(m.experts());
      const Vector s = observed_score(m, d);
      const Index first_nu = theta.size() - 2;
      free.clear();
      for (Index j = 0; j < theta.size(); ++j) {
        const bool nu = j >= first_nu;
        const double df = nu ? e.df(j - first_nu) : 0.0;
        if (nu && df == StudentTExperts::kMinDf) {
          CHECK(s(j) < 0);  // Karush-Kuhn-Tucker: the likelihood would rise below the bound
        } else if (nu && df == StudentTExperts::kMaxDf) {
          CHECK(s(j) > 0);
        } else {
          free.push_back(j);
          INFO("score " << s.transpose());
          // Laplace densities have kinks at zero residuals, where an LAD fit sits: no such
          // check for them.
          CHECK(std::abs(s(j)) < 1e-4);
        }
      }
    }
    auto f = [&](const Vector& v) {
      Vector th = theta;
      for (size_t c = 0; c < free.size(); ++c) th(free[c]) = v(static_cast<Index>(c));
      Model a = m;
      a.set_parameters(th);
      try {
        const double value = loglik_of(a, d);
        return std::isfinite(value) ? value : -std::numeric_limits<double>::infinity();
      } catch (const NumericalError&) {
        return -std::numeric_limits<double>::infinity();  // a row with zero density
      }
    };
    Vector v0(static_cast<Index>(free.size()));
    for (size_t c = 0; c < free.size(); ++c) v0(static_cast<Index>(c)) = theta(free[c]);
    INFO(experts << " loglik " << l0 << " free coordinates " << free.size() << " of "
                 << theta.size());
    double best = 0.0;
    nelder_mead_max(f, v0, 1e-3, 20000, &best);
    CHECK(best - l0 <= 1e-6 * std::abs(l0));
    // The optimiser does climb: from a perturbed start it recovers most of the gap.
    const Vector start = v0.array() + 0.02;
    double from_perturbed = 0.0;
    nelder_mead_max(f, start, 1e-2, 20000, &from_perturbed);
    CHECK(from_perturbed > f(start) + 0.9 * (l0 - f(start)));
  }
}

TEST_CASE("predictive quantiles: one expert is Boost's quantile, a mixture matches simulation",
          "[robust][predict]") {
  {
    Model m = make_model("t", "constant", 1, 1, 2, 3.0);
    Matrix s(1, 1);
    s << 4.0;
    dynamic_cast<StudentTExperts&>(m.experts())
        .set_component(0, (Matrix(2, 1) << 1.0, 2.0).finished(), s, 3.0);
    const Dataset d =
        dataset_of((Matrix(2, 2) << 1.0, 0.0, 1.0, 1.5).finished(), Matrix::Zero(2, 1));
    const Matrix q90 = predict_quantile(m, d, 0.9);
    const double z = boost::math::quantile(boost::math::students_t_distribution<>(3.0), 0.9);
    CHECK(q90(0, 0) == Approx(1.0 + 2.0 * z).epsilon(1e-10));
    CHECK(q90(1, 0) == Approx(4.0 + 2.0 * z).epsilon(1e-10));
    CHECK(predict_median(m, d)(1, 0) == Approx(4.0).epsilon(1e-10));
    CHECK_THROWS_AS(predict_quantile(m, d, 1.0), InputError);
  }
  for (const std::string experts : {"t", "laplace"}) {
    Model m = make_model(experts, "constant", 2, 1, 2, 2.5);
    if (experts == "t") {
      Matrix s(1, 1);
      s << 0.5;
      dynamic_cast<StudentTExperts&>(m.experts())
          .set_component(1, (Matrix(2, 1) << 3.0, -1.0).finished(), s, 2.5);
    } else {
      dynamic_cast<LaplaceExperts&>(m.experts())
          .set_component(1, (Vector(2) << 3.0, -1.0).finished(), 0.7);
    }
    dynamic_cast<ConstantGate&>(m.gate()).set_weights((Vector(2) << 0.3, 0.7).finished());
    // Many draws at one x: the empirical 0.1 / 0.5 / 0.9 quantiles match the predicted ones.
    const Index n = 40000;
    Rng rng(77);
    Matrix x(n, 2);
    x.col(0).setOnes();
    x.col(1).setConstant(0.5);
    std::vector<Index> comp(static_cast<size_t>(n));
    for (auto& c : comp) c = uniform01(rng) < 0.3 ? 0 : 1;
    Vector y = m.experts().sample(x, comp, rng).col(0);
    std::sort(y.data(), y.data() + n);
    const Dataset one = dataset_of(x.topRows(1), Matrix::Zero(1, 1));
    for (double level : {0.1, 0.5, 0.9}) {
      const double q = predict_quantile(m, one, level)(0, 0);
      const double frac =
          static_cast<double>(std::lower_bound(y.data(), y.data() + n, q) - y.data()) / n;
      INFO(experts << " level " << level << " quantile " << q);
      CHECK(std::abs(frac - level) < 0.01);  // binomial se 0.0025 at n = 40000
    }
  }
}
