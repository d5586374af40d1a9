// Gaussian mixtures fitted by EM: closed forms, recovery, monotonicity, determinism,
// collapse handling, scores and the model file.

#include "moekit/core/error.hpp"
#include "moekit/core/parallel.hpp"
#include "moekit/experts/gaussian.hpp"
#include "moekit/fit/em.hpp"
#include "moekit/gates/constant.hpp"
#include "moekit/infer/predict.hpp"
#include "moekit/model/model_json.hpp"
#include "support/simulate.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>

using namespace moekit;
using moekit::testing::simulate_mixture;

namespace {

Dataset dataset_of(const Matrix& y) {
  Dataset d;
  d.y = y;
  d.x = Matrix::Ones(y.rows(), 1);
  d.z = Matrix::Ones(y.rows(), 1);
  for (Index i = 0; i < y.rows(); ++i) d.lines.push_back(i + 2);
  return d;
}

Model gmm(Index K, Index q, CovarianceStructure c, double reg = 1e-6) {
  ModelSpec s;
  s.K = K;
  s.covariance = c;
  s.reg_covar = reg;
  return Model(s, q, 1, 1);
}

const std::vector<CovarianceStructure> kStructures{
    CovarianceStructure::Full,      CovarianceStructure::Diag,
    CovarianceStructure::Spherical, CovarianceStructure::TiedFull,
    CovarianceStructure::TiedDiag,  CovarianceStructure::TiedSpherical};

// The observed-data log-likelihood at the model's parameters.
double loglik_of(const Model& m, const Dataset& d) { return predict_log_density(m, d).sum(); }

}  // namespace

TEST_CASE("one component: the sample mean and the biased covariance", "[gmm]") {
  Rng rng(7);
  Matrix y(50, 3);
  for (Index i = 0; i < y.size(); ++i) y.data()[i] = standard_normal(rng) * (1 + i % 3);
  Model m = gmm(1, 3, CovarianceStructure::Full, 0.0);
  EmFitter(FitOptions{}).fit(m, dataset_of(y));
  const auto& g = dynamic_cast<const GaussianExperts&>(m.experts());
  const RowVector mean = y.colwise().mean();
  const Matrix centered = y.rowwise() - mean;
  const Matrix cov = centered.transpose() * centered / 50.0;
  CHECK(g.means().row(0).isApprox(mean, 1e-12));
  CHECK(g.covariances().covariance(0).isApprox(cov, 1e-12));
}

TEST_CASE("parameter counts per covariance structure", "[gmm]") {
  // K = 3, q = 4: means 12, weights 2, covariance by structure.
  const std::vector<Index> expected{12 + 2 + 30, 12 + 2 + 12, 12 + 2 + 3,
                                    12 + 2 + 10, 12 + 2 + 4,  12 + 2 + 1};
  for (size_t s = 0; s < kStructures.size(); ++s)
    CHECK(gmm(3, 4, kStructures[s]).num_params() == expected[s]);
}

TEST_CASE("parameters of a simulated mixture are recovered", "[gmm][recovery]") {
  Rng rng(20240611);
  Matrix means(3, 2);
  means << 0, 0, 6, 1, 2, 7;
  std::vector<Matrix> chol(3, Matrix::Identity(2, 2));
  chol[0] << 1.0, 0, 0.5, 0.8;
  chol[1] << 0.5, 0, -0.3, 1.2;
  chol[2] << 1.5, 0, 0, 0.4;
  Vector w(3);
  w << 0.5, 0.3, 0.2;
  const auto sim = simulate_mixture(6000, w, means, chol, rng);
  Model m = gmm(3, 2, CovarianceStructure::Full);
  FitOptions o;
  o.restarts = 3;
  const FitResult r = EmFitter(o).fit(m, dataset_of(sim.y));
  CHECK(r.converged());
  const auto& g = dynamic_cast<const GaussianExperts&>(m.experts());
  const auto& gate = dynamic_cast<const ConstantGate&>(m.gate());
  // Match fitted components to the true ones by nearest mean (label switching).
  for (Index k = 0; k < 3; ++k) {
    Index j;
    (g.means().rowwise() - means.row(k)).rowwise().norm().minCoeff(&j);
    INFO("component " << k);
    // Tolerances: a few standard errors at n_k >= 1200 (se of a mean ~ 0.04, of a weight ~ 0.006).
    CHECK((g.means().row(j) - means.row(k)).norm() < 0.15);
    CHECK(std::abs(gate.weights()(j) - w(k)) < 0.03);
    const Matrix truth = chol[static_cast<size_t>(k)] * chol[static_cast<size_t>(k)].transpose();
    CHECK((g.covariances().covariance(j) - truth).norm() / truth.norm() < 0.12);
  }
}

