#pragma once
// Wall-clock seconds for the fit records and progress callbacks of the fitters.

#include <chrono>

namespace moekit {

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace moekit
