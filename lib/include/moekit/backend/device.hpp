#pragma once
// Which compute devices this build and this machine offer. `moekit info` prints this.

#include <string>
#include <vector>

namespace moekit {

enum class Device { Cpu, Cuda };

std::string to_string(Device d);
// "cpu" or "cuda"; InputError naming --device otherwise.
Device parse_device(const std::string& name);

struct GpuInfo {
  int index = 0;
  std::string name;
  int compute_major = 0, compute_minor = 0;
  double memory_gib = 0.0;
  int multiprocessors = 0;
};

struct DeviceReport {
  bool cuda_compiled = false;  // built with the CUDA backend
  int runtime_version = 0;     // CUDA runtime, e.g. 13000
  int driver_version = 0;      // 0 when no driver is installed
  std::vector<GpuInfo> gpus;
  std::string status;  // one plain sentence: what is usable, or why nothing is
};

DeviceReport query_devices();

// Device-to-device copy rate of GPU 0 in GB/s, counting the bytes read and written (the
// roofline's memory bound for the GPU benchmark); 0 without a usable GPU.
double measure_gpu_copy_bandwidth();

}  // namespace moekit
