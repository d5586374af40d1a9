#include "moekit/stats/weighted_multinomial.hpp"

#include "moekit/core/error.hpp"
#include "moekit/core/parallel.hpp"
#include "moekit/core/process_sums.hpp"
#include "moekit/kernels/lanes.hpp"

#include <Eigen/Cholesky>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace moekit {

void multinomial_log_probs(const ConstMatrixRef& x, const Matrix& W, MatrixRef out) {
  const Index b = x.rows(), D = W.cols();
  if (D == 1) {
    // log p_1 = -softplus(-eta), log p_0 = -softplus(eta), softplus(e) = max(e, 0) +
    // log1p(exp(-|e|)): one exp and one series per row.
    out.col(1).noalias() = x * W.col(0);
    out.col(0) = (-out.col(1).array().abs()).exp();
    double* lp0 = out.col(0).data();
    double* lp1 = out.col(1).data();
    kernels::apply_lanes(lp0, lp0, b,
                         [](kernels::Lanes t) { return kernels::log1p_unit_lanes(t); });
    for (Index i = 0; i < b; ++i) {
      const double e = lp1[i], log_norm = lp0[i];
      lp0[i] = -(std::max(e, 0.0) + log_norm);
      lp1[i] = -(std::max(-e, 0.0) + log_norm);
    }
    return;
  }
  out.col(0).setZero();
  out.rightCols(D).noalias() = x * W;
  // Column-wise (storage-order) log-sum-exp: shift by the row maximum, then normalise; the
  // sum of the shifted terms is at least 1 (the maximum's term), so its log is the series.
  thread_local Vector m, sum;
  m = out.rowwise().maxCoeff();
  out.colwise() -= m;
  sum.setZero(b);
  for (Index c = 0; c < out.cols(); ++c) sum.array() += out.col(c).array().exp();
  kernels::apply_lanes(sum.data(), sum.data(), b,
                       [](kernels::Lanes v) { return kernels::log_lanes(v); });
  out.colwise() -= sum;
}

