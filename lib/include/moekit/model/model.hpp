#pragma once
// A mixture of experts as a gating tree (Jordan & Jacobs 1994): inner nodes are gates, the
// leaves are the K experts of one family. p(y | x, z) = sum_k g_k(z) p_k(y | x) with g_k the
// product of the gate probabilities on the path from the root to leaf k; a flat MoE is a
// tree of depth 1 and takes the same path. The model is a value (copies are deep).
//
// Its interface is what the fitters, predictions and files use: the E-step (upward pass of
// log-likelihoods, downward pass of posteriors), the M-step (every gate fitted to the
// posteriors of its children, every expert with its leaf's posteriors), and the observed
// log-likelihood with its score.

#include "moekit/data/dataset.hpp"
#include "moekit/experts/expert.hpp"
#include "moekit/gates/gate.hpp"
#include "moekit/kernels/pack_storage.hpp"
#include "moekit/model/model_spec.hpp"
#include "moekit/model/posteriors.hpp"
#include "moekit/model/tree_shape.hpp"

#include <memory>
#include <string>
#include <vector>

namespace moekit {

class Model {
 public:
  Model() = default;
  // Builds families from the spec with default parameters; q is the response dimension,
  // p and r the numbers of expert and gate covariates.
  Model(const ModelSpec& spec, Index q, Index p, Index r);
  Model(const Model& other);
  Model& operator=(const Model& other);
  Model(Model&&) noexcept = default;
  Model& operator=(Model&&) noexcept = default;

  const ModelSpec& spec() const { return spec_; }
  ModelSpec& spec() { return spec_; }
  const TreeShape& tree() const { return shape_; }
  Index components() const { return shape_.leaves(); }  // K, the experts
  Experts& experts() { return *experts_; }
  const Experts& experts() const { return *experts_; }
  // The gate of inner node v (breadth-first number, root 0).
  Gate& gate(Index v) { return *gates_[static_cast<size_t>(v)]; }
  const Gate& gate(Index v) const { return *gates_[static_cast<size_t>(v)]; }
  Gate& gate() { return gate(0); }  // the root's
  const Gate& gate() const { return gate(0); }
  Index num_gates() const { return static_cast<Index>(gates_.size()); }
  // Whether EM maximises a joint likelihood p(z, y) (some gate models z).
  bool joint() const { return joint_; }
  // Whether any gate's weights depend on z.
  bool gates_read_covariates() const;

  // InputError when the data do not suit the model (gate covariates constant within groups
  // of grouped data, covariates a Gaussian gate cannot use, fewer rows than experts). With
  // !check_spread the gates' covariates are not checked (the rows are one process's share:
  // the caller checks check_gate_covariates on all of them).
  void check_data(const Dataset& data, bool check_spread = true) const;
  // The gates' checks of their covariates z (a Gaussian gate's must vary), `source` the file.
  void check_gate_covariates(const ConstMatrixRef& z, const std::string& source) const;

  // A flat model of Gaussian-regression experts under a constant or softmax gate, as the
  // packs of the per-row kernels (kernels/); false, with the reason in why_not, for the
  // models those kernels do not cover (trees, other families and gates, large K or q).
  bool export_flat_pack(kernels::FlatModelStorage& out, std::string* why_not = nullptr) const;

  // The E-step over all rows (blocks of rows in parallel, reduced in block order).
  // NumericalError naming the line of a row (group) with zero density under every expert.
  void e_step(const Dataset& data, Posteriors& out) const;
  // The tree passes for one block of rows: `nodes` (b x (nodes - 1)) holds the experts'
  // log-densities in its last K columns on entry and the node posteriors on return;
  // row_loglik and row_objective (b) receive the conditional and EM-objective log-likelihoods.
  void tree_pass(const ConstMatrixRef& z,
                 MatrixRef nodes,
                 VectorRef row_loglik,
                 VectorRef row_objective) const;
  // Posteriors of every node from the leaves' (n x K): each inner node sums its subtree.
  Posteriors posteriors_from_leaves(const ConstMatrixRef& leaves) const;

  // The M-step: experts with the leaf posteriors, each gate with its children's. Grouped
  // data fit the gates on one row per group. Posteriors kept on a device (no rows, but
  // moments) fit the experts from the moments and the gates from the leaf masses.
  MStepReport m_step(const Dataset& data, const Posteriors& post);

  // Re-seeds expert k at a row after a collapse and gives it a fair share in its gate.
  void reseed_leaf(Index k, const Dataset& data, Index row);

  // log p(y | x, z) gate weights of every leaf, n x K: the product of gate probabilities
  // along each path (no response needed).
  Matrix leaf_weights(const ConstMatrixRef& z) const;
  // The probabilities of every node given z, n x (nodes - 1) (no response needed).
  Matrix node_weights(const ConstMatrixRef& z) const;

  // Free parameters: every gate, then the experts.
  Index num_params() const;
  // All unconstrained parameters (gates in node order, then the experts).
  Vector parameters() const;
  void set_parameters(const ConstVectorRef& theta);
  // EM's objective (the observed log-likelihood, joint with Gaussian gates) and its gradient
  // in parameters(), by Fisher's identity: the gradient of the Q-function at the posteriors.
  double loglik_and_score(const Dataset& data, Vector& score) const;

 private:
  ModelSpec spec_;
  TreeShape shape_;
  std::unique_ptr<Experts> experts_;
  std::vector<std::unique_ptr<Gate>> gates_;
  bool joint_ = false;
};

}  // namespace moekit
