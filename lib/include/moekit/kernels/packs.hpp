#pragma once
// Plain parameter packs: what the per-row kernels read, as sizes and pointers into host or
// device memory. No Eigen and no containers, so that the same struct crosses to a GPU.
// The families fill them (pack_storage.hpp); Real is the E-step's arithmetic (double, or
// float for the single-precision GPU E-step).

namespace moekit::kernels {

// The largest response dimension, number of experts and design width the row kernels take
// (their scratch lives in registers or local memory); larger models stay on the CPU path.
inline constexpr int kMaxResponseDim = 16;
inline constexpr int kMaxExperts = 32;
inline constexpr int kMaxDesignDim = 64;

// Experts with Gaussian noise around a linear mean: y | x, k ~ N(B_k' x, Sigma_k). Linear
// experts have x the design (p columns); Gaussian experts are the case without a design
// (p = 0): the mean is the row of coef that the "intercept" would multiply.
template <typename Real>
struct GaussianRegressionPack {
  int K = 0, p = 0, q = 0;
  // K blocks of max(p, 1) x q, row-major: coef[(k * max(p,1) + j) * q + c]. Gaussian
  // experts: coef[k * q + c] = mu_kc.
  const Real* coef = nullptr;
  // K lower Cholesky factors of Sigma_k, q x q row-major: chol[(k * q + a) * q + b], b <= a
  // (the upper triangle is zero). Tied structures repeat the shared factor.
  const Real* chol = nullptr;
  // K constants -0.5 (q log 2 pi + log |Sigma_k|).
  const Real* log_norm = nullptr;
  // K x q reciprocals of the factors' diagonals: the substitution multiplies (a GPU's
  // division costs about ten fused multiply-adds).
  const Real* inv_diag = nullptr;
};

enum class GateKind : int { Constant = 0, Softmax = 1 };

// The gate of a flat model. Constant: values[k] = log w_k. Softmax (v_1 = 0, the first
// expert the reference): values[j * (K - 1) + (k - 1)] = v_kj for the r gate covariates.
template <typename Real>
struct GatePack {
  GateKind kind = GateKind::Constant;
  int K = 0, r = 0;
  const Real* values = nullptr;
};

// A flat model (one gate over K experts) in the form the E-step kernels take.
template <typename Real>
struct FlatModelPack {
  GaussianRegressionPack<Real> experts;
  GatePack<Real> gate;
};

}  // namespace moekit::kernels
