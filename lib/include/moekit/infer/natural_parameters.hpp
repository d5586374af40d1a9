#pragma once
// The natural parameters of a model, flattened with names, for standard errors and Wald
// tables: gate coefficients or weights, expert coefficients or means, variances and
// covariances (lower triangle), scales and nu, in the order gates (node order) then experts.
// Entries that are not free (a softmax gate's reference column, the off-diagonal zeros of
// a diagonal covariance) are listed too; the Jacobian tells them apart.
//
// Names: "gate.expert2.NO" (gate coefficient of branch expert 2 on covariate NO),
// "gate.expert2.weight" (constant gate), "expert1.(Intercept)" (single response),
// "expert1.y2.x" (several responses or classes), "expert1.mean.y", "expert1.variance"
// (single response), "expert1.var(y1)", "expert1.cov(y2,y1)", "expert1.scale", "expert1.df";
// parameters shared by all experts (tied covariances) start with "experts.", gates below
// the root with "gate[2].".

#include "moekit/core/types.hpp"
#include "moekit/model/model.hpp"

#include <string>
#include <vector>

namespace moekit {

struct NaturalParameters {
  std::vector<std::string> names;
  Vector values;
};

NaturalParameters natural_parameters(const Model& model);

// The Jacobian of natural_parameters(model).values in the unconstrained parameters
// (Model::parameters()), by central differences with steps h_j = step * max(1, |theta_j|).
// A zero row marks an entry that is not free.
Matrix natural_jacobian(const Model& model, double step = 1e-5);

}  // namespace moekit
