#pragma once
// Linear (Gaussian regression) experts: p_k(y | x) = N(y; B_k' x, Sigma_k) with B_k a
// p x q coefficient matrix and Sigma_k under one of the covariance structures. With a
// constant gate this is a mixture of (multivariate) linear regressions (mixtools regmixEM,
// flexmix FLXMRglm); with a softmax gate, the MoE of Jordan & Jacobs (1994).

#include "moekit/experts/expert.hpp"
#include "moekit/experts/gaussian_regression.hpp"
#include "moekit/stats/covariance_set.hpp"

#include <cmath>
#include <string>
#include <vector>

namespace moekit {

class LinearExperts final : public Experts, public GaussianRegression {
 public:
  // x_names name the p design columns in error messages (rank deficiency). reg_covar is the
  // variance floor Sigma_k >= reg_covar diag(var y) of every family (CovarianceSet).
  LinearExperts(Index K,
                Index q,
                Index p,
                CovarianceStructure structure,
                double reg_covar,
                double collapse_tol = 1e-8,
                std::vector<std::string> x_names = {});

  std::string family() const override { return "linear"; }
  std::optional<MarginalShape> marginal(Index k, Index j) const override {
    return MarginalShape{MarginalShape::Kind::Normal, std::sqrt(cov_.covariance(k)(j, j)), 0.0};
  }
  const Matrix* scale_matrix(Index k) const override { return &cov_.covariance(k); }
  Index components() const override { return static_cast<Index>(coef_.size()); }
  Index response_dim() const override { return cov_.dim(); }
  Index design_dim() const { return p_; }

  void log_density(const ConstMatrixRef& x, const ConstMatrixRef& y, MatrixRef out) const override;
  MStepReport fit(const ConstMatrixRef& x,
                  const ConstMatrixRef& y,
                  const ConstMatrixRef& resp) override;
  Vector score(const ConstMatrixRef& x,
               const ConstMatrixRef& y,
               const ConstMatrixRef& resp) const override;
  Vector parameters() const override;
  void set_parameters(const ConstVectorRef& theta) override;
  Index num_params() const override;
  Index shared_num_params() const override {
    return is_tied(cov_.structure()) ? cov_.num_params() : 0;
  }

  std::vector<Matrix> predict_means(const ConstMatrixRef& x) const override;
  Matrix sample(const ConstMatrixRef& x,
                const std::vector<Index>& component,
                Rng& rng) const override;
  void reseed(Index k, const ConstMatrixRef& x, const ConstMatrixRef& y, Index row) override;

  std::vector<ParameterMap> component_params() const override;
  ParameterMap shared_params() const override;
  void set_params(const std::vector<ParameterMap>& components, const ParameterMap& shared) override;
  GaussianRegression* gaussian_regression() override { return this; }
  const GaussianRegression* gaussian_regression() const override { return this; }
  void export_pack(kernels::GaussianRegressionStorage& out) const override;
  MStepReport fit_moments(const GaussianMoments& moments) override;
  std::unique_ptr<Experts> clone() const override { return std::make_unique<LinearExperts>(*this); }

  const Matrix& coefficients(Index k) const { return coef_[static_cast<size_t>(k)]; }  // p x q
  const CovarianceSet& covariances() const { return cov_; }
  void set_coefficients(Index k, const Matrix& B);
  void set_covariance(Index k, const Matrix& sigma) { cov_.set(k, sigma); }

 private:
  // Weighted residual scatter sum_i r_ik e_i e_i' about x_i' B_k, per component.
  std::vector<Matrix> scatter(const ConstMatrixRef& x,
                              const ConstMatrixRef& y,
                              const ConstMatrixRef& resp) const;

  Index p_;
  std::vector<Matrix> coef_;  // K matrices p x q
  CovarianceSet cov_;
  double collapse_tol_;
  std::vector<std::string> x_names_;
};

}  // namespace moekit
