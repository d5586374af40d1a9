#include "moekit/backend/device.hpp"

#include "moekit/config.hpp"
#include "moekit/core/error.hpp"

#if MOEKIT_HAS_CUDA
#include "device_query.hpp"
#endif

namespace moekit {

std::string to_string(Device d) { return d == Device::Cuda ? "cuda" : "cpu"; }

Device parse_device(const std::string& name) {
  if (name == "cpu") return Device::Cpu;
  if (name == "cuda") return Device::Cuda;
  throw InputError::option("--device", name, "must be cpu or cuda");
}

DeviceReport query_devices() {
  DeviceReport r;
#if MOEKIT_HAS_CUDA
  cuda::query(r);
#else
  r.status = "built without CUDA (reconfigure with -DMOEKIT_CUDA=ON where nvcc is installed)";
#endif
  return r;
}

double measure_gpu_copy_bandwidth() {
#if MOEKIT_HAS_CUDA
  DeviceReport r;
  cuda::query(r);
  return r.gpus.empty() ? 0.0 : cuda::copy_bandwidth();
#else
  return 0.0;
#endif
}

}  // namespace moekit
