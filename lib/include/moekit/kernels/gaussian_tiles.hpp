#pragma once
// The E-step and the moment statistics of Gaussian experts (no design: p = 0) for a tile of
// kLanes rows on the CPU, one row in each lane (lanes.hpp). The math is row_math.hpp's
// (gaussian_regression_log_density, log_sum_exp and flat_estep_rows) and moments.hpp's
// (moments_add_row), laid out so that every operation acts on the whole tile: the tile's
// responses are loaded once and reused by the K experts, the posteriors take vector
// exponentials, and the moments are added in the same pass, while the tile is in registers.

#include "moekit/kernels/lanes.hpp"
#include "moekit/kernels/packs.hpp"

#include <limits>

// The response dimension Q is a compile-time constant (1 .. kMaxUnrolledResponseDim), and the
// loops over it unroll fully, so that the tile's vectors stay in registers (GCC and clang both
// read this pragma).
#define MOEKIT_UNROLL_Q _Pragma("GCC unroll 16")

namespace moekit::kernels {

// log N(y; mu_k, Sigma_k) = log_norm_k - |L_k^{-1} (y - mu_k)|^2 / 2 for the tile's rows, y[c]
// the lanes of response c, by forward substitution with the Cholesky factor. Diagonal: the
// factor is diagonal (axis-aligned structures) and the substitution skips its zeros.
template <int Q, bool Diagonal>
inline Lanes gaussian_log_density_tile(const GaussianRegressionPack<double>& P,
                                       int k,
                                       const Lanes* y) {
  constexpr int q = Q;
  const double* mu = P.coef + static_cast<long>(k) * q;
  const double* L = P.chol + static_cast<long>(k) * q * q;
  const double* inv = P.inv_diag + static_cast<long>(k) * q;
  Lanes z[Q];
  Lanes maha = {};
  MOEKIT_UNROLL_Q
  for (int c = 0; c < q; ++c) {
    Lanes e = y[c] - mu[c];
    if (!Diagonal) MOEKIT_UNROLL_Q
    for (int a = 0; a < c; ++a) e -= L[c * q + a] * z[a];
    z[c] = e * inv[c];
    maha += z[c] * z[c];
  }
  return P.log_norm[k] - 0.5 * maha;
}

// a[k] holds the log of gate weight times density of expert k for the tile's rows, and m
// their maximum over k (max_lanes, from a[0] up); a[k] is replaced by the posteriors
// exp(a_k - m) / s, s = sum_k exp(a_k - m). Returns the rows' log-likelihoods m + log s. A row
// whose maximum is not finite (zero density under every expert, or a NaN) gets the maximum as
// its log-likelihood, for the caller to report, and zero posteriors.
inline Lanes posteriors_tile(Lanes* a, int K, Lanes m) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  const LaneBits finite = (m > -kInf) & (m < kInf);
  const Lanes shift = select(finite, m, broadcast(0.0));
  Lanes s = {};
  for (int k = 0; k < K; ++k) {
    a[k] = exp_nonpositive_lanes(a[k] - shift);  // a_k - m <= 0 or NaN where m is finite
    s += a[k];
  }
  const Lanes inv = 1.0 / s;
  for (int k = 0; k < K; ++k) a[k] = select(finite, a[k] * inv, broadcast(0.0));
  return select(finite, m + log_lanes(s), m);
}

// posteriors_tile with the maximum taken here.
inline Lanes posteriors_tile(Lanes* a, int K) {
  Lanes m = a[0];
  for (int k = 1; k < K; ++k) m = max_lanes(a[k], m);
  return posteriors_tile(a, K, m);
}

// Statistics per expert: the packed upper triangle of M_k = sum_i w_i r_ik f f', f = [1; e],
// e = y - mu_k (MomentLayout with p = 0): N_k, then s_k = sum w r e, then the scatter rows.
inline constexpr int gaussian_moment_count(int q) { return 1 + q + q * (q + 1) / 2; }

// Adds the tile's rows with weights w (posterior times row weight; 0 for padding lanes) to
// expert k's statistics acc[0 .. gaussian_moment_count(q)), each a lane vector (one partial
// sum per lane). Diagonal: only the diagonal of the scatter (axis-aligned structures read
// nothing else); its other entries stay zero.
template <int Q, bool Diagonal>
inline void gaussian_moments_tile(
    const GaussianRegressionPack<double>& P, int k, const Lanes* y, Lanes w, Lanes* acc) {
  constexpr int q = Q;
  const double* mu = P.coef + static_cast<long>(k) * q;
  Lanes e[Q];
  acc[0] += w;
  MOEKIT_UNROLL_Q
  for (int c = 0; c < q; ++c) {
    e[c] = y[c] - mu[c];
    acc[1 + c] += w * e[c];
  }
  Lanes* S = acc + 1 + q;
  MOEKIT_UNROLL_Q
  for (int a = 0; a < q; ++a) {
    const Lanes we = w * e[a];
    if (Diagonal) {
      S[0] += we * e[a];
    } else {
      MOEKIT_UNROLL_Q
      for (int b = a; b < q; ++b) S[b - a] += we * e[b];
    }
    S += q - a;
  }
}

}  // namespace moekit::kernels
