#pragma once
// Model-based hierarchical agglomeration (Banfield & Raftery 1993; Fraley 1998), mclust's
// start for EM: every row begins as its own cluster, and the pair whose merge lowers the
// classification log-likelihood of an unconstrained-covariance ("VVV") Gaussian model least
// is merged until K clusters are left.

#include "moekit/core/rng.hpp"
#include "moekit/core/types.hpp"

#include <vector>

namespace moekit {

struct HierarchicalOptions {
  // Ridge that keeps small clusters' covariances non-singular: alpha times the mean
  // per-column variance of all rows is added to every cluster's scatter matrix, so that its
  // share of a cluster's covariance falls as 1 / n_k (the role of Fraley 1998's alpha). With
  // alpha = 1 the ridge swamps thin clusters of a few dozen rows (tonedata's line of a third
  // of the rows, within-cluster variance 5% of the column's, is cut across); 0.1 and 0.01
  // both give mclust's hc("VVV") partition of tonedata.
  double alpha = 0.1;
  // Above this many rows the agglomeration runs on `max_rows` rows drawn at random and the
  // other rows join the cluster whose Gaussian (its mean and regularised covariance) gives
  // them the highest density: the pairwise merge costs take max_rows^2 doubles.
  Index max_rows = 1000;
};

// K-cluster labels (0..K-1, every label used) of the rows of `features` from model-based
// agglomeration with unconstrained covariances. The columns are standardised first, so the
// labels do not depend on their units. Deterministic; `rng` is drawn from only when the
// rows exceed options.max_rows.
std::vector<Index> hierarchical_labels(const ConstMatrixRef& features,
                                       Index K,
                                       Rng& rng,
                                       const HierarchicalOptions& options = {});

}  // namespace moekit
