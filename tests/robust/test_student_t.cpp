// Student-t regression experts (Chamroukhi 2016): the nu equation, densities, scores,
// fixed and estimated nu, recovery (nu included) and the model file.

#include "moekit/core/error.hpp"
#include "moekit/experts/student_t.hpp"
#include "moekit/fit/em.hpp"
#include "moekit/gates/constant.hpp"
#include "moekit/model/model_json.hpp"
#include "robust/robust_support.hpp"

#include <boost/math/distributions/students_t.hpp>
#include <boost/math/special_functions/digamma.hpp>
#include <catch2/catch.hpp>

using namespace moekit;
using namespace moekit::robust_test;

namespace {

const std::vector<CovarianceStructure> kStructures{
    CovarianceStructure::Full,      CovarianceStructure::Diag,
    CovarianceStructure::Spherical, CovarianceStructure::TiedFull,
    CovarianceStructure::TiedDiag,  CovarianceStructure::TiedSpherical};

StudentTExperts& texperts(Model& m) { return dynamic_cast<StudentTExperts&>(m.experts()); }

}  // namespace

TEST_CASE("t: the nu equation has its root where the digamma condition holds", "[t][nu]") {
  using boost::math::digamma;
  for (double q : {1.0, 3.0})
    for (double nu_old : {1.0, 4.0, 30.0})
      for (double m : {-1.05, -1.3, -2.0}) {
        const double nu = student_t_df_root(m, nu_old, q);
        const double f = std::log(nu / 2) - digamma(nu / 2) + 1 + m + digamma((nu_old + q) / 2) -
                         std::log((nu_old + q) / 2);
        INFO("q=" << q << " nu_old=" << nu_old << " mean(log u - u)=" << m << " nu=" << nu);
        if (nu > StudentTExperts::kMinDf && nu < StudentTExperts::kMaxDf)
          CHECK(std::abs(f) < 1e-10);
        if (nu == StudentTExperts::kMaxDf) CHECK(f > 0);  // Q still increasing at the bound
        if (nu == StudentTExperts::kMinDf) CHECK(f < 0);
      }
  // u = 1 for every row (no outlier evidence): the ECM step raises nu by q (a slow climb
  // to the upper bound); strongly down-weighted rows push it to the lower part of the range.
  CHECK(student_t_df_root(-1.0, 10.0, 1.0) == Approx(11.0).epsilon(1e-12));
  CHECK(student_t_df_root(-1.0, 199.5, 1.0) == StudentTExperts::kMaxDf);
  CHECK(student_t_df_root(-3.0, 10.0, 1.0) < 2.0);
}

TEST_CASE("t: the ECME step for nu is the profile maximum over [kMinDf, kMaxDf]", "[t][nu]") {
  // Squared standardised residuals of t_nu draws (q = 1) with uneven weights; the step must
  // match a fine grid search of the same profile and never fall below its start.
  Rng rng(11);
  for (double true_nu : {1.5, 4.0, 25.0, 1e4}) {
    const Index n = 2000;
    Vector r(n), delta(n);
    for (Index i = 0; i < n; ++i) {
      const double z = standard_normal(rng);
      double chi2 = 0.0;  // Gamma(nu/2, rate nu/2) as chi2_nu / nu by its sum of squares
      const int dof = static_cast<int>(std::min(true_nu, 200.0));
      for (int j = 0; j < dof; ++j) chi2 += std::pow(standard_normal(rng), 2);
      const double u = true_nu > 200.0 ? 1.0 : chi2 / dof;
      delta(i) = z * z / u;
      r(i) = 0.2 + 0.8 * uniform01(rng);
    }
    double grid_best = StudentTExperts::kMinDf, grid_value = -1e300;
    for (double lnu = std::log(StudentTExperts::kMinDf); lnu <= std::log(StudentTExperts::kMaxDf);
         lnu += 1e-3) {
      const double v = student_t_df_loglik(r, delta, std::exp(lnu), 1.0);
      if (v > grid_value) {
        grid_value = v;
        grid_best = std::exp(lnu);
      }
    }
    for (double start : {0.7, 10.0, 150.0}) {
      const double nu = student_t_df_profile_max(r, delta, 1.0, {start});
      INFO("true nu " << true_nu << ", start " << start << ": step " << nu << ", grid "
                      << grid_best);
      CHECK(student_t_df_loglik(r, delta, nu, 1.0) >= grid_value - 1e-9 * std::abs(grid_value));
      CHECK(student_t_df_loglik(r, delta, nu, 1.0) >= student_t_df_loglik(r, delta, start, 1.0));
      CHECK(nu >= StudentTExperts::kMinDf);
      CHECK(nu <= StudentTExperts::kMaxDf);
    }
    if (true_nu < 100) CHECK(grid_best == Approx(true_nu).epsilon(0.35));
    if (true_nu > 1000) CHECK(grid_best > 15.0);  // Gaussian rows: nu far above the t range
  }
}

