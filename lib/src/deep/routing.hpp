#pragma once
// Internal to the deep layer: the routing strategies, one file each (route_top_k.cpp,
// route_expert_choice.cpp, route_hash.cpp, soft_moe.cpp). A strategy turns the router
// logits into the (token, expert, weight) pair list and its dispatch (forward), and the
// gradient of the pair weights `ws.dpair` into that of the router logits (backward). Soft
// MoE mixes tokens instead of routing them, so it owns its whole forward and backward.

#include "moekit/deep/moe_layer.hpp"

#include <cmath>

namespace moekit::deep::detail {

// Resizes only when the shape changes, so steady-state steps do not allocate.
template <typename S>
inline void ensure(MatrixT<S>& m, Index rows, Index cols) {
  if (m.rows() != rows || m.cols() != cols) m.resize(rows, cols);
}

template <typename S>
inline S softplus(S v) {
  return v > S(0) ? v + std::log1p(std::exp(-v)) : std::log1p(std::exp(v));
}
template <typename S>
inline S sigmoid(S v) {
  return S(1) / (S(1) + std::exp(-v));
}

// Expert capacity ceil(factor * pairs / E); -1 (dropless) when the factor is 0.
Index capacity(double capacity_factor, Index pairs, Index num_experts);

// Token choice (kTopK, kNoisyTopK): Switch, GShard, Mixtral, DeepSeek-V3, Shazeer et al.
template <typename S>
void route_top_k(const MoeConfig& c,
                 const MoeParamsT<S>& p,
                 const VectorT<S>& bias,
                 const ConstMatrixRefT<S>& x,
                 MoeWorkspaceT<S>& ws,
                 const ForwardContext& ctx);
// Adds to ws.dlogits the gradient through the pair weights and the Shazeer / Switch losses;
// noisy top-k also adds the noise router's gradient to grads and dx.
template <typename S>
void backward_top_k(const MoeConfig& c,
                    const MoeParamsT<S>& p,
                    const ConstMatrixRefT<S>& x,
                    MoeWorkspaceT<S>& ws,
                    MoeParamsT<S>& grads,
                    MatrixRefT<S> dx);

// Expert choice (Zhou et al. 2022).
template <typename S>
void route_expert_choice(const MoeConfig& c,
                         const MoeParamsT<S>& p,
                         const ConstMatrixRefT<S>& x,
                         MoeWorkspaceT<S>& ws);
template <typename S>
void backward_expert_choice(MoeWorkspaceT<S>& ws);

// Hash layers (Roller et al. 2021): no router parameters, no backward.
template <typename S>
void route_hash(const MoeConfig& c, MoeWorkspaceT<S>& ws, const ForwardContext& ctx);

// Soft MoE (Puigcerver et al. 2023).
template <typename S>
void forward_soft(const MoeConfig& c,
                  const MoeParamsT<S>& p,
                  const ConstMatrixRefT<S>& x,
                  MoeWorkspaceT<S>& ws,
                  MatrixRefT<S> y,
                  bool training);
template <typename S>
void backward_soft(const MoeConfig& c,
                   const MoeParamsT<S>& p,
                   const ConstMatrixRefT<S>& x,
                   const ConstMatrixRefT<S>& dy,
                   MoeWorkspaceT<S>& ws,
                   MoeParamsT<S>& grads,
                   MatrixRefT<S> dx);

}  // namespace moekit::deep::detail
