#pragma once
// Auxiliary router losses and their gradients. Each function returns the weighted loss and
// *adds* weight * dLoss/d(input) into the gradient arguments (pass an empty matrix to skip).
// The exact counting of f_i and P_i is in docs/deep.md, "Auxiliary losses". Templates on the
// layer's scalar S (float, double); sums over tokens and the log-sum-exp accumulate in double
// and the losses are returned in double.

#include "moekit/core/types.hpp"
#include "moekit/deep/scalar.hpp"

#include <vector>

namespace moekit::deep {

struct AuxLossOptions {
  // Switch load balancing alpha * E * sum_i f_i P_i (Fedus et al. 2022, Eq. 4-6; alpha = 1e-2
  // in the paper). 0 turns it off (the default).
  double load_balance = 0.0;
  // ST-MoE router z-loss beta * mean_t (logsumexp_j z_tj)^2 (Zoph et al. 2022, Eq. 5;
  // beta = 1e-3 in the paper).
  double z_loss = 0.0;
  // Shazeer et al. 2017, Eq. 6-7 and Appendix A: w_importance * CV(Importance)^2 and
  // w_load * CV(Load)^2 (noisy top-k only).
  double importance = 0.0;
  double load = 0.0;
};

// p = softmax(z) over each row (exp(z - logsumexp(z)), the log-sum-exp in double).
template <typename S>
void softmax_rows(const ConstMatrixRefT<S>& z, MatrixRefT<S> p);
// Backward of row softmax: dz += p .* (dp - rowsum(p .* dp)).
template <typename S>
void softmax_rows_backward(const ConstMatrixRefT<S>& p,
                           const ConstMatrixRefT<S>& dp,
                           MatrixRefT<S> dz);

// Switch load balancing: alpha * E * sum_i f_i P_i with P_i = mean_t probs(t, i) (full
// softmax of the router logits) and f_i the fraction of the T * k routing choices that
// picked expert i (counted before any capacity drop, so sum_i f_i = 1). f is a constant; the
// gradient flows through P only. `dprobs` (T x E) receives the gradient w.r.t. probs.
template <typename S>
double load_balancing_loss(const ConstMatrixRefT<S>& probs,
                           const ConstVectorRef& f,
                           double alpha,
                           MatrixRefT<S> dprobs);

// Router z-loss: beta / T * sum_t (logsumexp_j z_tj)^2; dlogits += its gradient.
template <typename S>
double router_z_loss(const ConstMatrixRefT<S>& logits, double beta, MatrixRefT<S> dlogits);

// Squared coefficient of variation Var(v) / (mean(v)^2 + 1e-10) with the population variance
// (as in the authors' tensor2tensor code); dv += scale * its gradient.
double cv_squared(const ConstVectorRef& v, double scale, VectorRef dv);

// Shazeer importance loss: w * CV(sum_t G[t, :])^2, G the T x E dense gate matrix (zeros
// off the top-k). dgates += gradient.
template <typename S>
double importance_loss(const ConstMatrixRefT<S>& gates, double w, MatrixRefT<S> dgates);

// Shazeer load loss (Eq. 8-10): P(x, i) = Phi((z_i - kth_excluding(H, k, i)) / sd_i) with z
// the clean logits, H the noisy logits and sd = softplus(x Wnoise); the threshold is the k-th
// largest of H over the other experts (the (k+1)-th largest when i is in the top k, else the
// k-th). Load_i = sum_t P(t, i); loss w * CV(Load)^2. Requires k < E. Gradients are added
// to dz, dnoisy (through the threshold) and dsd. `scratch` is reused across calls.
template <typename S>
double load_loss(const ConstMatrixRefT<S>& clean,
                 const ConstMatrixRefT<S>& noisy,
                 const ConstMatrixRefT<S>& sd,
                 int k,
                 double w,
                 MatrixRefT<S> dclean,
                 MatrixRefT<S> dnoisy,
                 MatrixRefT<S> dsd,
                 std::vector<Index>& scratch);

}  // namespace moekit::deep
