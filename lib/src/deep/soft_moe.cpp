// Soft MoE (Puigcerver et al. 2023, Eq. 1-3): with Phi (d x E*m) and L = X Phi, dispatch
// D = softmax of L over tokens (columns), combine C = softmax of L over slots (rows); slot
// inputs X~ = D^T X, slot j goes through expert j / m, Y = C Y~. No token is dropped.

#include "moekit/core/logsumexp.hpp"
#include "moekit/core/parallel.hpp"
#include "routing.hpp"

#include <cmath>

namespace moekit::deep::detail {

namespace {
// Below this many multiply-adds a parallel region costs more than it saves.
constexpr double kParallelWork = 1 << 20;
}  // namespace

template <typename S>
void forward_soft(const MoeConfig& c,
                  const MoeParamsT<S>& p,
                  const ConstMatrixRefT<S>& x,
                  MoeWorkspaceT<S>& ws,
                  MatrixRefT<S> y,
                  bool training) {
  const Index T = x.rows(), d = c.dim, h = c.hidden, E = c.num_experts;
  const Index m = c.router.slots_per_expert, NS = E * m;
  ensure(ws.logits, T, NS);
  ensure(ws.soft_d, T, NS);
  ensure(ws.soft_c, T, NS);
  ws.logits.noalias() = x * p.router;
  for (Index j = 0; j < NS; ++j) {
    const double lse = log_sum_exp(ws.logits.col(j).template cast<double>());
    for (Index t = 0; t < T; ++t)
      ws.soft_d(t, j) = static_cast<S>(std::exp(static_cast<double>(ws.logits(t, j)) - lse));
  }
  softmax_rows<S>(ws.logits, ws.soft_c);
  ensure(ws.xs, NS, d);
  ensure(ws.act, NS, h);
  ensure(ws.dact, NS, h);
  ensure(ws.out, NS, d);
  ws.xs.noalias() = ws.soft_d.transpose() * x;
  parallel_tasks(
      E,
      [&](Index e) {
        const Index o = e * m;
        ffn_forward<S>(p.experts[static_cast<std::size_t>(e)], c.activation, ws.xs.middleRows(o, m),
                       ws.act.middleRows(o, m), training, ws.dact.middleRows(o, m),
                       ws.out.middleRows(o, m));
      },
      static_cast<double>(NS * d * h) < kParallelWork);
  y.noalias() = ws.soft_c * ws.out;
}

template <typename S>
void backward_soft(const MoeConfig& c,
                   const MoeParamsT<S>& p,
                   const ConstMatrixRefT<S>& x,
                   const ConstMatrixRefT<S>& dy,
                   MoeWorkspaceT<S>& ws,
                   MoeParamsT<S>& grads,
                   MatrixRefT<S> dx) {
  const Index T = x.rows(), d = c.dim, h = c.hidden, E = c.num_experts;
  const Index m = c.router.slots_per_expert, NS = E * m;
  ensure(ws.soft_dc, T, NS);
  ensure(ws.soft_dd, T, NS);
  ensure(ws.dout, NS, d);
  ensure(ws.dhid, NS, h);
  ensure(ws.dxs, NS, d);
  ws.soft_dc.noalias() = dy * ws.out.transpose();
  ws.dout.noalias() = ws.soft_c.transpose() * dy;
  parallel_tasks(
      E,
      [&](Index e) {
        const Index o = e * m;
        ffn_backward<S>(p.experts[static_cast<std::size_t>(e)], ws.xs.middleRows(o, m),
                        ws.act.middleRows(o, m), ws.dact.middleRows(o, m), ws.dout.middleRows(o, m),
                        ws.dhid.middleRows(o, m), grads.experts[static_cast<std::size_t>(e)],
                        ws.dxs.middleRows(o, m));
      },
      static_cast<double>(NS * d * h) < kParallelWork);
  ws.soft_dd.noalias() = x * ws.dxs.transpose();
  dx.noalias() += ws.soft_d * ws.dxs;
  // dL = C .* (dC - rowsum(C .* dC)) + D .* (dD - colsum(D .* dD)).
  ensure(ws.dlogits, T, NS);
  ws.dlogits.setZero();
  softmax_rows_backward<S>(ws.soft_c, ws.soft_dc, ws.dlogits);
  for (Index j = 0; j < NS; ++j) {
    const double dot =
        ws.soft_d.col(j).template cast<double>().dot(ws.soft_dd.col(j).template cast<double>());
    ws.dlogits.col(j).array() +=
        ws.soft_d.col(j).array() * (ws.soft_dd.col(j).array() - static_cast<S>(dot));
  }
  grads.router.noalias() += x.transpose() * ws.dlogits;
  dx.noalias() += ws.dlogits * p.router.transpose();
}

#define MOEKIT_DEEP_INSTANTIATE(S)                                                                 \
  template void forward_soft<S>(const MoeConfig&, const MoeParamsT<S>&, const ConstMatrixRefT<S>&, \
                                MoeWorkspaceT<S>&, MatrixRefT<S>, bool);                           \
  template void backward_soft<S>(const MoeConfig&, const MoeParamsT<S>&,                           \
                                 const ConstMatrixRefT<S>&, const ConstMatrixRefT<S>&,             \
                                 MoeWorkspaceT<S>&, MoeParamsT<S>&, MatrixRefT<S>);
MOEKIT_DEEP_INSTANTIATE(float)
MOEKIT_DEEP_INSTANTIATE(double)
#undef MOEKIT_DEEP_INSTANTIATE

}  // namespace moekit::deep::detail
