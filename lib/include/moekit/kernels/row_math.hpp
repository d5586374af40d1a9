#pragma once
// The per-row math of the flat E-step, written once for the CPU and the CUDA kernels: the
// log-density of a Gaussian-regression expert, the gate's log-weights, the log-sum-exp of a
// row and its posteriors. Matrices are column-major with a leading dimension (the distance
// between the columns of one row): a row is a pointer to its first entry and that stride.

#include "moekit/core/hd.hpp"
#include "moekit/kernels/math.hpp"
#include "moekit/kernels/packs.hpp"

#if defined(__CUDACC__)
#define MOEKIT_UNROLL _Pragma("unroll")
#else
#define MOEKIT_UNROLL
#endif

namespace moekit::kernels {

// Each function handles R consecutive rows together: the GPU kernels take one row per
// thread (R = 1); the CPU takes a few (R = 8), so that the loops over those rows vectorise.
// Outputs for the R rows are laid out [entry][row].

// log N(y; B_k' x, Sigma_k) = log_norm_k - |L_k^{-1} (y - B_k' x)|^2 / 2, by forward
// substitution with the Cholesky factor (never an inverse). Q > 0 fixes q at compile time
// (the loops unroll and the residual stays in registers); Q = 0 reads it from the pack.
template <int Q, int R, typename Real>
MOEKIT_HD inline void gaussian_regression_log_density(const GaussianRegressionPack<Real>& P,
                                                      int k,
                                                      const Real* x,
                                                      long ldx,
                                                      const Real* y,
                                                      long ldy,
                                                      Real* out) {
  const int q = Q > 0 ? Q : P.q;
  const int p = P.p, width = p > 0 ? p : 1;
  const Real* B = P.coef + static_cast<long>(k) * width * q;
  const Real* L = P.chol + static_cast<long>(k) * q * q;
  const Real* inv = P.inv_diag + static_cast<long>(k) * q;
  Real z[Q > 0 ? Q : kMaxResponseDim][R];
  Real maha[R];
  for (int r = 0; r < R; ++r) maha[r] = 0;
  MOEKIT_UNROLL
  for (int c = 0; c < q; ++c) {
    Real e[R];
    if (p == 0) {
      for (int r = 0; r < R; ++r) e[r] = y[c * ldy + r] - B[c];
    } else {
      for (int r = 0; r < R; ++r) e[r] = 0;
      for (int j = 0; j < p; ++j) {
        const Real b = B[j * q + c];
        for (int r = 0; r < R; ++r) e[r] += x[j * ldx + r] * b;
      }
      for (int r = 0; r < R; ++r) e[r] = y[c * ldy + r] - e[r];
    }
    MOEKIT_UNROLL
    for (int a = 0; a < c; ++a) {
      const Real l = L[c * q + a];
      for (int r = 0; r < R; ++r) e[r] -= l * z[a][r];
    }
    const Real d = inv[c];
    for (int r = 0; r < R; ++r) {
      z[c][r] = e[r] * d;
      maha[r] += z[c][r] * z[c][r];
    }
  }
  for (int r = 0; r < R; ++r) out[r] = P.log_norm[k] - Real(0.5) * maha[r];
}

// out[k * R + r] = log g_k(z_r). Softmax: log-softmax of (0, v_2'z, ..., v_K'z), shifted by
// the row maximum before the exponentials.
template <int R, typename Real>
MOEKIT_HD inline void gate_log_weights(const GatePack<Real>& G,
                                       const Real* z,
                                       long ldz,
                                       Real* out) {
  const int K = G.K;
  if (G.kind == GateKind::Constant) {
    for (int k = 0; k < K; ++k)
      for (int r = 0; r < R; ++r) out[k * R + r] = G.values[k];
    return;
  }
  Real m[R];
  for (int r = 0; r < R; ++r) {
    out[r] = 0;
    m[r] = 0;
  }
  for (int k = 1; k < K; ++k) {
    Real eta[R];
    for (int r = 0; r < R; ++r) eta[r] = 0;
    for (int j = 0; j < G.r; ++j) {
      const Real v = G.values[j * (K - 1) + (k - 1)];
      for (int r = 0; r < R; ++r) eta[r] += z[j * ldz + r] * v;
    }
    for (int r = 0; r < R; ++r) {
      out[k * R + r] = eta[r];
      m[r] = eta[r] > m[r] ? eta[r] : m[r];
    }
  }
  Real s[R];
  for (int r = 0; r < R; ++r) s[r] = 0;
  for (int k = 0; k < K; ++k)
    for (int r = 0; r < R; ++r) {
      out[k * R + r] -= m[r];
      s[r] += exp_(out[k * R + r]);
    }
  for (int r = 0; r < R; ++r) {
    const Real ls = log_(s[r]);
    for (int k = 0; k < K; ++k) out[k * R + r] -= ls;
  }
}

// log sum_k exp(a[k * R]), shifted by the maximum; the maximum itself when it is not finite
// (every entry -inf, or a NaN/inf the caller must see). One row; stride R between entries.
template <int R, typename Real>
MOEKIT_HD inline Real log_sum_exp(const Real* a, int K) {
  Real m = a[0];
  for (int k = 1; k < K; ++k) m = a[k * R] > m ? a[k * R] : m;
  if (!finite_(m)) return m;
  Real s = 0;
  for (int k = 0; k < K; ++k) s += exp_(a[k * R] - m);
  return m + log_(s);
}

// The E-step of R rows of a flat model: a[k * R + r] receives the posterior of expert k
// for row r, and lse[r] log p(y_r | x_r, z_r), the row's log-likelihood (not finite: the
// row has zero density under every expert, and the caller reports it).
template <int Q, int R, typename Real>
MOEKIT_HD inline void flat_estep_rows(const FlatModelPack<Real>& M,
                                      const Real* x,
                                      long ldx,
                                      const Real* y,
                                      long ldy,
                                      const Real* z,
                                      long ldz,
                                      Real* a,
                                      Real* lse) {
  const int K = M.experts.K;
  gate_log_weights<R>(M.gate, z, ldz, a);
  for (int k = 0; k < K; ++k) {
    Real d[R];
    gaussian_regression_log_density<Q, R>(M.experts, k, x, ldx, y, ldy, d);
    for (int r = 0; r < R; ++r) a[k * R + r] += d[r];
  }
  for (int r = 0; r < R; ++r) {
    lse[r] = log_sum_exp<R>(a + r, K);
    const bool empty = !(lse[r] > neg_inf<Real>());
    for (int k = 0; k < K; ++k) a[k * R + r] = empty ? Real(0) : exp_(a[k * R + r] - lse[r]);
  }
}

}  // namespace moekit::kernels