TEST_CASE("EM never decreases the log-likelihood (200 random problems)", "[gmm][monotone]") {
  Rng rng(12345);
  int checked = 0;
  for (int trial = 0; trial < 200; ++trial) {
    const Index K = 1 + static_cast<Index>(uniform01(rng) * 4);
    const Index q = 1 + static_cast<Index>(uniform01(rng) * 3);
    const Index n = 40 + static_cast<Index>(uniform01(rng) * 120);
    const auto structure = kStructures[static_cast<size_t>(uniform01(rng) * 6) % 6];
    Matrix means = Matrix::Zero(K, q);
    for (Index i = 0; i < means.size(); ++i) means.data()[i] = 4.0 * standard_normal(rng);
    std::vector<Matrix> chol(static_cast<size_t>(K), Matrix::Identity(q, q));
    for (auto& L : chol) L *= 0.5 + uniform01(rng);
    const auto sim =
        simulate_mixture(n, Vector::Constant(K, 1.0 / static_cast<double>(K)), means, chol, rng);
    Model m = gmm(K, q, structure);
    FitOptions o;
    o.seed = static_cast<std::uint64_t>(trial);
    o.max_iter = 200;
    o.init = trial % 2 ? InitMethod::Random : InitMethod::KMeansPlusPlus;
    FitResult r;
    try {
      r = EmFitter(o).fit(m, dataset_of(sim.y));
    } catch (const NumericalError&) {
      continue;  // a start that collapsed beyond repair is reported, not part of this property
    }
    ++checked;
    for (size_t t = 1; t < r.loglik_trace.size(); ++t) {
      const bool reseeded = std::find(r.reseed_iterations.begin(), r.reseed_iterations.end(),
                                      static_cast<int>(t)) != r.reseed_iterations.end();
      if (reseeded) continue;
      INFO("trial " << trial << " K=" << K << " q=" << q << " " << to_string(structure)
                    << " iteration " << t);
      CHECK(r.loglik_trace[t] >= r.loglik_trace[t - 1] - 1e-10 * std::abs(r.loglik_trace[t - 1]));
    }
  }
  CHECK(checked >= 190);
}

TEST_CASE("results do not depend on the number of threads", "[gmm][threads]") {
  Rng rng(99);
  Matrix means(4, 3);
  means << 0, 0, 0, 3, 3, 0, 0, 3, 3, 3, 0, 3;
  const auto sim = simulate_mixture(5 * kBlockRows + 77, Vector::Constant(4, 0.25), means,
                                    std::vector<Matrix>(4, Matrix::Identity(3, 3)), rng);
  const Dataset d = dataset_of(sim.y);
  FitOptions o;
  o.restarts = 2;
  o.threads = 1;
  Model m1 = gmm(4, 3, CovarianceStructure::Full);
  const FitResult r1 = EmFitter(o).fit(m1, d);
  o.threads = 2;
  Model m2 = gmm(4, 3, CovarianceStructure::Full);
  const FitResult r2 = EmFitter(o).fit(m2, d);
  CHECK(r1.loglik_trace == r2.loglik_trace);  // bitwise
  CHECK(m1.parameters() == m2.parameters());
  CHECK(r1.iterations == r2.iterations);
}

TEST_CASE("collapsing components are re-seeded with a warning", "[gmm][collapse]") {
  // A broad cloud plus six exact copies of one point: a component sitting on the copies
  // shrinks to a singular covariance.
  Rng rng(3);
  Matrix y(66, 2);
  for (Index i = 0; i < 60; ++i) y.row(i) << 3 * standard_normal(rng), 3 * standard_normal(rng);
  for (Index i = 60; i < 66; ++i) y.row(i) << 20.0, -20.0;
  // The collapse test sees the raw covariance, before the variance floor, so it fires at
  // the default --reg-covar. Either a finite fit that went through the re-seed path, or the
  // clear error after max_reseeds re-seeds (today every seed ends so: the re-seeded
  // component drifts back onto the copies; tests/fit/test_objective.cpp has a linear-expert
  // case where the fit completes after a re-seed).
  bool reseeded = false;
  for (std::uint64_t seed = 1; seed <= 10 && !reseeded; ++seed) {
    Model m = gmm(3, 2, CovarianceStructure::Full);
    FitOptions o;
    o.seed = seed;
    try {
      const FitResult r = EmFitter(o).fit(m, dataset_of(y));
      bool warned = false;
      for (const auto& w : r.warnings)
        warned = warned || (w.find("collapsed") != std::string::npos &&
                            w.find("re-seeded") != std::string::npos);
      CHECK(std::isfinite(r.loglik));
      CHECK(m.parameters().allFinite());
      if (warned) {
        CHECK(!r.reseed_iterations.empty());
        reseeded = true;
      }
      UNSCOPED_INFO("seed " << seed << ": " << r.warnings.size() << " warnings, reseeds at "
                            << r.reseed_iterations.size() << " iterations");
    } catch (const NumericalError& e) {
      // Collapsing again and again is a clear failure, never NaN.
      CHECK(std::string(e.what()).find("keep collapsing") != std::string::npos);
      UNSCOPED_INFO("seed " << seed << ": " << e.what());
      reseeded = std::string(e.what()).find("re-seeds") != std::string::npos;
    }
  }
  CHECK(reseeded);
}

