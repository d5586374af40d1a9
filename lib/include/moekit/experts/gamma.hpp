#pragma once
// Gamma experts (a GLM with the log link and the shape estimated): for a positive response,
// p_k(y | x) = Gamma(y; shape nu_k, mean mu = exp(x' b_k)). The M-step is exact in two
// parts: the coefficients maximise sum_i r_i (-eta_i - y_i exp(-eta_i)), which does not
// involve nu (Newton with step-halving; concave), then nu_k solves
// log nu - digamma(nu) = sum_i r_i (y_i/mu_i - log(y_i/mu_i) - 1) / N_k
// (McCullagh & Nelder 1989, sections 8.3-8.4; docs/math/glm.md).

#include "moekit/experts/expert.hpp"

#include <string>
#include <vector>

namespace moekit {

class GammaExperts final : public Experts {
 public:
  GammaExperts(Index K, Index p, std::vector<std::string> x_names = {});

  std::string family() const override { return "gamma"; }
  Index components() const override { return static_cast<Index>(coef_.size()); }
  Index response_dim() const override { return 1; }
  std::optional<Index> invalid_response_row(const ConstMatrixRef& y) const override;
  std::string response_rule() const override { return "positive numbers"; }
  std::optional<MarginalShape> marginal(Index k, Index) const override {
    MarginalShape m;
    m.kind = MarginalShape::Kind::Gamma;
    m.size = shape_[static_cast<size_t>(k)];
    return m;
  }

  void log_density(const ConstMatrixRef& x, const ConstMatrixRef& y, MatrixRef out) const override;
  MStepReport fit(const ConstMatrixRef& x,
                  const ConstMatrixRef& y,
                  const ConstMatrixRef& resp) override;
  // Parameters per expert: b_k (p values), then log nu_k.
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
  std::unique_ptr<Experts> clone() const override { return std::make_unique<GammaExperts>(*this); }

  const Vector& coefficients(Index k) const { return coef_[static_cast<size_t>(k)]; }
  double shape(Index k) const { return shape_[static_cast<size_t>(k)]; }

 private:
  Index p_;
  std::vector<Vector> coef_;   // K vectors of p
  std::vector<double> shape_;  // nu_k
  std::vector<std::string> x_names_;
};

}  // namespace moekit
