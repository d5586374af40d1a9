#include "moekit/experts/laplace.hpp"

#include "moekit/core/error.hpp"
#include "moekit/core/parallel.hpp"
#include "moekit/stats/weighted_lad.hpp"
#include "moekit/stats/weighted_least_squares.hpp"

#include <fmt/format.h>
#include <algorithm>
#include <cmath>
#include <numeric>

namespace moekit {

namespace {

constexpr double kLog2 = 0.69314718055994530942;

// argmin_b sum_i w_i (y_i - b'x_i)^2, by the shared weighted least squares.
bool weighted_least_squares(const ConstMatrixRef& x,
                            const ConstVectorRef& y,
                            const ConstVectorRef& w,
                            Vector& b) {
  Matrix gram, xty, sol;
  weighted_cross_products(x, y, w, gram, xty);
  if (!solve_normal_equations(gram, xty, sol)) return false;
  b = sol.col(0);
  return true;
}

}  // namespace

LaplaceExperts::LaplaceExperts(Index K, Index q, Index p, double collapse_tol)
    : coef_(Matrix::Zero(p, K)),
      scale_(Vector::Ones(K)),
      collapse_tol_(collapse_tol),
      basis_(static_cast<size_t>(K)) {
  if (q != 1)
    throw InputError::option(
        "--formula", fmt::format("{} responses", q),
        "laplace experts take exactly one response column (use t experts for several)");
  if (p < 1)
    throw InputError::option("--formula", "no covariates",
                             "laplace experts need at least an intercept");
}

void LaplaceExperts::log_density(const ConstMatrixRef& x,
                                 const ConstMatrixRef& y,
                                 MatrixRef out) const {
  for (Index k = 0; k < components(); ++k) {
    const double s = scale_(k);
    out.col(k).array() = -(kLog2 + std::log(s)) - (y.col(0) - x * coef_.col(k)).array().abs() / s;
  }
}

MStepReport LaplaceExperts::fit(const ConstMatrixRef& x,
                                const ConstMatrixRef& y,
                                const ConstMatrixRef& resp) {
  const Index K = components(), p = coef_.rows(), n = y.rows();
  if (y.cols() != 1 || x.cols() != p || resp.cols() != K || x.rows() != n)
    throw Error("LaplaceExperts::fit: shape mismatch");
  // Reference scale for the collapse test: the mean absolute deviation of y about its mean.
  // Per row block on the threads (two serial passes were a fiftieth of a 2-thread iteration).
  const auto yc = y.col(0);
  const double mean = reduce_blocks(n, 0.0,
                                    [&](Index begin, Index size, double& acc) {
                                      acc += yc.segment(begin, size).sum();
                                    }) /
                      static_cast<double>(n);
  const double deviation = reduce_blocks(n, 0.0, [&](Index begin, Index size, double& acc) {
    acc += (yc.segment(begin, size).array() - mean).abs().sum();
  });
  const double ref = std::max(deviation / static_cast<double>(n), 1e-300);
  const auto yv = y.col(0);
  MStepReport report;
  for (Index k = 0; k < K; ++k) {
    const auto r = resp.col(k);
    const double N = r.sum();
    if (!(N >= 1.0)) {
      report.collapsed.push_back(k);
      continue;
    }
    // Weighted LAD for b_k, solved exactly (stats/weighted_lad.hpp: the simplex of
    // Barrodale & Roberts 1973), started from the current b_k (weighted least squares before
    // any fit). Its objective is never larger than at the start, so the M-step is an exact
    // (at worst a generalized) EM step. A design that the weighted rows leave rank deficient
    // keeps b_k.
    Vector b = coef_.col(k);
    if (fresh_ && p > 1 && !weighted_least_squares(x, yv, r, b)) b = coef_.col(k);
    WeightedLad lad;
    double A = 0.0;
    auto& basis = basis_[static_cast<size_t>(k)];
    if (weighted_lad(x, yv, r, b, lad, basis)) {
      b = lad.b;
      A = lad.objective;
      basis = lad.basis;
    } else {
      A = weighted_lad_objective(x, yv, r, b);
      basis.clear();
    }
    // Closed-form scale given b_k (the paper's eq. for s_k): s_k = A_k / N_k.
    const double s = A / N;
    if (!(s > collapse_tol_ * ref) || !std::isfinite(s) || !b.allFinite()) {
      basis.clear();
      report.collapsed.push_back(k);
      continue;
    }
    coef_.col(k) = b;
    scale_(k) = s;
  }
  fresh_ = false;
  return report;
}

Vector LaplaceExperts::score(const ConstMatrixRef& x,
                             const ConstMatrixRef& y,
                             const ConstMatrixRef& resp) const {
  const Index K = components(), p = coef_.rows();
  Vector out(num_params());
  for (Index k = 0; k < K; ++k) {
    const double s = scale_(k);
    const Vector e = y.col(0) - x * coef_.col(k);
    // d/db_k = sum_i r_ik sign(e_ik) x_i / s_k;  d/d log s_k = sum_i r_ik (|e_ik| / s_k - 1).
    const Vector rs = resp.col(k).array() * e.array().sign();
    out.segment(k * (p + 1), p) = x.transpose() * rs / s;
    out(k * (p + 1) + p) = (resp.col(k).array() * (e.array().abs() / s - 1.0)).sum();
  }
  return out;
}

Vector LaplaceExperts::parameters() const {
  const Index K = components(), p = coef_.rows();
  Vector theta(num_params());
  for (Index k = 0; k < K; ++k) {
    theta.segment(k * (p + 1), p) = coef_.col(k);
    theta(k * (p + 1) + p) = std::log(scale_(k));
  }
  return theta;
}

void LaplaceExperts::set_parameters(const ConstVectorRef& theta) {
  const Index K = components(), p = coef_.rows();
  if (theta.size() != num_params()) throw Error("LaplaceExperts::set_parameters: wrong length");
  for (Index k = 0; k < K; ++k) {
    coef_.col(k) = theta.segment(k * (p + 1), p);
    scale_(k) = std::exp(theta(k * (p + 1) + p));
    basis_[static_cast<size_t>(k)].clear();
  }
  fresh_ = false;
}

std::vector<Matrix> LaplaceExperts::predict_means(const ConstMatrixRef& x) const {
  std::vector<Matrix> out;
  for (Index k = 0; k < components(); ++k) out.push_back(x * coef_.col(k));
  return out;
}

Matrix LaplaceExperts::sample(const ConstMatrixRef& x,
                              const std::vector<Index>& component,
                              Rng& rng) const {
  Matrix y(x.rows(), 1);
  for (Index i = 0; i < x.rows(); ++i) {
    const Index k = component[static_cast<size_t>(i)];
    // Inverse CDF: u uniform on (-1/2, 1/2), e = -s sign(u) log(1 - 2|u|).
    double u = uniform01(rng) - 0.5;
    while (u == -0.5) u = uniform01(rng) - 0.5;
    const double e = -scale_(k) * (u < 0 ? -1.0 : 1.0) * std::log1p(-2.0 * std::abs(u));
    y(i, 0) = x.row(i).dot(coef_.col(k)) + e;
  }
  return y;
}

void LaplaceExperts::reseed(Index k, const ConstMatrixRef& x, const ConstMatrixRef& y, Index row) {
  // The minimum-norm b through the chosen row, with the spread of the whole response.
  const double nx = x.row(row).squaredNorm();
  coef_.col(k) =
      nx > 0 ? Vector(x.row(row).transpose() * (y(row, 0) / nx)) : Vector::Zero(coef_.rows());
  const double mad = (y.col(0).array() - y.col(0).mean()).abs().mean();
  scale_(k) = mad > 0 ? mad : 1.0;
  basis_[static_cast<size_t>(k)].clear();
}

void LaplaceExperts::set_component(Index k, const Vector& b, double s) {
  if (b.size() != coef_.rows() || !b.allFinite() || !(s > 0) || !std::isfinite(s))
    throw ModelFormatError(fmt::format("laplace expert {}: bad coefficients or scale", k + 1));
  coef_.col(k) = b;
  scale_(k) = s;
  basis_[static_cast<size_t>(k)].clear();
  fresh_ = false;
}

std::vector<ParameterMap> LaplaceExperts::component_params() const {
  std::vector<ParameterMap> out;
  for (Index k = 0; k < components(); ++k) {
    ParameterMap m;
    m["coefficients"] = coef_.col(k);
    m["scale"] = Matrix::Constant(1, 1, scale_(k));
    out.push_back(m);
  }
  return out;
}

void LaplaceExperts::set_params(const std::vector<ParameterMap>& components, const ParameterMap&) {
  const Index K = this->components(), p = coef_.rows();
  if (static_cast<Index>(components.size()) != K)
    throw ModelFormatError(
        fmt::format("laplace experts: {} components given, expected {}", components.size(), K));
  for (Index k = 0; k < K; ++k) {
    const ParameterMap& c = components[static_cast<size_t>(k)];
    const auto b = c.find("coefficients"), s = c.find("scale");
    if (b == c.end() || s == c.end())
      throw ModelFormatError(
          fmt::format("laplace expert {}: needs 'coefficients' and 'scale'", k + 1));
    if (b->second.rows() != p || b->second.cols() != 1 || s->second.size() != 1)
      throw ModelFormatError(fmt::format(
          "laplace expert {}: 'coefficients' must hold {} numbers, 'scale' one", k + 1, p));
    set_component(k, b->second.col(0), s->second(0, 0));
  }
}

}  // namespace moekit
