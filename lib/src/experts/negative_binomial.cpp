#include "moekit/experts/negative_binomial.hpp"

#include "moekit/core/error.hpp"
#include "moekit/core/parallel.hpp"
#include "moekit/core/process_sums.hpp"
#include "moekit/stats/log_gamma.hpp"
#include "moekit/stats/weighted_least_squares.hpp"

#include <fmt/format.h>
#include <Eigen/Cholesky>
#include <boost/math/special_functions/digamma.hpp>
#include <boost/math/special_functions/trigamma.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

namespace moekit {

namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();
constexpr double kMinTheta = 1e-4, kMaxTheta = 1e8;
constexpr double kMaxEta = 700.0;  // exp stays finite
// Counts up to this are summed term by term in the differences below: exact, and free of the
// cancellation of lgamma(y + theta) - lgamma(theta) when theta is large (near Poisson).
constexpr double kSumBelow = 64.0;

// lgamma(y + t) - lgamma(t), digamma(y + t) - digamma(t), trigamma(y + t) - trigamma(t).
double lgamma_diff(double y, double t) {
  if (y > kSumBelow) return log_gamma(y + t) - log_gamma(t);
  double s = 0.0;
  for (double j = 0; j < y; j += 1.0) s += std::log(t + j);
  return s;
}
double digamma_diff(double y, double t) {
  if (y > kSumBelow) return boost::math::digamma(y + t) - boost::math::digamma(t);
  double s = 0.0;
  for (double j = 0; j < y; j += 1.0) s += 1.0 / (t + j);
  return s;
}
double trigamma_diff(double y, double t) {
  if (y > kSumBelow) return boost::math::trigamma(y + t) - boost::math::trigamma(t);
  double s = 0.0;
  for (double j = 0; j < y; j += 1.0) s -= 1.0 / ((t + j) * (t + j));
  return s;
}

// log(theta + exp(eta)) without overflow.
double log_theta_plus_mu(double eta, double log_theta) {
  return eta > log_theta ? eta + std::log1p(std::exp(log_theta - eta))
                         : log_theta + std::log1p(std::exp(eta - log_theta));
}

// sum_i r_i (y_i eta_i - (y_i + theta) log(theta + mu_i)): the coefficients' part of the
// weighted log-likelihood at fixed theta. This and the theta functions below are sums over the
// rows, summed over the processes that share them (core/process_sums.hpp): every process then
// takes the same Newton steps and the same 1-D steps in theta.
double coef_objective(const ConstMatrixRef& x,
                      const ConstVectorRef& y,
                      const ConstVectorRef& r,
                      double theta,
                      const Vector& b) {
  const double lt = std::log(theta);
  // Per row block on the threads, summed in block order.
  const double Q = reduce_blocks(x.rows(), 0.0, [&](Index begin, Index size, double& acc) {
    thread_local Vector eta;
    eta.noalias() = x.middleRows(begin, size) * b;
    double q = 0.0;
    for (Index j = 0; j < size; ++j) {
      const Index i = begin + j;
      if (!(eta(j) <= kMaxEta)) {
        q = kNegInf;
        break;
      }
      if (r(i) != 0.0) q += r(i) * (y(i) * eta(j) - (y(i) + theta) * log_theta_plus_mu(eta(j), lt));
    }
    acc += q;
  });
  return summed_over_processes(Q);
}

// The weighted log-likelihood's terms that depend on theta at the means mu:
// sum_i r_i (lgamma(y_i + theta) - lgamma(theta) - theta log(1 + mu_i / theta)
//            - y_i log(theta + mu_i)).
double theta_objective(const ConstVectorRef& y,
                       const ConstVectorRef& r,
                       const Vector& eta,
                       double theta) {
  const double lt = std::log(theta);
  const double f = reduce_blocks(y.size(), 0.0, [&](Index begin, Index size, double& acc) {
    double part = 0.0;
    for (Index i = begin; i < begin + size; ++i) {
      if (r(i) == 0.0) continue;
      const double L = log_theta_plus_mu(eta(i), lt);
      part += r(i) * (lgamma_diff(y(i), theta) - theta * (L - lt) - y(i) * L);
    }
    acc += part;
  });
  return summed_over_processes(f);
}

// d/d theta and d2/d theta2 of theta_objective.
void theta_derivatives(const ConstVectorRef& y,
                       const ConstVectorRef& r,
                       const Vector& eta,
                       double theta,
                       double& g,
                       double& h) {
  const double lt = std::log(theta);
  struct Pair {
    double g = 0.0, h = 0.0;
    Pair& operator+=(const Pair& o) {
      g += o.g;
      h += o.h;
      return *this;
    }
  };
  // Per row block on the threads, summed in block order.
  const Pair sums = reduce_blocks(y.size(), Pair{}, [&](Index begin, Index size, Pair& acc) {
    Pair part;
    for (Index i = begin; i < begin + size; ++i) {
      if (r(i) == 0.0) continue;
      const double mu = std::exp(eta(i)), L = log_theta_plus_mu(eta(i), lt);
      const double tm = theta + mu;
      part.g += r(i) * (digamma_diff(y(i), theta) - (L - lt) + (mu - y(i)) / tm);
      // 1/theta - 2/(theta + mu) + (theta + y)/(theta + mu)^2 = (mu^2 + theta y) / (theta tm^2)
      part.h +=
          r(i) * (trigamma_diff(y(i), theta) + (mu / tm) * (mu / tm) / theta + y(i) / (tm * tm));
    }
    acc += part;
  });
  double both[2] = {sums.g, sums.h};
  sum_over_processes(both, 2);
  g = both[0];
  h = both[1];
}

// Newton in u = log theta on the profile, with step-halving so that it never falls; where
// the profile is not concave in u the step is one unit uphill.
double solve_theta(const ConstVectorRef& y,
                   const ConstVectorRef& r,
                   const Vector& eta,
                   double start) {
  const double umin = std::log(kMinTheta), umax = std::log(kMaxTheta);
  double u = std::clamp(std::log(start), umin, umax);
  double f = theta_objective(y, r, eta, std::exp(u));
  for (int it = 0; it < 100; ++it) {
    const double t = std::exp(u);
    double g = 0.0, h = 0.0;
    theta_derivatives(y, r, eta, t, g, h);
    const double du = t * g, duu = t * t * h + t * g;
    if (!std::isfinite(du) || du == 0.0) break;
    double step = duu < 0 ? -du / duu : (du > 0 ? 1.0 : -1.0);
    step = std::clamp(step, -5.0, 5.0);
    double un = u, fn = kNegInf;
    for (int k = 0; k < 40; ++k, step *= 0.5) {
      un = std::clamp(u + step, umin, umax);
      fn = theta_objective(y, r, eta, std::exp(un));
      if (fn >= f) break;
    }
    if (!(fn >= f) || un == u) break;
    const double moved = std::abs(un - u);
    u = un;
    f = fn;
    if (moved < 1e-12) break;
  }
  return std::exp(u);
}

}  // namespace

