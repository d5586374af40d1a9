#include "moekit/experts/gamma.hpp"

#include "moekit/core/error.hpp"
#include "moekit/core/parallel.hpp"
#include "moekit/core/process_sums.hpp"
#include "moekit/stats/log_gamma.hpp"
#include "moekit/stats/weighted_least_squares.hpp"

#include <fmt/format.h>
#include <Eigen/Cholesky>
#include <boost/math/special_functions/digamma.hpp>
#include <boost/math/special_functions/trigamma.hpp>

#include <cmath>
#include <limits>
#include <random>

namespace moekit {

namespace {

constexpr double kMinShape = 1e-3, kMaxShape = 1e8;

// sum_i r_i (-eta_i - y_i exp(-eta_i)): the coefficients' part of the weighted Gamma
// log-likelihood, divided by nu; summed over the processes that share the rows
// (core/process_sums.hpp).
double mean_objective(const ConstMatrixRef& x,
                      const ConstVectorRef& y,
                      const ConstVectorRef& r,
                      const Vector& b) {
  // Per row block on the threads, summed in block order.
  const double Q = reduce_blocks(x.rows(), 0.0, [&](Index begin, Index size, double& acc) {
    thread_local Vector eta;
    eta.noalias() = x.middleRows(begin, size) * b;
    const auto rb = r.segment(begin, size).array();
    const auto yb = y.segment(begin, size).array();
    acc += !eta.allFinite() || eta.minCoeff() < -700.0
               ? -std::numeric_limits<double>::infinity()
               : -(rb * (eta.array() + yb * (-eta.array()).exp())).sum();
  });
  return summed_over_processes(Q);
}

// The shape that solves log nu - digamma(nu) = s (s > 0), by Newton in log nu: the left side
// falls from +inf to 0 as nu grows, so the root is unique.
double solve_shape(double s, double start) {
  if (!(s > 0)) return kMaxShape;
  double u = std::log(std::clamp(start, kMinShape, kMaxShape));
  for (int it = 0; it < 100; ++it) {
    const double nu = std::exp(u);
    const double f = std::log(nu) - boost::math::digamma(nu) - s;
    const double df = (1.0 / nu - boost::math::trigamma(nu)) * nu;  // d/du
    const double step = f / df;
    u -= step;
    u = std::clamp(u, std::log(kMinShape), std::log(kMaxShape));
    if (std::abs(step) < 1e-13) break;
  }
  return std::exp(u);
}

}  // namespace

GammaExperts::GammaExperts(Index K, Index p, std::vector<std::string> x_names)
    : p_(p),
      coef_(static_cast<size_t>(K), Vector::Zero(p)),
      shape_(static_cast<size_t>(K), 1.0),
      x_names_(std::move(x_names)) {
  if (K < 1 || p < 1) throw InputError("gamma experts need K >= 1 and at least one covariate");
}

std::optional<Index> GammaExperts::invalid_response_row(const ConstMatrixRef& y) const {
  for (Index i = 0; i < y.rows(); ++i)
    if (!(y(i, 0) > 0.0) || !std::isfinite(y(i, 0))) return i;
  return std::nullopt;
}

void GammaExperts::log_density(const ConstMatrixRef& x,
                               const ConstMatrixRef& y,
                               MatrixRef out) const {
  for (Index k = 0; k < components(); ++k) {
    const double nu = shape_[static_cast<size_t>(k)];
    const double c = nu * std::log(nu) - log_gamma(nu);
    const Vector eta = x * coef_[static_cast<size_t>(k)];
    for (Index i = 0; i < x.rows(); ++i) {
      const double v = y(i, 0);
      out(i, k) = c + (nu - 1.0) * std::log(v) - nu * eta(i) - nu * v * std::exp(-eta(i));
    }
  }
}

MStepReport GammaExperts::fit(const ConstMatrixRef& x,
                              const ConstMatrixRef& y,
                              const ConstMatrixRef& resp) {
  const Index K = components(), n = x.rows();
  if (x.cols() != p_ || y.cols() != 1 || resp.cols() != K || y.rows() != n)
    throw Error("GammaExperts::fit: shape mismatch");
  check_design_rank_of(x, x_names_, "gamma experts");
  MStepReport report;
  const auto yv = y.col(0);
  for (Index k = 0; k < K; ++k) {
    const auto r = resp.col(k);
    const double N =
        summed_over_processes(reduce_blocks(n, 0.0, [&](Index begin, Index size, double& acc) {
          acc += r.segment(begin, size).sum();
        }));
    Vector& b = coef_[static_cast<size_t>(k)];
    if (!(N > 1e-8)) {
      report.collapsed.push_back(k);
      continue;
    }
    double Q = mean_objective(x, yv, r, b);
    if (!std::isfinite(Q)) {
      b.setZero();
      // The weighted mean, if x0 = 1.
      b(0) = std::log(summed_over_processes((r.array() * yv.array()).sum()) / N);
      Q = mean_objective(x, yv, r, b);
    }
    bool singular = false;
    for (int it = 0; it < 50; ++it) {
      // The score and the information per row block on the threads, summed in block order.
      ScoreAndInformation d = reduce_blocks(
          n, ScoreAndInformation::zero(p_), [&](Index begin, Index size, ScoreAndInformation& acc) {
            const auto xb = x.middleRows(begin, size);
            const auto rb = r.segment(begin, size).array();
            thread_local Vector ratio, weight;
            ratio =
                (yv.segment(begin, size).array() * (-(xb * b).array()).exp()).matrix();  // y / mu
            acc.g.noalias() += xb.transpose() * (rb * (ratio.array() - 1.0)).matrix();
            weight = rb * ratio.array();
            add_weighted_gram(xb, weight, acc.H);
          });
      Vector& g = d.g;
      Matrix& H = d.H;
      sum_over_processes(g.data(), g.size());
      sum_over_processes(H.data(), H.size());
      Eigen::LLT<Matrix> llt(H);
      if (llt.info() != Eigen::Success) {
        singular = true;
        break;
      }
      const Vector delta = llt.solve(g);
      double step = 1.0, Qn = -std::numeric_limits<double>::infinity();
      Vector bn;
      for (int h = 0; h < 30; ++h, step *= 0.5) {
        bn = b + step * delta;
        Qn = mean_objective(x, yv, r, bn);
        if (Qn >= Q) break;
      }
      if (!(Qn >= Q)) break;
      b = bn;
      const double change = Qn - Q;
      Q = Qn;
      if (change <= 1e-13 * (1.0 + std::abs(Q))) break;
    }
    if (singular) {
      report.collapsed.push_back(k);
      continue;
    }
    // The shape's equation needs one sum over the rows, per row block on the threads in block
    // order (an exp and a log a row: on the main thread alone it held the other thread idle):
    // a 1-D root find on it.
    const double deviance = reduce_blocks(n, 0.0, [&](Index begin, Index size, double& acc) {
      const auto xb = x.middleRows(begin, size);
      thread_local Vector ratio;
      ratio = (yv.segment(begin, size).array() * (-(xb * b).array()).exp()).matrix();
      acc += (r.segment(begin, size).array() * (ratio.array() - ratio.array().log() - 1.0)).sum();
    });
    const double s = summed_over_processes(deviance) / N;
    shape_[static_cast<size_t>(k)] = solve_shape(s, shape_[static_cast<size_t>(k)]);
  }
  return report;
}

Vector GammaExperts::score(const ConstMatrixRef& x,
                           const ConstMatrixRef& y,
                           const ConstMatrixRef& resp) const {
  Vector out(num_params());
  for (Index k = 0; k < components(); ++k) {
    const double nu = shape_[static_cast<size_t>(k)];
    const auto r = resp.col(k);
    const Vector eta = x * coef_[static_cast<size_t>(k)];
    const Vector ratio = (y.col(0).array() * (-eta.array()).exp()).matrix();
    out.segment(k * (p_ + 1), p_) =
        nu * (x.transpose() * (r.array() * (ratio.array() - 1.0)).matrix());
    // d/d log nu = nu d/d nu of sum_i r_i (nu log nu - lgamma(nu) + nu log(y/mu) - nu y/mu - log
    // y).
    const double dnu = (r.array() * (std::log(nu) + 1.0 - boost::math::digamma(nu) +
                                     ratio.array().log() - ratio.array()))
                           .sum();
    out(k * (p_ + 1) + p_) = nu * dnu;
  }
  return out;
}

Vector GammaExperts::parameters() const {
  Vector theta(num_params());
  for (Index k = 0; k < components(); ++k) {
    theta.segment(k * (p_ + 1), p_) = coef_[static_cast<size_t>(k)];
    theta(k * (p_ + 1) + p_) = std::log(shape_[static_cast<size_t>(k)]);
  }
  return theta;
}

void GammaExperts::set_parameters(const ConstVectorRef& theta) {
  if (theta.size() != num_params()) throw Error("GammaExperts::set_parameters: wrong length");
  for (Index k = 0; k < components(); ++k) {
    coef_[static_cast<size_t>(k)] = theta.segment(k * (p_ + 1), p_);
    shape_[static_cast<size_t>(k)] = std::exp(theta(k * (p_ + 1) + p_));
  }
}

std::vector<Matrix> GammaExperts::predict_means(const ConstMatrixRef& x) const {
  std::vector<Matrix> out;
  for (const Vector& b : coef_) out.push_back((x * b).array().exp().matrix());
  return out;
}

Matrix GammaExperts::sample(const ConstMatrixRef& x,
                            const std::vector<Index>& component,
                            Rng& rng) const {
  Matrix y(x.rows(), 1);
  for (Index i = 0; i < x.rows(); ++i) {
    const auto k = static_cast<size_t>(component[static_cast<size_t>(i)]);
    const double mu = std::exp(x.row(i).dot(coef_[k]));
    y(i, 0) = std::gamma_distribution<double>(shape_[k], mu / shape_[k])(rng);
  }
  return y;
}

void GammaExperts::reseed(Index k, const ConstMatrixRef& x, const ConstMatrixRef& y, Index row) {
  // Mean at the row's value with the smallest coefficients; shape 1 (exponential): broad.
  const Vector xr = x.row(row).transpose();
  const double norm2 = xr.squaredNorm();
  coef_[static_cast<size_t>(k)] =
      norm2 > 0 ? Vector(xr * (std::log(y(row, 0)) / norm2)) : Vector::Zero(p_);
  shape_[static_cast<size_t>(k)] = 1.0;
}

std::vector<ParameterMap> GammaExperts::component_params() const {
  std::vector<ParameterMap> out;
  for (Index k = 0; k < components(); ++k)
    out.push_back({{"coefficients", Matrix(coef_[static_cast<size_t>(k)])},
                   {"shape", Matrix::Constant(1, 1, shape_[static_cast<size_t>(k)])}});
  return out;
}

void GammaExperts::set_params(const std::vector<ParameterMap>& components, const ParameterMap&) {
  if (static_cast<Index>(components.size()) != this->components())
    throw ModelFormatError(fmt::format("gamma experts: {} components given, expected {}",
                                       components.size(), this->components()));
  for (Index k = 0; k < this->components(); ++k) {
    const auto& c = components[static_cast<size_t>(k)];
    auto b = c.find("coefficients");
    auto s = c.find("shape");
    if (b == c.end() || s == c.end())
      throw ModelFormatError(
          fmt::format("gamma expert {}: needs 'coefficients' and 'shape'", k + 1));
    if (b->second.rows() != p_ || b->second.cols() != 1 || !b->second.allFinite())
      throw ModelFormatError(
          fmt::format("gamma expert {}: 'coefficients' must be {} finite numbers", k + 1, p_));
    if (s->second.size() != 1 || !(s->second(0, 0) > 0) || !std::isfinite(s->second(0, 0)))
      throw ModelFormatError(
          fmt::format("gamma expert {}: 'shape' must be one positive number", k + 1));
    coef_[static_cast<size_t>(k)] = b->second.col(0);
    shape_[static_cast<size_t>(k)] = s->second(0, 0);
  }
}

}  // namespace moekit
