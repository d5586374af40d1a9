#pragma once
// The weighted multinomial logit with soft targets: the M-step that the logistic experts and
// the softmax gates share.

#include "moekit/core/types.hpp"

#include <limits>

namespace moekit {

// Weighted multinomial logit with soft targets: maximises
//   Q(W) = sum_i sum_c T_ic log softmax_c(x_i' W) - 1/2 sum_{j,d} penalty_j W_jd^2
// over W (p x (C-1)); class 0 is the reference (its linear predictor is 0). T is n x C
// with non-negative entries (EM: responsibilities times class indicators). Newton's
// method (the IRLS of Jordan & Jacobs 1994, section 4; McCullagh & Nelder 1989) with
// step-halving: a step is accepted only when Q does not decrease, so each call is a
// generalised-EM step whatever the starting point.
struct MultinomialFit {
  double objective = 0.0;    // Q at the returned W
  int iterations = 0;        // Newton steps taken
  bool converged = false;    // relative change of Q below the tolerance
  double max_abs_eta = 0.0;  // largest |x_i' W_d| over rows with non-negligible weight
};
// eta_bound: a step is taken only when it keeps every |x_i' W_d| (rows with weight) within
// the bound, or no further out than before: Newton with step-halving on a convex set, so Q
// still never decreases (a separated fit approaches its supremum inside the bound).
MultinomialFit fit_multinomial(const ConstMatrixRef& x,
                               const ConstMatrixRef& targets,
                               const Vector& penalty,
                               Matrix& W,
                               int max_iter = 50,
                               double tol = 1e-12,
                               double eta_bound = std::numeric_limits<double>::infinity());

// Q(W) of the above (penalty included) and its gradient, for tests and scores.
double multinomial_objective(const ConstMatrixRef& x,
                             const ConstMatrixRef& targets,
                             const Vector& penalty,
                             const Matrix& W,
                             Matrix* gradient = nullptr);

// out (b x C) = log softmax of [0, x W] per row.
void multinomial_log_probs(const ConstMatrixRef& x, const Matrix& W, MatrixRef out);

}  // namespace moekit