NegativeBinomialExperts::NegativeBinomialExperts(Index K, Index p, std::vector<std::string> x_names)
    : p_(p),
      coef_(static_cast<size_t>(K), Vector::Zero(p)),
      theta_(static_cast<size_t>(K), 1.0),
      x_names_(std::move(x_names)) {
  if (K < 1 || p < 1) throw InputError("negbin experts need K >= 1 and at least one covariate");
}

std::optional<Index> NegativeBinomialExperts::invalid_response_row(const ConstMatrixRef& y) const {
  for (Index i = 0; i < y.rows(); ++i) {
    const double v = y(i, 0);
    if (!(v >= 0.0) || v != std::floor(v) || v > 1e15) return i;
  }
  return std::nullopt;
}

std::optional<MarginalShape> NegativeBinomialExperts::marginal(Index k, Index) const {
  MarginalShape m;
  m.kind = MarginalShape::Kind::NegativeBinomial;
  m.size = theta_[static_cast<size_t>(k)];
  return m;
}

void NegativeBinomialExperts::log_density(const ConstMatrixRef& x,
                                          const ConstMatrixRef& y,
                                          MatrixRef out) const {
  for (Index k = 0; k < components(); ++k) {
    const double t = theta_[static_cast<size_t>(k)], lt = std::log(t);
    const Vector eta = x * coef_[static_cast<size_t>(k)];
    for (Index i = 0; i < x.rows(); ++i) {
      const double v = y(i, 0);
      if (!(eta(i) <= kMaxEta)) {
        out(i, k) = kNegInf;
        continue;
      }
      const double L = log_theta_plus_mu(eta(i), lt);
      out(i, k) = lgamma_diff(v, t) - log_gamma(v + 1.0) + v * (eta(i) - L) - t * (L - lt);
    }
  }
}

