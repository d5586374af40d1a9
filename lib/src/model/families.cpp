#include "moekit/model/families.hpp"

#include "moekit/core/error.hpp"
#include "moekit/experts/binomial.hpp"
#include "moekit/experts/gamma.hpp"
#include "moekit/experts/gaussian.hpp"
#include "moekit/experts/laplace.hpp"
#include "moekit/experts/linear.hpp"
#include "moekit/experts/logistic.hpp"
#include "moekit/experts/negative_binomial.hpp"
#include "moekit/experts/poisson.hpp"
#include "moekit/experts/student_t.hpp"
#include "moekit/gates/constant.hpp"
#include "moekit/gates/gaussian.hpp"
#include "moekit/gates/softmax.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace moekit {

namespace {

const std::vector<ExpertFamilyTraits>& expert_table() {
  static const std::vector<ExpertFamilyTraits> t = {
      {"gaussian", false, true, false, false}, {"linear", false, true, false, true},
      {"logistic", true, false, false, true},  {"laplace", false, false, false, true},
      {"t", false, true, true, true},          {"poisson", false, false, false, true},
      {"binomial", false, false, false, true}, {"gamma", false, false, false, true},
      {"negbin", false, false, false, true}};
  return t;
}

const std::vector<GateKindTraits>& gate_table() {
  static const std::vector<GateKindTraits> t = {{"constant", false, false, false},
                                                {"softmax", true, false, true},
                                                {"gaussian", false, true, true}};
  return t;
}

std::string joined(const std::vector<std::string>& names) {
  std::string s;
  for (size_t i = 0; i < names.size(); ++i)
    s += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + names[i];
  return s;
}

}  // namespace

std::vector<std::string> expert_family_names() {
  std::vector<std::string> out;
  for (const auto& t : expert_table()) out.push_back(t.name);
  return out;
}

std::vector<std::string> gate_kind_names() {
  std::vector<std::string> out;
  for (const auto& t : gate_table()) out.push_back(t.name);
  return out;
}

const ExpertFamilyTraits& expert_family(const std::string& name) {
  for (const auto& t : expert_table())
    if (t.name == name) return t;
  throw InputError::option("--experts", name,
                           "must be " + joined(expert_family_names()) + " (this build's families)");
}

const GateKindTraits& gate_kind(const std::string& name) {
  for (const auto& t : gate_table())
    if (t.name == name) return t;
  throw InputError::option("--gate", name,
                           "must be " + joined(gate_kind_names()) + " (this build's gates)");
}

Index expert_num_params(const ModelSpec& spec, Index q, Index p) {
  const std::string& f = expert_family(spec.experts).name;
  // With K = 1 a tied covariance has as many parameters as its untied structure.
  const Index cov = covariance_num_params(spec.covariance, 1, q);
  if (f == "gaussian") return q + cov;
  if (f == "linear") return p * q + cov;
  if (f == "logistic")
    return p * std::max<Index>(static_cast<Index>(spec.data.response_levels.size()) - 1, 1);
  if (f == "laplace") return p + 1;
  if (f == "poisson" || f == "binomial") return p;
  if (f == "gamma" || f == "negbin") return p + 1;
  return p * q + cov + (spec.df == 0.0 ? 1 : 0);  // t: nu estimated unless --df
}

void check_rows_for_experts(const ModelSpec& spec, const Dataset& data) {
  const Index q = data.y.cols(), p = data.x.cols(), n = data.rows();
  const Index params = expert_num_params(spec, q, p);
  if (params <= n) return;
  const bool covariance = expert_family(spec.experts).uses_covariance;
  throw InputError(
      SourceLocation{data.source},
      fmt::format(
          "one {} expert{} has {} parameters ({} response column{}, {} "
          "covariate column{}) but the data have {} rows: fewer columns, "
          "{}or more rows",
          spec.experts,
          covariance ? fmt::format(" ({} covariance)", to_string(spec.covariance)) : std::string(),
          params, q, q == 1 ? "" : "s", p, p == 1 ? "" : "s", n,
          covariance ? "a simpler --covariance (diag, spherical), " : ""));
}

std::unique_ptr<Experts> make_experts(const ModelSpec& spec, Index q, Index p) {
  const std::string& f = expert_family(spec.experts).name;
  if (f == "gaussian")
    return std::make_unique<GaussianExperts>(spec.K, q, spec.covariance, spec.reg_covar,
                                             spec.collapse_tol);
  if (f == "linear")
    return std::make_unique<LinearExperts>(spec.K, q, p, spec.covariance, spec.reg_covar,
                                           spec.collapse_tol, spec.data.x_names);
  if (f == "logistic") {
    const auto L = static_cast<Index>(spec.data.response_levels.size());
    if (!spec.data.categorical_response || L < 2)
      throw InputError::option(
          "--experts", spec.experts,
          "needs class labels with at least two levels on the left of the formula");
    return std::make_unique<LogisticExperts>(spec.K, L, p, spec.data.x_names);
  }
  if (f == "poisson") {
    if (q != 1)
      throw InputError::option("--formula", spec.data.formula,
                               fmt::format("poisson experts model one count response, not {}", q));
    return std::make_unique<PoissonExperts>(spec.K, p, spec.data.x_names);
  }
  if (f == "binomial") {
    if (q != 2)
      throw InputError::option(
          "--formula", spec.data.formula,
          fmt::format("binomial experts model successes and failures, cbind(successes, "
                      "failures) ~ ..., not {} response column(s)",
                      q));
    return std::make_unique<BinomialExperts>(spec.K, p, spec.data.x_names);
  }
  if (f == "gamma") {
    if (q != 1)
      throw InputError::option("--formula", spec.data.formula,
                               fmt::format("gamma experts model one response, not {}", q));
    return std::make_unique<GammaExperts>(spec.K, p, spec.data.x_names);
  }
  if (f == "negbin") {
    if (q != 1)
      throw InputError::option("--formula", spec.data.formula,
                               fmt::format("negbin experts model one count response, not {}", q));
    return std::make_unique<NegativeBinomialExperts>(spec.K, p, spec.data.x_names);
  }
  if (f == "laplace") return std::make_unique<LaplaceExperts>(spec.K, q, p, spec.collapse_tol);
  return std::make_unique<StudentTExperts>(spec.K, q, p, spec.covariance, spec.reg_covar, spec.df,
                                           spec.collapse_tol);
}

std::unique_ptr<Gate> make_gate(const ModelSpec& spec, Index children, Index r) {
  const std::string& g = gate_kind(spec.gate).name;
  if (g == "constant") return std::make_unique<ConstantGate>(children);
  if (g == "softmax") return std::make_unique<SoftmaxGate>(children, r, spec.gate_ridge);
  const Index first =
      !spec.data.z_names.empty() && spec.data.z_names.front() == "(Intercept)" ? 1 : 0;
  return std::make_unique<GaussianGate>(children, r - first, first, spec.gate_covariance,
                                        spec.reg_covar, spec.collapse_tol);
}

}  // namespace moekit
