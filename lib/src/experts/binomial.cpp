#include "moekit/experts/binomial.hpp"

#include "moekit/core/error.hpp"
#include "moekit/stats/log_gamma.hpp"

#include <cmath>

namespace moekit {

namespace {

bool count(double v) { return v >= 0.0 && v == std::floor(v) && v <= 1e15; }

}  // namespace

std::optional<Index> BinomialExperts::invalid_response_row(const ConstMatrixRef& y) const {
  for (Index i = 0; i < y.rows(); ++i)
    if (y.cols() != 2 || !count(y(i, 0)) || !count(y(i, 1))) return i;
  return std::nullopt;
}

void BinomialExperts::statistics(const ConstMatrixRef& y, Vector& t, Vector& m) const {
  t = y.col(0);
  m = y.col(0) + y.col(1);
}

double BinomialExperts::log_base_measure(double t, double m) const {
  return log_gamma(m + 1.0) - log_gamma(t + 1.0) - log_gamma(m - t + 1.0);
}

double BinomialExperts::eta_at(double t, double m) const {
  const double p = (t + 0.5) / (m + 1.0);
  return std::log(p / (1.0 - p));
}

std::vector<Matrix> BinomialExperts::predict_means(const ConstMatrixRef& x) const {
  std::vector<Matrix> out;
  for (const Vector& b : coef_) {
    Matrix pq(x.rows(), 2);
    pq.col(0) = (x * b).unaryExpr([](double e) { return LogisticCumulant::mean(e); });
    pq.col(1) = 1.0 - pq.col(0).array();
    out.push_back(std::move(pq));
  }
  return out;
}

Matrix BinomialExperts::sample(const ConstMatrixRef&, const std::vector<Index>&, Rng&) const {
  throw InputError(
      "binomial experts: drawing successes and failures needs each row's number of trials, "
      "which simulate does not read; simulate is available for the other families");
}

}  // namespace moekit
