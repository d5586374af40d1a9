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

#if defined(__AVX__)
#include <immintrin.h>
#endif

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
// Two tiles' lanes as one vector: the compiler issues each of its operations as two
// independent ones, which is how latency-bound code (the posteriors' exponentials) keeps the
// vector units busy.
typedef double LanePair __attribute__((vector_size(2 * kLanes * sizeof(double))));
// The comparison mask of a lane vector type V.
template <typename V>
using MaskOf = decltype(V{} < V{});

inline Lanes broadcast(double x) { return Lanes{} + x; }
template <typename V>
inline V splat(double x) {
  return V{} + x;
}
template <typename V>
inline V select(MaskOf<V> mask, V yes, V no) {
  return reinterpret_cast<V>((reinterpret_cast<MaskOf<V>>(yes) & mask) |
                             (reinterpret_cast<MaskOf<V>>(no) & ~mask));
}
// a where a > b, else b (so b where either is NaN): one vmaxpd, whose rule this is.
inline Lanes max_lanes(Lanes a, Lanes b) { return a > b ? a : b; }
// a where a < b, else b (so b where either is NaN): one vminpd.
inline Lanes min_lanes(Lanes a, Lanes b) { return a < b ? a : b; }
// Lanes added in a fixed order (pairwise), the same on every build.
inline double lane_sum(Lanes v) {
  return ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]));
}
// Whether every lane of a comparison mask is set: the mask's sign bits in one instruction
// where the target has one (the E-steps test every tile's log-likelihoods and logs), else
// lane by lane.
inline bool all_lanes(LaneBits mask) {
#if defined(__AVX512DQ__)
  return _mm512_movepi64_mask(reinterpret_cast<__m512i>(mask)) == 0xff;
#elif defined(__AVX__)
  __m256d halves[2];
  std::memcpy(halves, &mask, sizeof halves);
  return (_mm256_movemask_pd(halves[0]) & _mm256_movemask_pd(halves[1])) == 0xf;
#else
  std::int64_t all = -1;
  for (int l = 0; l < kLanes; ++l) all &= mask[l];
  return all != 0;
#endif
}

// sum_{j < N} c[j] u^j by Estrin's scheme: the low and high halves (the low one a power of
// two long) evaluated independently and joined by one multiply-add, so that the dependency
// chain is log2(N) multiply-adds deep instead of Horner's N - 1. The E-step's exponentials
// and logarithms are latency-bound (their results feed the posteriors at once), and this
// chain is most of their latency.
template <int N, typename V>
inline V power_of_two_power(V u) {
  if constexpr (N == 1)
    return u;
  else
    return power_of_two_power<N / 2>(u) * power_of_two_power<N / 2>(u);
}
template <int N, typename V>
inline V estrin(V u, const double* c) {
  if constexpr (N == 1) {
    return splat<V>(c[0]);
  } else if constexpr (N == 2) {
    return u * c[1] + c[0];
  } else {
    constexpr int low = N > 8 ? 8 : (N > 4 ? 4 : 2);
    return estrin<N - low>(u, c + low) * power_of_two_power<low>(u) + estrin<low>(u, c);
  }
}