TEST_CASE("scores agree with finite differences", "[gmm][score]") {
  Rng rng(5);
  const Matrix y = Matrix::NullaryExpr(40, 3, [&] { return standard_normal(rng); });
  const Dataset d = dataset_of(y);
  for (const auto structure : kStructures) {
    Model m = gmm(2, 3, structure);
    FitOptions o;
    o.max_iter = 3;  // away from the optimum: the score is not zero there
    EmFitter(o).fit(m, d);
    // Fisher's identity: the observed-data score = the Q-function score at resp = posterior.
    const Matrix resp = predict_posterior(m, d);
    Vector analytic(m.num_params());
    analytic << m.gate().score(d.z, resp), m.experts().score(d.x, d.y, resp);
    const Vector theta = m.parameters();
    REQUIRE(theta.size() == m.num_params());
    double worst = 0.0;
    for (Index j = 0; j < theta.size(); ++j) {
      const double h = 1e-6 * std::max(1.0, std::abs(theta(j)));
      Model a = m, b = m;
      Vector tp = theta, tm = theta;
      tp(j) += h;
      tm(j) -= h;
      a.set_parameters(tp);
      b.set_parameters(tm);
      const double fd = (loglik_of(a, d) - loglik_of(b, d)) / (2 * h);
      worst = std::max(worst, std::abs(fd - analytic(j)) / std::max(1.0, std::abs(fd)));
    }
    INFO(to_string(structure));
    CHECK(worst < 1e-6);
  }
}

TEST_CASE("a model file round trip gives identical predictions", "[gmm][json]") {
  Rng rng(11);
  for (const auto structure : kStructures) {
    const Matrix y = Matrix::NullaryExpr(80, 2, [&] { return standard_normal(rng) * 2.0; });
    const Dataset d = dataset_of(y);
    Model m = gmm(2, 2, structure);
    const FitResult r = EmFitter(FitOptions{}).fit(m, d);
    const Model back = model_from_json(model_to_json(m, &r), "memory");
    CHECK(predict_posterior(back, d) == predict_posterior(m, d));
    CHECK(predict_log_density(back, d) == predict_log_density(m, d));
    CHECK(back.parameters() == m.parameters());
  }
}

TEST_CASE("model files with the wrong format or version are refused", "[json][errors]") {
  using Catch::Matchers::Contains;
  CHECK_THROWS_AS(model_from_json("{", "m.json"), ModelFormatError);
  CHECK_THROWS_WITH(model_from_json(R"({"format":"other"})", "m.json"),
                    Contains("not a moekit model file"));
  CHECK_THROWS_WITH(model_from_json(R"({"format":"moekit-model","version":99})", "m.json"),
                    Contains("version 99 is not supported"));
  Model m = gmm(2, 1, CovarianceStructure::Full);
  std::string text = model_to_json(m, nullptr);
  text.replace(text.find("\"mean\""), 6, "\"mu\"");
  CHECK_THROWS_WITH(model_from_json(text, "m.json"), Contains("missing 'mean'"));
}

TEST_CASE("options are validated with the flag named", "[options][errors]") {
  using Catch::Matchers::Contains;
  FitOptions o;
  o.tol = -1;
  CHECK_THROWS_WITH(o.validate(), Contains("--tol") && Contains("must be finite and > 0"));
  o = FitOptions{};
  o.restarts = 0;
  CHECK_THROWS_WITH(o.validate(), Contains("--restarts"));
  CHECK_THROWS_WITH(parse_covariance("round"), Contains("--covariance = round"));
  ModelSpec s;
  s.K = 0;
  CHECK_THROWS_WITH(s.validate(), Contains("-k = 0"));
}

TEST_CASE("split-and-merge trials heading for a lower basin stop early in a Gaussian mixture",
          "[gmm][split_merge]") {
  // Four well-separated clusters: the hierarchical start finds them, and every move (two of
  // them merged, a third split) settles into a lower basin. Aitken's extrapolation gives each
  // such trial up after a few iterations instead of the trial cap of 30 (docs/starts.md), and
  // the fit is the one without the moves.
  Rng rng(7);
  Matrix means(4, 2);
  means << 0, 0, 6, 0, 0, 6, 6, 6;
  const auto sim = simulate_mixture(800, Vector::Constant(4, 0.25), means,
                                    std::vector<Matrix>(4, Matrix::Identity(2, 2)), rng);
  const Dataset d = dataset_of(sim.y);
  FitOptions o;
  Model with = gmm(4, 2, CovarianceStructure::Full);
  const FitResult moved = EmFitter(o).fit(with, d);
  o.split_merge = 0;
  Model without = gmm(4, 2, CovarianceStructure::Full);
  const FitResult plain = EmFitter(o).fit(without, d);
  CAPTURE(moved.split_merge_tried, moved.split_merge_iterations);
  CHECK(moved.split_merge_tried >= 4);
  CHECK(moved.split_merge_accepted == 0);
  CHECK(moved.split_merge_iterations <= 10 * moved.split_merge_tried);
  CHECK(moved.loglik == Approx(plain.loglik).epsilon(1e-12));
}
