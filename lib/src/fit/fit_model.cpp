#include "moekit/fit/fit_model.hpp"

#include "moekit/core/error.hpp"
#include "moekit/fit/em.hpp"
#include "moekit/fit/gradient.hpp"

#include <cmath>

namespace moekit {

FitResult fit_model(Model& model, const Dataset& data, const FitOptions& options) {
  if (options.method == FitMethod::Gradient) return GradientFitter(options).fit(model, data);
  FitResult r = EmFitter(options).fit(model, data);
  r.method = to_string(FitMethod::Em);
  // EM's own record has no score: one more evaluation tells how close to stationary it ended.
  Vector score;
  try {
    model.loglik_and_score(data, score);
    if (score.allFinite()) r.gradient_norm = score.norm();
  } catch (const NumericalError&) {
    // A fit whose score cannot be evaluated simply reports none.
  } catch (const InputError&) {
    // Nor does a model without an unconstrained parametrisation (the coupled covariance
    // structures, CovarianceSet::append_score); EM fitted it, so the data were fine.
  }
  return r;
}

}  // namespace moekit
