// Gaussian gates (Xu, Jordan & Hinton 1995): EM on the joint likelihood p(z, y).
//
// A Gaussian-gated mixture of linear experts in one covariate z is a Gaussian mixture of
// [z, y] in disguise (alpha_k N(z; m_k, s_k) N(y; a_k + b_k z, t_k) is a bivariate normal),
// so its joint optimum is the bivariate mixture's. References (tests/reference/values):
//   NOdata, [NO, Equivalence], K = 2: mclust 6.0.0 Mclust(G = 2, modelNames = "VVV")
//     loglik -10.81141 (joint_gaussian.json).
//   faithful, [eruptions, waiting], K = 2: mclust VVV with tol 1e-12, -1130.26396018475
//     (faithful_gmm.json, mclust_VVV_K2_tight); K = 3: the best known maximum of the
//     bivariate VVV mixture (faithful_gmm.json / joint_gaussian.json).

#include "experts/regression_util.hpp"

#include "moekit/core/error.hpp"
#include "moekit/fit/em.hpp"
#include "moekit/gates/gaussian.hpp"
#include "moekit/model/model.hpp"

#include <catch2/catch.hpp>

#include <cmath>

using namespace moekit;

namespace {

// The best known maximum of the bivariate VVV mixture of faithful with K = 3 (moekit's Gaussian
// mixture with 10 starts; scikit-learn's tight fit stops at -1119.2140, mclust's at -1127.07).
constexpr double kFaithfulK3Best = -1114.4398981514053;

// The CLI's defaults: `moekit fit DATA --formula F --experts linear --gate gaussian -k K
// --restarts 10 --seed 1`.
FitResult fit_gaussian_gated(const std::string& file, const std::string& formula, Index K) {
  auto p = testing::load_problem(file, formula, "linear", "gaussian", K);
  p.spec.reg_covar = ModelSpec().reg_covar;
  Model m = testing::make_model(p);
  FitOptions o;
  o.restarts = 10;
  o.seed = 1;
  return EmFitter(o).fit(m, p.data);
}

}  // namespace

TEST_CASE("gaussian gate: NOdata reaches mclust's joint maximum", "[gaussian-gate][reference]") {
  const FitResult r = fit_gaussian_gated("NOdata.csv", "Equivalence ~ NO", 2);
  CHECK(r.joint);
  CHECK(r.joint_loglik >= -10.81141);
  // The conditional log-likelihood is what the gate's weights give p(y | z): lower than
  // the joint by the marginal log-density of z, a large positive number here.
  CHECK(r.loglik > r.joint_loglik);
  // Criteria are on the joint, what EM maximised.
  CHECK(r.bic == Approx(-2.0 * r.joint_loglik + static_cast<double>(r.n_params) * std::log(88.0)));
  // 2 linear experts (2 coefficients + 1 variance each) and the gate: 1 weight logit,
  // 2 means, 2 variances.
  CHECK(r.n_params == 6 + 5);
}

TEST_CASE("gaussian gate: faithful reaches the bivariate mixture's maxima",
          "[gaussian-gate][reference]") {
  CHECK(fit_gaussian_gated("faithful.csv", "waiting ~ eruptions", 2).joint_loglik >=
        -1130.26396018475 - 1e-6);
  CHECK(fit_gaussian_gated("faithful.csv", "waiting ~ eruptions", 3).joint_loglik >=
        kFaithfulK3Best - 1e-6);
}

TEST_CASE("gaussian gate: loglik = joint - log p(z)", "[gaussian-gate]") {
  auto p = testing::load_problem("NOdata.csv", "Equivalence ~ NO", "linear", "gaussian", 3);
  Model m = testing::make_model(p);
  FitOptions o;
  o.seed = 4;
  const FitResult r = EmFitter(o).fit(m, p.data);
  const auto& gate = dynamic_cast<const GaussianGate&>(m.gate());
  Matrix lw(p.data.rows(), 3);
  gate.log_joint_weights(p.data.z, lw);
  double log_pz = 0.0;
  for (Index i = 0; i < lw.rows(); ++i) {
    const double mx = lw.row(i).maxCoeff();
    log_pz += mx + std::log((lw.row(i).array() - mx).exp().sum());
  }
  CHECK(r.loglik == Approx(r.joint_loglik - log_pz).epsilon(1e-12));
  // The gate's weights are a proper softmax of the joint weights.
  Matrix g(p.data.rows(), 3);
  gate.log_weights(p.data.z, g);
  CHECK((g.array().exp().rowwise().sum() - 1.0).abs().maxCoeff() < 1e-12);
}

TEST_CASE("gaussian gate: bad covariates are input errors", "[gaussian-gate][errors]") {
  // A factor in the gate formula.
  {
    auto p = testing::load_problem("iris.csv", "Sepal.Length ~ Sepal.Width", "linear", "gaussian",
                                   2, "~ Petal.Length + Species");
    Model m = testing::make_model(p);
    CHECK_THROWS_WITH(
        testing::fit_em(m, p.data, 1),
        Catch::Matchers::Contains("numeric covariates") && Catch::Matchers::Contains("Species"));
  }
  // A gate covariate with zero variance.
  {
    auto p = testing::load_problem("NOdata.csv", "Equivalence ~ NO", "linear", "gaussian", 2);
    p.data.z.col(1).setConstant(2.5);
    Model m = testing::make_model(p);
    CHECK_THROWS_WITH(testing::fit_em(m, p.data, 1), Catch::Matchers::Contains("zero variance") &&
                                                         Catch::Matchers::Contains("NO"));
  }
  // An intercept-only gate formula leaves nothing to model.
  {
    auto p =
        testing::load_problem("NOdata.csv", "Equivalence ~ NO", "linear", "gaussian", 2, "~ 1");
    CHECK_THROWS_AS(testing::make_model(p), InputError);
  }
}
