#pragma once
// Constant gate: g_k = pi_k, the mixing proportions of a plain mixture (or a mixture of
// regressions). M-step: pi_k = N_k / n.

#include "moekit/gates/gate.hpp"

namespace moekit {

class ConstantGate final : public Gate {
 public:
  explicit ConstantGate(Index K);

  std::string kind() const override { return "constant"; }
  bool reads_covariates() const override { return false; }
  Index components() const override { return weights_.size(); }
  void log_weights(const ConstMatrixRef& z, MatrixRef out) const override;
  std::vector<std::string> fit(const ConstMatrixRef& z, const ConstMatrixRef& resp) override;
  // Parameters: logits eta_k = log(pi_k / pi_1), k = 2..K (the first is the reference).
  Vector score(const ConstMatrixRef& z, const ConstMatrixRef& resp) const override;
  Vector parameters() const override;
  void set_parameters(const ConstVectorRef& theta) override;
  Index num_params() const override { return weights_.size() - 1; }
  void reset_component(Index k) override;
  ParameterMap params() const override;
  void set_params(const ParameterMap& p) override;
  bool export_pack(kernels::GateStorage& out) const override;
  bool fit_masses(const Vector& N) override;
  std::unique_ptr<Gate> clone() const override { return std::make_unique<ConstantGate>(*this); }

  const Vector& weights() const { return weights_; }
  void set_weights(const Vector& w);

 private:
  Vector weights_;
};

}  // namespace moekit
