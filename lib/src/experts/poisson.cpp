#include "moekit/experts/poisson.hpp"

#include "moekit/core/error.hpp"
#include "moekit/stats/log_gamma.hpp"

#include <fmt/format.h>

#include <cmath>
#include <random>

namespace moekit {

namespace {

double log_factorial(double y) { return log_gamma(y + 1.0); }

}  // namespace

std::optional<Index> PoissonExperts::invalid_response_row(const ConstMatrixRef& y) const {
  for (Index i = 0; i < y.rows(); ++i) {
    const double v = y(i, 0);
    if (!(v >= 0.0) || v != std::floor(v) || v > 1e15) return i;
  }
  return std::nullopt;
}

void PoissonExperts::statistics(const ConstMatrixRef& y, Vector& t, Vector& m) const {
  t = y.col(0);
  m = Vector::Ones(y.rows());
}

double PoissonExperts::log_base_measure(double t, double) const { return -log_factorial(t); }

double PoissonExperts::eta_at(double t, double) const { return std::log(t + 0.5); }

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
    const Vector& b = coef_[static_cast<size_t>(component[static_cast<size_t>(i)])];
    const double mu = std::exp(x.row(i).dot(b));
    if (!(mu < 1e15))
      throw NumericalError(fmt::format(
          "poisson experts: the mean of row {} is {:.3g}, too large to draw counts from", i + 1,
          mu));
    y(i, 0) = static_cast<double>(std::poisson_distribution<long long>(mu)(rng));
  }
  return y;
}

}  // namespace moekit
