#pragma once
// Internal to moekit: the CUDA side of query_devices(). No CUDA headers leak from here.

#include "moekit/backend/device.hpp"

namespace moekit::cuda {

// Fills the CUDA fields of `report` using the CUDA runtime; never throws.
void query(DeviceReport& report);

// GB/s of a 1 GiB device-to-device copy (read + write bytes), best of 5; 0 on any error.
double copy_bandwidth();

}  // namespace moekit::cuda
