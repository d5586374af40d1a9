#pragma once
// Eight doubles that the CPU kernels process together, one row of a tile in each lane: a
// GCC/Clang vector type, so that the loops over a tile's rows become vector instructions
// without intrinsics (one AVX-512 register with -march=native on such a CPU, two AVX2 or four
// SSE2 registers elsewhere). exp and log of all lanes at once: the E-step takes K
// exponentials per row, and the C library's scalar exp would cost more than the rest of it.
// CPU only: the CUDA kernels take one row per thread (row_math.hpp).

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

namespace moekit::kernels {

inline constexpr int kLanes = 8;
typedef double Lanes __attribute__((vector_size(kLanes * sizeof(double))));
typedef std::int64_t LaneBits __attribute__((vector_size(kLanes * sizeof(double))));

inline Lanes load_lanes(const double* p) {
  Lanes v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store_lanes(double* p, Lanes v) { std::memcpy(p, &v, sizeof v); }
inline Lanes broadcast(double x) { return Lanes{} + x; }
inline Lanes select(LaneBits mask, Lanes yes, Lanes no) {
  return reinterpret_cast<Lanes>((reinterpret_cast<LaneBits>(yes) & mask) |
                                 (reinterpret_cast<LaneBits>(no) & ~mask));
}
inline Lanes max_lanes(Lanes a, Lanes b) { return select(a > b, a, b); }
// Lanes added in a fixed order (pairwise), the same on every build.
inline double lane_sum(Lanes v) {
  return ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]));
}
inline bool all_lanes(LaneBits mask) {
  std::int64_t all = -1;
  for (int l = 0; l < kLanes; ++l) all &= mask[l];
  return all != 0;
}

namespace detail {
// exp of the lanes where low (x < kExpMin) is false and regular (x <= kExpMax) true, within
// 2 ulp: x = k ln 2 + r with |r| <= ln 2 / 2 (Cody and Waite's two-part ln 2, so k ln 2 is
// exact), exp(r) by its Taylor polynomial of degree 13 (remainder below 5e-18), then the
// exponent field set to k; 0 in the low lanes; the other lanes are left to the caller.
inline constexpr double kExpMin = -708.39641853226410622, kExpMax = 709.0;
inline Lanes exp_lanes_regular(Lanes x, LaneBits low, LaneBits regular) {
  constexpr double kLog2e = 1.4426950408889634074, kLn2Hi = 6.93147180369123816490e-01,
                   kLn2Lo = 1.90821492927058770002e-10, kShifter = 0x1.8p52;
  const Lanes xc = select(low | ~regular, broadcast(0.0), x);
  const Lanes shifted = xc * kLog2e + kShifter;  // round to nearest: k in the low bits
  const Lanes k = shifted - kShifter;
  const Lanes r = (xc - k * kLn2Hi) - k * kLn2Lo;
  Lanes p = broadcast(1.0 / 6227020800.0);  // 1/13!
  p = p * r + 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  const LaneBits kbits =
      reinterpret_cast<LaneBits>(shifted) - reinterpret_cast<LaneBits>(broadcast(kShifter));
  const Lanes out = p * reinterpret_cast<Lanes>((kbits + 1023) << 52);
  return select(low, broadcast(0.0), out);
}
}  // namespace detail

// exp(x) lane by lane, within 2 ulp of the exact value (detail::exp_lanes_regular). Results
// below the smallest normal double (x < -708.39) are 0, not subnormal; lanes above 709 (and
// NaN) take std::exp.
inline Lanes exp_lanes(Lanes x) {
  const LaneBits low = x < detail::kExpMin, regular = x <= detail::kExpMax;
  Lanes out = detail::exp_lanes_regular(x, low, regular);
  if (!all_lanes(regular | low))
    for (int l = 0; l < kLanes; ++l)
      if (!(x[l] <= detail::kExpMax) && !(x[l] < detail::kExpMin)) out[l] = std::exp(x[l]);
  return out;
}

// exp_lanes for arguments that are at most 0 or NaN (log-weights shifted by their maximum):
// bitwise exp_lanes there, NaN stays NaN, and with no test for the lanes that need the C
// library (a lane above 709 returns x itself: the caller discards such lanes). The posteriors
// take K of these per tile, and the test is a horizontal reduction on their critical path.
inline Lanes exp_nonpositive_lanes(Lanes x) {
  const LaneBits low = x < detail::kExpMin, regular = x <= detail::kExpMax;
  return select(regular | low, detail::exp_lanes_regular(x, low, regular), x);
}

// log(x) lane by lane, within 3 ulp: x = 2^e m with m in [sqrt(1/2), sqrt(2)), log m =
// 2 atanh(f), f = (m - 1) / (m + 1), |f| <= 0.1716, by its series to f^23 (remainder below
// 1e-18). Lanes that are not positive normal finite numbers take std::log.
inline Lanes log_lanes(Lanes x) {
  constexpr double kLn2Hi = 6.93147180369123816490e-01, kLn2Lo = 1.90821492927058770002e-10;
  const LaneBits bits = reinterpret_cast<LaneBits>(x);
  const LaneBits regular =
      (x >= std::numeric_limits<double>::min()) & (x <= std::numeric_limits<double>::max());
  LaneBits e = ((bits >> 52) & 0x7ff) - 1023;
  Lanes m = reinterpret_cast<Lanes>((bits & 0x000fffffffffffffLL) | 0x3ff0000000000000LL);
  const LaneBits big = m > 1.4142135623730950488;
  m = select(big, m * 0.5, m);
  e = e - big;  // big is -1 where true
  const Lanes f = (m - 1.0) / (m + 1.0), f2 = f * f;
  Lanes s = broadcast(1.0 / 23);
  for (int j = 21; j >= 1; j -= 2) s = s * f2 + 1.0 / j;
  const Lanes ed = __builtin_convertvector(e, Lanes);
  Lanes out = ed * kLn2Hi + ((2.0 * f) * s + ed * kLn2Lo);
  if (!all_lanes(regular))
    for (int l = 0; l < kLanes; ++l)
      if (!regular[l]) out[l] = std::log(x[l]);
  return out;
}

// log1p(t) lane by lane for t in [0, 1] (the tail exp(-|eta|) of a logit, where log(1 + t)
// would lose t's digits): 2 atanh(f), f = t / (2 + t) <= 1/3, by its series to f^33
// (remainder below 5e-18 of the sum). NaN lanes stay NaN.
inline Lanes log1p_unit_lanes(Lanes t) {
  const Lanes f = t / (2.0 + t), f2 = f * f;
  Lanes s = broadcast(1.0 / 33);
  for (int j = 31; j >= 1; j -= 2) s = s * f2 + 1.0 / j;
  return (2.0 * f) * s;
}

// out[i] = f(in[i]) for i < n, eight lanes at a time; the last n % 8 values go through one
// lane group padded with 1.0, so every value takes the same arithmetic. out may equal in.
template <typename F>
inline void apply_lanes(const double* in, double* out, std::int64_t n, F f) {
  std::int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) store_lanes(out + i, f(load_lanes(in + i)));
  if (i == n) return;
  double pad[kLanes];
  for (int l = 0; l < kLanes; ++l) pad[l] = i + l < n ? in[i + l] : 1.0;
  const Lanes r = f(load_lanes(pad));
  for (int l = 0; i + l < n; ++l) out[i + l] = r[l];
}

}  // namespace moekit::kernels
