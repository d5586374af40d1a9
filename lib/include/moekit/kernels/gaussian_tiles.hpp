#pragma once
// The E-step and the moment statistics of Gaussian experts (no design: p = 0) for a tile of
// kLanes rows on the CPU, one row in each lane (lanes.hpp). The math is row_math.hpp's
// (gaussian_regression_log_density, log_sum_exp and flat_estep_rows) and moments.hpp's
// (moments_add_row), laid out so that every operation acts on the whole tile: the tile's
// responses are loaded once and reused by the K experts and the posteriors take vector
// exponentials; the moments are then added in passes over the row block (in L2), their
// statistics in registers (spherical structures add their scatter's trace in the posterior
// pass: squared_distance_tile).

#include "moekit/kernels/lanes.hpp"
#include "moekit/kernels/packs.hpp"

#include <limits>

// The response dimension Q is a compile-time constant (1 .. kMaxUnrolledResponseDim), and the
// loops over it unroll fully, so that the tile's vectors stay in registers (GCC and clang both
// read this pragma).
#define MOEKIT_UNROLL_Q _Pragma("GCC unroll 16")

namespace moekit::kernels {

// Which entries of Sigma_k the structure reads: all of them, the diagonal (axis-aligned
// structures: VVI, EEI, ...) or one variance (spherical: VII, EII).
enum class CovarianceShape { Full, Diagonal, Spherical };

// constant - |L_k^{-1} (y - mu_k)|^2 / 2 for the tile's rows, y[c] the lanes of response c,
// by forward substitution with the Cholesky factor: log N(y; mu_k, Sigma_k) for constant =
// log_norm_k (the E-step adds a constant gate's log-weight to it). Diagonal: the factor is
// diagonal and the substitution skips its zeros. (Spherical structures take
// squared_distance_tile and spherical_log_density below.)
template <int Q, CovarianceShape Shape>
inline Lanes gaussian_log_density_tile(const GaussianRegressionPack<double>& P,
                                       int k,
                                       const Lanes* y,
                                       double constant) {
  static_assert(Shape != CovarianceShape::Spherical, "spherical: squared_distance_tile");
  constexpr int q = Q;
  const double* mu = P.coef + static_cast<long>(k) * q;
  const double* L = P.chol + static_cast<long>(k) * q * q;
  const double* inv = P.inv_diag + static_cast<long>(k) * q;
  Lanes z[Q];
  Lanes maha = {};
  MOEKIT_UNROLL_Q
  for (int c = 0; c < q; ++c) {
    Lanes e = y[c] - mu[c];
    if (Shape == CovarianceShape::Full) MOEKIT_UNROLL_Q
    for (int a = 0; a < c; ++a) e -= L[c * q + a] * z[a];
    z[c] = e * inv[c];
    maha += z[c] * z[c];
  }
  return constant - 0.5 * maha;
}

// |y - mu_k|^2 for the tile's rows. Under Sigma_k = sigma_k^2 I it is all the density needs
// (spherical_log_density), and, weighted by the posteriors, all the M-step needs of the
// scatter: its trace (tr W_k, Celeux & Govaert 1995, model [lambda_k I]). The E-step keeps it
// for the moments instead of summing the squared deviations again.
template <int Q>
inline Lanes squared_distance_tile(const GaussianRegressionPack<double>& P, int k, const Lanes* y) {
  constexpr int q = Q;
  const double* mu = P.coef + static_cast<long>(k) * q;
  Lanes s = {};
  MOEKIT_UNROLL_Q
  for (int c = 0; c < q; ++c) {
    const Lanes e = y[c] - mu[c];
    s += e * e;
  }
  return s;
}

// constant - |y - mu_k|^2 / (2 sigma_k^2) from the squared distance: log N(y; mu_k, sigma_k^2 I)
// for constant = log_norm_k and half_precision = 1 / (2 sigma_k^2).
inline Lanes spherical_log_density(double constant, double half_precision, Lanes distance) {
  return constant - half_precision * distance;
}

inline double spherical_half_precision(const GaussianRegressionPack<double>& P, int k) {
  const double inv = P.inv_diag[static_cast<long>(k) * P.q];  // 1 / sigma_k
  return 0.5 * inv * inv;
}

// a[k] holds the log of gate weight times density of expert k for the tile's rows, and m
// their maximum over k (max_lanes, from a[0] up). exp_shifted_tile replaces a[k] by
// exp(a_k - m) where m is finite (finite: those lanes) and returns s = sum_k exp(a_k - m);
// the posteriors are a[k] / s there and 0 elsewhere, and tile_loglik gives the rows'
// log-likelihoods m + log s. A row whose maximum is not finite (zero density under every
// expert, or a NaN) gets the maximum as its log-likelihood, for the caller to report.
inline Lanes exp_shifted_tile(Lanes* a, int K, Lanes m, LaneBits& finite) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  finite = (m > -kInf) & (m < kInf);
  const Lanes shift = select(finite, m, broadcast(0.0));
  Lanes s = {};
  for (int k = 0; k < K; ++k) {
    a[k] = exp_nonpositive_lanes(a[k] - shift);  // a_k - m <= 0 or NaN where m is finite
    s += a[k];
  }
  return s;
}

