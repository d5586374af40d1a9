#pragma once
// Binomial experts with trials (a GLM with the logit link): the response is two count columns,
// successes and failures, written `cbind(successes, failures) ~ x` as in R;
// p_k(s | n, x) = C(n, s) p^s (1 - p)^(n - s), logit p = x' b_k, n = successes + failures.
// With a constant gate this is flexmix's FLXMRglm(family = "binomial") with trials.

#include "moekit/experts/canonical_glm_experts.hpp"
#include "moekit/stats/canonical_glm.hpp"

namespace moekit {

class BinomialExperts final : public CanonicalGlmExperts<LogisticCumulant> {
 public:
  BinomialExperts(Index K, Index p, std::vector<std::string> x_names = {})
      : CanonicalGlmExperts(K, p, std::move(x_names)) {}

  std::string family() const override { return "binomial"; }
  Index response_dim() const override { return 2; }
  std::optional<Index> invalid_response_row(const ConstMatrixRef& y) const override;
  std::string response_rule() const override {
    return "two columns of non-negative whole counts, cbind(successes, failures)";
  }

  // The success and failure probabilities of one trial, [p, 1 - p] (the expected counts
  // need each row's number of trials, which a prediction from x alone does not have).
  std::vector<Matrix> predict_means(const ConstMatrixRef& x) const override;
  // InputError: drawing counts needs each row's number of trials.
  Matrix sample(const ConstMatrixRef& x,
                const std::vector<Index>& component,
                Rng& rng) const override;
  std::unique_ptr<Experts> clone() const override {
    return std::make_unique<BinomialExperts>(*this);
  }

 protected:
  void statistics(const ConstMatrixRef& y, Vector& t, Vector& m) const override;
  double log_base_measure(double t, double m) const override;
  double eta_at(double t, double m) const override;
};

}  // namespace moekit
