#include "moekit/deep/moe_layer.hpp"

#include "moekit/core/error.hpp"
#include "moekit/core/parallel.hpp"
#include "moekit/deep/topk.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#if defined(_OPENMP)
#include <omp.h>
#endif

namespace moekit::deep {

namespace {

// Below this many multiply-adds a parallel region costs more than it saves.
constexpr double kParallelWork = 1 << 20;

// Runs f(i) for i in [0, n) on up to num_threads() threads when `work` (multiply-adds, a
// rough count) is worth it. Every i writes its own outputs, so results do not depend on
// the schedule or the thread count.
template <typename F>
void parallel_for(Index n, const F& f, double work, bool dynamic = true) {
#if defined(_OPENMP)
  const int nt = static_cast<int>(std::max<Index>(1, std::min<Index>(num_threads(), n)));
  if (nt > 1 && work >= kParallelWork) {
    if (dynamic) {
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
      for (Index i = 0; i < n; ++i) f(i);
    } else {
#pragma omp parallel for schedule(static) num_threads(nt)
      for (Index i = 0; i < n; ++i) f(i);
    }
    return;
  }
#endif
  (void)dynamic;
  (void)work;
  for (Index i = 0; i < n; ++i) f(i);
}

// Resizes only when the shape changes, so steady-state steps do not allocate.
inline void ensure(Matrix& m, Index rows, Index cols) {
  if (m.rows() != rows || m.cols() != cols) m.resize(rows, cols);
}

inline double softplus(double v) {
  return v > 0.0 ? v + std::log1p(std::exp(-v)) : std::log1p(std::exp(v));
}
inline double sigmoid(double v) { return 1.0 / (1.0 + std::exp(-v)); }

Matrix& empty_matrix() {
  static thread_local Matrix m;
  return m;
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

void MoeParams::resize_zero(const MoeConfig& c) {
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

void MoeParams::set_zero() {
  for (auto& [p, n] : spans()) std::fill(p, p + n, 0.0);
}

std::vector<std::pair<double*, Index>> MoeParams::spans() {
  std::vector<std::pair<double*, Index>> s;
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

MoeLayer::MoeLayer(const MoeConfig& config) : config_(config) {
  config_.validate();
  params_.resize_zero(config_);
  bias_ = Vector::Zero(config_.num_experts);
}

void MoeLayer::init(std::uint64_t seed) {
  const Index d = config_.dim, h = config_.hidden;
  Rng router_rng(derive_seed(seed, 0));
  const double bound = 1.0 / std::sqrt(static_cast<double>(d));
  for (Index i = 0; i < params_.router.size(); ++i)
    params_.router.data()[i] = bound * (2.0 * uniform01(router_rng) - 1.0);
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
// Routing

void MoeLayer::route_token_choice(const ConstMatrixRef& x,
                                  MoeWorkspace& ws,
                                  const ForwardContext& ctx) {
  const Index T = x.rows(), E = config_.num_experts, k = config_.router.k;
  const bool noisy = config_.router.kind == RoutingKind::kNoisyTopK;
  ensure(ws.logits, T, E);
  ensure(ws.probs, T, E);
  ensure(ws.scores, T, E);
  ws.logits.noalias() = x * params_.router;
  softmax_rows(ws.logits, ws.probs);
  if (noisy) {
    // Shazeer et al. 2017, Eq. 4: H = x Wg + StandardNormal() * Softplus(x Wnoise).
    ensure(ws.noise_logits, T, E);
    ensure(ws.noise_sd, T, E);
    ensure(ws.eps, T, E);
    ws.noise_logits.noalias() = x * params_.noise_router;
    ws.noise_sd = ws.noise_logits.unaryExpr([](double v) { return softplus(v); });
    if (!ctx.training) {
      ws.eps.setZero();  // no noise at inference
    } else if (ctx.noise != nullptr) {
      if (ctx.noise->rows() != T || ctx.noise->cols() != E)
        throw InputError::option("ForwardContext::noise",
                                 fmt::format("{}x{}", ctx.noise->rows(), ctx.noise->cols()),
                                 fmt::format("must be T x E = {}x{}", T, E));
      ws.eps = *ctx.noise;
    } else {
      if (ctx.rng == nullptr)
        throw InputError::option("ForwardContext::rng", "null",
                                 "noisy top-k training needs an rng or a noise matrix");
      for (Index j = 0; j < E; ++j)
        for (Index t = 0; t < T; ++t) ws.eps(t, j) = standard_normal(*ctx.rng);
    }
    ws.scores = ws.logits + ws.eps.cwiseProduct(ws.noise_sd);
    ws.sel = ws.scores;
  } else {
    if (config_.router.score == ScoreFunction::kSoftmax)
      ws.scores = ws.probs;
    else
      ws.scores = ws.logits.unaryExpr([](double v) { return sigmoid(v); });
    ws.sel = ws.scores;
    // DeepSeek-V3: the bias enters the selection only, never the weights.
    if (config_.router.balance_bias) ws.sel.rowwise() += bias_.transpose();
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
    } else if (config_.router.normalize) {
      norm = 0.0;
      for (Index r = 0; r < k; ++r) norm += ws.scores(t, top[r]);
    }
    for (Index r = 0; r < k; ++r) {
      const auto p = static_cast<std::size_t>(r * T + t);
      ws.pair_expert[p] = top[r];
      ws.pair_token[p] = t;
      const double s = ws.scores(t, top[r]);
      ws.pair_weight[p] = noisy ? std::exp(s - shift) / norm : s / norm;
    }
  }
  Index capacity = -1;
  if (config_.router.capacity_factor > 0.0)
    capacity = static_cast<Index>(std::ceil(config_.router.capacity_factor *
                                            static_cast<double>(k * T) / static_cast<double>(E)));
  build_dispatch(ws.pair_expert.data(), ws.pair_token.data(), P, E, capacity, ws.dispatch);
}

void MoeLayer::route_expert_choice(const ConstMatrixRef& x, MoeWorkspace& ws) {
  const Index T = x.rows(), E = config_.num_experts;
  ensure(ws.logits, T, E);
  ensure(ws.probs, T, E);
  ws.logits.noalias() = x * params_.router;
  softmax_rows(ws.logits, ws.probs);
  // Zhou et al. 2022, Eq. 1-2: S = Softmax(X Wg); I = TopK(S^T, c); weight G = S[I].
  const Index c = std::min<Index>(
      T, static_cast<Index>(std::ceil(config_.router.capacity_factor * static_cast<double>(T) /
                                      static_cast<double>(E))));
  const Index P = E * c;
  ws.pair_expert.resize(static_cast<std::size_t>(P));
  ws.pair_token.resize(static_cast<std::size_t>(P));
  ws.pair_weight.resize(static_cast<std::size_t>(P));
  for (Index e = 0; e < E; ++e) {
    Index* tokens = ws.pair_token.data() + e * c;
    top_k_large(&ws.probs(0, e), T, 1, c, ws.topk_scratch, tokens);
    for (Index j = 0; j < c; ++j) {
      const auto p = static_cast<std::size_t>(e * c + j);
      ws.pair_expert[p] = e;
      ws.pair_weight[p] = ws.probs(tokens[j], e);
    }
  }
  build_dispatch(ws.pair_expert.data(), ws.pair_token.data(), P, E, -1, ws.dispatch);
}

void MoeLayer::route_hash(MoeWorkspace& ws, const ForwardContext& ctx) {
  const Index T = ws.tokens, E = config_.num_experts;
  if (ctx.token_ids == nullptr || static_cast<Index>(ctx.token_ids->size()) != T)
    throw InputError::option(
        "ForwardContext::token_ids",
        ctx.token_ids == nullptr ? "null" : std::to_string(ctx.token_ids->size()),
        fmt::format("hash routing needs one id per token (T = {})", T));
  ws.pair_expert.resize(static_cast<std::size_t>(T));
  ws.pair_token.resize(static_cast<std::size_t>(T));
  ws.pair_weight.assign(static_cast<std::size_t>(T), 1.0);
  for (Index t = 0; t < T; ++t) {
    ws.pair_expert[static_cast<std::size_t>(t)] =
        hash_expert((*ctx.token_ids)[static_cast<std::size_t>(t)], config_.router.hash_seed, E);
    ws.pair_token[static_cast<std::size_t>(t)] = t;
  }
  Index capacity = -1;
  if (config_.router.capacity_factor > 0.0)
    capacity = static_cast<Index>(std::ceil(config_.router.capacity_factor *
                                            static_cast<double>(T) / static_cast<double>(E)));
  build_dispatch(ws.pair_expert.data(), ws.pair_token.data(), T, E, capacity, ws.dispatch);
}

// ---------------------------------------------------------------------------------------
// Forward

void MoeLayer::forward_experts(const ConstMatrixRef& x,
                               MoeWorkspace& ws,
                               MatrixRef y,
                               bool training) {
  const Index d = config_.dim, h = config_.hidden, E = config_.num_experts;
  const Dispatch& dp = ws.dispatch;
  // Buffers sized for every pair (the most slots possible), so their shape is fixed for a
  // given T and routing kind.
  const auto P = static_cast<Index>(ws.pair_expert.size());
  ensure(ws.xs, P, d);
  ensure(ws.hpre, P, h);
  ensure(ws.act, P, h);
  ensure(ws.dact, P, h);
  ensure(ws.out, P, d);
  parallel_for(
      E,
      [&](Index e) {
        const Index o = dp.offsets[static_cast<std::size_t>(e)], n = dp.bucket_size(e);
        if (n == 0) return;
        const Index* tok = dp.token.data() + o;
        for (Index j = 0; j < d; ++j)
          for (Index s = 0; s < n; ++s) ws.xs(o + s, j) = x(tok[s], j);
        ffn_forward(params_.experts[static_cast<std::size_t>(e)], config_.activation,
                    ws.xs.middleRows(o, n), ws.hpre.middleRows(o, n), ws.act.middleRows(o, n),
                    training, ws.dact.middleRows(o, n), ws.out.middleRows(o, n));
      },
      static_cast<double>(dp.num_slots() * d * h));
  // Weighted scatter back, one column per task; per token the terms are added in slot
  // order (expert order), whatever the thread count.
  const Index N = dp.num_slots();
  y.setZero();
  parallel_for(
      d,
      [&](Index j) {
        for (Index s = 0; s < N; ++s) {
          const auto us = static_cast<std::size_t>(s);
          y(dp.token[us], j) +=
              ws.pair_weight[static_cast<std::size_t>(dp.pair[us])] * ws.out(s, j);
        }
      },
      static_cast<double>(N * d), false);
}

void MoeLayer::forward_soft(const ConstMatrixRef& x, MoeWorkspace& ws, MatrixRef y, bool training) {
  const Index T = x.rows(), d = config_.dim, h = config_.hidden, E = config_.num_experts;
  const Index m = config_.router.slots_per_expert, S = E * m;
  ensure(ws.logits, T, S);
  ensure(ws.soft_d, T, S);
  ensure(ws.soft_c, T, S);
  ws.logits.noalias() = x * params_.router;
  // Puigcerver et al. 2023, Eq. 1-3: D = softmax over tokens (columns), C = softmax over
  // slots (rows); slot inputs X~ = D^T X; Y = C Y~.
  for (Index j = 0; j < S; ++j) {
    const double mx = ws.logits.col(j).maxCoeff();
    ws.soft_d.col(j) = (ws.logits.col(j).array() - mx).exp();
    ws.soft_d.col(j) /= ws.soft_d.col(j).sum();
  }
  softmax_rows(ws.logits, ws.soft_c);
  ensure(ws.xs, S, d);
  ensure(ws.hpre, S, h);
  ensure(ws.act, S, h);
  ensure(ws.dact, S, h);
  ensure(ws.out, S, d);
  ws.xs.noalias() = ws.soft_d.transpose() * x;
  parallel_for(
      E,
      [&](Index e) {
        const Index o = e * m;
        ffn_forward(params_.experts[static_cast<std::size_t>(e)], config_.activation,
                    ws.xs.middleRows(o, m), ws.hpre.middleRows(o, m), ws.act.middleRows(o, m),
                    training, ws.dact.middleRows(o, m), ws.out.middleRows(o, m));
      },
      static_cast<double>(S * d * h));
  y.noalias() = ws.soft_c * ws.out;
}

void MoeLayer::forward_shared(const ConstMatrixRef& x,
                              MoeWorkspace& ws,
                              MatrixRef y,
                              bool training) {
  const auto ns = static_cast<std::size_t>(config_.num_shared_experts);
  const Index T = x.rows(), d = config_.dim, h = config_.hidden;
  ws.sh_hpre.resize(ns);
  ws.sh_act.resize(ns);
  ws.sh_dact.resize(ns);
  ws.sh_out.resize(ns);
  for (std::size_t s = 0; s < ns; ++s) {
    ensure(ws.sh_hpre[s], T, h);
    ensure(ws.sh_act[s], T, h);
    ensure(ws.sh_dact[s], T, h);
    ensure(ws.sh_out[s], T, d);
    ffn_forward(params_.shared[s], config_.activation, x, ws.sh_hpre[s], ws.sh_act[s], training,
                ws.sh_dact[s], ws.sh_out[s]);
    y += ws.sh_out[s];
  }
}

double MoeLayer::aux_losses_forward(MoeWorkspace& ws) {
  const AuxLossOptions& a = config_.aux;
  ws.lb_loss = ws.z_loss = ws.importance_loss = ws.load_loss = 0.0;
  Matrix& none = empty_matrix();
  if (a.load_balance > 0.0) ws.lb_loss = load_balancing_loss(ws.probs, ws.f, a.load_balance, none);
  if (a.z_loss > 0.0) ws.z_loss = router_z_loss(ws.logits, a.z_loss, none);
  if (a.importance > 0.0) {
    const Index T = ws.tokens, k = config_.router.k;
    ensure(ws.dense_gates, T, config_.num_experts);
    ws.dense_gates.setZero();
    for (Index p = 0; p < T * k; ++p) {
      const auto up = static_cast<std::size_t>(p);
      ws.dense_gates(ws.pair_token[up], ws.pair_expert[up]) = ws.pair_weight[up];
    }
    ws.importance_loss = importance_loss(ws.dense_gates, a.importance, none);
  }
  if (a.load > 0.0)
    ws.load_loss = load_loss(ws.logits, ws.scores, ws.noise_sd, config_.router.k, a.load, none,
                             none, none, ws.topk_scratch);
  ws.aux_loss = ws.lb_loss + ws.z_loss + ws.importance_loss + ws.load_loss;
  return ws.aux_loss;
}

double MoeLayer::forward(const ConstMatrixRef& x,
                         MoeWorkspace& ws,
                         MatrixRef y,
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
      route_token_choice(x, ws, ctx);
      break;
    case RoutingKind::kExpertChoice:
      route_expert_choice(x, ws);
      break;
    case RoutingKind::kHash:
      route_hash(ws, ctx);
      break;
    case RoutingKind::kSoft:
      break;
  }
  ws.f.setZero(E);
  ws.load.setZero(E);
  if (kind == RoutingKind::kSoft) {
    forward_soft(x, ws, y, ctx.training);
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

void MoeLayer::backward_router(const ConstMatrixRef& x,
                               MoeWorkspace& ws,
                               MoeParams& grads,
                               MatrixRef dx) {
  const RoutingKind kind = config_.router.kind;
  if (kind == RoutingKind::kHash) return;  // no router parameters
  const Index T = ws.tokens, E = config_.num_experts, k = config_.router.k;
  const AuxLossOptions& a = config_.aux;
  ensure(ws.dlogits, T, E);
  ensure(ws.dscores, T, E);
  ws.dlogits.setZero();
  ws.dscores.setZero();
  Matrix& none = empty_matrix();
  if (kind == RoutingKind::kExpertChoice) {
    for (std::size_t p = 0; p < ws.pair_expert.size(); ++p)
      ws.dscores(ws.pair_token[p], ws.pair_expert[p]) += ws.dpair[p];
    softmax_rows_backward(ws.probs, ws.dscores, ws.dlogits);
  } else {
    const bool noisy = kind == RoutingKind::kNoisyTopK;
    if (noisy && a.importance > 0.0) {
      // Importance uses the dense gates G; its gradient joins that of the output weights.
      ensure(ws.ddense_gates, T, E);
      ws.ddense_gates.setZero();
      importance_loss(ws.dense_gates, a.importance, ws.ddense_gates);
      for (std::size_t p = 0; p < ws.pair_expert.size(); ++p)
        ws.dpair[p] += ws.ddense_gates(ws.pair_token[p], ws.pair_expert[p]);
    }
    // Gate weights -> scores: g_r = s_r / sum_q s_q when normalised (for noisy top-k,
    // s = exp(H) so that the same formula is the softmax over the kept logits).
    for (Index t = 0; t < T; ++t) {
      double dot = 0.0, norm = 0.0;
      for (Index r = 0; r < k; ++r) {
        const auto p = static_cast<std::size_t>(r * T + t);
        dot += ws.pair_weight[p] * ws.dpair[p];
        norm += ws.scores(t, ws.pair_expert[p]);
      }
      for (Index r = 0; r < k; ++r) {
        const auto p = static_cast<std::size_t>(r * T + t);
        const Index e = ws.pair_expert[p];
        if (noisy)
          ws.dscores(t, e) += ws.pair_weight[p] * (ws.dpair[p] - dot);  // dH
        else if (config_.router.normalize)
          ws.dscores(t, e) += (ws.dpair[p] - dot) / norm;
        else
          ws.dscores(t, e) += ws.dpair[p];
      }
    }
    if (noisy) {
      ensure(ws.dsd, T, E);
      ws.dsd.setZero();
      if (a.load > 0.0)
        load_loss(ws.logits, ws.scores, ws.noise_sd, static_cast<int>(k), a.load, ws.dlogits,
                  ws.dscores, ws.dsd, ws.topk_scratch);
      // H = z + eps * sd, sd = softplus(x Wnoise).
      ws.dlogits += ws.dscores;
      ws.dsd += ws.dscores.cwiseProduct(ws.eps);
      ensure(ws.dnoisy, T, E);
      ws.dnoisy =
          ws.dsd.cwiseProduct(ws.noise_logits.unaryExpr([](double v) { return sigmoid(v); }));
      grads.noise_router.noalias() += x.transpose() * ws.dnoisy;
      dx.noalias() += ws.dnoisy * params_.noise_router.transpose();
    } else if (config_.router.score == ScoreFunction::kSoftmax) {
      softmax_rows_backward(ws.probs, ws.dscores, ws.dlogits);
    } else {
      ws.dlogits.array() += ws.dscores.array() * ws.scores.array() * (1.0 - ws.scores.array());
    }
    if (a.load_balance > 0.0) {
      ensure(ws.dprobs, T, E);
      ws.dprobs.setZero();
      load_balancing_loss(ws.probs, ws.f, a.load_balance, ws.dprobs);
      softmax_rows_backward(ws.probs, ws.dprobs, ws.dlogits);
    }
  }
  if (a.z_loss > 0.0) router_z_loss(ws.logits, a.z_loss, ws.dlogits);
  (void)none;
  grads.router.noalias() += x.transpose() * ws.dlogits;
  dx.noalias() += ws.dlogits * params_.router.transpose();
}

void MoeLayer::backward_soft(const ConstMatrixRef& x,
                             const ConstMatrixRef& dy,
                             MoeWorkspace& ws,
                             MoeParams& grads,
                             MatrixRef dx) {
  const Index T = x.rows(), d = config_.dim, h = config_.hidden, E = config_.num_experts;
  const Index m = config_.router.slots_per_expert, S = E * m;
  ensure(ws.soft_dc, T, S);
  ensure(ws.soft_dd, T, S);
  ensure(ws.dout, S, d);
  ensure(ws.dhid, S, h);
  ensure(ws.dxs, S, d);
  ws.soft_dc.noalias() = dy * ws.out.transpose();
  ws.dout.noalias() = ws.soft_c.transpose() * dy;
  parallel_for(
      E,
      [&](Index e) {
        const Index o = e * m;
        ffn_backward(params_.experts[static_cast<std::size_t>(e)], ws.xs.middleRows(o, m),
                     ws.act.middleRows(o, m), ws.dact.middleRows(o, m), ws.dout.middleRows(o, m),
                     ws.dhid.middleRows(o, m), grads.experts[static_cast<std::size_t>(e)],
                     ws.dxs.middleRows(o, m));
      },
      static_cast<double>(S * d * h));
  ws.soft_dd.noalias() = x * ws.dxs.transpose();
  dx.noalias() += ws.soft_d * ws.dxs;
  // dL = C .* (dC - rowsum(C .* dC)) + D .* (dD - colsum(D .* dD)).
  ensure(ws.dlogits, T, S);
  ws.dlogits.setZero();
  softmax_rows_backward(ws.soft_c, ws.soft_dc, ws.dlogits);
  for (Index j = 0; j < S; ++j) {
    const double dot = ws.soft_d.col(j).dot(ws.soft_dd.col(j));
    ws.dlogits.col(j).array() += ws.soft_d.col(j).array() * (ws.soft_dd.col(j).array() - dot);
  }
  grads.router.noalias() += x.transpose() * ws.dlogits;
  dx.noalias() += ws.dlogits * params_.router.transpose();
}

void MoeLayer::backward(const ConstMatrixRef& x,
                        const ConstMatrixRef& dy,
                        MoeWorkspace& ws,
                        MoeParams& grads,
                        MatrixRef dx) {
  if (!ws.grad_ready || ws.tokens != x.rows())
    throw InputError::option("MoeLayer::backward", "workspace",
                             "needs the workspace of a training forward on the same x");
  const Index T = x.rows(), d = config_.dim, h = config_.hidden, E = config_.num_experts;
  if (config_.residual)
    dx = dy;
  else
    dx.setZero();
  if (config_.router.kind == RoutingKind::kSoft) {
    backward_soft(x, dy, ws, grads, dx);
  } else {
    const Dispatch& dp = ws.dispatch;
    const auto P = static_cast<Index>(ws.pair_expert.size());
    ensure(ws.dout, P, d);
    ensure(ws.dhid, P, h);
    ensure(ws.dxs, P, d);
    ws.dpair.assign(static_cast<std::size_t>(P), 0.0);
    ws.dslot.assign(static_cast<std::size_t>(P), 0.0);
    parallel_for(
        E,
        [&](Index e) {
          const Index o = dp.offsets[static_cast<std::size_t>(e)], n = dp.bucket_size(e);
          if (n == 0) return;
          const Index* tok = dp.token.data() + o;
          const Index* pair = dp.pair.data() + o;
          double* dg = ws.dslot.data() + o;
          // dL/dw for the slot = dy_t . FFN_e(x_t); dL/dFFN = w dy_t. Column-outer loops keep
          // the column-major reads of dy contiguous.
          for (Index j = 0; j < d; ++j) {
            for (Index s = 0; s < n; ++s) {
              const double g = dy(tok[s], j);
              dg[s] += g * ws.out(o + s, j);
              ws.dout(o + s, j) = ws.pair_weight[static_cast<std::size_t>(pair[s])] * g;
            }
          }
          for (Index s = 0; s < n; ++s) ws.dpair[static_cast<std::size_t>(pair[s])] = dg[s];
          ffn_backward(params_.experts[static_cast<std::size_t>(e)], ws.xs.middleRows(o, n),
                       ws.act.middleRows(o, n), ws.dact.middleRows(o, n), ws.dout.middleRows(o, n),
                       ws.dhid.middleRows(o, n), grads.experts[static_cast<std::size_t>(e)],
                       ws.dxs.middleRows(o, n));
        },
        static_cast<double>(dp.num_slots() * d * h));
    const Index N = dp.num_slots();
    parallel_for(
        d,
        [&](Index j) {
          for (Index s = 0; s < N; ++s)
            dx(dp.token[static_cast<std::size_t>(s)], j) += ws.dxs(s, j);
        },
        static_cast<double>(N * d), false);
    backward_router(x, ws, grads, dx);
  }
  const auto ns = static_cast<std::size_t>(config_.num_shared_experts);
  if (ns > 0) {
    ensure(ws.sh_dhid, T, h);
    ensure(ws.sh_dx, T, d);
    for (std::size_t s = 0; s < ns; ++s) {
      ffn_backward(params_.shared[s], x, ws.sh_act[s], ws.sh_dact[s], dy, ws.sh_dhid,
                   grads.shared[s], ws.sh_dx);
      dx += ws.sh_dx;
    }
  }
}

void MoeLayer::update_balance_bias(const MoeWorkspace& ws) {
  if (!config_.router.balance_bias) return;
  // DeepSeek-V3, Sec. 2.1.2: decrease the bias of an overloaded expert by gamma, increase
  // that of an underloaded one.
  const double mean = ws.f.mean(), rate = config_.router.bias_update_rate;
  for (Index e = 0; e < config_.num_experts; ++e) {
    if (ws.f(e) > mean)
      bias_(e) -= rate;
    else if (ws.f(e) < mean)
      bias_(e) += rate;
  }
}

}  // namespace moekit::deep
