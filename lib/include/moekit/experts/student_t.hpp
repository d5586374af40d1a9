#pragma once
// Student-t regression experts (Chamroukhi 2016, "Robust mixture of experts modeling using
// the t distribution", Neural Networks 79; multivariate as in Peel & McLachlan 2000):
//   p_k(y | x) = t_q(y; B_k'x, Sigma_k, nu_k),
// uni- or multivariate y, B_k a p x q coefficient matrix, Sigma_k a scale matrix in any
// covariance structure (full, diag, spherical, tied ...), nu_k degrees of freedom.
//
// M-step: one ECM cycle (docs/math/student_t.md). The t is a Gaussian scale mixture with
// latent weight U ~ Gamma(nu/2, nu/2); at the current parameters
//   u_ik = (nu_k + q) / (nu_k + delta_ik),  delta_ik = e_ik' Sigma_k^{-1} e_ik,
// then CM-steps: B_k by least squares with weights r_ik u_ik, Sigma_k = sum_i r_ik u_ik e e' /
// sum_i r_ik, and nu_k by the ECME step (Liu & Rubin 1995): the maximiser within
// [kMinDf, kMaxDf] of the weighted t log-likelihood at the new B_k, Sigma_k (stationary
// points bracketed, TOMS 748); or nu_k held at a fixed value (the CLI's --df).

#include "moekit/experts/expert.hpp"
#include "moekit/stats/covariance_set.hpp"

#include <cmath>
#include <initializer_list>

namespace moekit {

class StudentTExperts final : public Experts {
 public:
  // Bounds on an estimated nu_k. Peers' optima go below 1 (an R peer's on tonedata with
  // outliers has nu = 0.34), so the lower bound is 0.1, where the tails are so heavy that a
  // component sits on a few points with the rest as "outliers": a fit that reaches it says
  // so with a warning. Above 200 a t is a Gaussian for any practical n (the likelihood is
  // flat in nu there), so the root is clamped to the bound.
  static constexpr double kMinDf = 0.1;
  static constexpr double kMaxDf = 200.0;
  static constexpr double kInitialDf = 10.0;  // start of an estimated nu_k

  // fixed_df = 0: nu_k estimated per expert; > 0: every nu_k held at fixed_df (any
  // positive value; 1e6 is a Gaussian for practical purposes).
  StudentTExperts(Index K,
                  Index q,
                  Index p,
                  CovarianceStructure structure,
                  double reg_covar,
                  double fixed_df = 0.0,
                  double collapse_tol = 1e-8);

  std::string family() const override { return "t"; }
  // A multivariate t's marginals are univariate t's with the same nu and scale sqrt(Sigma_jj).
  std::optional<MarginalShape> marginal(Index k, Index j) const override {
    return MarginalShape{MarginalShape::Kind::StudentT, std::sqrt(cov_.covariance(k)(j, j)),
                         nu_(k)};
  }
  const Matrix* scale_matrix(Index k) const override { return &cov_.covariance(k); }
  Index components() const override { return static_cast<Index>(coef_.size()); }
  Index response_dim() const override { return cov_.dim(); }

  void log_density(const ConstMatrixRef& x, const ConstMatrixRef& y, MatrixRef out) const override;
  MStepReport fit(const ConstMatrixRef& x,
                  const ConstMatrixRef& y,
                  const ConstMatrixRef& resp) override;
  // Layout: vec(B_1) ... vec(B_K) (column-major p x q), the covariance layout of
  // CovarianceSet, then log nu_1 ... log nu_K when nu is estimated.
  Vector score(const ConstMatrixRef& x,
               const ConstMatrixRef& y,
               const ConstMatrixRef& resp) const override;
  Vector parameters() const override;
  void set_parameters(const ConstVectorRef& theta) override;
  Index num_params() const override;
  Index shared_num_params() const override {
    return is_tied(cov_.structure()) ? cov_.num_params() : 0;
  }

  // The location B_k'x (the mean when nu_k > 1, the median always).
  std::vector<Matrix> predict_means(const ConstMatrixRef& x) const override;
  Matrix sample(const ConstMatrixRef& x,
                const std::vector<Index>& component,
                Rng& rng) const override;
  void reseed(Index k, const ConstMatrixRef& x, const ConstMatrixRef& y, Index row) override;

  std::vector<ParameterMap> component_params() const override;
  ParameterMap shared_params() const override;
  void set_params(const std::vector<ParameterMap>& components, const ParameterMap& shared) override;
  std::unique_ptr<Experts> clone() const override {
    return std::make_unique<StudentTExperts>(*this);
  }

  const Matrix& coefficients(Index k) const { return coef_[static_cast<size_t>(k)]; }  // p x q
  const CovarianceSet& scales() const { return cov_; }
  double df(Index k) const { return nu_(k); }
  bool df_fixed() const { return fixed_df_ > 0; }
  void set_component(Index k, const Matrix& B, const Matrix& sigma, double nu);

 private:
  // log Gamma((nu + q) / 2) - log Gamma(nu / 2) - q/2 log(nu pi) - 1/2 log|Sigma_k|.
  double log_constant(Index k) const;
  // delta_ik for the rows of a block.
  void mahalanobis(
      Index k, const ConstMatrixRef& x, const ConstMatrixRef& y, Matrix& e, Vector& delta) const;
  // delta_ik for all rows, per row block on the threads (the M-step's passes).
  void mahalanobis_rows(Index k,
                        const ConstMatrixRef& x,
                        const ConstMatrixRef& y,
                        Vector& delta) const;

  std::vector<Matrix> coef_;  // K matrices p x q
  CovarianceSet cov_;
  Vector nu_;  // K
  double fixed_df_;
  double collapse_tol_;
  bool fresh_ = true;  // no fit yet: the first M-step is Gaussian (u = 1), nu_k stays put
};

// The CM-step for nu of Chamroukhi (2016, eq. 27; Peel & McLachlan 2000, eq. 7.36): the root
// in [kMinDf, kMaxDf] of
//   log(nu/2) - psi(nu/2) + 1 + mean_log_u_minus_u + psi((nu_old + q)/2) - log((nu_old + q)/2)
// where mean_log_u_minus_u = sum_i r_i (log u_i - u_i) / sum_i r_i. The left side decreases
// in nu, so the root is unique; it is clamped to the bounds when outside.
double student_t_df_root(double mean_log_u_minus_u, double nu_old, double q);

// sum_i r_i log t_nu(delta_i) up to terms free of nu, for squared Mahalanobis distances
// delta_i of a q-variate t.
double student_t_df_loglik(const ConstVectorRef& r,
                           const ConstVectorRef& delta,
                           double nu,
                           double q);

// The ECME step for nu: the maximiser over [kMinDf, kMaxDf] of student_t_df_loglik, found
// among the interior stationary points, the bounds and `candidates` (the first is the
// current nu, kept unless another value is strictly better).
double student_t_df_profile_max(const ConstVectorRef& r,
                                const ConstVectorRef& delta,
                                double q,
                                std::initializer_list<double> candidates);

}  // namespace moekit
