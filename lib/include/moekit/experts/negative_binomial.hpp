#pragma once
// Negative binomial experts (NB2, log link, one dispersion theta_k per expert, as
// MASS::glm.nb): for a count y with mean mu = exp(x' b_k),
//     p_k(y | x) = Gamma(y + theta) / (Gamma(theta) y!) (theta / (theta + mu))^theta
//                  (mu / (theta + mu))^y,     Var(y) = mu + mu^2 / theta.
// The M-step alternates two conditional maximisations until theta settles (each raises Q,
// so it is at least an ECM step; Meng & Rubin 1993): the
// coefficients by Newton/IRLS on the weighted log-likelihood given theta (the log link is not
// canonical here: the working weights are the observed information
// theta mu (theta + y) / (theta + mu)^2, which is positive, so the coefficients' problem is
// concave), then theta by Newton in log theta on the weighted profile log-likelihood
// (Venables & Ripley 2002, section 7.4; docs/math/glm.md).

#include "moekit/experts/expert.hpp"

#include <string>
#include <vector>

namespace moekit {

class NegativeBinomialExperts final : public Experts {
 public:
  NegativeBinomialExperts(Index K, Index p, std::vector<std::string> x_names = {});

  std::string family() const override { return "negbin"; }
  Index components() const override { return static_cast<Index>(coef_.size()); }
  Index response_dim() const override { return 1; }
  std::optional<Index> invalid_response_row(const ConstMatrixRef& y) const override;
  std::string response_rule() const override { return "non-negative whole counts"; }
  std::optional<MarginalShape> marginal(Index k, Index j) const override;

  void log_density(const ConstMatrixRef& x, const ConstMatrixRef& y, MatrixRef out) const override;
  MStepReport fit(const ConstMatrixRef& x,
                  const ConstMatrixRef& y,
                  const ConstMatrixRef& resp) override;
  // Parameters per expert: b_k (p values), then log theta_k.
  Vector score(const ConstMatrixRef& x,
               const ConstMatrixRef& y,
               const ConstMatrixRef& resp) const override;
  Vector parameters() const override;
  void set_parameters(const ConstVectorRef& theta) override;
  Index num_params() const override { return components() * (p_ + 1); }

  std::vector<Matrix> predict_means(const ConstMatrixRef& x) const override;
  Matrix sample(const ConstMatrixRef& x,
                const std::vector<Index>& component,
                Rng& rng) const override;
  void reseed(Index k, const ConstMatrixRef& x, const ConstMatrixRef& y, Index row) override;

  std::vector<ParameterMap> component_params() const override;
  void set_params(const std::vector<ParameterMap>& components, const ParameterMap& shared) override;
  std::unique_ptr<Experts> clone() const override {
    return std::make_unique<NegativeBinomialExperts>(*this);
  }

  const Vector& coefficients(Index k) const { return coef_[static_cast<size_t>(k)]; }
  double dispersion(Index k) const { return theta_[static_cast<size_t>(k)]; }

 private:
  Index p_;
  std::vector<Vector> coef_;   // K vectors of p
  std::vector<double> theta_;  // theta_k (MASS's "theta", R's "size")
  std::vector<std::string> x_names_;
};

}  // namespace moekit
