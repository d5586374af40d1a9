#pragma once
// A gate: the mixing weights g_k(z) over the children of one inner node of the gating tree
// (experts, or further gates), as an n x K block of log-weights. A gate may also model its
// covariates (the Gaussian gate of Xu, Jordan & Hinton 1995): then its unnormalised weights
// alpha_k p_k(z) enter the joint likelihood p(z, y) that EM maximises.

#include "moekit/core/types.hpp"
#include "moekit/kernels/pack_storage.hpp"

#include <memory>
#include <string>
#include <vector>

namespace moekit {

class Gate {
 public:
  virtual ~Gate() = default;

  virtual std::string kind() const = 0;  // "constant", "softmax", ...
  virtual Index components() const = 0;

  // out(i, k) = log g_k(z_i) for the rows of one block (z: b x r, out: b x K).
  virtual void log_weights(const ConstMatrixRef& z, MatrixRef out) const = 0;

  // True for a gate that models z (its joint weights are densities in z).
  virtual bool joint() const { return false; }
  // out(i, k) = log of the weight that enters EM's objective: log g_k(z_i) for a
  // conditional gate, log alpha_k p_k(z_i) for a joint one.
  virtual void log_joint_weights(const ConstMatrixRef& z, MatrixRef out) const {
    log_weights(z, out);
  }
  // Whether the weights depend on z at all (a constant gate's do not).
  virtual bool reads_covariates() const { return true; }
  // InputError when the gate cannot use these covariates (names and source for the message).
  virtual void check_covariates(const ConstMatrixRef& /*z*/,
                                const std::vector<std::string>& /*names*/,
                                const std::string& /*source*/) const {}

  // M-step: increases sum_i sum_k resp(i, k) log w_k(z_i), w the joint weights above (a
  // weighted multinomial fit for conditional gates). The rows of resp need not sum to one:
  // below the root they sum to the posterior of the gate's own node.
  virtual std::vector<std::string> fit(const ConstMatrixRef& z, const ConstMatrixRef& resp) = 0;

  // Gradient of sum_i sum_k resp(i, k) log w_k(z_i) in parameters().
  virtual Vector score(const ConstMatrixRef& z, const ConstMatrixRef& resp) const = 0;
  virtual Vector parameters() const = 0;
  virtual void set_parameters(const ConstVectorRef& theta) = 0;
  virtual Index num_params() const = 0;

  // After component k was re-seeded: give it a fair share again.
  virtual void reset_component(Index k) = 0;

  virtual ParameterMap params() const = 0;
  virtual void set_params(const ParameterMap& p) = 0;

  // The gate in the layout of kernels::GatePack; false for kinds the kernels do not have.
  virtual bool export_pack(kernels::GateStorage& /*out*/) const { return false; }
  // The M-step from the children's posterior masses alone (a constant gate's); false when
  // the gate needs the rows.
  virtual bool fit_masses(const Vector& /*N*/) { return false; }

  virtual std::unique_ptr<Gate> clone() const = 0;
};

}  // namespace moekit
