#include "moekit/deep/moe_layer.hpp"

#include "expert_gemm.hpp"
#include "moekit/core/error.hpp"
#include "moekit/core/parallel.hpp"
#include "routing.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace moekit::deep {

using detail::ensure;

namespace {

// Work-item sizes of the expert phases. Every expert's bucket is cut at these fixed sizes,
// which depend on the bucket size only, never on the thread count: each GEMM (and so each
// rounding) is the same whatever the number of threads, and results are bit-identical.
// 512 rows keep the cost of packing a weight matrix per item under 5% of the item's GEMM;
// with balanced buckets (T k / E of them) each expert is two or three items, and an expert
// that takes most tokens is split across threads instead of serialising the step.
constexpr Index kTaskRows = 512;
// Columns of a weight-gradient item (dW = A^T B over all the bucket's rows, cut by columns
// of B so that each item owns its columns of dW: no reduction across threads).
constexpr Index kTaskCols = 256;
// Columns of y (or dx) per item of the weighted scatter.
constexpr Index kScatterCols = 16;
// Below this many multiply-adds a parallel region costs more than it saves.
constexpr double kParallelWork = 1 << 20;

// Items (expert, first, count) cutting [0, size_e) at `chunk`, for every non-empty bucket.
void split_buckets(const Dispatch& dp, Index chunk, std::vector<Index>& items) {
  items.clear();
  for (Index e = 0; e < dp.num_experts; ++e) {
    const Index n = dp.bucket_size(e);
    for (Index b = 0; b < n; b += chunk) {
      items.push_back(e);
      items.push_back(b);
      items.push_back(std::min(chunk, n - b));
    }
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Configuration and parameters

void MoeConfig::validate() const {
  auto fail = [](const char* field, const std::string& value, const char* rule) {
    throw InputError::option(field, value, rule);
  };
  if (dim <= 0) fail("dim", std::to_string(dim), "must be > 0");
  if (hidden <= 0) fail("hidden", std::to_string(hidden), "must be > 0");
  if (num_experts <= 0) fail("num_experts", std::to_string(num_experts), "must be > 0");
  if (num_shared_experts < 0)
    fail("num_shared_experts", std::to_string(num_shared_experts), "must be >= 0");
  const RoutingKind kind = router.kind;
  const bool token_choice = kind == RoutingKind::kTopK || kind == RoutingKind::kNoisyTopK;
  if (token_choice && (router.k < 1 || router.k > num_experts))
    fail("router.k", std::to_string(router.k), "must be in [1, num_experts]");
  if (kind == RoutingKind::kHash && router.k != 1)
    fail("router.k", std::to_string(router.k), "hash routing sends each token to 1 expert");
  if (!(router.capacity_factor >= 0.0) || !std::isfinite(router.capacity_factor))
    fail("router.capacity_factor", fmt::format("{}", router.capacity_factor),
         "must be finite and >= 0 (0: dropless)");
  if (kind == RoutingKind::kExpertChoice && router.capacity_factor <= 0.0)
    fail("router.capacity_factor", fmt::format("{}", router.capacity_factor),
         "expert choice needs a capacity factor > 0 (Zhou et al. use 2)");
  if (kind == RoutingKind::kSoft && router.slots_per_expert < 1)
    fail("router.slots_per_expert", std::to_string(router.slots_per_expert), "must be >= 1");
  if (router.balance_bias && kind != RoutingKind::kTopK)
    fail("router.balance_bias", "true", "applies to top-k token choice routing only");
  if (!(router.bias_update_rate >= 0.0))
    fail("router.bias_update_rate", fmt::format("{}", router.bias_update_rate), "must be >= 0");
  if (kind == RoutingKind::kNoisyTopK && router.score != ScoreFunction::kSoftmax)
    fail("router.score", "sigmoid", "noisy top-k gates with a softmax (Shazeer et al. Eq. 3)");
  const double weights[] = {aux.load_balance, aux.z_loss, aux.importance, aux.load};
  for (double w : weights)
    if (!(w >= 0.0) || !std::isfinite(w))
      fail("aux", fmt::format("{}", w), "loss weights must be finite and >= 0");
  if (aux.load_balance > 0.0 && !token_choice)
    fail("aux.load_balance", fmt::format("{}", aux.load_balance),
         "the Switch loss applies to top-k and noisy top-k routing");
  if (aux.z_loss > 0.0 && !(token_choice || kind == RoutingKind::kExpertChoice))
    fail("aux.z_loss", fmt::format("{}", aux.z_loss), "needs router logits (not hash or soft)");
  if ((aux.importance > 0.0 || aux.load > 0.0) && kind != RoutingKind::kNoisyTopK)
    fail("aux.importance/load", "> 0", "the Shazeer losses apply to noisy top-k routing");
  if (aux.load > 0.0 && router.k >= num_experts)
    fail("aux.load", fmt::format("{}", aux.load), "the load loss needs k < num_experts");
}

Index MoeConfig::router_columns() const {
  switch (router.kind) {
    case RoutingKind::kHash:
      return 0;
    case RoutingKind::kSoft:
      return num_experts * router.slots_per_expert;
    default:
      return num_experts;
  }
}

template <typename S>
void MoeParamsT<S>::resize_zero(const MoeConfig& c) {
  router.setZero(c.dim, c.router_columns());
  if (c.router.kind == RoutingKind::kNoisyTopK)
    noise_router.setZero(c.dim, c.num_experts);
  else
    noise_router.resize(0, 0);
  experts.resize(static_cast<std::size_t>(c.num_experts));
  for (auto& e : experts) e.resize_zero(c.dim, c.hidden);
  shared.resize(static_cast<std::size_t>(c.num_shared_experts));
  for (auto& e : shared) e.resize_zero(c.dim, c.hidden);
}

template <typename S>
void MoeParamsT<S>::set_zero() {
  for (auto& [p, n] : spans()) std::fill(p, p + n, S(0));
}

template <typename S>
std::vector<std::pair<S*, Index>> MoeParamsT<S>::spans() {
  std::vector<std::pair<S*, Index>> s;
  if (router.size() > 0) s.emplace_back(router.data(), router.size());
  if (noise_router.size() > 0) s.emplace_back(noise_router.data(), noise_router.size());
  for (auto* list : {&experts, &shared}) {
    for (auto& e : *list) {
      s.emplace_back(e.w1.data(), e.w1.size());
      s.emplace_back(e.b1.data(), e.b1.size());
      s.emplace_back(e.w2.data(), e.w2.size());
      s.emplace_back(e.b2.data(), e.b2.size());
    }
  }
  return s;
}

template <typename S>
MoeLayerT<S>::MoeLayerT(const MoeConfig& config) : config_(config) {
  config_.validate();
  params_.resize_zero(config_);
  bias_ = Vec::Zero(config_.num_experts);
}

template <typename S>
void MoeLayerT<S>::init(std::uint64_t seed) {
  const Index d = config_.dim, h = config_.hidden;
  Rng router_rng(derive_seed(seed, 0));
  const double bound = 1.0 / std::sqrt(static_cast<double>(d));
  for (Index i = 0; i < params_.router.size(); ++i)
    params_.router.data()[i] = static_cast<S>(bound * (2.0 * uniform01(router_rng) - 1.0));
  params_.noise_router.setZero();
  std::uint64_t stream = 1;
  for (auto* list : {&params_.experts, &params_.shared}) {
    for (auto& e : *list) {
      Rng rng(derive_seed(seed, stream++));
      e.init_uniform(d, h, rng);
    }
  }
  bias_.setZero();
}

double load_imbalance(const Vector& load) {
  const double mean = load.mean();
  return mean > 0.0 ? load.maxCoeff() / mean : 0.0;
}

// ---------------------------------------------------------------------------------------
// Forward

template <typename S>
void MoeLayerT<S>::forward_experts(const ConstMatRef& x, Workspace& ws, MatRef y, bool training) {
  const Index d = config_.dim, h = config_.hidden;
  const Dispatch& dp = ws.dispatch;
  const Index N = dp.num_slots();
  // Buffers sized for every pair (the most slots possible), so their shape is fixed for a
  // given T and routing kind.
  const auto P = static_cast<Index>(ws.pair_expert.size());
  ensure(ws.xs, P, d);
  ensure(ws.act, P, h);
  ensure(ws.dact, P, h);
  ensure(ws.out, P, d);
  ws.slot_weight.resize(static_cast<std::size_t>(P));
  for (Index s = 0; s < N; ++s)
    ws.slot_weight[static_cast<std::size_t>(s)] =
        ws.pair_weight[static_cast<std::size_t>(dp.pair[static_cast<std::size_t>(s)])];
  const bool serial = static_cast<double>(N * d * h) < kParallelWork;
  // Grouped GEMMs on packed rows: each item gathers its rows into contiguous slots once,
  // then x W1, bias + activation fused, act W2 + b2, all while the rows are in cache.
  split_buckets(dp, kTaskRows, ws.row_tasks);
  parallel_tasks(
      static_cast<Index>(ws.row_tasks.size() / 3),
      [&](Index i) {
        const Index* item = ws.row_tasks.data() + 3 * i;
        const Index e = item[0], n = item[2];
        const Index o = dp.offsets[static_cast<std::size_t>(e)] + item[1];
        const Index* tok = dp.token.data() + o;
        for (Index j = 0; j < d; ++j) {
          const S* xc = x.col(j).data();
          S* xsc = &ws.xs(o, j);
          for (Index s = 0; s < n; ++s) xsc[s] = xc[tok[s]];
        }
        ffn_forward<S>(params_.experts[static_cast<std::size_t>(e)], config_.activation,
                       ws.xs.middleRows(o, n), ws.act.middleRows(o, n), training,
                       ws.dact.middleRows(o, n), ws.out.middleRows(o, n));
      },
      serial);
  // Weighted scatter back, a block of columns per item; per token the terms are added in
  // slot order (expert order), whatever the thread count.
  const Index blocks = (d + kScatterCols - 1) / kScatterCols;
  parallel_tasks(
      blocks,
      [&](Index b) {
        for (Index j = b * kScatterCols; j < std::min(d, (b + 1) * kScatterCols); ++j) {
          S* yc = &y(0, j);
          const S* oc = &ws.out(0, j);
          std::fill(yc, yc + y.rows(), S(0));
          for (Index s = 0; s < N; ++s)
            yc[dp.token[static_cast<std::size_t>(s)]] +=
                ws.slot_weight[static_cast<std::size_t>(s)] * oc[s];
        }
      },
      serial);
}

template <typename S>
void MoeLayerT<S>::forward_shared(const ConstMatRef& x, Workspace& ws, MatRef y, bool training) {
  const auto ns = static_cast<std::size_t>(config_.num_shared_experts);
  const Index T = x.rows(), d = config_.dim, h = config_.hidden;
  ws.sh_act.resize(ns);
  ws.sh_dact.resize(ns);
  ws.sh_out.resize(ns);
  for (std::size_t s = 0; s < ns; ++s) {
    ensure(ws.sh_act[s], T, h);
    ensure(ws.sh_dact[s], T, h);
    ensure(ws.sh_out[s], T, d);
    ffn_forward<S>(params_.shared[s], config_.activation, x, ws.sh_act[s], training, ws.sh_dact[s],
                   ws.sh_out[s]);
    y += ws.sh_out[s];
  }
}

template <typename S>
double MoeLayerT<S>::aux_losses_forward(Workspace& ws) {
  const AuxLossOptions& a = config_.aux;
  ws.lb_loss = ws.z_loss = ws.importance_loss = ws.load_loss = 0.0;
  static thread_local Mat none;
  if (a.load_balance > 0.0)
    ws.lb_loss = load_balancing_loss<S>(ws.probs, ws.f, a.load_balance, none);
  if (a.z_loss > 0.0) ws.z_loss = router_z_loss<S>(ws.logits, a.z_loss, none);
  if (a.importance > 0.0) {
    const Index T = ws.tokens, k = config_.router.k;
    ensure(ws.dense_gates, T, config_.num_experts);
    ws.dense_gates.setZero();
    for (Index p = 0; p < T * k; ++p) {
      const auto up = static_cast<std::size_t>(p);
      ws.dense_gates(ws.pair_token[up], ws.pair_expert[up]) = ws.pair_weight[up];
    }
    ws.importance_loss = importance_loss<S>(ws.dense_gates, a.importance, none);
  }
  if (a.load > 0.0)
    ws.load_loss = load_loss<S>(ws.logits, ws.scores, ws.noise_sd, config_.router.k, a.load, none,
                                none, none, ws.topk_scratch);
  ws.aux_loss = ws.lb_loss + ws.z_loss + ws.importance_loss + ws.load_loss;
  return ws.aux_loss;
}

template <typename S>
double MoeLayerT<S>::forward(const ConstMatRef& x,
                             Workspace& ws,
                             MatRef y,
                             const ForwardContext& ctx) {
  const Index T = x.rows(), E = config_.num_experts;
  if (x.cols() != config_.dim)
    throw InputError::option("x", fmt::format("{} columns", x.cols()),
                             fmt::format("must have dim = {} columns", config_.dim));
  if (T < 1) throw InputError::option("x", "0 rows", "needs at least one token");
  if (y.rows() != T || y.cols() != config_.dim)
    throw InputError::option("y", fmt::format("{}x{}", y.rows(), y.cols()),
                             fmt::format("must be T x dim = {}x{}", T, config_.dim));
  ws.tokens = T;
  ws.grad_ready = ctx.training;
  const RoutingKind kind = config_.router.kind;
  switch (kind) {
    case RoutingKind::kTopK:
    case RoutingKind::kNoisyTopK:
      detail::route_top_k<S>(config_, params_, bias_, x, ws, ctx);
      break;
    case RoutingKind::kExpertChoice:
      detail::route_expert_choice<S>(config_, params_, x, ws);
      break;
    case RoutingKind::kHash:
      detail::route_hash<S>(config_, ws, ctx);
      break;
    case RoutingKind::kSoft:
      break;
  }
  ws.f.setZero(E);
  ws.load.setZero(E);
  if (kind == RoutingKind::kSoft) {
    detail::forward_soft<S>(config_, params_, x, ws, y, ctx.training);
    ws.f.setConstant(1.0 / static_cast<double>(E));
    ws.load = ws.f;
    ws.dropped = 0;
  } else {
    forward_experts(x, ws, y, ctx.training);
    const Dispatch& dp = ws.dispatch;
    const auto P = static_cast<double>(ws.pair_expert.size());
    for (Index e = 0; e < E; ++e) {
      ws.f(e) = static_cast<double>(dp.counts[static_cast<std::size_t>(e)]) / P;
      ws.load(e) = static_cast<double>(dp.bucket_size(e));
    }
    const double kept = ws.load.sum();
    if (kept > 0.0) ws.load /= kept;
    ws.dropped = static_cast<Index>(ws.pair_expert.size()) - dp.num_slots();
  }
  if (config_.num_shared_experts > 0) forward_shared(x, ws, y, ctx.training);
  if (config_.residual) y += x;
  return aux_losses_forward(ws);
}

// ---------------------------------------------------------------------------------------
// Backward

template <typename S>
void MoeLayerT<S>::backward_router(const ConstMatRef& x, Workspace& ws, Params& grads, MatRef dx) {
  const RoutingKind kind = config_.router.kind;
  if (kind == RoutingKind::kHash) return;  // no router parameters
  ensure(ws.dlogits, ws.tokens, config_.num_experts);
  ws.dlogits.setZero();
  if (kind == RoutingKind::kExpertChoice)
    detail::backward_expert_choice<S>(ws);
  else
    detail::backward_top_k<S>(config_, params_, x, ws, grads, dx);
  if (config_.aux.z_loss > 0.0) router_z_loss<S>(ws.logits, config_.aux.z_loss, ws.dlogits);
  grads.router.noalias() += x.transpose() * ws.dlogits;
  dx.noalias() += ws.dlogits * params_.router.transpose();
}

template <typename S>
void MoeLayerT<S>::backward_experts(const ConstMatRef& dy,
                                    Workspace& ws,
                                    Params& grads,
                                    MatRef dx) {
  const Index d = config_.dim, h = config_.hidden;
  const Dispatch& dp = ws.dispatch;
  const Index N = dp.num_slots();
  const auto P = static_cast<Index>(ws.pair_expert.size());
  ensure(ws.dout, P, d);
  ensure(ws.dhid, P, h);
  ensure(ws.dxs, P, d);
  ws.dpair.assign(static_cast<std::size_t>(P), 0.0);
  ws.dslot.assign(static_cast<std::size_t>(P), 0.0);
  const bool serial = static_cast<double>(N * d * h) < kParallelWork;
  // Row items: dL/dw of a slot = dy_t . FFN_e(x_t) (in double); dL/dFFN = w dy_t; then
  // dhid = (dout W2^T) .* act' and dxs = dhid W1^T, all on the item's rows.
  parallel_tasks(
      static_cast<Index>(ws.row_tasks.size() / 3),
      [&](Index i) {
        const Index* item = ws.row_tasks.data() + 3 * i;
        const Index e = item[0], n = item[2];
        const Index o = dp.offsets[static_cast<std::size_t>(e)] + item[1];
        const Index* tok = dp.token.data() + o;
        const Index* pair = dp.pair.data() + o;
        double* dg = ws.dslot.data() + o;
        const S* w = ws.slot_weight.data() + o;
        for (Index j = 0; j < d; ++j) {
          const S* dyc = dy.col(j).data();
          const S* oc = &ws.out(o, j);
          S* doc = &ws.dout(o, j);
          for (Index s = 0; s < n; ++s) {
            const S g = dyc[tok[s]];
            dg[s] += static_cast<double>(g) * oc[s];
            doc[s] = w[s] * g;
          }
        }
        for (Index s = 0; s < n; ++s) ws.dpair[static_cast<std::size_t>(pair[s])] = dg[s];
        const ExpertParamsT<S>& p = params_.experts[static_cast<std::size_t>(e)];
        auto dhid = ws.dhid.middleRows(o, n);
        detail::expert_gemm<S>(ws.dout.middleRows(o, n), detail::Op::kNone, p.w2,
                               detail::Op::kTranspose, dhid, false);
        dhid.array() *= ws.dact.middleRows(o, n).array();
        detail::expert_gemm<S>(dhid, detail::Op::kNone, p.w1, detail::Op::kTranspose,
                               ws.dxs.middleRows(o, n), false);
      },
      serial);
  // Weight-gradient items: dW2 = act^T dout and dW1 = xs^T dhid over the whole bucket, cut
  // by columns of dW (each item owns its columns: no cross-thread reduction).
  std::vector<Index>& items = ws.grad_tasks;
  items.clear();
  for (Index e = 0; e < dp.num_experts; ++e) {
    if (dp.bucket_size(e) == 0) continue;
    for (Index which = 0; which < 2; ++which) {
      const Index cols = which == 0 ? d : h;
      for (Index c0 = 0; c0 < cols; c0 += kTaskCols) {
        items.push_back(e);
        items.push_back(which);
        items.push_back(c0);
        items.push_back(std::min(kTaskCols, cols - c0));
      }
    }
  }
  parallel_tasks(
      static_cast<Index>(items.size() / 4),
      [&](Index i) {
        const Index* item = items.data() + 4 * i;
        const Index e = item[0], c0 = item[2], nc = item[3];
        const Index o = dp.offsets[static_cast<std::size_t>(e)], n = dp.bucket_size(e);
        ExpertParamsT<S>& g = grads.experts[static_cast<std::size_t>(e)];
        if (item[1] == 0) {
          const auto dout = ws.dout.middleRows(o, n).middleCols(c0, nc);
          detail::expert_gemm<S>(ws.act.middleRows(o, n), detail::Op::kTranspose, dout,
                                 detail::Op::kNone, g.w2.middleCols(c0, nc), true);
          g.b2.segment(c0, nc).noalias() += dout.colwise().sum().transpose();
        } else {
          const auto dhid = ws.dhid.middleRows(o, n).middleCols(c0, nc);
          detail::expert_gemm<S>(ws.xs.middleRows(o, n), detail::Op::kTranspose, dhid,
                                 detail::Op::kNone, g.w1.middleCols(c0, nc), true);
          g.b1.segment(c0, nc).noalias() += dhid.colwise().sum().transpose();
        }
      },
      serial);
  // Scatter dxs back to tokens, a block of columns per item, in slot order.
  const Index blocks = (d + kScatterCols - 1) / kScatterCols;
  parallel_tasks(
      blocks,
      [&](Index b) {
        for (Index j = b * kScatterCols; j < std::min(d, (b + 1) * kScatterCols); ++j) {
          S* dxc = &dx(0, j);
          const S* sc = &ws.dxs(0, j);
          for (Index s = 0; s < N; ++s) dxc[dp.token[static_cast<std::size_t>(s)]] += sc[s];
        }
      },
      serial);
}

template <typename S>
void MoeLayerT<S>::backward(
    const ConstMatRef& x, const ConstMatRef& dy, Workspace& ws, Params& grads, MatRef dx) {
  if (!ws.grad_ready || ws.tokens != x.rows())
    throw InputError::option("MoeLayer::backward", "workspace",
                             "needs the workspace of a training forward on the same x");
  const Index T = x.rows(), d = config_.dim, h = config_.hidden;
  if (config_.residual)
    dx = dy;
  else
    dx.setZero();
  if (config_.router.kind == RoutingKind::kSoft) {
    detail::backward_soft<S>(config_, params_, x, dy, ws, grads, dx);
  } else {
    backward_experts(dy, ws, grads, dx);
    backward_router(x, ws, grads, dx);
  }
  const auto ns = static_cast<std::size_t>(config_.num_shared_experts);
  if (ns > 0) {
    ensure(ws.sh_dhid, T, h);
    ensure(ws.sh_dx, T, d);
    for (std::size_t s = 0; s < ns; ++s) {
      ffn_backward<S>(params_.shared[s], x, ws.sh_act[s], ws.sh_dact[s], dy, ws.sh_dhid,
                      grads.shared[s], ws.sh_dx);
      dx += ws.sh_dx;
    }
  }
}

template <typename S>
void MoeLayerT<S>::update_balance_bias(const Workspace& ws) {
  if (!config_.router.balance_bias) return;
  // DeepSeek-V3, Sec. 2.1.2: decrease the bias of an overloaded expert by gamma, increase
  // that of an underloaded one.
  const double mean = ws.f.mean(), rate = config_.router.bias_update_rate;
  for (Index e = 0; e < config_.num_experts; ++e) {
    if (ws.f(e) > mean)
      bias_(e) -= static_cast<S>(rate);
    else if (ws.f(e) < mean)
      bias_(e) += static_cast<S>(rate);
  }
}

template struct MoeParamsT<float>;
template struct MoeParamsT<double>;
template class MoeLayerT<float>;
template class MoeLayerT<double>;

}  // namespace moekit::deep
