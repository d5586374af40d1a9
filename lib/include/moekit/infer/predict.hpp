#pragma once
// Predictions from a fitted model on a data set built with the model's DataSpec.

#include "moekit/data/dataset.hpp"
#include "moekit/model/model.hpp"

namespace moekit {

// n x K posterior probabilities P(component k | x_i, y_i).
Matrix predict_posterior(const Model& model, const Dataset& data);
// Arg-max posterior component, 0-based.
std::vector<Index> predict_class(const Model& model, const Dataset& data);
// log p(y_i | x_i, z_i) under the mixture.
Vector predict_log_density(const Model& model, const Dataset& data);
// n x K gate probabilities g_k(z_i) (no response needed).
Matrix predict_gate(const Model& model, const Dataset& data);
// Gated mean sum_k g_k(z_i) E[y | x_i, k], n x q (no response needed).
Matrix predict_mean(const Model& model, const Dataset& data);

}  // namespace moekit
