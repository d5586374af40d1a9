#pragma once
// Sample quantiles as R's quantile(x, p, type = 7), the default there and in NumPy: the
// linear interpolation between order statistics x_(floor(h)) and x_(floor(h) + 1) at
// h = (n - 1) p (0-based), for bootstrap percentile intervals.

#include "moekit/core/types.hpp"

namespace moekit {

// p in [0, 1]; x not empty (Error otherwise). Leaves x untouched.
double sample_quantile(const ConstVectorRef& x, double p);

}  // namespace moekit
