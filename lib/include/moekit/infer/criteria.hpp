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
// n observations in the BIC term, the entropy over the rows of resp (for grouped data: one
// row per group, whose rows share one assignment).
double icl(double loglik, Index p, Index n, const ConstMatrixRef& resp);
// ICL's entropy term: -sum_i log max_k resp(i, k) (summed over shares of the rows, when
// they are spread over processes, before icl = bic + 2 entropy).
double classification_entropy(const ConstMatrixRef& resp);

}  // namespace moekit