MStepReport NegativeBinomialExperts::fit(const ConstMatrixRef& x,
                                         const ConstMatrixRef& y,
                                         const ConstMatrixRef& resp) {
  const Index K = components(), n = x.rows();
  if (x.cols() != p_ || y.cols() != 1 || resp.cols() != K || y.rows() != n)
    throw Error("NegativeBinomialExperts::fit: shape mismatch");
  check_design_rank_of(x, x_names_, "negbin experts");
  MStepReport report;
  const auto yv = y.col(0);
  for (Index k = 0; k < K; ++k) {
    const auto r = resp.col(k);
    const double N = summed_over_processes(r.sum());
    Vector& b = coef_[static_cast<size_t>(k)];
    double& theta = theta_[static_cast<size_t>(k)];
    if (!(N > 1e-8)) {
      report.collapsed.push_back(k);
      continue;
    }
    // Cycles of the two conditional maximisations until theta settles: the full M-step (a
    // single cycle would be ECM, also monotone, but EM then converges more slowly).
    bool singular = false;
    for (int cycle = 0; cycle < 20 && !singular; ++cycle) {
      double Q = coef_objective(x, yv, r, theta, b);
      if (!std::isfinite(Q)) {
        b.setZero();
        Q = coef_objective(x, yv, r, theta, b);
      }
      // Newton on the coefficients at fixed theta. With mu = exp(eta) the score in eta is
      // theta (y - mu) / (theta + mu) and the observed information theta mu (theta + y) /
      // (theta + mu)^2 (positive: the problem is concave). Fisher scoring (glm.nb's IRLS,
      // weights mu theta / (theta + mu)) has the same fixed point but converges linearly.
      for (int it = 0; it < 50; ++it) {
        // The score and the information per row block on the threads, summed in block order.
        ScoreAndInformation d =
            reduce_blocks(n, ScoreAndInformation::zero(p_),
                          [&](Index begin, Index size, ScoreAndInformation& acc) {
                            const auto xb = x.middleRows(begin, size);
                            thread_local Vector eta, s, w;
                            eta.noalias() = xb * b;
                            s.resize(size);
                            w.resize(size);
                            for (Index j = 0; j < size; ++j) {
                              const Index i = begin + j;
                              const double mu = std::exp(eta(j)), tm = theta + mu;
                              s(j) = r(i) * theta * (yv(i) - mu) / tm;
                              w(j) = r(i) * theta * (mu / tm) * ((theta + yv(i)) / tm);
                            }
                            acc.g.noalias() += xb.transpose() * s;
                            add_weighted_gram(xb, w, acc.H);
                          });
        Vector& g = d.g;
        Matrix& H = d.H;
        sum_over_processes(g.data(), g.size());
        sum_over_processes(H.data(), H.size());
        Eigen::LLT<Matrix> llt(H);
        if (llt.info() != Eigen::Success || !(llt.matrixLLT().diagonal().array() > 0).all()) {
          singular = true;
          break;
        }
        const Vector delta = llt.solve(g);
        if (!delta.allFinite()) {
          singular = true;
          break;
        }
        double step = 1.0, Qn = kNegInf;
        Vector bn;
        for (int h = 0; h < 30; ++h, step *= 0.5) {
          bn = b + step * delta;
          Qn = coef_objective(x, yv, r, theta, bn);
          if (Qn >= Q) break;
        }
        if (!(Qn >= Q)) break;
        b = bn;
        const double change = Qn - Q;
        Q = Qn;
        if (change <= 1e-13 * (1.0 + std::abs(Q)) &&
            step * delta.norm() <= 1e-11 * (1.0 + b.norm()))
          break;
      }
      if (singular) break;
      const double before = theta;
      theta = solve_theta(yv, r, x * b, theta);
      if (std::abs(std::log(theta / before)) < 1e-10) break;
    }
    if (singular) report.collapsed.push_back(k);
  }
  return report;
}

Vector NegativeBinomialExperts::score(const ConstMatrixRef& x,
                                      const ConstMatrixRef& y,
                                      const ConstMatrixRef& resp) const {
  Vector out(num_params());
  const auto yv = y.col(0);
  for (Index k = 0; k < components(); ++k) {
    const double theta = theta_[static_cast<size_t>(k)];
    const auto r = resp.col(k);
    const Vector eta = x * coef_[static_cast<size_t>(k)];
    Vector s(x.rows());
    for (Index i = 0; i < x.rows(); ++i) {
      const double mu = std::exp(eta(i));
      s(i) = r(i) * theta * (yv(i) - mu) / (theta + mu);
    }
    out.segment(k * (p_ + 1), p_) = x.transpose() * s;
    double g = 0.0, h = 0.0;
    theta_derivatives(yv, r, eta, theta, g, h);
    out(k * (p_ + 1) + p_) = theta * g;  // d/d log theta
  }
  return out;
}

