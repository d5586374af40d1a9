// EM never decreases the log-likelihood: 200 small random problems per family (linear and
// logistic experts under constant and softmax gates, Gaussian experts under a softmax
// gate), from random starts.

#include "experts/regression_util.hpp"
#include "moekit/core/rng.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <string>

using namespace moekit;

namespace {

struct Outcome {
  bool monotone = true;
  bool separated = false;  // a logistic expert's weighted data were separated at some M-step
  double worst_drop = 0.0;
};

Outcome run_em(const ModelSpec& spec, const Dataset& d, std::uint64_t seed) {
  Model m(spec, d.y.cols(), d.x.cols(), d.z.cols());
  FitOptions o;
  o.restarts = 1;
  o.seed = seed;
  o.max_iter = 40;
  o.tol = 1e-300;  // run every iteration
  o.init = InitMethod::Random;
  const FitResult r = EmFitter(o).fit(m, d);
  Outcome out;
  for (const auto& w : r.warnings)
    if (w.find("separated") != std::string::npos) out.separated = true;
  const auto& t = r.loglik_trace;
  for (size_t i = 1; i < t.size(); ++i) {
    if (std::find(r.reseed_iterations.begin(), r.reseed_iterations.end(), static_cast<int>(i)) !=
        r.reseed_iterations.end())
      continue;  // a re-seed restarts the climb
    const double drop = t[i - 1] - t[i];
    if (drop > 1e-9 * std::max(1.0, std::abs(t[i]))) {
      out.monotone = false;
      out.worst_drop = std::max(out.worst_drop, drop);
    }
  }
  return out;
}

// x: intercept + p-1 uniform covariates; a random hidden label chooses the expert.
Dataset random_regression(Index n, Index p, Index K, bool classes, Index L, Rng& rng) {
  Dataset d;
  d.x.resize(n, p);
  d.y.resize(n, 1);
  Matrix B(p, K);
  for (Index j = 0; j < p; ++j)
    for (Index k = 0; k < K; ++k) B(j, k) = 2.0 * standard_normal(rng);
  for (Index i = 0; i < n; ++i) {
    d.x(i, 0) = 1.0;
    for (Index j = 1; j < p; ++j) d.x(i, j) = 4.0 * uniform01(rng) - 2.0;
    const Index k = static_cast<Index>(uniform01(rng) * static_cast<double>(K)) % K;
    const double eta = d.x.row(i).dot(B.col(k));
    if (!classes) {
      d.y(i, 0) = eta + (0.3 + uniform01(rng)) * standard_normal(rng);
    } else {
      // Noisy class labels (a latent logistic with a random cut), never separable by design.
      const double u = eta + 1.5 * standard_normal(rng);
      d.y(i, 0) = static_cast<double>(
          std::min<Index>(L - 1, static_cast<Index>(std::max(0.0, u + L / 2.0))));
    }
  }
  d.z = d.x;
  return d;
}

}  // namespace

TEST_CASE("EM is monotone for linear experts (constant and softmax gates)", "[monotone][linear]") {
  Rng rng(101);
  const CovarianceStructure structures[] = {
      CovarianceStructure::Full, CovarianceStructure::Spherical, CovarianceStructure::TiedFull};
  int failures = 0;
  for (int trial = 0; trial < 200; ++trial) {
    const Index K = 2 + trial % 2, n = 40 + static_cast<Index>(uniform01(rng) * 40);
    const Dataset d = random_regression(n, 2, K, false, 0, rng);
    ModelSpec s;
    s.experts = "linear";
    s.gate = trial % 4 < 2 ? "constant" : "softmax";
    s.K = K;
    s.covariance = structures[trial % 3];
    const Outcome o = run_em(s, d, static_cast<std::uint64_t>(trial + 1));
    if (!o.monotone) {
      ++failures;
      UNSCOPED_INFO("trial " << trial << " (" << s.gate << "): drop " << o.worst_drop);
    }
  }
  CHECK(failures == 0);
}

TEST_CASE("EM is monotone for Gaussian experts under a softmax gate", "[monotone][softmax]") {
  Rng rng(202);
  int failures = 0;
  for (int trial = 0; trial < 200; ++trial) {
    const Dataset d = random_regression(50, 2, 2, false, 0, rng);
    ModelSpec s;
    s.experts = "gaussian";
    s.gate = "softmax";
    s.K = 2 + trial % 2;
    const Outcome o = run_em(s, d, static_cast<std::uint64_t>(trial + 1));
    if (!o.monotone) {
      ++failures;
      UNSCOPED_INFO("trial " << trial << ": drop " << o.worst_drop);
    }
  }
  CHECK(failures == 0);
}

TEST_CASE("EM is monotone for logistic experts (binary and multinomial)", "[monotone][logistic]") {
  Rng rng(303);
  int failures = 0, separated = 0;
  for (int trial = 0; trial < 200; ++trial) {
    const Index L = trial % 2 == 0 ? 2 : 3;
    const Dataset d = random_regression(60, 2, 2, true, L, rng);
    // Both classes must occur for the family to be defined.
    if ((d.y.array() == d.y(0, 0)).all()) continue;
    ModelSpec s;
    s.experts = "logistic";
    s.gate = trial % 4 < 2 ? "constant" : "softmax";
    s.K = 2;
    s.data.categorical_response = true;
    for (Index c = 0; c < L; ++c) s.data.response_levels.push_back(std::to_string(c));
    const Outcome o = run_em(s, d, static_cast<std::uint64_t>(trial + 1));
    // Separated experts included: EM keeps climbing the same plain likelihood.
    if (o.separated) ++separated;
    if (!o.monotone) {
      ++failures;
      UNSCOPED_INFO("trial " << trial << " (L = " << L << ", " << s.gate << "): drop "
                             << o.worst_drop);
    }
  }
  INFO(separated << " problems had a separated expert");
  CHECK(failures == 0);
  CHECK(separated > 0);  // the separated path is exercised
}
