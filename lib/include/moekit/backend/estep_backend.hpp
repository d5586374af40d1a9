#pragma once
// The E-step: posterior responsibilities and the observed-data log-likelihood. Backends
// (CPU now, CUDA later) compute the same thing over fixed row blocks, reducing in block
// order so that results do not depend on the number of threads.

#include "moekit/backend/device.hpp"
#include "moekit/model/model.hpp"

#include <memory>

namespace moekit {

struct EStepResult {
  double loglik = 0.0;  // sum_i log sum_k g_k p_k
};

class EStepBackend {
 public:
  virtual ~EStepBackend() = default;
  virtual std::string name() const = 0;
  // resp (n x K) receives posterior probabilities; row_loglik (n), when non-null, the
  // per-row log-likelihood. Throws NumericalError when a row has zero density under
  // every component or a non-finite value appears.
  virtual EStepResult estep(const Model& model,
                            const Dataset& data,
                            Matrix& resp,
                            Vector* row_loglik) const = 0;
};

class CpuBackend final : public EStepBackend {
 public:
  std::string name() const override { return "cpu"; }
  EStepResult estep(const Model& model,
                    const Dataset& data,
                    Matrix& resp,
                    Vector* row_loglik) const override;
};

// The only factory. Device::Cuda is an InputError naming --device until the CUDA backend
// issue lands (the device query in `moekit info` is all this build has).
std::unique_ptr<EStepBackend> make_backend(Device device);

}  // namespace moekit
