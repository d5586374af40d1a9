#pragma once
// Poisson experts (a GLM with the log link): p_k(y | x) = Poisson(y; exp(x' b_k)) for a count
// response. With a constant gate this is flexmix's FLXMRglm(family = "poisson"); its M-step
// is a weighted Poisson regression per expert (McLachlan & Peel 2000, section 5.12), fitted
// by Newton/IRLS with step-halving from the current coefficients.

#include "moekit/experts/expert.hpp"

#include <string>
#include <vector>

namespace moekit {

class PoissonExperts final : public Experts {
 public:
  PoissonExperts(Index K, Index p, std::vector<std::string> x_names = {});

  std::string family() const override { return "poisson"; }
  Index components() const override { return static_cast<Index>(coef_.size()); }
  Index response_dim() const override { return 1; }
  std::optional<Index> invalid_response_row(const ConstMatrixRef& y) const override;
  std::string response_rule() const override { return "non-negative whole counts"; }
  std::optional<MarginalShape> marginal(Index /*k*/, Index /*j*/) const override {
    return MarginalShape{MarginalShape::Kind::Poisson, 1.0, 0.0};
  }

  void log_density(const ConstMatrixRef& x, const ConstMatrixRef& y, MatrixRef out) const override;
  MStepReport fit(const ConstMatrixRef& x,
                  const ConstMatrixRef& y,
                  const ConstMatrixRef& resp) override;
  Vector score(const ConstMatrixRef& x,
               const ConstMatrixRef& y,
               const ConstMatrixRef& resp) const override;
  Vector parameters() const override;
  void set_parameters(const ConstVectorRef& theta) override;
  Index num_params() const override { return components() * p_; }

  std::vector<Matrix> predict_means(const ConstMatrixRef& x) const override;
  Matrix sample(const ConstMatrixRef& x,
                const std::vector<Index>& component,
                Rng& rng) const override;
  void reseed(Index k, const ConstMatrixRef& x, const ConstMatrixRef& y, Index row) override;

  std::vector<ParameterMap> component_params() const override;
  void set_params(const std::vector<ParameterMap>& components, const ParameterMap& shared) override;
  std::unique_ptr<Experts> clone() const override {
    return std::make_unique<PoissonExperts>(*this);
  }

  const Vector& coefficients(Index k) const { return coef_[static_cast<size_t>(k)]; }
  void set_coefficients(Index k, const Vector& b);

 private:
  Index p_;
  std::vector<Vector> coef_;  // K vectors of p
  std::vector<std::string> x_names_;
};

}  // namespace moekit
