#pragma once
// Poisson experts (a GLM with the log link): p_k(y | x) = Poisson(y; exp(x' b_k)) for a count
// response. With a constant gate this is flexmix's FLXMRglm(family = "poisson"); the M-step
// is a weighted Poisson regression per expert (docs/math/glm.md).

#include "moekit/experts/canonical_glm_experts.hpp"
#include "moekit/stats/canonical_glm.hpp"

namespace moekit {

class PoissonExperts final : public CanonicalGlmExperts<PoissonCumulant> {
 public:
  PoissonExperts(Index K, Index p, std::vector<std::string> x_names = {})
      : CanonicalGlmExperts(K, p, std::move(x_names)) {}

  std::string family() const override { return "poisson"; }
  Index response_dim() const override { return 1; }
  std::optional<Index> invalid_response_row(const ConstMatrixRef& y) const override;
  std::string response_rule() const override { return "non-negative whole counts"; }
  std::optional<MarginalShape> marginal(Index /*k*/, Index /*j*/) const override {
    return MarginalShape{MarginalShape::Kind::Poisson, 1.0, 0.0};
  }

  std::vector<Matrix> predict_means(const ConstMatrixRef& x) const override;
  Matrix sample(const ConstMatrixRef& x,
                const std::vector<Index>& component,
                Rng& rng) const override;
  std::unique_ptr<Experts> clone() const override {
    return std::make_unique<PoissonExperts>(*this);
  }

 protected:
  void statistics(const ConstMatrixRef& y, Vector& t, Vector& m) const override;
  double log_base_measure(double t, double m) const override;
  double eta_at(double t, double m) const override;
};

}  // namespace moekit
