#pragma once
// The deep top-k mixture-of-experts layer over a batch of T tokens of width d:
//
//   y_t = [x_t +] sum_{e in route(x_t)} w_e(x_t) FFN_e(x_t) + sum_{s shared} FFN_s(x_t)
//
// with E routed FFN experts of hidden width h, the routing kinds of router.hpp, optional
// always-on shared experts (DeepSeek-MoE, Dai et al. 2024) and an optional residual (a token
// dropped by every expert then passes through unchanged). Forward and backward are written
// out with Eigen; all intermediates live in a MoeWorkspace that is reused across steps.

#include "moekit/core/rng.hpp"
#include "moekit/core/types.hpp"
#include "moekit/deep/dispatch.hpp"
#include "moekit/deep/expert_ffn.hpp"
#include "moekit/deep/losses.hpp"
#include "moekit/deep/router.hpp"

#include <cstdint>
#include <utility>
#include <vector>

namespace moekit::deep {

struct MoeConfig {
  Index dim = 0;          // d, token width
  Index hidden = 0;       // h, FFN hidden width
  Index num_experts = 0;  // E, routed experts
  int num_shared_experts = 0;
  Activation activation = Activation::kGelu;
  bool residual = false;  // y = x + MoE(x)
  RouterOptions router;
  AuxLossOptions aux;

  // Throws InputError naming the offending field.
  void validate() const;
  // Columns of the router matrix: E, or E * slots_per_expert for soft MoE, 0 for hash.
  Index router_columns() const;
};

// Parameters (and, with the same shapes, their gradients).
struct MoeParams {
  Matrix router;        // d x router_columns()
  Matrix noise_router;  // d x E for noisy top-k, else empty
  std::vector<ExpertParams> experts;
  std::vector<ExpertParams> shared;

  // Shapes of `config`, all zero.
  void resize_zero(const MoeConfig& config);
  void set_zero();
  // Every parameter array as (data, size), in a fixed order (for optimisers and tests).
  std::vector<std::pair<double*, Index>> spans();
};

// Per-call inputs besides x.
struct ForwardContext {
  bool training = true;  // noise is drawn and gradients' intermediates are kept
  // Noisy top-k: standard-normal draws eps (T x E). When null and training, drawn from rng.
  const Matrix* noise = nullptr;
  Rng* rng = nullptr;
  // Hash routing: one id per token (e.g. the vocabulary id); required for kHash.
  const std::vector<std::int64_t>* token_ids = nullptr;
};

// Intermediates of one forward pass, reused by backward and by the next step.
struct MoeWorkspace {
  Index tokens = 0;
  bool grad_ready = false;        // the last forward was a training forward (backward allowed)
  Matrix logits, scores, probs;   // T x R: x Wg, score(x Wg) (or H for noisy), softmax(x Wg)
  Matrix noise_logits, noise_sd;  // noisy top-k: x Wnoise and softplus(.)
  Matrix eps;                     // noisy top-k draws
  Matrix sel;                     // selection scores (scores + bias)
  // Token choice: k choices per token, rank-major pair list p = r * T + t.
  std::vector<Index> pair_expert, pair_token;
  std::vector<double> pair_weight, dpair, dslot;
  std::vector<Index> topk_scratch;
  Dispatch dispatch;
  // Rows in dispatch (slot) order.
  Matrix xs, hpre, act, dact, out, dout, dhid, dxs;
  // Shared experts, one block per expert, all T rows.
  std::vector<Matrix> sh_hpre, sh_act, sh_dact, sh_out;
  Matrix sh_dhid, sh_dx;
  // Soft MoE: dispatch D (softmax over tokens) and combine C (softmax over slots), T x S.
  Matrix soft_d, soft_c, soft_dd, soft_dc;
  // Router gradient scratch.
  Matrix dscores, dprobs, dlogits, dnoisy, dsd, dense_gates, ddense_gates;
  // Statistics of the last forward.
  Vector f;           // fraction of routing choices per expert before capacity (sums to 1)
  Vector load;        // fraction of kept (token, expert) assignments per expert (sums to 1)
  Index dropped = 0;  // (token, expert) pairs dropped by the capacity
  double aux_loss = 0.0, lb_loss = 0.0, z_loss = 0.0, importance_loss = 0.0, load_loss = 0.0;
};

class MoeLayer {
 public:
  explicit MoeLayer(const MoeConfig& config);

  const MoeConfig& config() const { return config_; }
  MoeParams& params() { return params_; }
  const MoeParams& params() const { return params_; }
  // DeepSeek-V3 selection bias (E); zero unless router.balance_bias.
  Vector& balance_bias() { return bias_; }
  const Vector& balance_bias() const { return bias_; }

  // Random initialisation, deterministic in the seed: experts and router as PyTorch's
  // nn.Linear default (U(+-1/sqrt(fan_in))); the noise router at zero (Shazeer et al. 2017,
  // Appendix A: equal loading at the start).
  void init(std::uint64_t seed);

  // y (T x d) = layer(x); returns the weighted auxiliary loss (also in ws.aux_loss).
  double forward(const ConstMatrixRef& x,
                 MoeWorkspace& ws,
                 MatrixRef y,
                 const ForwardContext& ctx = {});

  // Given dL/dy, accumulates into `grads` the gradient of L + auxiliary loss (the latter
  // with its configured weights) and writes dL/dx into dx (T x d). Routing decisions of the
  // forward are held fixed (they are piecewise constant).
  void backward(const ConstMatrixRef& x,
                const ConstMatrixRef& dy,
                MoeWorkspace& ws,
                MoeParams& grads,
                MatrixRef dx);

  // DeepSeek-V3: b_i += rate * sign(mean load - load_i) from the last forward's loads.
  void update_balance_bias(const MoeWorkspace& ws);

 private:
  void route_token_choice(const ConstMatrixRef& x, MoeWorkspace& ws, const ForwardContext& ctx);
  void route_expert_choice(const ConstMatrixRef& x, MoeWorkspace& ws);
  void route_hash(MoeWorkspace& ws, const ForwardContext& ctx);
  void forward_experts(const ConstMatrixRef& x, MoeWorkspace& ws, MatrixRef y, bool training);
  void forward_soft(const ConstMatrixRef& x, MoeWorkspace& ws, MatrixRef y, bool training);
  void forward_shared(const ConstMatrixRef& x, MoeWorkspace& ws, MatrixRef y, bool training);
  double aux_losses_forward(MoeWorkspace& ws);
  void backward_router(const ConstMatrixRef& x, MoeWorkspace& ws, MoeParams& grads, MatrixRef dx);
  void backward_soft(const ConstMatrixRef& x,
                     const ConstMatrixRef& dy,
                     MoeWorkspace& ws,
                     MoeParams& grads,
                     MatrixRef dx);

  MoeConfig config_;
  MoeParams params_;
  Vector bias_;
};

// max_i load_i / mean_i load_i: 1 when perfectly balanced, E when one expert takes all.
double load_imbalance(const Vector& load);

}  // namespace moekit::deep
