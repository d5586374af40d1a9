#pragma once
// The deep top-k mixture-of-experts layer over a batch of T tokens of width d:
//
//   y_t = [x_t +] sum_{e in route(x_t)} w_e(x_t) FFN_e(x_t) + sum_{s shared} FFN_s(x_t)
//
// with E routed FFN experts of hidden width h, the routing kinds of router.hpp, optional
// always-on shared experts (DeepSeek-MoE, Dai et al. 2024) and an optional residual (a token
// dropped by every expert then passes through unchanged). Forward and backward are written
// out with Eigen; all intermediates live in a MoeWorkspace that is reused across steps.
//
// Everything is a template on the scalar S: `MoeLayer` (float, the default) and `MoeLayer64`
// (double) are the two instantiations, with `MoeParams`/`MoeParams64` and
// `MoeWorkspace`/`MoeWorkspace64` to match. Router softmax, log-sum-exp and loss sums
// accumulate in double in both.

#include "moekit/core/rng.hpp"
#include "moekit/core/types.hpp"
#include "moekit/deep/dispatch.hpp"
#include "moekit/deep/expert_ffn.hpp"
#include "moekit/deep/losses.hpp"
#include "moekit/deep/router.hpp"
#include "moekit/deep/scalar.hpp"

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
template <typename S>
struct MoeParamsT {
  MatrixT<S> router;        // d x router_columns()
  MatrixT<S> noise_router;  // d x E for noisy top-k, else empty
  std::vector<ExpertParamsT<S>> experts;
  std::vector<ExpertParamsT<S>> shared;

  // Shapes of `config`, all zero.
  void resize_zero(const MoeConfig& config);
  void set_zero();
  // Every parameter array as (data, size), in a fixed order (for optimisers and tests).
  std::vector<std::pair<S*, Index>> spans();
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
template <typename S>
struct MoeWorkspaceT {
  using Mat = MatrixT<S>;
  Index tokens = 0;
  bool grad_ready = false;     // the last forward was a training forward (backward allowed)
  Mat logits, scores, probs;   // T x R: x Wg, score(x Wg) (or H for noisy), softmax(x Wg)
  Mat noise_logits, noise_sd;  // noisy top-k: x Wnoise and softplus(.)
  Mat eps;                     // noisy top-k draws
  Mat sel;                     // selection scores (scores + bias)
  // Token choice: k choices per token, rank-major pair list p = r * T + t.
  std::vector<Index> pair_expert, pair_token;
  std::vector<S> pair_weight;
  std::vector<double> dpair, dslot;
  std::vector<Index> topk_scratch;
  Dispatch dispatch;
  std::vector<S> slot_weight;  // per slot: the weight of its pair
  // Work items of the parallel phases (expert, first row or column, count), rebuilt per step.
  std::vector<Index> row_tasks, grad_tasks;
  // Rows in dispatch (slot) order: gathered inputs, act(x W1 + b1), act', expert outputs,
  // and their gradients.
  Mat xs, act, dact, out, dout, dhid, dxs;
  // Shared experts, one block per expert, all T rows.
  std::vector<Mat> sh_act, sh_dact, sh_out;
  Mat sh_dhid, sh_dx;
  // Soft MoE: dispatch D (softmax over tokens) and combine C (softmax over slots), T x S.
  Mat soft_d, soft_c, soft_dd, soft_dc;
  // Router gradient scratch.
  Mat dscores, dprobs, dlogits, dnoisy, dsd, dense_gates, ddense_gates;
  // Statistics of the last forward.
  Vector f;           // fraction of routing choices per expert before capacity (sums to 1)
  Vector load;        // fraction of kept (token, expert) assignments per expert (sums to 1)
  Index dropped = 0;  // (token, expert) pairs dropped by the capacity
  double aux_loss = 0.0, lb_loss = 0.0, z_loss = 0.0, importance_loss = 0.0, load_loss = 0.0;
};

template <typename S>
class MoeLayerT {
 public:
  using Scalar = S;
  using Mat = MatrixT<S>;
  using Vec = VectorT<S>;
  using MatRef = MatrixRefT<S>;
  using ConstMatRef = ConstMatrixRefT<S>;
  using Params = MoeParamsT<S>;
  using Workspace = MoeWorkspaceT<S>;

  explicit MoeLayerT(const MoeConfig& config);

  const MoeConfig& config() const { return config_; }
  Params& params() { return params_; }
  const Params& params() const { return params_; }
  // DeepSeek-V3 selection bias (E); zero unless router.balance_bias.
  Vec& balance_bias() { return bias_; }
  const Vec& balance_bias() const { return bias_; }

  // Random initialisation, deterministic in the seed (the same draws, rounded to S, for
  // both precisions): experts and router as PyTorch's nn.Linear default
  // (U(+-1/sqrt(fan_in))); the noise router at zero (Shazeer et al. 2017, Appendix A:
  // equal loading at the start).
  void init(std::uint64_t seed);

  // y (T x d) = layer(x); returns the weighted auxiliary loss (also in ws.aux_loss).
  double forward(const ConstMatRef& x, Workspace& ws, MatRef y, const ForwardContext& ctx = {});

  // Given dL/dy, accumulates into `grads` the gradient of L + auxiliary loss (the latter
  // with its configured weights) and writes dL/dx into dx (T x d). Routing decisions of the
  // forward are held fixed (they are piecewise constant).
  void backward(
      const ConstMatRef& x, const ConstMatRef& dy, Workspace& ws, Params& grads, MatRef dx);

  // DeepSeek-V3: b_i += rate * sign(mean load - load_i) from the last forward's loads.
  void update_balance_bias(const Workspace& ws);

 private:
  void forward_experts(const ConstMatRef& x, Workspace& ws, MatRef y, bool training);
  void backward_experts(const ConstMatRef& dy, Workspace& ws, Params& grads, MatRef dx);
  void forward_shared(const ConstMatRef& x, Workspace& ws, MatRef y, bool training);
  double aux_losses_forward(Workspace& ws);
  void backward_router(const ConstMatRef& x, Workspace& ws, Params& grads, MatRef dx);

  MoeConfig config_;
  Params params_;
  Vec bias_;
};

using MoeLayer = MoeLayerT<float>;
using MoeLayer64 = MoeLayerT<double>;
using MoeParams = MoeParamsT<float>;
using MoeParams64 = MoeParamsT<double>;
using MoeWorkspace = MoeWorkspaceT<float>;
using MoeWorkspace64 = MoeWorkspaceT<double>;

// max_i load_i / mean_i load_i: 1 when perfectly balanced, E when one expert takes all.
double load_imbalance(const Vector& load);

}  // namespace moekit::deep
