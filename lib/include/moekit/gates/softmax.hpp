#pragma once
// Softmax gate: g_k(z) = exp(v_k' z) / sum_j exp(v_j' z), with v_1 = 0 (the first expert is
// the reference). The gating network of Jordan & Jacobs (1994); its M-step is a weighted
// multinomial logistic regression of the responsibilities on z, fitted by Newton/IRLS with
// step-halving so that the gate's part of the Q-function never decreases. An optional L2
// penalty (ridge/2) ||v||^2 keeps the coefficients finite when the responsibilities are
// separable in z.

#include "moekit/gates/gate.hpp"

#include <string>
#include <vector>

namespace moekit {

class SoftmaxGate final : public Gate {
 public:
  SoftmaxGate(Index K, Index r, double ridge = 0.0);

  std::string kind() const override { return "softmax"; }
  Index components() const override { return coef_.cols() + 1; }
  void log_weights(const ConstMatrixRef& z, MatrixRef out) const override;
  std::vector<std::string> fit(const ConstMatrixRef& z, const ConstMatrixRef& resp) override;
  // Parameters: v_2, ..., v_K stacked (r values each); the score is of the unpenalised
  // weighted log-likelihood.
  Vector score(const ConstMatrixRef& z, const ConstMatrixRef& resp) const override;
  Vector parameters() const override;
  void set_parameters(const ConstVectorRef& theta) override;
  Index num_params() const override { return coef_.size(); }
  void reset_component(Index k) override;
  ParameterMap params() const override;
  void set_params(const ParameterMap& p) override;
  bool export_pack(kernels::GateStorage& out) const override;
  std::unique_ptr<Gate> clone() const override { return std::make_unique<SoftmaxGate>(*this); }

  // r x (K-1): column k-1 holds v_k (v_1 = 0 is implicit).
  const Matrix& coefficients() const { return coef_; }
  void set_coefficients(const Matrix& V);
  double ridge() const { return ridge_; }

 private:
  Matrix coef_;
  double ridge_;
};

}  // namespace moekit
