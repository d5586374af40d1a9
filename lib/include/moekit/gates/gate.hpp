#pragma once
// A gate: the mixing weights g_k(z) of the experts as an n x K block of log-weights.

#include "moekit/core/types.hpp"

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

  // M-step: increases sum_i sum_k resp(i, k) log g_k(z_i) (a weighted multinomial fit).
  virtual std::vector<std::string> fit(const ConstMatrixRef& z, const ConstMatrixRef& resp) = 0;

  // Gradient of sum_i sum_k resp(i, k) log g_k(z_i) in parameters().
  virtual Vector score(const ConstMatrixRef& z, const ConstMatrixRef& resp) const = 0;
  virtual Vector parameters() const = 0;
  virtual void set_parameters(const ConstVectorRef& theta) = 0;
  virtual Index num_params() const = 0;

  // After component k was re-seeded: give it a fair share again.
  virtual void reset_component(Index k) = 0;

  virtual ParameterMap params() const = 0;
  virtual void set_params(const ParameterMap& p) = 0;

  virtual std::unique_ptr<Gate> clone() const = 0;
};

}  // namespace moekit
