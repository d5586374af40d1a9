#pragma once
// Standard errors from the observed information at a maximum (Efron & Hinkley 1978;
// McLachlan & Peel 2000, section 2.15). The information is minus the Hessian of EM's
// objective in the unconstrained parameters (Model::parameters()), by central differences of
// the analytic score Model::loglik_and_score, symmetrised; the covariance of the natural
// parameters follows by the delta method, J I^-1 J', with J the Jacobian of the natural
// parameters in the unconstrained ones, also by central differences.
//
// Where the information is singular or indefinite (not a strict maximum, or a parameter the
// data do not identify) the inverse is taken on the eigenvectors with positive eigenvalues
// only; a natural parameter that loads on any of the others gets no standard error and a
// warning names it. Never NaN.

#include "moekit/data/dataset.hpp"
#include "moekit/infer/inference.hpp"
#include "moekit/model/model.hpp"

#include <string>
#include <vector>

namespace moekit {

struct StandardErrors {
  // One row per free natural parameter (natural_parameters() less the entries that do not
  // move with the unconstrained parameters).
  std::vector<ParameterInference> table;
  std::vector<std::string> warnings;
  Matrix information;  // observed information in the unconstrained parameters
};

// Minus the Hessian of the objective at the model's parameters. `step` is the relative
// central-difference step: h_j = step * max(1, |theta_j|).
Matrix observed_information(const Model& model, const Dataset& data, double step = 1e-5);

StandardErrors standard_errors(const Model& model, const Dataset& data, double step = 1e-5);

}  // namespace moekit
