#pragma once
// Logistic experts: p_k(y = c | x) = exp(x' w_kc) / sum_l exp(x' w_kl), w_k0 = 0, for class
// codes c = 0..L-1 (binary logistic when L = 2; the multinomial experts of Chen, Xu & Chi
// 1999 otherwise). The M-step of each expert is a weighted multinomial logit fitted by
// Newton/IRLS with step-halving (Q never decreases).
//
// Separation: when the weighted data of an expert are (quasi-)separable (Albert & Anderson
// 1984) its maximum-likelihood coefficients are infinite and Newton runs off. moekit
// detects it (a standardised coefficient beyond kSeparationBound or a linear predictor
// beyond kEtaBound), warns, and keeps maximising the same plain likelihood with the linear
// predictors of the weighted rows held within +-kEtaBound (probabilities within
// exp(-kEtaBound) of the supremum's). The M-step reports the expert as separated, and EM
// reports the fit with status "separation": a supremum, not a maximum (docs/math/logistic.md).

#include "moekit/experts/expert.hpp"

#include <string>
#include <vector>

namespace moekit {

class LogisticExperts final : public Experts {
 public:
  static constexpr double kSeparationBound = 30.0;
  static constexpr double kEtaBound = 200.0;

  // L classes (>= 2), p design columns; x_names for messages.
  LogisticExperts(Index K, Index L, Index p, std::vector<std::string> x_names = {});

  std::string family() const override { return "logistic"; }
  bool categorical() const override { return true; }
  Index components() const override { return static_cast<Index>(coef_.size()); }
  Index response_dim() const override { return 1; }
  Index classes() const { return L_; }

  // y holds class codes 0..L-1 in one column.
  void log_density(const ConstMatrixRef& x, const ConstMatrixRef& y, MatrixRef out) const override;
  MStepReport fit(const ConstMatrixRef& x,
                  const ConstMatrixRef& y,
                  const ConstMatrixRef& resp) override;
  // Gradient of the unpenalised weighted log-likelihood.
  Vector score(const ConstMatrixRef& x,
               const ConstMatrixRef& y,
               const ConstMatrixRef& resp) const override;
  Vector parameters() const override;
  void set_parameters(const ConstVectorRef& theta) override;
  Index num_params() const override { return components() * p_ * (L_ - 1); }

  // Class probabilities: K matrices of n x L (not n x q: the mean of a class code is not
  // a useful prediction).
  std::vector<Matrix> predict_means(const ConstMatrixRef& x) const override;
  // Class codes (n x 1).
  Matrix sample(const ConstMatrixRef& x,
                const std::vector<Index>& component,
                Rng& rng) const override;
  void reseed(Index k, const ConstMatrixRef& x, const ConstMatrixRef& y, Index row) override;

  std::vector<ParameterMap> component_params() const override;
  void set_params(const std::vector<ParameterMap>& components, const ParameterMap& shared) override;
  std::unique_ptr<Experts> clone() const override {
    return std::make_unique<LogisticExperts>(*this);
  }

  // p x (L-1): column c-1 holds w_kc.
  const Matrix& coefficients(Index k) const { return coef_[static_cast<size_t>(k)]; }
  void set_coefficients(Index k, const Matrix& W);
  // Whether expert k's weighted data were separated at the last M-step.
  bool separated(Index k) const { return separated_[static_cast<size_t>(k)]; }

 private:
  Matrix targets(const ConstMatrixRef& y, const ConstVectorRef& r) const;  // n x L soft counts
  Vector column_sd(const ConstMatrixRef& x) const;                         // 0 for constant columns

  Index L_, p_;
  std::vector<Matrix> coef_;  // K matrices p x (L-1)
  std::vector<bool> separated_;
  std::vector<std::string> x_names_;
};

}  // namespace moekit
