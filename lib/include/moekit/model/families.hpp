#pragma once
// The one place that maps family and gate names to classes, and what each needs from the
// data and the options. Everything else asks the objects (Experts, Gate) or these traits.

#include "moekit/experts/expert.hpp"
#include "moekit/gates/gate.hpp"
#include "moekit/model/model_spec.hpp"

#include <memory>
#include <string>
#include <vector>

namespace moekit {

struct ExpertFamilyTraits {
  std::string name;
  bool categorical_response = false;  // class labels on the left of the formula
  bool uses_covariance = false;       // --covariance applies
  bool estimates_df = false;          // --df applies
  bool reads_covariates = true;       // the right side of the formula feeds the experts
};
struct GateKindTraits {
  std::string name;
  bool uses_ridge = false;       // --gate-ridge applies
  bool uses_covariance = false;  // --gate-covariance applies
  bool reads_covariates = true;  // --gate-formula (or the formula's right side) feeds the gate
};

// InputError naming --experts / --gate for an unknown name, listing the known ones.
const ExpertFamilyTraits& expert_family(const std::string& name);
const GateKindTraits& gate_kind(const std::string& name);
std::vector<std::string> expert_family_names();
std::vector<std::string> gate_kind_names();

// The free parameters of one expert of spec.experts (as for K = 1: its own covariance
// whole) with q response columns and p expert covariates, computed without building it.
Index expert_num_params(const ModelSpec& spec, Index q, Index p);
// InputError when one expert has more free parameters than `data` has rows: no split of the
// rows can estimate it. Checked before a Model is built, which would allocate q x q doubles
// per expert first (20,000 columns: 40,000 parameters and 6.4 GB for K = 2 before).
void check_rows_for_experts(const ModelSpec& spec, const Dataset& data);

// K = spec.K experts of spec.experts; q response columns, p expert covariates.
std::unique_ptr<Experts> make_experts(const ModelSpec& spec, Index q, Index p);
// A gate of spec.gate over `children` branches, reading r gate covariates named in
// spec.data.z_names (a leading "(Intercept)" is skipped by gates that model z).
std::unique_ptr<Gate> make_gate(const ModelSpec& spec, Index children, Index r);

}  // namespace moekit
