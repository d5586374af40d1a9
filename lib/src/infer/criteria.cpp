#include "moekit/infer/criteria.hpp"

#include <cmath>
#include <limits>

namespace moekit {

double aic(double loglik, Index p) { return -2.0 * loglik + 2.0 * static_cast<double>(p); }

double bic(double loglik, Index p, Index n) {
  return -2.0 * loglik + static_cast<double>(p) * std::log(static_cast<double>(n));
}

double icl(double loglik, Index p, const ConstMatrixRef& resp) {
  return icl(loglik, p, resp.rows(), resp);
}

double classification_entropy(const ConstMatrixRef& resp) {
  double entropy = 0.0;
  for (Index i = 0; i < resp.rows(); ++i) {
    const double r = resp.row(i).maxCoeff();
    entropy -= r > 0 ? std::log(r) : std::log(std::numeric_limits<double>::min());
  }
  return entropy;
}

double icl(double loglik, Index p, Index n, const ConstMatrixRef& resp) {
  return bic(loglik, p, n) + 2.0 * classification_entropy(resp);
}

}  // namespace moekit
