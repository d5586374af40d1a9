#pragma once
// The scalar functions the per-row kernels use, for the host and (under nvcc) the device.
// Device code cannot call the standard library, so each is spelled once here for both.

#include "moekit/core/hd.hpp"

#include <cmath>

namespace moekit::kernels {

#if defined(__CUDA_ARCH__)
MOEKIT_HD inline double exp_(double v) { return ::exp(v); }
MOEKIT_HD inline float exp_(float v) { return ::expf(v); }
MOEKIT_HD inline double log_(double v) { return ::log(v); }
MOEKIT_HD inline float log_(float v) { return ::logf(v); }
MOEKIT_HD inline bool finite_(double v) { return ::isfinite(v); }
MOEKIT_HD inline bool finite_(float v) { return ::isfinite(v); }
#else
inline double exp_(double v) { return std::exp(v); }
inline float exp_(float v) { return std::exp(v); }
inline double log_(double v) { return std::log(v); }
inline float log_(float v) { return std::log(v); }
inline bool finite_(double v) { return std::isfinite(v); }
inline bool finite_(float v) { return std::isfinite(v); }
#endif

template <typename Real>
MOEKIT_HD inline Real neg_inf() {
  return -static_cast<Real>(INFINITY);
}

}  // namespace moekit::kernels
