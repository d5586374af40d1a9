#pragma once
// Information criteria, lower is better (as flexmix and scikit-learn):
//   AIC = -2 loglik + 2 p,   BIC = -2 loglik + p log n,
//   ICL = BIC - 2 sum_i log r_{i, c_i},  c_i = arg max_k r_ik (Biernacki, Celeux & Govaert 2000,
//   hard-assignment form, as mclust's icl() with the sign flipped).

#include "moekit/core/types.hpp"
#include "moekit/data/dataset.hpp"

namespace moekit {

double aic(double loglik, Index p);
// n may be a sum of observation weights (flexmix's nobs() with weights=).
double bic(double loglik, Index p, double n);
// resp: n x K posterior probabilities.
double icl(double loglik, Index p, const ConstMatrixRef& resp);
// n observations in the BIC term, the entropy over the rows of resp (for grouped data: one
// row per group, whose rows share one assignment).
double icl(double loglik, Index p, double n, const ConstMatrixRef& resp);
// The ICL of a fit to `data` from its leaf posteriors (n x K): n = data.observations(), the
// entropy per group with grouped data, each row's (group's) term times its weight.
double icl(double loglik, Index p, const Dataset& data, const ConstMatrixRef& leaves);
// ICL's entropy term: -sum_i w_i log max_k resp(i, k) (w_i = 1 when `weights` is empty),
// summed over the shares of the rows when they are spread over processes.
double classification_entropy(const ConstMatrixRef& resp, const Vector& weights);

}  // namespace moekit
