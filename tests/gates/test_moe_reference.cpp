// Softmax-gated mixtures of experts against peer packages: the hierarchical mixture of
// experts of mixtools (hmeEM) on NOdata and flexmix with a multinomial concomitant model
// (FLXPmultinom) on NPreg. Reference values and their provenance: see each constant.

#include "experts/regression_util.hpp"
#include "moekit/core/error.hpp"
#include "moekit/experts/linear.hpp"
#include "moekit/gates/softmax.hpp"
#include "moekit/infer/predict.hpp"

#include <catch2/catch.hpp>

using namespace moekit;

namespace ref {
// REFERENCE_VALUES_BEGIN
// NOdata `Equivalence ~ NO`, K = 2, gate ~ NO. From tests/reference/values/NOdata.json
// (tests/reference/gen/regmix.R, R 4.2.2, mixtools 2.0.0): `set.seed(100); em.out <-
// regmixEM(Equivalence, NO); hme.out <- hmeEM(Equivalence, NO, beta = em.out$beta)`:
// loglik 123.620590599001 (the 123.6206), lines (intercept, slope)
// (0.561300211777445, 0.0878627328052395) and (1.24848738777531, -0.084094683357261);
// the exact maximum next to it ("polished", BFGS + Newton) is 123.620590748684.
constexpr double no_hmeEM = 123.620590599001;
constexpr double no_beta[2][2] = {{0.561300211777445, 0.0878627328052395},
                                  {1.24848738777531, -0.084094683357261}};
// NPreg, from tests/reference/values/NPreg.json (tests/reference/gen/regmix.R, R 4.2.2,
// flexmix 2.3.18): `set.seed(1); stepFlexmix(yn ~ x + I(x^2), data=NPreg, k=2, nrep=10,
// concomitant=FLXPmultinom(~ x))`: -642.076927550715.
constexpr double npreg_flexmix_multinom = -642.076927550715;
// REFERENCE_VALUES_END
}  // namespace ref

TEST_CASE("NOdata: softmax-gated MoE reaches mixtools hmeEM with the same lines",
          "[softmax][reference]") {
  auto p = testing::load_problem("NOdata.csv", "Equivalence ~ NO", "linear", "softmax", 2);
  Model m = testing::make_model(p);
  const FitResult r = testing::fit_em(m, p.data, 10);
  INFO("moekit loglik " << r.loglik);
  CHECK(r.loglik >= ref::no_hmeEM - 1e-7);
  const auto& e = dynamic_cast<const LinearExperts&>(m.experts());
  const Index first = e.coefficients(0)(1, 0) > 0 ? 0 : 1;  // the rising line
  for (Index j = 0; j < 2; ++j) {
    CHECK(e.coefficients(first)(j, 0) == Approx(ref::no_beta[0][j]).margin(1e-4));
    CHECK(e.coefficients(1 - first)(j, 0) == Approx(ref::no_beta[1][j]).margin(1e-4));
  }
}

TEST_CASE("NPreg: softmax gate in x reaches flexmix with FLXPmultinom", "[softmax][reference]") {
  auto p = testing::load_problem("NPreg.csv", "yn ~ x + I(x^2)", "linear", "softmax", 2, "~ x");
  REQUIRE(p.data.z.cols() == 2);
  REQUIRE(p.data.x.cols() == 3);
  Model m = testing::make_model(p);
  const FitResult r = testing::fit_em(m, p.data, 10);
  INFO("moekit loglik " << r.loglik);
  CHECK(r.loglik >= ref::npreg_flexmix_multinom - 1e-4);
  // Predictions: gated mean = sum_k gate_k * expert mean_k; hard = the arg-max gate expert.
  const Matrix g = predict_gate(m, p.data);
  const auto means = predict_expert_means(m, p.data);
  const Matrix mean = predict_mean(m, p.data), hard = predict_hard(m, p.data);
  for (Index i = 0; i < 5; ++i) {
    CHECK(mean(i, 0) == Approx(g(i, 0) * means[0](i, 0) + g(i, 1) * means[1](i, 0)));
    CHECK(hard(i, 0) == means[g(i, 0) >= g(i, 1) ? 0 : 1](i, 0));
  }
  CHECK_THROWS_AS(predict_class_probabilities(m, p.data), InputError);
  const Matrix post = predict_posterior(m, p.data);
  CHECK((post.rowwise().sum().array() - 1.0).abs().maxCoeff() < 1e-12);
}