namespace detail {
// exp of the lanes where low (x < kExpMin) is false and regular (x <= kExpMax) true; 0 in the
// low lanes; the other lanes are left to the caller.
inline constexpr double kExpMin = -708.39641853226410622, kExpMax = 709.0;
#if defined(__AVX512F__)
// x = k ln 2 / 16 + r, |r| <= ln 2 / 32 (Cody and Waite's two-part ln 2 / 16, so that the
// reduction loses nothing), exp(x) = 2^(k >> 4) 2^(j / 16) exp(r), j = k mod 16: 2^(j / 16)
// from a table of sixteen doubles (two registers, one permute picks every lane's entry) with
// the rounding error of each entry kept as a relative tail, and exp(r) - 1 by its Taylor
// polynomial of degree 7 (remainder below 2e-18). The result T (1 + q), T = 2^(j / 16)
// 2^(k >> 4) (the exponent added to T's bits), is one multiply-add: within 0.6 ulp.
// Against the degree-13 polynomial below that the other targets take, about a quarter fewer
// instructions, and the posteriors take K of these per tile.
alignas(64) inline constexpr double kExp2Sixteenths[16] = {
    0x1.0000000000000p+0, 0x1.0b5586cf9890fp+0, 0x1.172b83c7d517bp+0, 0x1.2387a6e756238p+0,
    0x1.306fe0a31b715p+0, 0x1.3dea64c123422p+0, 0x1.4bfdad5362a27p+0, 0x1.5ab07dd485429p+0,
    0x1.6a09e667f3bcdp+0, 0x1.7a11473eb0187p+0, 0x1.8ace5422aa0dbp+0, 0x1.9c49182a3f090p+0,
    0x1.ae89f995ad3adp+0, 0x1.c199bdd85529cp+0, 0x1.d5818dcfba487p+0, 0x1.ea4afa2a490dap+0};
// (2^(j / 16) - kExp2Sixteenths[j]) / kExp2Sixteenths[j], to double precision (mpmath).
// clang-format off
alignas(64) inline constexpr double kExp2SixteenthsTail[16] = {
    0x0.0p+0,              0x1.79aa65d837b6dp-54, -0x1.01b15eaa59348p-55, 0x1.68efde3a8a894p-54,
    0x1.34d754db0abb6p-55, 0x1.59f48a72a4c6dp-55, 0x1.690cebb7aafb0p-56,  0x1.063e1e21c5409p-54,
    -0x1.3b3efbf5e2228p-54, -0x1.b32dcb94da51dp-56, 0x1.db72fc1f0eab4p-55, 0x1.1affc2b91ce27p-56,
    0x1.c1a7792cb3387p-55, 0x1.36eae30af0cb3p-56, 0x1.4a385a63d07a7p-56,  -0x1.ff7128fd391f0p-55};
// clang-format on
template <typename V>
inline V exp_lanes_regular(V x, MaskOf<V> low, MaskOf<V> regular) {
  static_assert(sizeof(V) == sizeof(__m512d), "one AVX-512 register of doubles");
  constexpr double k16Log2e = 0x1.71547652b82fep+4, kLn2Hi = 0x1.62e42fef00000p-5,
                   kLn2Lo = 0x1.473de6af278edp-38, kShifter = 0x1.8p52;
  const V xc = select(low | ~regular, splat<V>(0.0), x);
  const V shifted = xc * k16Log2e + kShifter;  // round to nearest: k in the low bits
  const V k = shifted - kShifter;
  const V r = (xc - k * kLn2Hi) - k * kLn2Lo;
  const MaskOf<V> kbits =
      reinterpret_cast<MaskOf<V>>(shifted) - reinterpret_cast<MaskOf<V>>(splat<V>(kShifter));
  // The permute reads the low four bits of each lane's index: j = k mod 16.
  const __m512i j = reinterpret_cast<__m512i>(kbits);
  const V table = reinterpret_cast<V>(_mm512_permutex2var_pd(_mm512_load_pd(kExp2Sixteenths), j,
                                                             _mm512_load_pd(kExp2Sixteenths + 8)));
  const V tail = reinterpret_cast<V>(_mm512_permutex2var_pd(
      _mm512_load_pd(kExp2SixteenthsTail), j, _mm512_load_pd(kExp2SixteenthsTail + 8)));
  const V scaled = reinterpret_cast<V>(reinterpret_cast<MaskOf<V>>(table) + ((kbits >> 4) << 52));
  static constexpr double kTail[6] = {1.0 / 2, 1.0 / 6, 1.0 / 24, 1.0 / 120, 1.0 / 720, 1.0 / 5040};
  const V q = estrin<6>(r, kTail) * (r * r) + (r + tail);
  const V out = scaled * q + scaled;
  return select(low, splat<V>(0.0), out);
}
#else
// x = k ln 2 + r with |r| <= ln 2 / 2 (Cody and Waite's two-part ln 2, so k ln 2 is exact),
// exp(r) by its Taylor polynomial of degree 13 (remainder below 5e-18), then the exponent
// field set to k: within 2 ulp.
template <typename V>
inline V exp_lanes_regular(V x, MaskOf<V> low, MaskOf<V> regular) {
  constexpr double kLog2e = 1.4426950408889634074, kLn2Hi = 6.93147180369123816490e-01,
                   kLn2Lo = 1.90821492927058770002e-10, kShifter = 0x1.8p52;
  const V xc = select(low | ~regular, splat<V>(0.0), x);
  const V shifted = xc * kLog2e + kShifter;  // round to nearest: k in the low bits
  const V k = shifted - kShifter;
  const V r = (xc - k * kLn2Hi) - k * kLn2Lo;
  // exp(r) = 1 + (r + r^2 T(r)), T(r) = sum_{j=2}^{13} r^(j-2) / j! (Estrin), the leading
  // 1 + r added last, so that T's rounding is scaled by r^2 <= 0.121.
  static constexpr double kTail[12] = {
      1.0 / 2,     1.0 / 6,      1.0 / 24,      1.0 / 120,      1.0 / 720,       1.0 / 5040,
      1.0 / 40320, 1.0 / 362880, 1.0 / 3628800, 1.0 / 39916800, 1.0 / 479001600, 1.0 / 6227020800};
  const V p = (estrin<12>(r, kTail) * (r * r) + r) + 1.0;
  const MaskOf<V> kbits =
      reinterpret_cast<MaskOf<V>>(shifted) - reinterpret_cast<MaskOf<V>>(splat<V>(kShifter));
  const V out = p * reinterpret_cast<V>((kbits + 1023) << 52);
  return select(low, splat<V>(0.0), out);
}
#endif
}  // namespace detail

