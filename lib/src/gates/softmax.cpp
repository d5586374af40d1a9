#include "moekit/gates/softmax.hpp"

#include "moekit/core/error.hpp"
#include "moekit/stats/weighted_multinomial.hpp"

#include <fmt/format.h>

#include <cmath>

namespace moekit {

SoftmaxGate::SoftmaxGate(Index K, Index r, double ridge)
    : coef_(Matrix::Zero(r, K - 1)), ridge_(ridge) {
  if (K < 1 || r < 1)
    throw InputError("softmax gate: needs K >= 1 and at least one gate covariate");
  if (!(ridge >= 0.0) || !std::isfinite(ridge))
    throw InputError::option("--gate-ridge", fmt::format("{}", ridge), "must be finite and >= 0");
}

void SoftmaxGate::log_weights(const ConstMatrixRef& z, MatrixRef out) const {
  if (z.cols() != coef_.rows())
    throw Error("SoftmaxGate::log_weights: wrong number of gate covariates");
  multinomial_log_probs(z, coef_, out);
}

std::vector<std::string> SoftmaxGate::fit(const ConstMatrixRef& z, const ConstMatrixRef& resp) {
  if (coef_.cols() == 0) return {};
  if (z.cols() != coef_.rows() || resp.cols() != components() || z.rows() != resp.rows())
    throw Error("SoftmaxGate::fit: shape mismatch");
  // Jordan & Jacobs (1994), eq. 32: maximise sum_i sum_k h_ik log g_k(z_i; V), a multinomial
  // logit with the posteriors h_ik as soft counts. Newton with step-halving from the
  // current V: a generalised-EM step even when capped at a few iterations.
  const Vector penalty = Vector::Constant(coef_.rows(), ridge_);
  const MultinomialFit f =
      fit_multinomial(z, resp, ridge_ > 0.0 ? penalty : Vector(), coef_, 25, 1e-12);
  std::vector<std::string> warnings;
  if (ridge_ == 0.0 && f.max_abs_eta > 50.0)
    warnings.push_back(
        "softmax gate: the responsibilities are (nearly) separable in the gate covariates and the "
        "gate "
        "coefficients grow without bound; the fit is still valid, but --gate-ridge (e.g. 1e-3) "
        "keeps them finite");
  return warnings;
}

bool SoftmaxGate::export_pack(kernels::GateStorage& out) const {
  out.kind = kernels::GateKind::Softmax;
  out.K = static_cast<int>(components());
  out.r = static_cast<int>(coef_.rows());
  out.values.resize(static_cast<size_t>(coef_.size()));
  for (Index j = 0; j < coef_.rows(); ++j)
    for (Index c = 0; c < coef_.cols(); ++c)
      out.values[static_cast<size_t>(j * coef_.cols() + c)] = coef_(j, c);
  return true;
}

Vector SoftmaxGate::score(const ConstMatrixRef& z, const ConstMatrixRef& resp) const {
  Matrix g;
  multinomial_objective(z, resp, Vector(), coef_, &g);
  return Eigen::Map<const Vector>(g.data(), g.size());
}

Vector SoftmaxGate::parameters() const {
  return Eigen::Map<const Vector>(coef_.data(), coef_.size());
}

void SoftmaxGate::set_parameters(const ConstVectorRef& theta) {
  if (theta.size() != coef_.size()) throw Error("SoftmaxGate::set_parameters: wrong length");
  coef_ = Eigen::Map<const Matrix>(theta.data(), coef_.rows(), coef_.cols());
}

void SoftmaxGate::reset_component(Index k) {
  // A re-seeded expert starts level with the reference expert (v_k = 0); re-seeding the
  // reference itself resets the gate to equal weights.
  if (k == 0)
    coef_.setZero();
  else
    coef_.col(k - 1).setZero();
}

void SoftmaxGate::set_coefficients(const Matrix& V) {
  if (V.rows() != coef_.rows() || V.cols() != coef_.cols())
    throw ModelFormatError(fmt::format("softmax gate: coefficients are {}x{}, expected {}x{}",
                                       V.rows(), V.cols(), coef_.rows(), coef_.cols()));
  if (!V.allFinite()) throw ModelFormatError("softmax gate: coefficients are not finite");
  coef_ = V;
}

ParameterMap SoftmaxGate::params() const {
  // Stored r x K with the reference column of zeros, so that the file reads like a table
  // of gate coefficients per expert.
  Matrix V(coef_.rows(), coef_.cols() + 1);
  V.col(0).setZero();
  V.rightCols(coef_.cols()) = coef_;
  return {{"coefficients", V}};
}

void SoftmaxGate::set_params(const ParameterMap& p) {
  auto it = p.find("coefficients");
  if (it == p.end()) throw ModelFormatError("softmax gate: missing 'coefficients'");
  Matrix V = it->second;
  if (V.cols() != components() || V.rows() != coef_.rows())
    throw ModelFormatError(fmt::format("softmax gate: 'coefficients' is {}x{}, expected {}x{}",
                                       V.rows(), V.cols(), coef_.rows(), components()));
  // Any reference column is allowed on input: the gate is invariant to a common shift.
  for (Index k = 1; k < V.cols(); ++k) V.col(k) -= V.col(0);
  set_coefficients(V.rightCols(coef_.cols()));
}

}  // namespace moekit
