#include "moekit/infer/criteria.hpp"

#include "moekit/core/parallel.hpp"

#include <cmath>
#include <limits>

namespace moekit {

double aic(double loglik, Index p) { return -2.0 * loglik + 2.0 * static_cast<double>(p); }

double bic(double loglik, Index p, double n) {
  return -2.0 * loglik + static_cast<double>(p) * std::log(static_cast<double>(n));
}

double icl(double loglik, Index p, const ConstMatrixRef& resp) {
  return icl(loglik, p, static_cast<double>(resp.rows()), resp);
}

double classification_entropy(const ConstMatrixRef& resp, const Vector& weights) {
  // Per row block on the threads, added in block order: one log per row, serial at the end of
  // every fit, was a fortieth of a 10-iteration Laplace-expert fit on two threads.
  return reduce_blocks(resp.rows(), 0.0, [&](Index begin, Index size, double& entropy) {
    for (Index i = begin; i < begin + size; ++i) {
      const double r = resp.row(i).maxCoeff();
      const double w = weights.size() > 0 ? weights(i) : 1.0;
      if (w != 0.0)
        entropy -= w * (r > 0 ? std::log(r) : std::log(std::numeric_limits<double>::min()));
    }
  });
}

double icl(double loglik, Index p, double n, const ConstMatrixRef& resp) {
  return bic(loglik, p, n) + 2.0 * classification_entropy(resp, Vector());
}

double icl(double loglik, Index p, const Dataset& data, const ConstMatrixRef& leaves) {
  const double n = data.observations();
  if (!data.grouped())
    return bic(loglik, p, n) + 2.0 * classification_entropy(leaves, data.weights);
  const Vector gw = data.weighted() ? Vector(group_rows(data, data.weights)) : Vector();
  return bic(loglik, p, n) + 2.0 * classification_entropy(group_rows(data, leaves), gw);
}

}  // namespace moekit
