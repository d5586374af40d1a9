#pragma once
// Experts that are GLMs with their canonical link (Poisson: log; binomial: logit), sharing
// what does not depend on the family: one coefficient vector per expert, the Newton/IRLS
// M-step of stats/canonical_glm.hpp, the score, parameters and model-file maps. A family
// says how its response gives the sufficient statistic t and the "trials" m of each row,
// its base measure, and how to predict and simulate.

#include "moekit/experts/expert.hpp"

#include <string>
#include <vector>

namespace moekit {

template <class Cumulant>
class CanonicalGlmExperts : public Experts {
 public:
  CanonicalGlmExperts(Index K, Index p, std::vector<std::string> x_names);

  Index components() const override { return static_cast<Index>(coef_.size()); }

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
  void reseed(Index k, const ConstMatrixRef& x, const ConstMatrixRef& y, Index row) override;
  std::vector<ParameterMap> component_params() const override;
  void set_params(const std::vector<ParameterMap>& components, const ParameterMap& shared) override;

  const Vector& coefficients(Index k) const { return coef_[static_cast<size_t>(k)]; }
  void set_coefficients(Index k, const Vector& b);

 protected:
  // t (successes, counts) and m (trials; 1 for counts) of every row.
  virtual void statistics(const ConstMatrixRef& y, Vector& t, Vector& m) const = 0;
  // The part of log p(y) that does not depend on the coefficients (log 1/y!, log C(m, t)).
  virtual double log_base_measure(double t, double m) const = 0;
  // The canonical parameter that puts the mean of row (t, m) at its observed value, kept
  // finite (for re-seeding an expert at a row).
  virtual double eta_at(double t, double m) const = 0;
  // The linear predictors of every expert, n x K.
  Matrix predictors(const ConstMatrixRef& x) const;

  Index p_;
  std::vector<Vector> coef_;  // K vectors of p
  std::vector<std::string> x_names_;
};

}  // namespace moekit
