#pragma once
// What a model is, apart from its parameter values: families, sizes, structure and how it
// reads data. Written into the model file so that a fitted model can be rebuilt.

#include "moekit/core/covariance.hpp"
#include "moekit/core/types.hpp"
#include "moekit/data/dataset.hpp"
#include "moekit/model/tree_shape.hpp"

#include <string>
#include <vector>

namespace moekit {

struct ModelSpec {
  std::string experts = "gaussian";  // gaussian | linear | logistic | laplace | t
  std::string gate = "constant";     // constant | softmax | gaussian, at every inner node
  Index K = 2;                       // experts (leaves of the gating tree)
  // Branching factors of the gating tree, root first (--tree 2,3); empty: a flat mixture of
  // K experts. When set, K is their product.
  std::vector<Index> tree;
  CovarianceStructure gate_covariance = CovarianceStructure::Full;  // Gaussian gates
  CovarianceStructure covariance = CovarianceStructure::Full;
  double reg_covar = 1e-6;     // variance floor: Sigma_k >= reg_covar diag(var y) (objective.md)
  double collapse_tol = 1e-8;  // a variance below collapse_tol x the data's marks a collapse
  double df = 0.0;  // t experts: fixed degrees of freedom nu (--df); 0 estimates nu per expert
  double gate_ridge =
      0.0;  // softmax gate: L2 penalty (ridge/2)||v||^2 on its coefficients (--gate-ridge)
  DataSpec data;

  // The gating tree: `tree`, or a flat tree of K leaves.
  TreeShape shape() const { return tree.empty() ? TreeShape::flat(K) : TreeShape(tree); }
  // Sets `tree` (empty when flat) and K.
  void set_shape(const TreeShape& shape);

  // InputError naming the option at fault.
  void validate() const;
};

}  // namespace moekit