namespace {

struct Evaluation {
  double Q = 0.0;
  Matrix grad;  // p x D
  Matrix hess;  // pD x pD, of -Q (positive semi-definite)
  double max_abs_eta = 0.0;
  Evaluation& operator+=(const Evaluation& o) {
    Q += o.Q;
    if (grad.size()) grad += o.grad;
    if (hess.size()) hess += o.hess;
    max_abs_eta = std::max(max_abs_eta, o.max_abs_eta);
    return *this;
  }
};

// Q, the gradient and the Hessian summed over the processes that share the rows
// (core/process_sums.hpp), and the largest |eta| over them: every process then takes the
// same Newton step.
void sum_over_processes(Evaluation& e) {
  std::vector<double> sums(static_cast<size_t>(1 + e.grad.size() + e.hess.size()));
  sums[0] = e.Q;
  std::copy(e.grad.data(), e.grad.data() + e.grad.size(), sums.begin() + 1);
  std::copy(e.hess.data(), e.hess.data() + e.hess.size(), sums.begin() + 1 + e.grad.size());
  moekit::sum_over_processes(sums.data(), static_cast<Index>(sums.size()));
  e.Q = sums[0];
  std::copy(sums.begin() + 1, sums.begin() + 1 + e.grad.size(), e.grad.data());
  std::copy(sums.begin() + 1 + e.grad.size(), sums.end(), e.hess.data());
  max_over_processes(&e.max_abs_eta, 1);
}

// Each row's total weight w_i = sum_c T_ic, and counted: 1 where w_i > 1e-8 max w over every
// process (the rows whose |eta| the bound watches), else 0, so that the largest watched |eta|
// is a vectorised max of |eta| .* counted. Fixed for a fit: taken once, not in every pass.
struct RowWeights {
  Vector w;
  Vector counted;
};

RowWeights row_weights(const ConstMatrixRef& T) {
  // Row by row on the threads (a max is the same in any order): the same values as one pass.
  RowWeights r;
  const Index n = T.rows();
  r.w.resize(n);
  r.counted.resize(n);
  std::vector<double> block_max(static_cast<size_t>(num_blocks(n)), 0.0);
  parallel_blocks(n, [&](Index b, Index begin, Index size) {
    r.w.segment(begin, size) = T.middleRows(begin, size).rowwise().sum();
    block_max[static_cast<size_t>(b)] = r.w.segment(begin, size).maxCoeff();
  });
  double wmax = n ? *std::max_element(block_max.begin(), block_max.end()) : 0.0;
  max_over_processes(&wmax, 1);
  parallel_blocks(n, [&](Index, Index begin, Index size) {
    r.counted.segment(begin, size) =
        (r.w.segment(begin, size).array() > 1e-8 * wmax).cast<double>().matrix();
  });
  return r;
}

// The binary logit (D = 1) in one fused pass per row block: eta = x'w, log p_1 =
// -softplus(-eta), log p_0 = -softplus(eta) from one exp and one log1p per row, and the
// Hessian's lower triangle as weighted column products (p is small; no per-block
// temporaries beyond the block's fixed-size vectors).
Evaluation evaluate_binary(const ConstMatrixRef& x,
                           const ConstMatrixRef& T,
                           const RowWeights& weights,
                           const Matrix& W,
                           bool derivatives) {
  using BlockVector = Eigen::Matrix<double, Eigen::Dynamic, 1, 0, kBlockRows, 1>;
  const Index p = x.cols();
  Evaluation zero;
  if (derivatives) {
    zero.grad = Matrix::Zero(p, 1);
    zero.hess = Matrix::Zero(p, p);
  }
  Evaluation total = reduce_blocks(x.rows(), zero, [&](Index begin, Index size, Evaluation& acc) {
    const auto xb = x.middleRows(begin, size);
    const double* t0 = T.col(0).data() + begin;
    const double* t1 = T.col(1).data() + begin;
    const double* counted = weights.counted.data() + begin;
    BlockVector eta(size), tail(size), q(size), resid(size), v(size);
    eta.noalias() = xb * W.col(0);
    tail.array() = (-eta.array().abs()).exp();  // Eigen's packet exp
    kernels::apply_lanes(tail.data(), q.data(), size,
                         [](kernels::Lanes t) { return kernels::log1p_unit_lanes(t); });
    // One plain loop (it vectorises) for the rest; its sums are Eigen's, in a fixed order.
    // softplus(e) = max(e, 0) + log1p(exp(-|e|)); row i adds -(t_1 softplus(-e) + t_0
    // softplus(e)) to Q; p_1 and p_0 each from the side where they do not cancel.
    for (Index i = 0; i < size; ++i) {
      const double e = eta(i), t = tail(i), log_norm = q(i), w = t0[i] + t1[i];
      q(i) = -(t1[i] * (std::max(-e, 0.0) + log_norm) + t0[i] * (std::max(e, 0.0) + log_norm));
      const double big = 1.0 / (1.0 + t), small = t * big;
      const double p1 = e >= 0.0 ? big : small;
      resid(i) = t1[i] - w * p1;
      v(i) = w * big * small;              // w p_1 p_0
      tail(i) = std::abs(e) * counted[i];  // the watched rows' |eta|
    }
    acc.Q += q.sum();
    acc.max_abs_eta = std::max(acc.max_abs_eta, tail.maxCoeff());
    if (!derivatives) return;
    acc.grad.col(0).noalias() += xb.transpose() * resid;
    for (Index j = 0; j < p; ++j) {
      q = xb.col(j).cwiseProduct(v);  // the block's buffer again: v_i x_ij
      for (Index l = j; l < p; ++l) acc.hess(l, j) += q.dot(xb.col(l));
    }
  });
  if (derivatives) total.hess.triangularView<Eigen::StrictlyUpper>() = total.hess.transpose();
  return total;
}

// One pass over the rows: Q (without penalty), and when asked its gradient and the
// negative Hessian of the multinomial log-likelihood (Böhning 1992, eq. 2.2 form).
Evaluation evaluate(const ConstMatrixRef& x,
                    const ConstMatrixRef& T,
                    const RowWeights& weights,
                    const Matrix& W,
                    bool derivatives) {
  const Index p = x.cols(), D = W.cols(), C = D + 1;
  const Vector& w = weights.w;
  if (D == 1) {
    Evaluation e = evaluate_binary(x, T, weights, W, derivatives);
    sum_over_processes(e);
    return e;
  }
  Evaluation zero;
  if (derivatives) {
    zero.grad = Matrix::Zero(p, D);
    zero.hess = Matrix::Zero(p * D, p * D);
  }
  Evaluation total = reduce_blocks(x.rows(), zero, [&](Index begin, Index size, Evaluation& acc) {
    const auto xb = x.middleRows(begin, size);
    const auto Tb = T.middleRows(begin, size);
    const auto wb = w.segment(begin, size).array();
    // Per-thread buffers, sized once: no allocation per block.
    thread_local Matrix lp, P;
    thread_local Vector v, q;
    lp.resize(size, C);
    multinomial_log_probs(xb, W, lp);
    // Log-probabilities are finite (log-softmax of finite predictors), so T .* lp is too.
    acc.Q += (Tb.array() * lp.array()).sum();
    const auto counted = weights.counted.segment(begin, size).array();
    for (Index c = 1; c < C; ++c)
      acc.max_abs_eta =
          std::max(acc.max_abs_eta, ((lp.col(c) - lp.col(0)).array().abs() * counted).maxCoeff());
    if (!derivatives) return;
    P = lp.array().exp();
    // Gradient: X' (T_d - w P_d) for the non-reference classes.
    lp.rightCols(D) = Tb.rightCols(D) - (P.rightCols(D).array().colwise() * wb).matrix();
    acc.grad.noalias() += xb.transpose() * lp.rightCols(D);
    // Negative Hessian blocks X' diag(v_ab) X, v_ab = w (delta_ab P_a - P_a P_b): each is
    // symmetric, so its lower triangle by column products, placed in the lower block (b, a);
    // the upper half is mirrored once after the reduction.
    for (Index a = 0; a < D; ++a) {
      for (Index b = a; b < D; ++b) {
        v = -(wb * P.col(a + 1).array() * P.col(b + 1).array()).matrix();
        if (a == b) v.array() += wb * P.col(a + 1).array();
        for (Index j = 0; j < p; ++j) {
          q = xb.col(j).cwiseProduct(v);
          for (Index l = j; l < p; ++l) {
            const double h = q.dot(xb.col(l));
            acc.hess(b * p + l, a * p + j) += h;
            if (a != b && l != j) acc.hess(b * p + j, a * p + l) += h;
          }
        }
      }
    }
  });
  if (derivatives) total.hess.triangularView<Eigen::StrictlyUpper>() = total.hess.transpose();
  sum_over_processes(total);
  return total;
}

// The largest t in [0, 1] with |x_i' (W + t S)_d| <= bound for every row with weight and
// every non-reference class (the eta of evaluate()): the step's linear predictors move along
// straight lines, so the bound is met exactly rather than found by halving from t = 1.
double step_limit(const ConstMatrixRef& x,
                  const RowWeights& weights,
                  const Matrix& W,
                  const Matrix& S,
                  double bound) {
  struct Limit {
    double t = 1.0;
    Limit& operator+=(const Limit& o) {
      t = std::min(t, o.t);
      return *this;
    }
  };
  const Limit limit = reduce_blocks(x.rows(), Limit{}, [&](Index begin, Index size, Limit& acc) {
    const auto xb = x.middleRows(begin, size);
    const Matrix eta = xb * W, slope = xb * S;
    for (Index d = 0; d < W.cols(); ++d)
      for (Index i = 0; i < size; ++i) {
        if (weights.counted(begin + i) == 0.0) continue;
        const double a = eta(i, d), b = slope(i, d);
        // |a| <= bound holds at t = 0 (bound is at least the current largest |eta|).
        if (b > 0.0)
          acc.t = std::min(acc.t, std::max(0.0, (bound - a) / b));
        else if (b < 0.0)
          acc.t = std::min(acc.t, std::max(0.0, (bound + a) / -b));
      }
  });
  double negative = -limit.t;
  max_over_processes(&negative, 1);
  return -negative;
}

double penalty_value(const Vector& penalty, const Matrix& W) {
  if (penalty.size() == 0) return 0.0;
  return 0.5 * (W.array().square().colwise() * penalty.array()).sum();
}

}  // namespace

