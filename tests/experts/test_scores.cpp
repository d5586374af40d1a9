// Every score (linear and logistic experts, softmax gate) agrees with central finite
// differences of the weighted log-likelihood it claims to differentiate.

#include "experts/regression_util.hpp"
#include "moekit/core/rng.hpp"
#include "moekit/experts/linear.hpp"
#include "moekit/experts/logistic.hpp"
#include "moekit/gates/softmax.hpp"

#include <catch2/catch.hpp>

using namespace moekit;
using moekit::testing::numeric_gradient;

namespace {

Matrix random_matrix(Index n, Index p, Rng& rng) {
  Matrix m(n, p);
  for (Index i = 0; i < n; ++i)
    for (Index j = 0; j < p; ++j) m(i, j) = standard_normal(rng);
  return m;
}

Matrix random_resp(Index n, Index K, Rng& rng) {
  Matrix r(n, K);
  for (Index i = 0; i < n; ++i) {
    for (Index k = 0; k < K; ++k) r(i, k) = 0.05 + uniform01(rng);
    r.row(i) /= r.row(i).sum();
  }
  return r;
}

Matrix design(Index n, Index p, Rng& rng) {
  Matrix x = random_matrix(n, p, rng);
  x.col(0).setOnes();
  return x;
}

double weighted_loglik(Experts& e, const Matrix& x, const Matrix& y, const Matrix& resp) {
  Matrix ld(x.rows(), e.components());
  e.log_density(x, y, ld);
  return (ld.array() * resp.array()).sum();
}

void check_expert_score(Experts& e, const Matrix& x, const Matrix& y, const Matrix& resp) {
  const Vector theta = e.parameters();
  REQUIRE(theta.size() == e.num_params());
  const Vector analytic = e.score(x, y, resp);
  auto f = [&](const Vector& t) {
    e.set_parameters(t);
    return weighted_loglik(e, x, y, resp);
  };
  const Vector numeric = numeric_gradient(f, theta);
  e.set_parameters(theta);
  INFO("analytic " << analytic.transpose() << "\nnumeric  " << numeric.transpose());
  REQUIRE(analytic.size() == numeric.size());
  CHECK((analytic - numeric).norm() <= 1e-6 * std::max(1.0, numeric.norm()));
}

}  // namespace

TEST_CASE("linear expert scores match finite differences for every covariance structure",
          "[linear][score]") {
  Rng rng(11);
  const Index n = 40, p = 3, K = 2;
  for (auto c : {CovarianceStructure::Full, CovarianceStructure::Diag,
                 CovarianceStructure::Spherical, CovarianceStructure::TiedFull,
                 CovarianceStructure::TiedDiag, CovarianceStructure::TiedSpherical}) {
    for (Index q : {Index(1), Index(2)}) {
      INFO("structure " << to_string(c) << ", q = " << q);
      const Matrix x = design(n, p, rng), y = random_matrix(n, q, rng),
                   resp = random_resp(n, K, rng);
      LinearExperts e(K, q, p, c, 1e-6);
      e.fit(x, y, resp);
      // Move away from the M-step optimum so that the score is not zero.
      Vector theta = e.parameters();
      for (Index j = 0; j < theta.size(); ++j) theta(j) += 0.2 * standard_normal(rng);
      e.set_parameters(theta);
      check_expert_score(e, x, y, resp);
    }
  }
}

TEST_CASE("linear expert score vanishes after the closed-form M-step", "[linear][score]") {
  Rng rng(12);
  const Matrix x = design(60, 3, rng), y = random_matrix(60, 2, rng),
               resp = random_resp(60, 3, rng);
  LinearExperts e(3, 2, 3, CovarianceStructure::Full, 0.0);
  e.fit(x, y, resp);
  CHECK(e.score(x, y, resp).cwiseAbs().maxCoeff() < 1e-8);
}

TEST_CASE("logistic expert scores match finite differences (binary and multinomial)",
          "[logistic][score]") {
  Rng rng(13);
  const Index n = 50, p = 3, K = 2;
  for (Index L : {Index(2), Index(4)}) {
    INFO("classes " << L);
    const Matrix x = design(n, p, rng), resp = random_resp(n, K, rng);
    Matrix y(n, 1);
    for (Index i = 0; i < n; ++i)
      y(i, 0) = static_cast<double>(static_cast<Index>(uniform01(rng) * L) % L);
    LogisticExperts e(K, L, p);
    Vector theta(e.num_params());
    for (Index j = 0; j < theta.size(); ++j) theta(j) = 0.5 * standard_normal(rng);
    e.set_parameters(theta);
    check_expert_score(e, x, y, resp);
  }
}

TEST_CASE("softmax gate score matches finite differences", "[softmax][score]") {
  Rng rng(14);
  const Index n = 50, r = 3;
  for (Index K : {Index(2), Index(4)}) {
    const Matrix z = design(n, r, rng), resp = random_resp(n, K, rng);
    SoftmaxGate g(K, r);
    Vector theta(g.num_params());
    for (Index j = 0; j < theta.size(); ++j) theta(j) = 0.7 * standard_normal(rng);
    g.set_parameters(theta);
    const Vector analytic = g.score(z, resp);
    auto f = [&](const Vector& t) {
      g.set_parameters(t);
      Matrix lw(n, K);
      g.log_weights(z, lw);
      return (lw.array() * resp.array()).sum();
    };
    const Vector numeric = numeric_gradient(f, theta);
    INFO("K " << K << "\nanalytic " << analytic.transpose() << "\nnumeric  "
              << numeric.transpose());
    CHECK((analytic - numeric).norm() <= 1e-6 * std::max(1.0, numeric.norm()));
  }
}
