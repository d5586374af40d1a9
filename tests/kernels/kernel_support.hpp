#pragma once
// Shared by the kernel tests (CPU) and the GPU tests: fitted models on the reference data
// sets, the E-step by the families' own Eigen code, the moments by plain Eigen algebra, and
// a backend that emulates a device on the host.

#include "experts/regression_util.hpp"

#include "moekit/backend/estep_backend.hpp"
#include "moekit/core/error.hpp"
#include "moekit/core/logsumexp.hpp"
#include "moekit/core/parallel.hpp"
#include "moekit/core/rng.hpp"
#include "moekit/experts/gaussian.hpp"
#include "moekit/experts/gaussian_regression.hpp"
#include "moekit/fit/em.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

namespace moekit::testing {

struct Fitted {
  std::string name;
  Model model;
  Dataset data;
};

inline Fitted fitted(const std::string& name,
                     const std::string& file,
                     const std::string& formula,
                     const std::string& experts,
                     const std::string& gate,
                     Index K,
                     CovarianceStructure cov = CovarianceStructure::Full) {
  Problem p = load_problem(file, formula, experts, gate, K);
  p.spec.covariance = cov;
  Model m = make_model(p);
  FitOptions o;
  o.restarts = 3;
  o.seed = 7;
  EmFitter(o).fit(m, p.data);
  return {name, std::move(m), std::move(p.data)};
}

// Gaussian mixture with K well-separated clusters in d dimensions, n rows, and a model at
// the true parameters (covariances I, equal weights).
inline Fitted simulated_gmm(Index n, Index d, Index K, std::uint64_t seed = 3) {
  Rng rng(seed);
  Matrix means(K, d);
  for (Index i = 0; i < means.size(); ++i) means.data()[i] = 4.0 * standard_normal(rng);
  Dataset data;
  data.y.resize(n, d);
  for (Index i = 0; i < n; ++i)
    for (Index j = 0; j < d; ++j) data.y(i, j) = means(i % K, j) + standard_normal(rng);
  data.x = Matrix::Ones(n, 1);
  data.z = Matrix::Ones(n, 1);
  data.source = "simulated";
  ModelSpec spec;
  spec.K = K;
  Model m(spec, d, 1, 1);
  auto& g = dynamic_cast<GaussianExperts&>(m.experts());
  for (Index k = 0; k < K; ++k) g.set_mean(k, means.row(k).transpose());
  return {"simulated GMM", std::move(m), std::move(data)};
}

// The flat E-step by the families' Eigen code (log_density, log_weights), not the kernels.
inline Posteriors eigen_estep(const Model& m, const Dataset& d) {
  const Index n = d.rows(), K = m.components();
  Matrix a(n, K), g(n, K);
  m.experts().log_density(d.x, d.y, a);
  m.gate().log_weights(d.z, g);
  a += g;
  Posteriors out;
  out.leaf_count = K;
  out.row_loglik.resize(n);
  normalize_rows_log(a, out.row_loglik);
  out.nodes = a.array().exp();
  out.loglik = out.objective = out.row_loglik.sum();
  return out;
}

// M_k = F_k' diag(r_k) F_k with F_k = [1, x, y - x B_k] (Gaussian experts: [1, y - mu_k]).
inline std::vector<Matrix> eigen_moments(const Model& m, const Dataset& d, const Matrix& post) {
  kernels::GaussianRegressionStorage s;
  m.experts().gaussian_regression()->export_pack(s);
  const Index n = d.rows(), p = s.p, q = s.q;
  std::vector<Matrix> out;
  for (Index k = 0; k < s.K; ++k) {
    Matrix B(std::max<Index>(p, 1), q);
    for (Index j = 0; j < B.rows(); ++j)
      for (Index c = 0; c < q; ++c)
        B(j, c) = s.coef[static_cast<size_t>((k * B.rows() + j) * q + c)];
    Matrix F(n, 1 + p + q);
    F.col(0).setOnes();
    if (p > 0) {
      F.middleCols(1, p) = d.x;
      F.rightCols(q) = d.y - d.x * B;
    } else {
      F.rightCols(q) = d.y.rowwise() - B.row(0);
    }
    out.push_back(F.transpose() * (F.array().colwise() * post.col(k).array()).matrix());
  }
  return out;
}

// A row far out (row 10 at y = 1e200) of a weighted fit, on the CPU backend's E-step: at
// weight 0 the log-likelihood and the moments stay finite (the row's zero density, and a
// distance that overflows, count for nothing); at weight 1 the row is reported.
inline void check_far_row_counts_by_weight(Fitted f) {
  auto estep = [&f] {
    const ScopedNumThreads scope(1);
    Posteriors post;
    CpuBackend().estep(f.model, f.data, post);
    return post;
  };
  f.data.y(10, 0) = 1e200;
  f.data.weights(10) = 0.0;
  const Posteriors post = estep();
  CHECK(std::isfinite(post.loglik));
  REQUIRE(post.moments);
  for (const Matrix& M : post.moments->M) CHECK(M.allFinite());
  f.data.weights(10) = 1.0;
  CHECK_THROWS_AS(estep(), NumericalError);
}

inline double max_rel_diff(const Matrix& a, const Matrix& b) {
  const double scale = std::max(1.0, std::max(a.cwiseAbs().maxCoeff(), b.cwiseAbs().maxCoeff()));
  return (a - b).cwiseAbs().maxCoeff() / scale;
}

}  // namespace moekit::testing
