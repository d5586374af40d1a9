// Token choice routing: every token takes its k best experts by score (+ bias). Switch
// (Fedus et al. 2022), GShard, Mixtral (Jiang et al. 2024), DeepSeek-V3 (sigmoid scores and
// a selection-only bias) and noisy top-k (Shazeer et al. 2017, Eq. 3-5). The weights and
// their gradients are in docs/deep.md, "Routing kinds".

#include "moekit/core/error.hpp"
#include "moekit/deep/topk.hpp"
#include "routing.hpp"

#include <fmt/format.h>

#include <cmath>

namespace moekit::deep::detail {

Index capacity(double capacity_factor, Index pairs, Index num_experts) {
  if (capacity_factor <= 0.0) return -1;
  return static_cast<Index>(
      std::ceil(capacity_factor * static_cast<double>(pairs) / static_cast<double>(num_experts)));
}

template <typename S>
void route_top_k(const MoeConfig& c,
                 const MoeParamsT<S>& p,
                 const VectorT<S>& bias,
                 const ConstMatrixRefT<S>& x,
                 MoeWorkspaceT<S>& ws,
                 const ForwardContext& ctx) {
  const Index T = x.rows(), E = c.num_experts, k = c.router.k;
  const bool noisy = c.router.kind == RoutingKind::kNoisyTopK;
  ensure(ws.logits, T, E);
  ensure(ws.probs, T, E);
  ensure(ws.scores, T, E);
  ws.logits.noalias() = x * p.router;
  softmax_rows<S>(ws.logits, ws.probs);
  if (noisy) {
    // Shazeer et al. 2017, Eq. 4: H = x Wg + StandardNormal() * Softplus(x Wnoise).
    ensure(ws.noise_logits, T, E);
    ensure(ws.noise_sd, T, E);
    ensure(ws.eps, T, E);
    ws.noise_logits.noalias() = x * p.noise_router;
    ws.noise_sd = ws.noise_logits.unaryExpr([](S v) { return softplus(v); });
    if (!ctx.training) {
      ws.eps.setZero();  // no noise at inference
    } else if (ctx.noise != nullptr) {
      if (ctx.noise->rows() != T || ctx.noise->cols() != E)
        throw InputError::option("ForwardContext::noise",
                                 fmt::format("{}x{}", ctx.noise->rows(), ctx.noise->cols()),
                                 fmt::format("must be T x E = {}x{}", T, E));
      ws.eps = ctx.noise->template cast<S>();
    } else {
      if (ctx.rng == nullptr)
        throw InputError::option("ForwardContext::rng", "null",
                                 "noisy top-k training needs an rng or a noise matrix");
      for (Index j = 0; j < E; ++j)
        for (Index t = 0; t < T; ++t) ws.eps(t, j) = static_cast<S>(standard_normal(*ctx.rng));
    }
    ws.scores = ws.logits + ws.eps.cwiseProduct(ws.noise_sd);
    ws.sel = ws.scores;
  } else {
    if (c.router.score == ScoreFunction::kSoftmax)
      ws.scores = ws.probs;
    else
      ws.scores = ws.logits.unaryExpr([](S v) { return sigmoid(v); });
    ws.sel = ws.scores;
    // DeepSeek-V3: the bias enters the selection only, never the weights.
    if (c.router.balance_bias) ws.sel.rowwise() += bias.transpose();
  }
  const Index P = T * k;
  ws.pair_expert.resize(static_cast<std::size_t>(P));
  ws.pair_token.resize(static_cast<std::size_t>(P));
  ws.pair_weight.resize(static_cast<std::size_t>(P));
  ws.topk_scratch.resize(static_cast<std::size_t>(k));
  Index* top = ws.topk_scratch.data();
  for (Index t = 0; t < T; ++t) {
    top_k_small(&ws.sel(t, 0), E, ws.sel.outerStride(), k, top);
    double norm = 1.0, shift = 0.0;
    if (noisy) {
      // Softmax over the kept noisy logits (KeepTopK sets the others to -inf).
      shift = ws.scores(t, top[0]);
      norm = 0.0;
      for (Index r = 0; r < k; ++r) norm += std::exp(ws.scores(t, top[r]) - shift);
    } else if (c.router.normalize) {
      norm = 0.0;
      for (Index r = 0; r < k; ++r) norm += ws.scores(t, top[r]);
    }
    for (Index r = 0; r < k; ++r) {
      const auto q = static_cast<std::size_t>(r * T + t);
      ws.pair_expert[q] = top[r];
      ws.pair_token[q] = t;
      const double s = ws.scores(t, top[r]);
      ws.pair_weight[q] = static_cast<S>(noisy ? std::exp(s - shift) / norm : s / norm);
    }
  }
  build_dispatch(ws.pair_expert.data(), ws.pair_token.data(), P, E,
                 capacity(c.router.capacity_factor, P, E), ws.dispatch);
}

template <typename S>
void backward_top_k(const MoeConfig& c,
                    const MoeParamsT<S>& p,
                    const ConstMatrixRefT<S>& x,
                    MoeWorkspaceT<S>& ws,
                    MoeParamsT<S>& grads,
                    MatrixRefT<S> dx) {
  const Index T = ws.tokens, E = c.num_experts, k = c.router.k;
  const AuxLossOptions& a = c.aux;
  const bool noisy = c.router.kind == RoutingKind::kNoisyTopK;
  ensure(ws.dscores, T, E);
  ws.dscores.setZero();
  if (noisy && a.importance > 0.0) {
    // Importance uses the dense gates G; its gradient joins that of the output weights.
    ensure(ws.ddense_gates, T, E);
    ws.ddense_gates.setZero();
    importance_loss<S>(ws.dense_gates, a.importance, ws.ddense_gates);
    for (std::size_t q = 0; q < ws.pair_expert.size(); ++q)
      ws.dpair[q] += ws.ddense_gates(ws.pair_token[q], ws.pair_expert[q]);
  }
  // Gate weights -> scores: g_r = s_r / sum_q s_q when normalised (for noisy top-k,
  // s = exp(H) so that the same formula is the softmax over the kept logits).
  for (Index t = 0; t < T; ++t) {
    double dot = 0.0, norm = 0.0;
    for (Index r = 0; r < k; ++r) {
      const auto q = static_cast<std::size_t>(r * T + t);
      dot += ws.pair_weight[q] * ws.dpair[q];
      norm += ws.scores(t, ws.pair_expert[q]);
    }
    for (Index r = 0; r < k; ++r) {
      const auto q = static_cast<std::size_t>(r * T + t);
      const Index e = ws.pair_expert[q];
      double g = ws.dpair[q];
      if (noisy)
        g = ws.pair_weight[q] * (ws.dpair[q] - dot);  // dH
      else if (c.router.normalize)
        g = (ws.dpair[q] - dot) / norm;
      ws.dscores(t, e) += static_cast<S>(g);
    }
  }
  if (noisy) {
    ensure(ws.dsd, T, E);
    ws.dsd.setZero();
    if (a.load > 0.0)
      load_loss<S>(ws.logits, ws.scores, ws.noise_sd, static_cast<int>(k), a.load, ws.dlogits,
                   ws.dscores, ws.dsd, ws.topk_scratch);
    // H = z + eps * sd, sd = softplus(x Wnoise).
    ws.dlogits += ws.dscores;
    ws.dsd += ws.dscores.cwiseProduct(ws.eps);
    ensure(ws.dnoisy, T, E);
    ws.dnoisy = ws.dsd.cwiseProduct(ws.noise_logits.unaryExpr([](S v) { return sigmoid(v); }));
    grads.noise_router.noalias() += x.transpose() * ws.dnoisy;
    dx.noalias() += ws.dnoisy * p.noise_router.transpose();
  } else if (c.router.score == ScoreFunction::kSoftmax) {
    softmax_rows_backward<S>(ws.probs, ws.dscores, ws.dlogits);
  } else {
    ws.dlogits.array() += ws.dscores.array() * ws.scores.array() * (S(1) - ws.scores.array());
  }
  if (a.load_balance > 0.0) {
    ensure(ws.dprobs, T, E);
    ws.dprobs.setZero();
    load_balancing_loss<S>(ws.probs, ws.f, a.load_balance, ws.dprobs);
    softmax_rows_backward<S>(ws.probs, ws.dprobs, ws.dlogits);
  }
}

#define MOEKIT_DEEP_INSTANTIATE(S)                                                              \
  template void route_top_k<S>(const MoeConfig&, const MoeParamsT<S>&, const VectorT<S>&,       \
                               const ConstMatrixRefT<S>&, MoeWorkspaceT<S>&,                    \
                               const ForwardContext&);                                          \
  template void backward_top_k<S>(const MoeConfig&, const MoeParamsT<S>&,                       \
                                  const ConstMatrixRefT<S>&, MoeWorkspaceT<S>&, MoeParamsT<S>&, \
                                  MatrixRefT<S>);
MOEKIT_DEEP_INSTANTIATE(float)
MOEKIT_DEEP_INSTANTIATE(double)
#undef MOEKIT_DEEP_INSTANTIATE

}  // namespace moekit::deep::detail
