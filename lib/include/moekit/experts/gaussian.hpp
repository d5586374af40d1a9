#pragma once
// Gaussian experts: p_k(y | x) = N(y; mu_k, Sigma_k), ignoring x. With a constant gate this
// is a Gaussian mixture model; with a softmax gate in x, the adaptive mixture of local
// experts of Jacobs, Jordan, Nowlan & Hinton (1991).

#include "moekit/core/scratch.hpp"
#include "moekit/experts/expert.hpp"
#include "moekit/experts/gaussian_regression.hpp"
#include "moekit/stats/covariance_set.hpp"

#include <cmath>

namespace moekit {

class GaussianExperts final : public Experts, public GaussianRegression {
 public:
  GaussianExperts(Index K,
                  Index q,
                  CovarianceStructure structure,
                  double reg_covar,
                  double collapse_tol = 1e-8);

  std::string family() const override { return "gaussian"; }
  Index components() const override { return means_.rows(); }
  Index response_dim() const override { return means_.cols(); }
  bool reads_covariates() const override { return false; }
  std::string settings_note() const override;
  std::optional<MarginalShape> marginal(Index k, Index j) const override {
    return MarginalShape{MarginalShape::Kind::Normal, std::sqrt(cov_.covariance(k)(j, j)), 0.0};
  }
  const Matrix* scale_matrix(Index k) const override { return &cov_.covariance(k); }

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
  std::unique_ptr<Experts> clone() const override {
    return std::make_unique<GaussianExperts>(*this);
  }

  const Matrix& means() const { return means_; }  // K x q
  const CovarianceSet& covariances() const { return cov_; }
  void set_mean(Index k, const Vector& mu) { means_.row(k) = mu.transpose(); }
  void set_covariance(Index k, const Matrix& sigma) { cov_.set(k, sigma); }

 private:
  // Weighted scatter of y about the current means, per component (fixed block order).
  std::vector<Matrix> scatter(const ConstMatrixRef& y, const ConstMatrixRef& resp) const;

  Matrix means_;  // K x q
  CovarianceSet cov_;
  double collapse_tol_;
  // fit_moments' working matrices (core/scratch.hpp).
  struct MomentsWork {
    Matrix old_means, centred, outer;
    RowVector first;
    Vector mass;
    std::vector<Matrix> scatter;
  };
  Scratch<MomentsWork> scratch_;
};

}  // namespace moekit
