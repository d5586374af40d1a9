#include "moekit/infer/standard_errors.hpp"

#include "moekit/core/error.hpp"
#include "moekit/infer/natural_parameters.hpp"

#include <fmt/format.h>
#include <Eigen/Eigenvalues>

#include <algorithm>
#include <cmath>

namespace moekit {

namespace {

double step_for(double theta, double step) { return step * std::max(1.0, std::abs(theta)); }

Vector score_at(const Model& model, const Dataset& data, const Vector& theta) {
  Model m(model);
  m.set_parameters(theta);
  Vector s;
  const double l = m.loglik_and_score(data, s);
  if (!std::isfinite(l) || !s.allFinite())
    throw NumericalError("standard errors", 0,
                         "the score is not finite next to the maximum; no observed information");
  return s;
}

// Eigenvalues at or below this fraction of the largest count as zero.
constexpr double kRelativeEigenFloor = 1e-10;
// A natural parameter "loads" on a discarded eigenvector when the cosine between its
// gradient and that eigenvector is above this (rounding of the differences stays below).
constexpr double kLoadingFloor = 1e-6;

}  // namespace

Matrix observed_information(const Model& model, const Dataset& data, double step) {
  if (!(step > 0) || !std::isfinite(step))
    throw Error(fmt::format("observed_information: the step {} must be finite and > 0", step));
  const Vector theta = model.parameters();
  const Index d = theta.size();
  Matrix H(d, d);
  for (Index j = 0; j < d; ++j) {
    const double h = step_for(theta(j), step);
    Vector plus = theta, minus = theta;
    plus(j) += h;
    minus(j) -= h;
    H.col(j) = (score_at(model, data, plus) - score_at(model, data, minus)) / (2.0 * h);
  }
  // The Hessian is symmetric; the differences are not quite.
  return -0.5 * (H + H.transpose());
}

StandardErrors standard_errors(const Model& model, const Dataset& data, double step) {
  StandardErrors out;
  if (data.weighted())
    out.warnings.push_back(
        "standard errors with --weights treat the weights as frequencies (counts of identical "
        "rows): the observed information of sum_i w_i log p(y_i); survey weights need a "
        "sandwich estimator, which is not provided");
  out.information = observed_information(model, data, step);
  const Vector theta = model.parameters();
  const Index d = theta.size();
  const NaturalParameters natural = natural_parameters(model);
  const Index m = natural.values.size();

  const Matrix J = natural_jacobian(model, step);

  Eigen::SelfAdjointEigenSolver<Matrix> eig(out.information);
  if (eig.info() != Eigen::Success)
    throw NumericalError("standard errors", 0,
                         "the observed information has no eigen-decomposition");
  const Vector& lambda = eig.eigenvalues();
  const Matrix& V = eig.eigenvectors();
  const double largest = d > 0 ? lambda.cwiseAbs().maxCoeff() : 0.0;
  const double floor = kRelativeEigenFloor * largest;
  std::vector<Index> good, bad;
  for (Index i = 0; i < d; ++i) (lambda(i) > floor ? good : bad).push_back(i);

  // Covariance on the well-determined eigenvectors: V_g diag(1 / lambda_g) V_g'.
  Matrix Vg(d, static_cast<Index>(good.size()));
  Vector inv(static_cast<Index>(good.size()));
  for (size_t c = 0; c < good.size(); ++c) {
    Vg.col(static_cast<Index>(c)) = V.col(good[c]);
    inv(static_cast<Index>(c)) = 1.0 / lambda(good[c]);
  }
  std::vector<std::string> without;
  for (Index i = 0; i < m; ++i) {
    const Vector gi = J.row(i).transpose();
    const double norm = gi.norm();
    // Entries that do not move with the parameters are not free (a reference column, a
    // structural zero): no row for them.
    if (norm == 0.0) continue;
    ParameterInference row;
    row.parameter = natural.names[static_cast<size_t>(i)];
    row.estimate = natural.values(i);
    bool affected = false;
    for (Index b : bad) affected = affected || std::abs(V.col(b).dot(gi)) > kLoadingFloor * norm;
    if (!affected) {
      const Vector a = Vg.transpose() * gi;
      const double var = a.cwiseProduct(inv).dot(a);
      if (var > 0 && std::isfinite(var)) {
        const double se = std::sqrt(var);
        row.se = se;
        row.z = row.estimate / se;
        row.p = std::erfc(std::abs(*row.z) / std::sqrt(2.0));
      }
    }
    if (!row.se) without.push_back(row.parameter);
    out.table.push_back(std::move(row));
  }
  if (!bad.empty()) {
    const double smallest = lambda.minCoeff();
    std::string names;
    for (const auto& n : without) names += (names.empty() ? "" : ", ") + n;
    out.warnings.push_back(fmt::format(
        "the observed information is {} (smallest eigenvalue {:.3g}, largest {:.3g}): {}; no "
        "standard errors for {}",
        smallest < -floor ? "indefinite" : "singular", smallest, largest,
        smallest < -floor ? "the fit is not at a strict maximum"
                          : "some parameters are not identified by the data",
        names.empty() ? "none of the natural parameters" : names));
  }
  return out;
}

}  // namespace moekit
