#pragma once
// Laplace regression experts (Nguyen & McLachlan 2016, "Laplace mixture of linear
// experts", CSDA 93): p_k(y | x) = Laplace(y; b_k'x, s_k) = exp(-|y - b_k'x| / s_k) / (2 s_k),
// one response column. The heavy (exponential) tails make each expert a least absolute
// deviations (median) regression, robust to outliers in y.
//
// M-step (docs/math/laplace.md): for fixed responsibilities r_ik the weighted
// log-likelihood of expert k is -N_k log(2 s_k) - A_k(b_k) / s_k with A_k(b) =
// sum_i r_ik |y_i - b'x_i|. Minimising A_k is a weighted LAD problem, solved exactly by
// the simplex method of Barrodale & Roberts (1973) (stats/weighted_lad.hpp), started from the
// current b_k; then s_k = A_k / N_k in closed form. With a single design column (an
// intercept only) b_k is the weighted median.

#include "moekit/experts/expert.hpp"

#include <cmath>
#include <vector>

namespace moekit {

class LaplaceExperts final : public Experts {
 public:
  // K experts on p design columns; q must be 1 (InputError naming --formula otherwise).
  LaplaceExperts(Index K, Index q, Index p, double collapse_tol = 1e-8);

  std::string family() const override { return "laplace"; }
  std::optional<MarginalShape> marginal(Index k, Index) const override {
    return MarginalShape{MarginalShape::Kind::Laplace, scale_(k), 0.0};
  }
  Index components() const override { return coef_.cols(); }
  Index response_dim() const override { return 1; }

  void log_density(const ConstMatrixRef& x, const ConstMatrixRef& y, MatrixRef out) const override;
  MStepReport fit(const ConstMatrixRef& x,
                  const ConstMatrixRef& y,
                  const ConstMatrixRef& resp) override;
  // Layout per expert: b_k (p), log s_k. The density is not differentiable in b_k where a
  // residual is exactly 0; such rows contribute sign(0) = 0 (a subgradient).
  Vector score(const ConstMatrixRef& x,
               const ConstMatrixRef& y,
               const ConstMatrixRef& resp) const override;
  Vector parameters() const override;
  void set_parameters(const ConstVectorRef& theta) override;
  Index num_params() const override { return components() * (coef_.rows() + 1); }

  std::vector<Matrix> predict_means(const ConstMatrixRef& x) const override;
  Matrix sample(const ConstMatrixRef& x,
                const std::vector<Index>& component,
                Rng& rng) const override;
  void reseed(Index k, const ConstMatrixRef& x, const ConstMatrixRef& y, Index row) override;

  std::vector<ParameterMap> component_params() const override;
  void set_params(const std::vector<ParameterMap>& components, const ParameterMap& shared) override;
  std::unique_ptr<Experts> clone() const override {
    return std::make_unique<LaplaceExperts>(*this);
  }

  const Matrix& coefficients() const { return coef_; }  // p x K, column k = b_k
  const Vector& scales() const { return scale_; }       // K
  void set_component(Index k, const Vector& b, double s);

 private:
  Matrix coef_;   // p x K
  Vector scale_;  // K
  double collapse_tol_;
  bool fresh_ = true;  // no fit yet: the first M-step starts from weighted least squares
  // Per expert, the rows that the last M-step's b_k interpolates: the next M-step's simplex
  // starts at that vertex (empty: start from b_k). Cleared when b_k is set otherwise.
  std::vector<std::vector<Index>> basis_;
};

}  // namespace moekit
