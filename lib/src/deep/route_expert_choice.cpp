// Expert choice routing (Zhou et al. 2022, Eq. 1-3): S = softmax(X Wg) over experts; expert
// e takes its c = min(T, ceil(capacity_factor * T / E)) best tokens by S[:, e], weight
// S[t, e]. Load is balanced by construction; a token may get zero or several experts.

#include "moekit/deep/topk.hpp"
#include "routing.hpp"

#include <algorithm>
#include <cmath>

namespace moekit::deep::detail {

template <typename S>
void route_expert_choice(const MoeConfig& c,
                         const MoeParamsT<S>& p,
                         const ConstMatrixRefT<S>& x,
                         MoeWorkspaceT<S>& ws) {
  const Index T = x.rows(), E = c.num_experts;
  ensure(ws.logits, T, E);
  ensure(ws.probs, T, E);
  ws.logits.noalias() = x * p.router;
  softmax_rows<S>(ws.logits, ws.probs);
  const Index cap = std::min<Index>(T, capacity(c.router.capacity_factor, T, E));
  const Index P = E * cap;
  ws.pair_expert.resize(static_cast<std::size_t>(P));
  ws.pair_token.resize(static_cast<std::size_t>(P));
  ws.pair_weight.resize(static_cast<std::size_t>(P));
  for (Index e = 0; e < E; ++e) {
    Index* tokens = ws.pair_token.data() + e * cap;
    top_k_large(&ws.probs(0, e), T, 1, cap, ws.topk_scratch, tokens);
    for (Index j = 0; j < cap; ++j) {
      const auto q = static_cast<std::size_t>(e * cap + j);
      ws.pair_expert[q] = e;
      ws.pair_weight[q] = ws.probs(tokens[j], e);
    }
  }
  build_dispatch(ws.pair_expert.data(), ws.pair_token.data(), P, E, -1, ws.dispatch);
}

template <typename S>
void backward_expert_choice(MoeWorkspaceT<S>& ws) {
  ensure(ws.dscores, ws.tokens, ws.probs.cols());
  ws.dscores.setZero();
  for (std::size_t q = 0; q < ws.pair_expert.size(); ++q)
    ws.dscores(ws.pair_token[q], ws.pair_expert[q]) += static_cast<S>(ws.dpair[q]);
  softmax_rows_backward<S>(ws.probs, ws.dscores, ws.dlogits);
}

template void route_expert_choice<float>(const MoeConfig&,
                                         const MoeParamsT<float>&,
                                         const ConstMatrixRefT<float>&,
                                         MoeWorkspaceT<float>&);
template void route_expert_choice<double>(const MoeConfig&,
                                          const MoeParamsT<double>&,
                                          const ConstMatrixRefT<double>&,
                                          MoeWorkspaceT<double>&);
template void backward_expert_choice<float>(MoeWorkspaceT<float>&);
template void backward_expert_choice<double>(MoeWorkspaceT<double>&);

}  // namespace moekit::deep::detail
