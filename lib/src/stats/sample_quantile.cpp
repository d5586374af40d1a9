#include "moekit/stats/sample_quantile.hpp"

#include "moekit/core/error.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace moekit {

double sample_quantile(const ConstVectorRef& x, double p) {
  if (x.size() == 0) throw Error("sample_quantile: no values");
  if (!(p >= 0.0 && p <= 1.0))
    throw Error(fmt::format("sample_quantile: the probability {} is not in [0, 1]", p));
  std::vector<double> v(x.data(), x.data() + x.size());
  std::sort(v.begin(), v.end());
  const double h = static_cast<double>(v.size() - 1) * p;
  const auto lo = static_cast<size_t>(std::floor(h));
  if (lo + 1 >= v.size()) return v.back();
  return v[lo] + (h - static_cast<double>(lo)) * (v[lo + 1] - v[lo]);
}

}  // namespace moekit