double multinomial_objective(const ConstMatrixRef& x,
                             const ConstMatrixRef& targets,
                             const Vector& penalty,
                             const Matrix& W,
                             Matrix* gradient) {
  Evaluation e = evaluate(x, targets, row_weights(targets), W, gradient != nullptr);
  if (gradient) {
    *gradient = e.grad;
    if (penalty.size()) *gradient -= (W.array().colwise() * penalty.array()).matrix();
  }
  return e.Q - penalty_value(penalty, W);
}

MultinomialFit fit_multinomial(const ConstMatrixRef& x,
                               const ConstMatrixRef& targets,
                               const Vector& penalty,
                               Matrix& W,
                               int max_iter,
                               double tol,
                               double eta_bound) {
  const Index p = x.cols(), D = W.cols();
  if (targets.cols() != D + 1 || W.rows() != p || targets.rows() != x.rows())
    throw Error("fit_multinomial: shape mismatch");
  MultinomialFit out;
  const RowWeights weights = row_weights(targets);
  auto full = [&](const Matrix& V, bool derivatives) {
    Evaluation e = evaluate(x, targets, weights, V, derivatives);
    e.Q -= penalty_value(penalty, V);
    if (derivatives && penalty.size()) {
      e.grad -= (V.array().colwise() * penalty.array()).matrix();
      for (Index d = 0; d < D; ++d) e.hess.diagonal().segment(d * p, p) += penalty;
    }
    return e;
  };
  Evaluation cur = full(W, true);
  const bool bounded = std::isfinite(eta_bound);
  for (int it = 0; it < max_iter; ++it) {
    const Vector g = Eigen::Map<const Vector>(cur.grad.data(), p * D);
    const double scale = std::max(1e-300, cur.hess.trace() / static_cast<double>(p * D));
    // The step from (-H + damping I) delta = g, halved until Q does not decrease and the
    // linear predictors stay inside the bound (Jordan & Jacobs 1994 use IRLS without it; the
    // check makes every step monotone in Q, so that EM stays monotone).
    auto damped_step = [&](double damping, Matrix& Wbest, Evaluation& best) {
      // -H is positive semi-definite; a ridge relative to its trace rescues directions the
      // weighted data do not determine.
      Eigen::LLT<Matrix> llt;
      Matrix M = cur.hess;
      M.diagonal().array() += damping;
      const double jitter0 = 1e-12 * scale;
      for (double jitter = 0.0; jitter < 1e300; jitter = jitter == 0.0 ? jitter0 : jitter * 100.0) {
        if (jitter > 0.0) M.diagonal().array() = cur.hess.diagonal().array() + damping + jitter;
        llt.compute(M);
        if (llt.info() == Eigen::Success) break;
      }
      if (llt.info() != Eigen::Success) return false;
      const Vector step = llt.solve(g);
      if (!step.allFinite()) return false;
      const auto S = Eigen::Map<const Matrix>(step.data(), p, D);
      // Under a bound, the halvings that would leave it are skipped: t starts at the largest
      // power of two inside. (Not at the bound itself: a step that lands on it pins those
      // rows there, and later steps cannot move along them.)
      double t = 1.0;
      int h = 0;
      if (bounded) {
        const double limit = step_limit(x, weights, W, S, std::max(eta_bound, cur.max_abs_eta));
        for (; h < 40 && t > limit; ++h) t *= 0.5;
      }
      for (; h < 40; ++h, t *= 0.5) {
        Matrix Wn = W + t * S;
        // Unbounded, the full step is nearly always kept, so its trial carries the
        // derivatives; under a bound, six damped directions compete and the derivatives (the
        // Hessian's D^2 p^2 n flops) are taken once, at the step kept.
        Evaluation trial = full(Wn, !bounded && h == 0);
        const bool inside = trial.max_abs_eta <= std::max(eta_bound, cur.max_abs_eta);
        if (trial.Q >= cur.Q && inside) {
          if (trial.Q > best.Q) {
            Wbest = std::move(Wn);
            best = std::move(trial);
          }
          return true;
        }
      }
      return false;
    };
    Matrix Wbest = W;
    Evaluation best = cur;
    bool accepted = damped_step(0.0, Wbest, best);
    // At the bound the Newton direction points out of it and is cut to nothing; damped
    // (Levenberg-Marquardt) steps turn towards the gradient and still climb along the
    // directions the bound leaves free. The best of them is kept.
    if (bounded)
      for (double damping : {1e-4, 1e-2, 1.0, 1e2, 1e4})
        accepted = damped_step(damping * scale, Wbest, best) || accepted;
    if (!accepted) {
      out.converged = true;  // no ascent direction left at rounding level
      break;
    }
    const double change = best.Q - cur.Q;
    W = std::move(Wbest);
    cur = best.hess.size() ? std::move(best) : full(W, true);
    ++out.iterations;
    if (change <= tol * (1.0 + std::abs(cur.Q))) {
      out.converged = true;
      break;
    }
  }
  out.objective = cur.Q;
  out.max_abs_eta = cur.max_abs_eta;
  return out;
}

}  // namespace moekit
