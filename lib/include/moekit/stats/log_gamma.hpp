#pragma once
// log Gamma(v) without the global sign variable std::lgamma writes (a data race when the
// experts' M-steps and scores run on several threads).

#include <cmath>

namespace moekit {

inline double log_gamma(double v) {
#if defined(__GLIBC__)
  int sign = 0;
  return lgamma_r(v, &sign);
#else
  return std::lgamma(v);
#endif
}

}  // namespace moekit
