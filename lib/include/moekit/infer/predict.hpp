#pragma once
// Predictions from a fitted model on a data set built with the model's DataSpec.

#include "moekit/data/dataset.hpp"
#include "moekit/model/model.hpp"

namespace moekit {

// Every prediction below passes through this: a row whose values, or the model's parameters,
// overflow double precision (1e308 times a coefficient) would print inf or NaN, so it is a
// NumericalError naming the first such row (1-based, with its line in data.source) and `what`.
void require_finite_rows(const ConstMatrixRef& m, const Dataset& data, const char* what);

// n x K posterior probabilities P(component k | x_i, y_i).
Matrix predict_posterior(const Model& model, const Dataset& data);
// Arg-max posterior component, 0-based.
std::vector<Index> predict_class(const Model& model, const Dataset& data);
// log p(y_i | x_i, z_i) under the mixture.
Vector predict_log_density(const Model& model, const Dataset& data);
// n x (inner nodes - 1): posterior probabilities of the inner nodes below the root
// (breadth-first order, TreeShape); InputError naming --what for a flat model.
Matrix predict_branch_posterior(const Model& model, const Dataset& data);
// n x K gate probabilities g_k(z_i) of the experts: for a tree, the product of the gate
// probabilities on the path to each leaf (no response needed).
Matrix predict_gate(const Model& model, const Dataset& data);
// Gated mean sum_k g_k(z_i) E[y | x_i, k], n x q (no response needed). For logistic
// experts: the gated class probabilities, n x L.
Matrix predict_mean(const Model& model, const Dataset& data);
// Per-expert predictions E[y | x_i, k]: K matrices of n x q (logistic: n x L class
// probabilities). No response needed.
std::vector<Matrix> predict_expert_means(const Model& model, const Dataset& data);
// Hard prediction: the prediction of the expert with the largest gate probability
// (Jordan & Jacobs 1994's "winner" expert), n x q (logistic: n x L).
Matrix predict_hard(const Model& model, const Dataset& data);
// Logistic experts: P(class c | x_i, z_i) = sum_k g_k(z_i) p_k(c | x_i), n x L; InputError
// for other families.
Matrix predict_class_probabilities(const Model& model, const Dataset& data);
// Logistic experts: the most probable class per row (0-based code into the response levels).
std::vector<Index> predict_labels(const Model& model, const Dataset& data);
// Predictive quantile of each response at `level` in (0, 1), n x q (no response needed):
// the y solving sum_k g_k(z_i) F_kj(y | x_i) = level, F_kj the marginal CDF of response j
// under expert k (Boost.Math normal, Laplace and Student-t distributions), found by a
// bracketed root (TOMS 748) between the smallest and largest component quantile. For
// experts with a closed-form marginal (gaussian, linear, laplace, t); InputError naming
// --what for other families and
// --level for a level outside (0, 1).
Matrix predict_quantile(const Model& model, const Dataset& data, double level);
// The predictive median: predict_quantile at 0.5. For one t or Laplace expert it is the
// location B'x, defined even where the t mean is not (nu <= 1).
Matrix predict_median(const Model& model, const Dataset& data);

}  // namespace moekit
