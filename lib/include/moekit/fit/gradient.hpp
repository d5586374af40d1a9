#pragma once
// Gradient ascent for a mixture of experts: quasi-Newton L-BFGS (Liu & Nocedal 1989; the
// limited-memory matrix and the Wolfe backtracking line search of LBFGS++) on EM's objective
// in the unconstrained parameters of Model::parameters(), with the score of
// Model::loglik_and_score (Fisher's identity). Start r is EM's start r (the same seed gives
// the same starting points) followed by options().warmup_iter EM iterations; restarts keep
// the best objective. A trial point where the log-likelihood is not finite (or the model
// throws NumericalError) counts as a failed step and the line search shortens it.

#include "moekit/data/dataset.hpp"
#include "moekit/fit/options.hpp"
#include "moekit/fit/result.hpp"
#include "moekit/model/model.hpp"

namespace moekit {

class GradientFitter {
 public:
  explicit GradientFitter(FitOptions options = {});
  const FitOptions& options() const { return options_; }

  // Fits `model` (its spec fixes families and K) to `data`; the fitted parameters replace
  // the model's. Throws NumericalError when no start could be fitted.
  FitResult fit(Model& model, const Dataset& data) const;

  // L-BFGS from the model's current parameters (no initialisation), one start.
  FitResult refine(Model& model, const Dataset& data) const;

 private:
  // L-BFGS from the model's parameters; updates `result` (iterations, trace, status, the
  // log-likelihoods and criteria) and leaves the best point found in `model`.
  void ascend(Model& model, const Dataset& data, int restart, FitResult& result) const;
  FitOptions options_;
};

}  // namespace moekit
