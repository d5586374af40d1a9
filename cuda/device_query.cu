#include "device_query.hpp"

#include <cuda_runtime.h>

#include <string>

namespace moekit::cuda {

void query(DeviceReport& report) {
  report.cuda_compiled = true;
  cudaRuntimeGetVersion(&report.runtime_version);
  if (cudaDriverGetVersion(&report.driver_version) != cudaSuccess) report.driver_version = 0;
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    report.status = std::string("CUDA backend built, but no GPU is usable: ") +
                    cudaGetErrorString(err) +
                    (report.driver_version == 0 ? " (no NVIDIA driver found)" : "");
    cudaGetLastError();  // clear the sticky error
    return;
  }
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) continue;
    GpuInfo g;
    g.index = i;
    g.name = prop.name;
    g.compute_major = prop.major;
    g.compute_minor = prop.minor;
    g.memory_gib = static_cast<double>(prop.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0);
    g.multiprocessors = prop.multiProcessorCount;
    report.gpus.push_back(g);
  }
  report.status = count == 0 ? "CUDA backend built, but no GPU was found"
                             : "CUDA backend built; " + std::to_string(count) + " GPU(s) usable";
}

}  // namespace moekit::cuda