inline Lanes tile_loglik(Lanes m, Lanes s, LaneBits finite) {
  return select(finite, m + log_lanes(s), m);
}

// a[k] replaced by the posteriors (exp_shifted_tile, then a[k] / s); returns the rows'
// log-likelihoods.
inline Lanes posteriors_tile(Lanes* a, int K, Lanes m) {
  LaneBits finite;
  const Lanes s = exp_shifted_tile(a, K, m, finite);
  const Lanes inv = 1.0 / s;
  for (int k = 0; k < K; ++k) a[k] = select(finite, a[k] * inv, broadcast(0.0));
  return tile_loglik(m, s, finite);
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
// nothing else); its other entries stay zero. (Spherical structures take
// spherical_moments_tile.)
template <int Q, CovarianceShape Shape>
inline void gaussian_moments_tile(
    const GaussianRegressionPack<double>& P, int k, const Lanes* y, Lanes w, Lanes* acc) {
  static_assert(Shape != CovarianceShape::Spherical, "spherical: spherical_moments_tile");
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
    if (Shape == CovarianceShape::Diagonal) {
      S[0] += we * e[a];
    } else {
      MOEKIT_UNROLL_Q
      for (int b = a; b < q; ++b) S[b - a] += we * e[b];
    }
    S += q - a;
  }
}

// Spherical structures: the same statistics but for the scatter, which is only its trace
// (the weighted squared distances of squared_distance_tile, in the first diagonal entry, the
// other entries zero), and with s_k summed uncentred: acc[0] += w, acc[1 + c] += w y_c, and
// centre_spherical_moments subtracts N_k mu_k at the end of the rows. Without a subtraction
// per expert, a pass over the rows can take several experts for one load of the responses.
// The uncentred sum costs s_k / N_k an error of about eps |y| (that of the mean's own sum);
// the scatter, whose cancellation would cost more, is summed about the mean.
template <int Q>
inline void spherical_moments_tile(const Lanes* y, Lanes w, Lanes* acc) {
  constexpr int q = Q;
  acc[0] += w;
  MOEKIT_UNROLL_Q
  for (int c = 0; c < q; ++c) acc[1 + c] += w * y[c];
}

template <int Q>
inline void centre_spherical_moments(const GaussianRegressionPack<double>& P, int k, Lanes* acc) {
  constexpr int q = Q;
  const double* mu = P.coef + static_cast<long>(k) * q;
  MOEKIT_UNROLL_Q
  for (int c = 0; c < q; ++c) acc[1 + c] -= acc[0] * mu[c];
}

}  // namespace moekit::kernels