TEST_CASE("t: the univariate density is Boost's Student-t", "[t][density]") {
  Model m = make_model("t", "constant", 1, 1, 2, 3.5);
  Matrix sigma(1, 1);
  sigma << 0.49;
  texperts(m).set_component(0, (Matrix(2, 1) << 1.0, -2.0).finished(), sigma, 3.5);
  Matrix x(3, 2), y(3, 1), out(3, 1);
  x << 1, 0, 1, 1, 1, -2;
  y << 0.3, -4.0, 9.0;
  m.experts().log_density(x, y, out);
  const boost::math::students_t_distribution<> t(3.5);
  for (Index i = 0; i < 3; ++i) {
    const double z = (y(i, 0) - (1.0 - 2.0 * x(i, 1))) / 0.7;
    CHECK(out(i, 0) == Approx(std::log(boost::math::pdf(t, z) / 0.7)).epsilon(1e-12));
  }
  // A huge fixed nu is the Gaussian (the Gamma ratio is computed without cancellation).
  Model g = make_model("t", "constant", 1, 1, 2, 1e8);
  texperts(g).set_component(0, (Matrix(2, 1) << 1.0, -2.0).finished(), sigma, 1e8);
  g.experts().log_density(x, y, out);
  for (Index i = 0; i < 3; ++i) {
    const double z = (y(i, 0) - (1.0 - 2.0 * x(i, 1))) / 0.7;
    CHECK(out(i, 0) ==
          Approx(-0.5 * z * z - std::log(0.7) - 0.5 * std::log(2 * M_PI)).epsilon(1e-6));
  }
}

TEST_CASE("t: scores agree with finite differences", "[t][score]") {
  Rng rng(31);
  for (const std::string gate : {"constant", "softmax"})
    for (double df : {0.0, 4.0})
      for (Index q : {1, 2})
        for (const auto structure : kStructures) {
          if (q == 1 && structure != CovarianceStructure::Full &&
              structure != CovarianceStructure::TiedFull)
            continue;
          Model truth = make_model("t", "constant", 2, q, 2, 3.0, structure);
          Matrix B(2, q);
          B.setConstant(1.0);
          B(1, 0) = -2.0;
          texperts(truth).set_component(1, B, Matrix::Identity(q, q), 3.0);
          const Dataset d = simulate(truth, 60, rng);
          Model m = make_model("t", gate, 2, q, 2, df, structure);
          FitOptions o;
          o.max_iter = 3;
          EmFitter(o).fit(m, d);
          Vector theta = m.parameters();
          for (Index j = 0; j < theta.size(); ++j) theta(j) += 0.05 * standard_normal(rng);
          m.set_parameters(theta);
          INFO("gate " << gate << " df " << df << " q " << q << " " << to_string(structure));
          CHECK(score_fd_error(m, d) < 1e-6);
        }
}

TEST_CASE("t: a fixed nu stays fixed and is not a free parameter", "[t][df]") {
  Rng rng(4);
  Model truth = make_model("t", "constant", 2, 1, 2, 3.0);
  texperts(truth).set_component(1, (Matrix(2, 1) << 4.0, 1.0).finished(), Matrix::Identity(1, 1),
                                3.0);
  const Dataset d = simulate(truth, 150, rng);
  Model fixed = make_model("t", "constant", 2, 1, 2, 7.0);
  Model free = make_model("t", "constant", 2, 1, 2);
  CHECK(free.num_params() == fixed.num_params() + 2);
  EmFitter(FitOptions{}).fit(fixed, d);
  CHECK(texperts(fixed).df(0) == 7.0);
  CHECK(texperts(fixed).df(1) == 7.0);
  CHECK_THROWS_AS(make_model("t", "constant", 2, 1, 2, -1.0), InputError);
}

