#include "moekit/model/model.hpp"

#include "moekit/core/error.hpp"
#include "moekit/experts/gaussian.hpp"
#include "moekit/experts/laplace.hpp"
#include "moekit/experts/linear.hpp"
#include "moekit/experts/logistic.hpp"
#include "moekit/experts/student_t.hpp"
#include "moekit/gates/constant.hpp"
#include "moekit/gates/softmax.hpp"

#include <fmt/format.h>

#include <cmath>

namespace moekit {

void ModelSpec::validate() const {
  if (K < 1) throw InputError::option("-k", std::to_string(K), "must be >= 1");
  if (!(reg_covar >= 0) || !std::isfinite(reg_covar))
    throw InputError::option("--reg-covar", fmt::format("{}", reg_covar),
                             "must be finite and >= 0");
  if (!(collapse_tol >= 0) || !(collapse_tol < 1))
    throw InputError::option("--collapse-tol", fmt::format("{}", collapse_tol),
                             "must be in [0, 1)");
  if (!(gate_ridge >= 0) || !std::isfinite(gate_ridge))
    throw InputError::option("--gate-ridge", fmt::format("{}", gate_ridge),
                             "must be finite and >= 0");
  if (!(df >= 0) || !std::isfinite(df))
    throw InputError::option("--df", fmt::format("{}", df),
                             "must be finite and > 0 (or 0: estimate nu)");
}

std::unique_ptr<Experts> make_experts(const ModelSpec& spec, Index q, Index p) {
  if (spec.experts == "gaussian")
    return std::make_unique<GaussianExperts>(spec.K, q, spec.covariance, spec.reg_covar,
                                             spec.collapse_tol);
  if (spec.experts == "linear")
    return std::make_unique<LinearExperts>(spec.K, q, p, spec.covariance, spec.reg_covar,
                                           spec.collapse_tol, spec.data.x_names);
  if (spec.experts == "logistic") {
    const auto L = static_cast<Index>(spec.data.response_levels.size());
    if (!spec.data.categorical_response || L < 2)
      throw InputError::option(
          "--experts", spec.experts,
          "needs class labels with at least two levels on the left of the formula");
    return std::make_unique<LogisticExperts>(spec.K, L, p, spec.data.x_names);
  }
  if (spec.experts == "laplace")
    return std::make_unique<LaplaceExperts>(spec.K, q, p, spec.collapse_tol);
  if (spec.experts == "t")
    return std::make_unique<StudentTExperts>(spec.K, q, p, spec.covariance, spec.reg_covar, spec.df,
                                             spec.collapse_tol);
  throw InputError::option(
      "--experts", spec.experts,
      "must be gaussian, linear, logistic, laplace or t (this build's families)");
}

std::unique_ptr<Gate> make_gate(const ModelSpec& spec, Index r) {
  if (spec.gate == "constant") return std::make_unique<ConstantGate>(spec.K);
  if (spec.gate == "softmax") return std::make_unique<SoftmaxGate>(spec.K, r, spec.gate_ridge);
  throw InputError::option("--gate", spec.gate, "must be constant or softmax (this build's gates)");
}

Model::Model(const ModelSpec& spec, Index q, Index p, Index r)
    : spec_(spec), experts_(make_experts(spec, q, p)), gate_(make_gate(spec, r)) {}

Model::Model(const Model& other)
    : spec_(other.spec_),
      experts_(other.experts_ ? other.experts_->clone() : nullptr),
      gate_(other.gate_ ? other.gate_->clone() : nullptr) {}

Model& Model::operator=(const Model& other) {
  if (this != &other) {
    Model copy(other);
    *this = std::move(copy);
  }
  return *this;
}

void Model::log_joint(const Dataset& data, Index begin, Index size, MatrixRef out) const {
  thread_local Matrix dens;
  dens.resize(size, spec_.K);
  gate_->log_weights(data.z.middleRows(begin, size), out);
  experts_->log_density(data.x.middleRows(begin, size), data.y.middleRows(begin, size), dens);
  out += dens;
}

Vector Model::parameters() const {
  const Vector g = gate_->parameters(), e = experts_->parameters();
  Vector theta(g.size() + e.size());
  theta << g, e;
  return theta;
}

void Model::set_parameters(const ConstVectorRef& theta) {
  const Index ng = gate_->num_params();
  gate_->set_parameters(theta.head(ng));
  experts_->set_parameters(theta.tail(theta.size() - ng));
}

}  // namespace moekit
