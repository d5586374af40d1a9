#pragma once
// A mixture of experts: p(y | x, z) = sum_k g_k(z) p_k(y | x). The model owns its gate and
// experts and is a value (copies are deep). The E-step is computed block by block: log
// joint = log gate weight + log expert density, normalised by a log-sum-exp.

#include "moekit/experts/expert.hpp"
#include "moekit/gates/gate.hpp"
#include "moekit/model/model_spec.hpp"

#include <memory>

namespace moekit {

class Model {
 public:
  Model() = default;
  // Builds families from the spec with default parameters; q is the response dimension,
  // p and r the numbers of expert and gate covariates.
  Model(const ModelSpec& spec, Index q, Index p, Index r);
  Model(const Model& other);
  Model& operator=(const Model& other);
  Model(Model&&) noexcept = default;
  Model& operator=(Model&&) noexcept = default;

  const ModelSpec& spec() const { return spec_; }
  ModelSpec& spec() { return spec_; }
  Index components() const { return spec_.K; }
  Experts& experts() { return *experts_; }
  const Experts& experts() const { return *experts_; }
  Gate& gate() { return *gate_; }
  const Gate& gate() const { return *gate_; }

  // out(i, k) = log g_k(z_i) + log p_k(y_i | x_i) for rows [begin, begin + size).
  void log_joint(const Dataset& data, Index begin, Index size, MatrixRef out) const;

  // Free parameters: gate + experts.
  Index num_params() const { return gate_->num_params() + experts_->num_params(); }

  // All unconstrained parameters (gate first) and the observed-data score in them.
  Vector parameters() const;
  void set_parameters(const ConstVectorRef& theta);

 private:
  ModelSpec spec_;
  std::unique_ptr<Experts> experts_;
  std::unique_ptr<Gate> gate_;
};

// Factories by family name; InputError naming --experts / --gate for unknown names.
std::unique_ptr<Experts> make_experts(const ModelSpec& spec, Index q, Index p);
std::unique_ptr<Gate> make_gate(const ModelSpec& spec, Index r);

}  // namespace moekit
