#pragma once
// The sufficient statistics of Gaussian-regression experts, accumulated in tiles of rows the
// way a GPU thread block does it, so that the CUDA kernel and its CPU emulation (tests, and
// a host that wants them) run the same code in the same order.
//
// For expert k and row i let f = [1; x_i; e_ik], e_ik = y_i - B_k' x_i the residual about
// the current coefficients (Gaussian experts: no x, e = y - mu_k). The statistics are the
// upper triangle of M_k = sum_i r_ik f f' (m = 1 + p + q): M(0,0) = N_k, the x-block the
// weighted Gram matrix X'W_kX, the x-e block X'W_kE and the e-block E'W_kE. The M-step
// (model/gaussian_moments.hpp) solves from them; residuals about the current fit keep the
// cancellation in E'WE - C'G^{-1}C small near convergence.

#include "moekit/core/hd.hpp"
#include "moekit/kernels/packs.hpp"

namespace moekit::kernels {

struct MomentLayout {
  int K = 0, p = 0, q = 0;
  MOEKIT_HD int m() const { return 1 + p + q; }
  MOEKIT_HD int per_expert() const { return m() * (m() + 1) / 2; }
  MOEKIT_HD int total() const { return K * per_expert(); }
  // Position of (a, b), a <= b, in the packed upper triangle of one expert (row by row).
  MOEKIT_HD int index(int a, int b) const { return a * m() - a * (a - 1) / 2 + (b - a); }
  // Inverse of index(): the pair (a, b) of packed position t.
  MOEKIT_HD void pair(int t, int& a, int& b) const {
    a = 0;
    while (t >= m() - a) {
      t -= m() - a;
      ++a;
    }
    b = a + t;
  }
};

// Tiling of the reduction: a block owns kMomentBlockRows consecutive rows and walks them in
// tiles of at most kMomentTileRows; partial sums are added in row, then tile, then block
// order. These fix the rounding: the CPU emulation and the kernel use the same constants.
inline constexpr long kMomentBlockRows = 4096;
inline constexpr int kMomentTileRows = 32;
inline constexpr int kMomentThreads = 256;
inline constexpr int kMomentMaxOwned = 8;  // statistics per thread: total() <= 8 * 256

// Rows per tile for a layout: shared memory holds the raw columns (p + q + K per row) and
// two K x m feature arrays per row; kept under 40 KiB.
MOEKIT_HD inline int moment_tile_rows(const MomentLayout& L) {
  const int per_row = (L.p + L.q + L.K) + 2 * L.K * L.m();
  int rows = (40 * 1024 / 8) / per_row;
  if (rows > kMomentTileRows) rows = kMomentTileRows;
  return rows < 1 ? 1 : rows;
}

// Phase 1 (thread tid of T): copies the tile's raw columns, raw[c * rows + r], c over the p
// columns of x, the q of y and the K of the posteriors (column-major inputs with n rows,
// coalesced: consecutive threads read consecutive rows). Rows past n read as zero.
template <typename Real>
MOEKIT_HD inline void moments_load_raw(const MomentLayout& L,
                                       const Real* x,
                                       const Real* y,
                                       const Real* post,
                                       long n,
                                       long begin,
                                       int rows,
                                       int tid,
                                       int T,
                                       double* raw) {
  const int cols = L.p + L.q + L.K;
  for (int e = tid; e < cols * rows; e += T) {
    const int c = e / rows, r = e % rows;
    const long i = begin + r;
    double v = 0.0;
    if (i < n) {
      if (c < L.p)
        v = static_cast<double>(x[i + c * n]);
      else if (c < L.p + L.q)
        v = static_cast<double>(y[i + (c - L.p) * n]);
      else
        v = static_cast<double>(post[i + (c - L.p - L.q) * n]);
    }
    raw[e] = v;
  }
}

// Phase 2: the features F[(r * K + k) * m + a] and the weighted features WF = r_ik F of each
// row and expert, from the raw tile and the coefficients of the current fit.
MOEKIT_HD inline void moments_features(const MomentLayout& L,
                                       const GaussianRegressionPack<double>& P,
                                       int rows,
                                       int tid,
                                       int T,
                                       const double* raw,
                                       double* F,
                                       double* WF) {
  const int m = L.m(), K = L.K, p = L.p, q = L.q, width = p > 0 ? p : 1;
  for (int e = tid; e < rows * K * m; e += T) {
    const int r = e / (K * m), rem = e % (K * m), k = rem / m, a = rem % m;
    double f;
    if (a == 0) {
      f = 1.0;
    } else if (a <= p) {
      f = raw[(a - 1) * rows + r];
    } else {
      const int c = a - 1 - p;
      const double* B = P.coef + static_cast<long>(k) * width * q;
      double mean = 0.0;
      if (p == 0) {
        mean = B[c];
      } else {
        for (int j = 0; j < p; ++j) mean += raw[j * rows + r] * B[j * q + c];
      }
      f = raw[(p + c) * rows + r] - mean;
    }
    const double w = raw[(p + q + k) * rows + r];
    F[e] = f;
    WF[e] = w * f;
  }
}

// Phase 3: thread tid owns the statistics s = tid + j T (j < kMomentMaxOwned) and adds the
// tile's rows, in row order, to acc[j].
MOEKIT_HD inline void moments_accumulate(const MomentLayout& L,
                                         int rows,
                                         int tid,
                                         int T,
                                         const double* F,
                                         const double* WF,
                                         double* acc) {
  const int m = L.m(), K = L.K, per = L.per_expert();
  int j = 0;
  for (int s = tid; s < L.total(); s += T, ++j) {
    const int k = s / per;
    int a = 0, b = 0;
    L.pair(s % per, a, b);
    double sum = 0.0;
    for (int r = 0; r < rows; ++r) sum += WF[(r * K + k) * m + a] * F[(r * K + k) * m + b];
    acc[j] += sum;
  }
}

// The register form, for small m: a thread adds the rows it owns to the M (M + 1) / 2
// accumulators of one expert (M = m at compile time, so that f and acc stay in registers;
// loops run over compile-time indices only). The GPU's kernel for m <= kMaxRegisterMoments
// gives each lane of a warp every 32nd row of a block and reduces the lanes by a fixed
// shuffle tree.
inline constexpr int kMaxRegisterMoments = 9;

template <int M, typename Real>
MOEKIT_HD inline void moments_add_row(const GaussianRegressionPack<double>& P,
                                      int k,
                                      const Real* x,
                                      long ldx,
                                      const Real* y,
                                      long ldy,
                                      double w,
                                      double* acc) {
  const int p = P.p, q = P.q, width = p > 0 ? p : 1;
  const double* B = P.coef + static_cast<long>(k) * width * q;
  double f[M];
  f[0] = 1.0;
#if defined(__CUDACC__)
#pragma unroll
#endif
  for (int a = 1; a < M; ++a) {
    if (a <= p) {
      f[a] = static_cast<double>(x[(a - 1) * ldx]);
    } else {
      const int c = a - 1 - p;
      double mean = 0.0;
      if (p == 0) {
        mean = B[c];
      } else {
        for (int j = 0; j < p; ++j) mean += static_cast<double>(x[j * ldx]) * B[j * q + c];
      }
      f[a] = static_cast<double>(y[c * ldy]) - mean;
    }
  }
  int s = 0;
#if defined(__CUDACC__)
#pragma unroll
#endif
  for (int a = 0; a < M; ++a) {
    const double wf = w * f[a];
#if defined(__CUDACC__)
#pragma unroll
#endif
    for (int b = a; b < M; ++b) acc[s++] += wf * f[b];
  }
}

}  // namespace moekit::kernels