TEST_CASE("t: parameters of a simulated univariate mixture are recovered, nu included",
          "[t][recovery]") {
  Rng rng(79);
  Model truth = make_model("t", "constant", 2, 1, 2);
  Matrix s1(1, 1), s2(1, 1);
  s1 << 0.25;
  s2 << 0.5;
  texperts(truth).set_component(0, (Matrix(2, 1) << 2.0, 1.5).finished(), s1, 3.0);
  texperts(truth).set_component(1, (Matrix(2, 1) << -2.0, -1.0).finished(), s2, 8.0);
  dynamic_cast<ConstantGate&>(truth.gate()).set_weights((Vector(2) << 0.45, 0.55).finished());
  const Dataset d = simulate(truth, 4000, rng);
  Model m = make_model("t", "constant", 2, 1, 2);
  FitOptions o;
  o.restarts = 2;
  const FitResult r = EmFitter(o).fit(m, d);
  CHECK(r.converged());
  const auto& e = texperts(m);
  for (Index k = 0; k < 2; ++k) {
    Index j = (e.coefficients(0) - texperts(truth).coefficients(k)).norm() <
                      (e.coefficients(1) - texperts(truth).coefficients(k)).norm()
                  ? 0
                  : 1;
    INFO("component " << k << " nu " << e.df(j));
    CHECK((e.coefficients(j) - texperts(truth).coefficients(k)).norm() < 0.08);
    CHECK(e.scales().covariance(j)(0, 0) ==
          Approx(texperts(truth).scales().covariance(k)(0, 0)).epsilon(0.1));
    // se(nu) at n_k ~ 2000: about 0.3 at nu = 3 and 2 at nu = 8.
    CHECK(e.df(j) == Approx(texperts(truth).df(k)).epsilon(k == 0 ? 0.25 : 0.5));
  }
}

TEST_CASE("t: a bivariate mixture with full scale matrices is recovered",
          "[t][recovery][multivariate]") {
  Rng rng(1979);
  Model truth = make_model("t", "constant", 2, 2, 2);
  Matrix B0(2, 2), B1(2, 2), S0(2, 2), S1(2, 2);
  B0 << 2.0, -1.0, 1.0, 0.5;
  B1 << -2.0, 1.0, -1.0, 0.0;
  S0 << 0.3, 0.1, 0.1, 0.2;
  S1 << 0.5, -0.2, -0.2, 0.4;
  texperts(truth).set_component(0, B0, S0, 4.0);
  texperts(truth).set_component(1, B1, S1, 4.0);
  const Dataset d = simulate(truth, 3000, rng);
  Model m = make_model("t", "constant", 2, 2, 2);
  FitOptions o;
  o.restarts = 2;
  EmFitter(o).fit(m, d);
  const auto& e = texperts(m);
  for (Index k = 0; k < 2; ++k) {
    const Matrix& Bk = texperts(truth).coefficients(k);
    const Index j = (e.coefficients(0) - Bk).norm() < (e.coefficients(1) - Bk).norm() ? 0 : 1;
    INFO("component " << k << " nu " << e.df(j));
    CHECK((e.coefficients(j) - Bk).norm() < 0.1);
    const Matrix& Sk = texperts(truth).scales().covariance(k);
    CHECK((e.scales().covariance(j) - Sk).norm() / Sk.norm() < 0.12);
    CHECK(e.df(j) == Approx(4.0).epsilon(0.3));
  }
}

TEST_CASE("t: the model file round trip, every structure, fixed and estimated nu", "[t][json]") {
  Rng rng(12);
  for (double df : {0.0, 5.0})
    for (const auto structure : kStructures) {
      Model truth = make_model("t", "constant", 2, 2, 2, 4.0, structure);
      texperts(truth).set_component(1, Matrix::Constant(2, 2, 2.0), Matrix::Identity(2, 2), 4.0);
      const Dataset d = simulate(truth, 120, rng);
      Model m = make_model("t", "constant", 2, 2, 2, df, structure);
      const FitResult r = EmFitter(FitOptions{}).fit(m, d);
      const Model back = model_from_json(model_to_json(m, &r), "memory");
      INFO(to_string(structure) << " df " << df);
      CHECK(back.spec().df == df);
      CHECK(back.parameters() == m.parameters());
      CHECK(predict_log_density(back, d) == predict_log_density(m, d));
    }
}
