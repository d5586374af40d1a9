// Row-wise log-sum-exp (core/logsumexp.hpp): against long double, across the chunk and
// lane boundaries, and with infinite and NaN entries.

#include "moekit/core/logsumexp.hpp"
#include "moekit/core/rng.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

using namespace moekit;

TEST_CASE("row log-sum-exp agrees with long double and keeps infinities and NaN", "[logsumexp]") {
  const double inf = std::numeric_limits<double>::infinity();
  Rng rng(9);
  const Index n = 517, K = 5;  // two chunks of 256 and a ragged tail
  Matrix a(n, K);
  for (Index i = 0; i < n; ++i)
    for (Index k = 0; k < K; ++k) a(i, k) = 800.0 * (uniform01(rng) - 0.5);
  a.row(3).setConstant(-inf);
  a(4, 2) = inf;
  a(5, 1) = std::nan("");
  a(6, 0) = -inf;                // one -inf term among finite ones
  a.row(7).setConstant(-745.0);  // every term underflows without the shift
  Vector out(n);
  row_log_sum_exp(a, out);
  CHECK(out(3) == -inf);
  CHECK(out(4) == inf);
  CHECK(std::isnan(out(5)));
  double worst = 0.0;
  for (Index i = 0; i < n; ++i) {
    if (i >= 3 && i <= 5) continue;
    long double m = -std::numeric_limits<long double>::infinity();
    for (Index k = 0; k < K; ++k) m = std::max(m, static_cast<long double>(a(i, k)));
    long double s = 0.0L;
    for (Index k = 0; k < K; ++k) s += std::exp(static_cast<long double>(a(i, k)) - m);
    const long double want = m + std::log(s);
    worst = std::max(worst,
                     static_cast<double>(std::abs(out(i) - want) / std::max(1.0L, std::abs(want))));
  }
  CHECK(worst < 4e-16);
  CHECK(std::abs(out(7) - (-745.0 + std::log(5.0))) < 1e-12);
}