Vector NegativeBinomialExperts::parameters() const {
  Vector v(num_params());
  for (Index k = 0; k < components(); ++k) {
    v.segment(k * (p_ + 1), p_) = coef_[static_cast<size_t>(k)];
    v(k * (p_ + 1) + p_) = std::log(theta_[static_cast<size_t>(k)]);
  }
  return v;
}

void NegativeBinomialExperts::set_parameters(const ConstVectorRef& v) {
  if (v.size() != num_params())
    throw Error("NegativeBinomialExperts::set_parameters: wrong length");
  for (Index k = 0; k < components(); ++k) {
    coef_[static_cast<size_t>(k)] = v.segment(k * (p_ + 1), p_);
    theta_[static_cast<size_t>(k)] = std::exp(v(k * (p_ + 1) + p_));
  }
}

std::vector<Matrix> NegativeBinomialExperts::predict_means(const ConstMatrixRef& x) const {
  std::vector<Matrix> out;
  for (const Vector& b : coef_) out.push_back((x * b).array().exp().matrix());
  return out;
}

Matrix NegativeBinomialExperts::sample(const ConstMatrixRef& x,
                                       const std::vector<Index>& component,
                                       Rng& rng) const {
  // A gamma-Poisson mixture: lambda ~ Gamma(theta, mu / theta), y ~ Poisson(lambda).
  Matrix y(x.rows(), 1);
  for (Index i = 0; i < x.rows(); ++i) {
    const auto k = static_cast<size_t>(component[static_cast<size_t>(i)]);
    const double mu = std::exp(x.row(i).dot(coef_[k]));
    const double lambda =
        mu > 0 ? std::gamma_distribution<double>(theta_[k], mu / theta_[k])(rng) : 0.0;
    if (!(lambda < 1e15))
      throw NumericalError(
          fmt::format("negbin experts: the mean of row {} is {:.3g}, too large to draw counts from",
                      i + 1, mu));
    y(i, 0) =
        lambda > 0 ? static_cast<double>(std::poisson_distribution<long long>(lambda)(rng)) : 0.0;
  }
  return y;
}

void NegativeBinomialExperts::reseed(Index k,
                                     const ConstMatrixRef& x,
                                     const ConstMatrixRef& y,
                                     Index row) {
  // Mean at the row's count plus one half with the smallest coefficients; theta 1: broad.
  const Vector xr = x.row(row).transpose();
  const double norm2 = xr.squaredNorm();
  coef_[static_cast<size_t>(k)] =
      norm2 > 0 ? Vector(xr * (std::log(y(row, 0) + 0.5) / norm2)) : Vector::Zero(p_);
  theta_[static_cast<size_t>(k)] = 1.0;
}

std::vector<ParameterMap> NegativeBinomialExperts::component_params() const {
  std::vector<ParameterMap> out;
  for (Index k = 0; k < components(); ++k)
    out.push_back({{"coefficients", Matrix(coef_[static_cast<size_t>(k)])},
                   {"theta", Matrix::Constant(1, 1, theta_[static_cast<size_t>(k)])}});
  return out;
}

void NegativeBinomialExperts::set_params(const std::vector<ParameterMap>& components,
                                         const ParameterMap&) {
  if (static_cast<Index>(components.size()) != this->components())
    throw ModelFormatError(fmt::format("negbin experts: {} components given, expected {}",
                                       components.size(), this->components()));
  for (Index k = 0; k < this->components(); ++k) {
    const auto& c = components[static_cast<size_t>(k)];
    auto b = c.find("coefficients");
    auto t = c.find("theta");
    if (b == c.end() || t == c.end())
      throw ModelFormatError(
          fmt::format("negbin expert {}: needs 'coefficients' and 'theta'", k + 1));
    if (b->second.rows() != p_ || b->second.cols() != 1 || !b->second.allFinite())
      throw ModelFormatError(
          fmt::format("negbin expert {}: 'coefficients' must be {} finite numbers", k + 1, p_));
    if (t->second.size() != 1 || !(t->second(0, 0) > 0) || !std::isfinite(t->second(0, 0)))
      throw ModelFormatError(
          fmt::format("negbin expert {}: 'theta' must be one positive finite number", k + 1));
    coef_[static_cast<size_t>(k)] = b->second.col(0);
    theta_[static_cast<size_t>(k)] = t->second(0, 0);
  }
}

}  // namespace moekit
