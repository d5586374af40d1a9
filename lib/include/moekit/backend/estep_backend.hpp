#pragma once
// Where the E-step runs. The CPU backend is the model's own E-step (fixed row blocks,
// reduced in block order, so results do not depend on the number of threads); a CUDA
// backend will implement the same call.

#include "moekit/backend/device.hpp"
#include "moekit/data/dataset.hpp"
#include "moekit/model/model.hpp"
#include "moekit/model/posteriors.hpp"

#include <memory>
#include <string>

namespace moekit {

class EStepBackend {
 public:
  virtual ~EStepBackend() = default;
  virtual std::string name() const = 0;
  // Fills the posteriors of every node and the log-likelihoods. Throws NumericalError when
  // a row has zero density under every expert or a non-finite value appears.
  virtual void estep(const Model& model, const Dataset& data, Posteriors& out) const = 0;
};

class CpuBackend final : public EStepBackend {
 public:
  std::string name() const override { return "cpu"; }
  void estep(const Model& model, const Dataset& data, Posteriors& out) const override {
    model.e_step(data, out);
  }
};

// The only factory. Device::Cuda is an InputError naming --device until the CUDA backend
// issue lands (the device query in `moekit info` is all this build has).
std::unique_ptr<EStepBackend> make_backend(Device device);

}  // namespace moekit
