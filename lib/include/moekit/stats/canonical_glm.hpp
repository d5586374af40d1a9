#pragma once
// Weighted maximum likelihood for a GLM with its canonical link: the M-step of Poisson and
// binomial experts. It maximises
//     Q(b) = sum_i r_i (t_i eta_i - m_i A(eta_i)),   eta = X b,
// where A is the family's cumulant function: Poisson t = y, m = 1, A = exp; binomial with
// trials t = successes, m = trials, A(eta) = log(1 + exp(eta)). Q is concave; Newton's step
// (the IRLS step) uses the gradient X'(r (t - m A'(eta))) and the information
// X' diag(r m A''(eta)) X, with step-halving so that Q never falls (McCullagh & Nelder 1989,
// section 2.5). Q, the gradient and the information are sums over the rows: where processes
// share the rows (core/process_sums.hpp) each is summed over them, so that every process
// takes the same step.

#include "moekit/core/parallel.hpp"
#include "moekit/core/process_sums.hpp"
#include "moekit/core/types.hpp"
#include "moekit/kernels/lanes.hpp"
#include "moekit/stats/weighted_least_squares.hpp"

#include <Eigen/Cholesky>

#include <cmath>
#include <limits>

namespace moekit {

struct PoissonCumulant {
  static double A(double eta) { return std::exp(eta); }
  static double mean(double eta) { return std::exp(eta); }      // A'
  static double variance(double eta) { return std::exp(eta); }  // A''
  static bool in_range(double eta) { return eta <= 700.0; }     // exp stays finite
  // A and A' of eight in-range predictors at once (the M-step's passes), and A'' from A'.
  static kernels::Lanes A_lanes(kernels::Lanes eta) { return kernels::exp_lanes(eta); }
  static kernels::Lanes mean_lanes(kernels::Lanes eta) { return kernels::exp_lanes(eta); }
  static double variance_from_mean(double mu) { return mu; }
};

struct LogisticCumulant {
  static double A(double eta) {
    return eta > 0 ? eta + std::log1p(std::exp(-eta)) : std::log1p(std::exp(eta));
  }
  static double mean(double eta) { return 1.0 / (1.0 + std::exp(-eta)); }
  static double variance(double eta) {
    const double p = mean(eta);
    return p * (1.0 - p);
  }
  static bool in_range(double eta) { return std::isfinite(eta); }
  static kernels::Lanes A_lanes(kernels::Lanes eta) {
    const kernels::Lanes tail = kernels::exp_lanes(-(eta > 0 ? eta : -eta));  // in (0, 1]
    return (eta > 0 ? eta : kernels::Lanes{}) + kernels::log1p_unit_lanes(tail);
  }
  static kernels::Lanes mean_lanes(kernels::Lanes eta) {
    return 1.0 / (1.0 + kernels::exp_lanes(-eta));
  }
  static double variance_from_mean(double p) { return p * (1.0 - p); }
};

template <class Cumulant>
double canonical_glm_objective(const ConstMatrixRef& x,
                               const ConstVectorRef& t,
                               const ConstVectorRef& m,
                               const ConstVectorRef& r,
                               const Vector& b) {
  // Per row block on the threads, summed in block order (the same for any thread count).
  const double Q = reduce_blocks(x.rows(), 0.0, [&](Index begin, Index size, double& acc) {
    thread_local Vector eta, a;
    eta.noalias() = x.middleRows(begin, size) * b;
    for (Index j = 0; j < size; ++j)
      if (!Cumulant::in_range(eta(j))) {
        acc = -std::numeric_limits<double>::infinity();
        return;
      }
    a.resize(size);
    kernels::apply_lanes(eta.data(), a.data(), size, Cumulant::A_lanes);
    double q = 0.0;
    for (Index j = 0; j < size; ++j) {
      const Index i = begin + j;
      if (r(i) != 0.0) q += r(i) * (t(i) * eta(j) - m(i) * a(j));
    }
    acc += q;
  });
  return summed_over_processes(Q);
}

// Newton steps with step-halving from b (at most max_iter); false when the information
// matrix is singular (b is then left at the last accepted point).
template <class Cumulant>
bool fit_canonical_glm(const ConstMatrixRef& x,
                       const ConstVectorRef& t,
                       const ConstVectorRef& m,
                       const ConstVectorRef& r,
                       Vector& b,
                       int max_iter = 50) {
  double Q = canonical_glm_objective<Cumulant>(x, t, m, r, b);
  if (!std::isfinite(Q)) {
    b.setZero();
    Q = canonical_glm_objective<Cumulant>(x, t, m, r, b);
  }
  const Index n = x.rows(), p = x.cols();
  // The score and the information per row block on the threads, summed in block order.
  for (int it = 0; it < max_iter; ++it) {
    const auto pass = [&](Index begin, Index size, ScoreAndInformation& acc) {
      const auto xb = x.middleRows(begin, size);
      thread_local Vector eta, mean, resid, w;
      eta.noalias() = xb * b;
      mean.resize(size);
      resid.resize(size);
      w.resize(size);
      kernels::apply_lanes(eta.data(), mean.data(), size, Cumulant::mean_lanes);
      for (Index j = 0; j < size; ++j) {
        const Index i = begin + j;
        resid(j) = r(i) * (t(i) - m(i) * mean(j));
        w(j) = r(i) * m(i) * Cumulant::variance_from_mean(mean(j));
      }
      acc.g.noalias() += xb.transpose() * resid;
      add_weighted_gram(xb, w, acc.H);
    };
    ScoreAndInformation d = reduce_blocks(n, ScoreAndInformation::zero(p), pass);
    Vector& g = d.g;
    Matrix& H = d.H;
    sum_over_processes(g.data(), p);
    sum_over_processes(H.data(), p * p);
    Eigen::LLT<Matrix> llt(H);
    if (llt.info() != Eigen::Success || !(llt.matrixLLT().diagonal().array() > 0).all())
      return false;
    const Vector delta = llt.solve(g);
    if (!delta.allFinite()) return false;
    double step = 1.0, Qn = -std::numeric_limits<double>::infinity();
    Vector bn(p);
    for (int h = 0; h < 30; ++h, step *= 0.5) {
      bn = b + step * delta;
      Qn = canonical_glm_objective<Cumulant>(x, t, m, r, bn);
      if (Qn >= Q) break;
    }
    if (!(Qn >= Q)) break;  // no ascent along Newton's direction: at the maximum
    b = bn;
    const double change = Qn - Q;
    Q = Qn;
    // Q is flat to rounding well before b is: stop on a small step too, so that the M-step's
    // answer does not depend on the order of the rows (weights against expanded rows).
    if (change <= 1e-13 * (1.0 + std::abs(Q)) && step * delta.norm() <= 1e-11 * (1.0 + b.norm()))
      break;
  }
  return true;
}

}  // namespace moekit
