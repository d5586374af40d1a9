#include "moekit/experts/poisson.hpp"

#include "moekit/core/error.hpp"
#include "moekit/stats/weighted_least_squares.hpp"

#include <fmt/format.h>

#include <cmath>
#include <random>

namespace moekit {

namespace {

// log y! without the global sign variable of std::lgamma (data races under threads).
double log_factorial(double y) {
#if defined(__GLIBC__)
  int sign = 0;
  return lgamma_r(y + 1.0, &sign);
#else
  return std::lgamma(y + 1.0);
#endif
}

// The expert's part of the Q-function, sum_i r_i (y_i eta_i - exp(eta_i)) (the log y! terms
// do not depend on b); -inf when a predictor overflows.
double weighted_poisson_objective(const ConstMatrixRef& x,
                                  const ConstMatrixRef& y,
                                  const ConstVectorRef& r,
                                  const Vector& b) {
  const Vector eta = x * b;
  if (!eta.allFinite() || eta.maxCoeff() > 700.0) return -std::numeric_limits<double>::infinity();
  return (r.array() * (y.col(0).array() * eta.array() - eta.array().exp())).sum();
}

}  // namespace

PoissonExperts::PoissonExperts(Index K, Index p, std::vector<std::string> x_names)
    : p_(p), coef_(static_cast<size_t>(K), Vector::Zero(p)), x_names_(std::move(x_names)) {
  if (K < 1 || p < 1) throw InputError("poisson experts need K >= 1 and at least one covariate");
}

void PoissonExperts::set_coefficients(Index k, const Vector& b) {
  if (b.size() != p_) throw Error("PoissonExperts::set_coefficients: shape mismatch");
  coef_[static_cast<size_t>(k)] = b;
}

std::optional<Index> PoissonExperts::invalid_response_row(const ConstMatrixRef& y) const {
  for (Index i = 0; i < y.rows(); ++i) {
    const double v = y(i, 0);
    if (!(v >= 0.0) || v != std::floor(v) || v > 1e15) return i;
  }
  return std::nullopt;
}

void PoissonExperts::log_density(const ConstMatrixRef& x,
                                 const ConstMatrixRef& y,
                                 MatrixRef out) const {
  thread_local Vector lf;
  lf.resize(y.rows());
  for (Index i = 0; i < y.rows(); ++i) lf(i) = log_factorial(y(i, 0));
  for (Index k = 0; k < components(); ++k) {
    const Vector eta = x * coef_[static_cast<size_t>(k)];
    out.col(k).array() = y.col(0).array() * eta.array() - eta.array().exp() - lf.array();
  }
}

MStepReport PoissonExperts::fit(const ConstMatrixRef& x,
                                const ConstMatrixRef& y,
                                const ConstMatrixRef& resp) {
  const Index K = components();
  if (x.cols() != p_ || y.cols() != 1 || resp.cols() != K || x.rows() != y.rows())
    throw Error("PoissonExperts::fit: shape mismatch");
  {
    Matrix gram, unused;
    weighted_cross_products(x, x.leftCols(1), Vector::Ones(x.rows()), gram, unused);
    check_design_rank(gram, x_names_, "poisson experts");
  }
  MStepReport report;
  for (Index k = 0; k < K; ++k) {
    const auto r = resp.col(k);
    Vector& b = coef_[static_cast<size_t>(k)];
    if (!(r.sum() > 1e-8)) {
      report.collapsed.push_back(k);
      continue;
    }
    // Newton on the weighted log-likelihood (the IRLS of a GLM with canonical link):
    // gradient X'(r (y - mu)), information X' diag(r mu) X. Step-halving keeps every step an
    // ascent, so the M-step never lowers the Q-function (a generalised EM step at worst).
    double Q = weighted_poisson_objective(x, y, r, b);
    if (!std::isfinite(Q)) {
      b.setZero();
      Q = weighted_poisson_objective(x, y, r, b);
    }
    bool singular = false;
    for (int it = 0; it < 50; ++it) {
      const Vector mu = (x * b).array().exp();
      const Vector g = x.transpose() * (r.array() * (y.col(0).array() - mu.array())).matrix();
      Matrix H, unused;
      weighted_cross_products(x, x.leftCols(1), (r.array() * mu.array()).matrix(), H, unused);
      Matrix delta;
      if (!solve_normal_equations(H, g, delta)) {
        singular = true;
        break;
      }
      double step = 1.0, Qn = -std::numeric_limits<double>::infinity();
      Vector bn;
      for (int h = 0; h < 30; ++h, step *= 0.5) {
        bn = b + step * delta.col(0);
        Qn = weighted_poisson_objective(x, y, r, bn);
        if (Qn >= Q) break;
      }
      if (!(Qn >= Q)) break;  // no ascent along the Newton direction: at the maximum
      b = bn;
      const double change = Qn - Q;
      Q = Qn;
      if (change <= 1e-13 * (1.0 + std::abs(Q))) break;
    }
    if (singular) report.collapsed.push_back(k);
  }
  return report;
}

Vector PoissonExperts::score(const ConstMatrixRef& x,
                             const ConstMatrixRef& y,
                             const ConstMatrixRef& resp) const {
  Vector out(num_params());
  for (Index k = 0; k < components(); ++k) {
    const Vector mu = (x * coef_[static_cast<size_t>(k)]).array().exp();
    out.segment(k * p_, p_) =
        x.transpose() * (resp.col(k).array() * (y.col(0).array() - mu.array())).matrix();
  }
  return out;
}

Vector PoissonExperts::parameters() const {
  Vector theta(num_params());
  for (Index k = 0; k < components(); ++k)
    theta.segment(k * p_, p_) = coef_[static_cast<size_t>(k)];
  return theta;
}

void PoissonExperts::set_parameters(const ConstVectorRef& theta) {
  if (theta.size() != num_params()) throw Error("PoissonExperts::set_parameters: wrong length");
  for (Index k = 0; k < components(); ++k)
    coef_[static_cast<size_t>(k)] = theta.segment(k * p_, p_);
}

std::vector<Matrix> PoissonExperts::predict_means(const ConstMatrixRef& x) const {
  std::vector<Matrix> out;
  for (const Vector& b : coef_) out.push_back((x * b).array().exp().matrix());
  return out;
}

Matrix PoissonExperts::sample(const ConstMatrixRef& x,
                              const std::vector<Index>& component,
                              Rng& rng) const {
  Matrix y(x.rows(), 1);
  for (Index i = 0; i < x.rows(); ++i) {
    const double mu =
        std::exp(x.row(i).dot(coef_[static_cast<size_t>(component[static_cast<size_t>(i)])]));
    if (!(mu < 1e15))
      throw NumericalError(fmt::format(
          "poisson experts: the mean of row {} is {:.3g}, too large to draw counts from", i + 1,
          mu));
    y(i, 0) = static_cast<double>(std::poisson_distribution<long long>(mu)(rng));
  }
  return y;
}

void PoissonExperts::reseed(Index k, const ConstMatrixRef& x, const ConstMatrixRef& y, Index row) {
  // The smallest coefficients that put the expert's mean at the row's count (plus a half, so
  // that a zero count gives a finite predictor).
  const Vector xr = x.row(row).transpose();
  const double norm2 = xr.squaredNorm();
  coef_[static_cast<size_t>(k)] =
      norm2 > 0 ? Vector(xr * (std::log(y(row, 0) + 0.5) / norm2)) : Vector::Zero(p_);
}

std::vector<ParameterMap> PoissonExperts::component_params() const {
  std::vector<ParameterMap> out;
  for (const Vector& b : coef_) out.push_back({{"coefficients", Matrix(b)}});
  return out;
}

void PoissonExperts::set_params(const std::vector<ParameterMap>& components, const ParameterMap&) {
  if (static_cast<Index>(components.size()) != this->components())
    throw ModelFormatError(fmt::format("poisson experts: {} components given, expected {}",
                                       components.size(), this->components()));
  for (Index k = 0; k < this->components(); ++k) {
    const auto& m = components[static_cast<size_t>(k)];
    auto it = m.find("coefficients");
    if (it == m.end())
      throw ModelFormatError(fmt::format("poisson expert {}: missing 'coefficients'", k + 1));
    if (it->second.rows() != p_ || it->second.cols() != 1)
      throw ModelFormatError(
          fmt::format("poisson expert {}: 'coefficients' is {}x{}, expected {}x1", k + 1,
                      it->second.rows(), it->second.cols(), p_));
    if (!it->second.allFinite())
      throw ModelFormatError(
          fmt::format("poisson expert {}: 'coefficients' are not finite", k + 1));
    coef_[static_cast<size_t>(k)] = it->second.col(0);
  }
}

}  // namespace moekit
