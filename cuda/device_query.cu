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

double copy_bandwidth() {
  const size_t bytes = size_t{1} << 30;
  void *a = nullptr, *b = nullptr;
  if (cudaMalloc(&a, bytes) != cudaSuccess || cudaMalloc(&b, bytes) != cudaSuccess) {
    cudaFree(a);
    cudaGetLastError();
    return 0.0;
  }
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice);  // warm-up
  float best = 0.0f;
  for (int i = 0; i < 5; ++i) {
    cudaEventRecord(start);
    cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice);
    cudaEventRecord(stop);
    cudaEventSynchronize(stop);
    float ms = 0.0f;
    cudaEventElapsedTime(&ms, start, stop);
    if (ms > 0 && (best == 0.0f || ms < best)) best = ms;
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  cudaFree(a);
  cudaFree(b);
  const bool ok = cudaGetLastError() == cudaSuccess && best > 0.0f;
  return ok ? 2.0 * static_cast<double>(bytes) / (best * 1e-3) / 1e9 : 0.0;
}

}  // namespace moekit::cuda
