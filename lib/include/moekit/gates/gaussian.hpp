#pragma once
// Gaussian gate (Xu, Jordan & Hinton 1995): g_k(z) = alpha_k N(z; m_k, S_k) / sum_j alpha_j
// N(z; m_j, S_j) on the numeric gate covariates (no intercept). The gate models z, so EM
// maximises the joint likelihood p(z, y) = sum_k alpha_k N(z; m_k, S_k) p_k(y | x), whose
// M-step for the gate is closed form: alpha_k = N_k / N, m_k and S_k the weighted mean and
// covariance of z (a Gaussian mixture's M-step with the posteriors as weights). Covariance
// structures are those of the Gaussian experts.

#include "moekit/experts/gaussian.hpp"
#include "moekit/gates/constant.hpp"
#include "moekit/gates/gate.hpp"

#include <string>
#include <vector>

namespace moekit {

class GaussianGate final : public Gate {
 public:
  // K children; z has `first_column` leading columns that the gate skips (the intercept)
  // and r gate covariates after them.
  GaussianGate(Index K,
               Index r,
               Index first_column,
               CovarianceStructure structure,
               double reg_covar,
               double collapse_tol = 1e-8);

  std::string kind() const override { return "gaussian"; }
  Index components() const override { return prior_.components(); }
  void log_weights(const ConstMatrixRef& z, MatrixRef out) const override;
  bool joint() const override { return true; }
  void log_joint_weights(const ConstMatrixRef& z, MatrixRef out) const override;
  void check_covariates(const ConstMatrixRef& z,
                        const std::vector<std::string>& names,
                        const std::string& source) const override;
  std::vector<std::string> fit(const ConstMatrixRef& z, const ConstMatrixRef& resp) override;
  // Parameters: the weights' logits (as the constant gate), then means and covariances (as
  // the Gaussian experts).
  Vector score(const ConstMatrixRef& z, const ConstMatrixRef& resp) const override;
  Vector parameters() const override;
  void set_parameters(const ConstVectorRef& theta) override;
  Index num_params() const override { return prior_.num_params() + density_.num_params(); }
  void reset_component(Index k) override;
  ParameterMap params() const override;
  void set_params(const ParameterMap& p) override;
  std::unique_ptr<Gate> clone() const override { return std::make_unique<GaussianGate>(*this); }

  const Vector& weights() const { return prior_.weights(); }
  const GaussianExperts& densities() const { return density_; }
  Index first_column() const { return first_; }
  // Starting values before the first M-step: means spread along z, unit-scale covariances.
  void set_component(Index k, const Vector& mean, const Matrix& covariance);

 private:
  auto covariates(const ConstMatrixRef& z) const { return z.rightCols(z.cols() - first_); }
  GaussianMoments shared_moments(const ConstMatrixRef& zc, const ConstMatrixRef& resp) const;

  ConstantGate prior_;       // alpha
  GaussianExperts density_;  // N(z; m_k, S_k), read with z as the "response"
  Index first_;
};

}  // namespace moekit