// exp(x) lane by lane, within 2 ulp of the exact value (0.6 on AVX-512; detail::exp_lanes_regular).
// Results below the smallest normal double (x < -708.39) are 0, not subnormal; lanes above 709 (and
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
// bitwise exp_lanes there, and with no test for the lanes that need the C library. A NaN
// lane fails every comparison, runs through the arithmetic and comes out NaN; a lane above
// 709 gets a value of no meaning (the caller discards such lanes). The posteriors take K of
// these per tile: each mask operation saved is K per tile.
template <typename V>
inline V exp_nonpositive_lanes(V x) {
  return detail::exp_lanes_regular(x, x < detail::kExpMin, ~MaskOf<V>{});
}

namespace detail {
// log(x) for positive normal finite lanes, within 3 ulp: x = 2^e m with m in [sqrt(1/2),
// sqrt(2)), log m = 2 atanh(f), f = (m - 1) / (m + 1), |f| <= 0.1716, by its series to f^23
// (remainder below 1e-18); other lanes get values of no meaning.
inline Lanes log_lanes_regular(Lanes x) {
  constexpr double kLn2Hi = 6.93147180369123816490e-01, kLn2Lo = 1.90821492927058770002e-10;
  const LaneBits bits = reinterpret_cast<LaneBits>(x);
  LaneBits e = ((bits >> 52) & 0x7ff) - 1023;
  Lanes m = reinterpret_cast<Lanes>((bits & 0x000fffffffffffffLL) | 0x3ff0000000000000LL);
  const LaneBits big = m > 1.4142135623730950488;
  m = select(big, m * 0.5, m);
  e = e - big;  // big is -1 where true
  const Lanes f = (m - 1.0) / (m + 1.0), f2 = f * f;
  static constexpr double kTail[11] = {1.0 / 3,  1.0 / 5,  1.0 / 7,  1.0 / 9,  1.0 / 11, 1.0 / 13,
                                       1.0 / 15, 1.0 / 17, 1.0 / 19, 1.0 / 21, 1.0 / 23};
  const Lanes s = estrin<11>(f2, kTail) * f2 + 1.0;
  const Lanes ed = __builtin_convertvector(e, Lanes);
  return ed * kLn2Hi + ((2.0 * f) * s + ed * kLn2Lo);
}
}  // namespace detail

// log(x) lane by lane, within 3 ulp (detail::log_lanes_regular). Lanes that are not positive
// normal finite numbers take std::log.
inline Lanes log_lanes(Lanes x) {
  const LaneBits regular =
      (x >= std::numeric_limits<double>::min()) & (x <= std::numeric_limits<double>::max());
  Lanes out = detail::log_lanes_regular(x);
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
  static constexpr double kTail[16] = {1.0 / 3,  1.0 / 5,  1.0 / 7,  1.0 / 9,  1.0 / 11, 1.0 / 13,
                                       1.0 / 15, 1.0 / 17, 1.0 / 19, 1.0 / 21, 1.0 / 23, 1.0 / 25,
                                       1.0 / 27, 1.0 / 29, 1.0 / 31, 1.0 / 33};
  const Lanes s = estrin<16>(f2, kTail) * f2 + 1.0;
  return (2.0 * f) * s;
}

// log1p(x) lane by lane for x > -1, within 4 ulp: log(u) for u = 1 + x rounded, corrected
// by -((u - 1) - x) / u, the part of x that the rounding of u dropped (Goldberg 1991,
// Theorem 4's idea as in Kahan's log1p): exact-digit results for tiny x, where log(u) alone
// would be 0. NaN stays NaN, +inf gives +inf. The t experts take one per row and expert.
inline Lanes log1p_lanes(Lanes x) {
  const Lanes u = 1.0 + x;
  const Lanes out = log_lanes(u) - ((u - 1.0) - x) / u;
  constexpr double kInf = std::numeric_limits<double>::infinity();
  return select(u < kInf, out, u);  // +inf: the correction is inf / inf
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
