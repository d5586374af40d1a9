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
// Counts up to this enter lgamma(y + theta) - lgamma(theta) as sums of log(theta + j), j < y
// (lgamma_diff, the log-density's tables, ThetaProfile's tail sums): exact, and free of the
// cancellation of the difference of lgammas when theta is large (near Poisson).
constexpr double kSumBelow = 64.0;

// lgamma(y + t) - lgamma(t).
double lgamma_diff(double y, double t) {
  if (y > kSumBelow) return log_gamma(y + t) - log_gamma(t);
  double s = 0.0;
  for (double j = 0; j < y; j += 1.0) s += std::log(t + j);
  return s;
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
  // Per row block on the threads, summed in block order; log(theta + mu) as one vectorised
  // log (mu <= exp(kMaxEta) keeps it finite).
  const double Q = reduce_blocks(x.rows(), 0.0, [&](Index begin, Index size, double& acc) {
    thread_local Vector eta;
    thread_local Eigen::ArrayXd L;
    eta.noalias() = x.middleRows(begin, size) * b;
    // Every eta finite and at most kMaxEta (an overflowing x b gives -inf like a NaN).
    if (!((eta.array() <= kMaxEta).all() && eta.allFinite())) {
      acc = kNegInf;
      return;
    }
    const auto yb = y.segment(begin, size).array();
    const auto rb = r.segment(begin, size).array();
    L = (theta + eta.array().exp()).log();
    acc += (rb * (yb * eta.array() - (yb + theta) * L)).sum();
  });
  return summed_over_processes(Q);
}

// The weighted log-likelihood's terms that depend on theta at fixed means mu = exp(eta):
//   f(theta) = sum_i r_i (lgamma(y_i + theta) - lgamma(theta) - theta log(1 + mu_i / theta)
//                         - y_i log(theta + mu_i))
//            = sum_i r_i lgamma_diff(y_i, theta) - sum_i r_i (theta + y_i) log(theta + mu_i)
//              + theta log(theta) sum_i r_i,
// with its first two derivatives, for the 1-D Newton in theta. The means are taken once, and a
// count's lgamma difference is a sum of log(theta + j) over j < y_i, so the rows' sum of them is
// sum_j T_j log(theta + j) with T_j the posterior mass of the rows whose count exceeds j (the
// counts up to kSumBelow; larger ones row by row): a value of theta then costs one log per row
// (vectorised), not an exp, a log1p and a log per unit of every count.
class ThetaProfile {
 public:
  ThetaProfile(const ConstVectorRef& y, const ConstVectorRef& r, const Vector& eta)
      : y_(y), r_(r), mu_(eta.array().exp().matrix()) {
    // The posterior mass at each count up to kSumBelow, and the whole mass (last entry), per
    // row block on the threads, added in block order.
    struct Masses {
      Vector m = Vector::Zero(kTail + 2);
      Masses& operator+=(const Masses& o) {
        m += o.m;
        return *this;
      }
    };
    Masses sums = reduce_blocks(y.size(), Masses{}, [&](Index begin, Index size, Masses& acc) {
      for (Index i = begin; i < begin + size; ++i) {
        acc.m(kTail + 1) += r(i);
        if (r(i) != 0.0 && y(i) <= kSumBelow) acc.m(static_cast<Index>(y(i))) += r(i);
      }
    });
    sum_over_processes(sums.m.data(), sums.m.size());
    mass_ = sums.m(kTail + 1);
    // T_j = the mass at the counts j + 1 .. kSumBelow, for j = 0 .. kSumBelow - 1.
    tail_.resize(kTail);
    double above = 0.0;
    for (Index j = kTail - 1; j >= 0; --j) {
      above += sums.m(j + 1);
      tail_(j) = above;
    }
    for (Index i = 0; i < y.size(); ++i)
      if (r(i) != 0.0 && y(i) > kSumBelow) large_.push_back(i);
  }

  double value(double theta) const {
    const double lt = std::log(theta);
    double local = reduce_blocks(y_.size(), 0.0, [&](Index begin, Index size, double& acc) {
      thread_local Eigen::ArrayXd L;
      L = (theta + mu_.segment(begin, size).array()).log();
      acc -=
          (r_.segment(begin, size).array() * (theta + y_.segment(begin, size).array()) * L).sum();
    });
    for (Index i : large_) local += r_(i) * (log_gamma(y_(i) + theta) - log_gamma(theta));
    double f = summed_over_processes(local) + theta * lt * mass_;
    for (Index j = 0; j < kTail; ++j)
      if (tail_(j) != 0.0) f += tail_(j) * std::log(theta + static_cast<double>(j));
    return f;
  }

