#include "moekit/backend/estep_backend.hpp"

#include "moekit/core/error.hpp"

namespace moekit {

std::unique_ptr<EStepBackend> make_backend(Device device) {
  if (device == Device::Cpu) return std::make_unique<CpuBackend>();
  throw InputError::option(
      "--device", "cuda",
      "this build has no CUDA E-step kernels yet (moekit info shows the GPU it sees); use "
      "--device cpu");
}

}  // namespace moekit
