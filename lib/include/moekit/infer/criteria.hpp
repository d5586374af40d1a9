#pragma once
// Information criteria, lower is better (as flexmix and scikit-learn):
//   AIC = -2 loglik + 2 p,   BIC = -2 loglik + p log n,
//   ICL = BIC - 2 sum_i log r_{i, c_i},  c_i = arg max_k r_ik (Biernacki, Celeux & Govaert 2000,
//   hard-assignment form, as mclust's icl() with the sign flipped).

#include "moekit/core/types.hpp"

namespace moekit {

double aic(double loglik, Index p);
double bic(double loglik, Index p, Index n);
// resp: n x K posterior probabilities.
double icl(double loglik, Index p, const ConstMatrixRef& resp);

}  // namespace moekit
