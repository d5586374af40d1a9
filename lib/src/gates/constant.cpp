#include "moekit/gates/constant.hpp"

#include "moekit/core/error.hpp"
#include "moekit/core/process_sums.hpp"

#include <fmt/format.h>

#include <cmath>

namespace moekit {

ConstantGate::ConstantGate(Index K) : weights_(Vector::Constant(K, 1.0 / static_cast<double>(K))) {}

void ConstantGate::log_weights(const ConstMatrixRef& z, MatrixRef out) const {
  const RowVector lw = weights_.array().log().matrix().transpose();
  out = lw.replicate(z.rows(), 1);
}

bool ConstantGate::export_pack(kernels::GateStorage& out) const {
  out.kind = kernels::GateKind::Constant;
  out.K = static_cast<int>(weights_.size());
  out.r = 0;
  out.values.resize(static_cast<size_t>(weights_.size()));
  for (Index k = 0; k < weights_.size(); ++k)
    out.values[static_cast<size_t>(k)] = std::log(weights_(k));
  return true;
}

bool ConstantGate::fit_masses(const Vector& N) {
  weights_ = N / N.sum();
  return true;
}

std::vector<std::string> ConstantGate::fit(const ConstMatrixRef&, const ConstMatrixRef& resp) {
  // The masses of all the rows, where processes share them (core/process_sums.hpp).
  Vector N = resp.colwise().sum().transpose();
  sum_over_processes(N.data(), N.size());
  weights_ = N / N.sum();
  return {};
}

Vector ConstantGate::score(const ConstMatrixRef&, const ConstMatrixRef& resp) const {
  // d/d eta_k of sum_i sum_j r_ij log pi_j = N_k - n pi_k.
  const Vector N = resp.colwise().sum().transpose();
  return (N - N.sum() * weights_).tail(weights_.size() - 1);
}

Vector ConstantGate::parameters() const {
  return (weights_.array() / weights_(0)).log().matrix().tail(weights_.size() - 1);
}

void ConstantGate::set_parameters(const ConstVectorRef& theta) {
  Vector eta(weights_.size());
  eta(0) = 0.0;
  eta.tail(theta.size()) = theta;
  const double m = eta.maxCoeff();
  Vector w = (eta.array() - m).exp();
  weights_ = w / w.sum();
}

void ConstantGate::reset_component(Index k) {
  weights_(k) = 1.0 / static_cast<double>(weights_.size());
  weights_ /= weights_.sum();
}

void ConstantGate::set_weights(const Vector& w) {
  if (w.size() != weights_.size() || !(w.array() > 0).all() || !w.allFinite())
    throw ModelFormatError("constant gate: weights must be K positive numbers");
  // Weights that already sum to one (up to rounding) are kept bit for bit, so that a model
  // read back from its file predicts exactly what the fitted one did.
  const double total = w.sum();
  weights_ = std::abs(total - 1.0) <= 1e-12 ? w : Vector(w / total);
}

ParameterMap ConstantGate::params() const { return {{"weights", weights_}}; }

void ConstantGate::set_params(const ParameterMap& p) {
  auto it = p.find("weights");
  if (it == p.end() || it->second.cols() != 1)
    throw ModelFormatError("constant gate: missing 'weights' (K numbers)");
  set_weights(it->second.col(0));
}

}  // namespace moekit