  // f'(theta) and f''(theta).
  void derivatives(double theta, double& g, double& h) const {
    const double lt = std::log(theta);
    struct Pair {
      double g = 0.0, h = 0.0;
      Pair& operator+=(const Pair& o) {
        g += o.g;
        h += o.h;
        return *this;
      }
    };
    // Per row: -(L - lt) + (mu - y) / (theta + mu), and
    // 1/theta - 2/(theta + mu) + (theta + y)/(theta + mu)^2 = (mu / tm)^2 / theta + y / tm^2.
    Pair local = reduce_blocks(y_.size(), Pair{}, [&](Index begin, Index size, Pair& acc) {
      const auto yb = y_.segment(begin, size).array();
      const auto rb = r_.segment(begin, size).array();
      const auto mb = mu_.segment(begin, size).array();
      thread_local Eigen::ArrayXd tm, q, L;
      tm = theta + mb;
      q = mb / tm;
      L = tm.log();
      acc.g += (rb * ((mb - yb) / tm - L)).sum();
      acc.h += (rb * (q * q / theta + yb / (tm * tm))).sum();
    });
    for (Index i : large_) {
      local.g += r_(i) * (boost::math::digamma(y_(i) + theta) - boost::math::digamma(theta));
      local.h += r_(i) * (boost::math::trigamma(y_(i) + theta) - boost::math::trigamma(theta));
    }
    double both[2] = {local.g, local.h};
    sum_over_processes(both, 2);
    g = both[0] + lt * mass_;
    h = both[1];
    for (Index j = 0; j < kTail; ++j)
      if (tail_(j) != 0.0) {
        const double a = 1.0 / (theta + static_cast<double>(j));
        g += tail_(j) * a;
        h -= tail_(j) * a * a;
      }
  }

 private:
  static constexpr Index kTail = static_cast<Index>(kSumBelow);
  ConstVectorRef y_, r_;
  Vector mu_;
  Vector tail_;
  double mass_ = 0.0;
  std::vector<Index> large_;
};

// Newton in u = log theta on the profile, with step-halving so that it never falls; where
// the profile is not concave in u the step is one unit uphill.
double solve_theta(const ConstVectorRef& y,
                   const ConstVectorRef& r,
                   const Vector& eta,
                   double start) {
  const ThetaProfile profile(y, r, eta);
  const double umin = std::log(kMinTheta), umax = std::log(kMaxTheta);
  double u = std::clamp(std::log(start), umin, umax);
  double f = profile.value(std::exp(u));
  for (int it = 0; it < 100; ++it) {
    const double t = std::exp(u);
    double g = 0.0, h = 0.0;
    profile.derivatives(t, g, h);
    const double du = t * g, duu = t * t * h + t * g;
    if (!std::isfinite(du) || du == 0.0) break;
    double step = duu < 0 ? -du / duu : (du > 0 ? 1.0 : -1.0);
    step = std::clamp(step, -5.0, 5.0);
    double un = u, fn = kNegInf;
    for (int k = 0; k < 40; ++k, step *= 0.5) {
      un = std::clamp(u + step, umin, umax);
      fn = profile.value(std::exp(un));
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
  const Index n = x.rows();
  const auto v = y.col(0).array();
  // The counts' terms from tables over the counts up to kSumBelow that these rows hold:
  // lgamma(c + 1), and per expert lgamma(c + theta) - lgamma(theta), built as lgamma_diff
  // builds it (the same sum of logs in the same order); larger counts row by row.
  Index top = 0;
  for (Index i = 0; i < n; ++i)
    if (v(i) <= kSumBelow) top = std::max(top, static_cast<Index>(v(i)));
  Vector log_factorial(top + 1), diff(top + 1);
  for (Index c = 0; c <= top; ++c) log_factorial(c) = log_gamma(static_cast<double>(c) + 1.0);
  Vector counts(n);
  for (Index k = 0; k < components(); ++k) {
    const double t = theta_[static_cast<size_t>(k)], lt = std::log(t);
    diff(0) = 0.0;
    for (Index c = 1; c <= top; ++c)
      diff(c) = diff(c - 1) + std::log(t + static_cast<double>(c - 1));
    for (Index i = 0; i < n; ++i)
      counts(i) = v(i) <= kSumBelow
                      ? diff(static_cast<Index>(v(i))) - log_factorial(static_cast<Index>(v(i)))
                      : lgamma_diff(v(i), t) - log_gamma(v(i) + 1.0);
    const Vector eta = x * coef_[static_cast<size_t>(k)];
    const auto e = eta.array();
    // log(theta + mu) as one vectorised log: finite where eta <= kMaxEta; -inf beyond.
    const Eigen::ArrayXd L = (t + e.min(kMaxEta).exp()).log();
    out.col(k) =
        (e <= kMaxEta).select(counts.array() + v * (e - L) - t * (L - lt), kNegInf).matrix();
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
                            thread_local Vector eta, mu, s, w;
                            eta.noalias() = xb * b;
                            mu = eta.array().exp().matrix();
                            const auto yb = yv.segment(begin, size).array();
                            const auto rb = r.segment(begin, size).array();
                            const auto tm = theta + mu.array();
                            s = (rb * theta * (yb - mu.array()) / tm).matrix();
                            w = (rb * theta * (mu.array() / tm) * ((theta + yb) / tm)).matrix();
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
    ThetaProfile(yv, r, eta).derivatives(theta, g, h);
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
