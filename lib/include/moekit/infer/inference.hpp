#pragma once
// One row of a Wald table: a natural parameter with its standard error, z = estimate / se
// and the two-sided p-value 2 (1 - Phi(|z|)) against zero; with a bootstrap, also the
// bootstrap standard error and percentile interval.

#include <optional>
#include <string>

namespace moekit {

struct ParameterInference {
  // "expert1.(Intercept)", "expert2.sigma2", "gate.expert2.NO", "gate.weight2", ...
  std::string parameter;
  double estimate = 0.0;
  // Absent when the observed information is singular or indefinite in this parameter's
  // direction: then there is no standard error to give.
  std::optional<double> se, z, p;
  // Nonparametric bootstrap (infer/bootstrap.hpp): the replicates' standard deviation and
  // their percentile interval (2.5% and 97.5% by default). Absent without a bootstrap.
  std::optional<double> bootstrap_se, lower, upper;
};

}  // namespace moekit
