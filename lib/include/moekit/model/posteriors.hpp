#pragma once
// What the E-step of a gating tree gives: the posterior probability of every node below
// the root for every row, and the log-likelihoods.

#include "moekit/core/process_sums.hpp"
#include "moekit/core/types.hpp"
#include "moekit/stats/gaussian_moments.hpp"

#include <optional>

namespace moekit {

struct Posteriors {
  // n x (nodes - 1): P(node | x_i, y_i, z_i) for every node but the root, numbered breadth
  // first (TreeShape); the leaves are the last K columns. For a flat model this is n x K.
  Matrix nodes;
  Index leaf_count = 0;
  // Per row: log p(y_i | x_i, z_i); grouped data: the group's value on each of its rows.
  Vector row_loglik;
  double loglik = 0.0;  // sum over rows (groups): the conditional log-likelihood
  // What EM maximises: loglik, or with Gaussian gates the joint log p(z, y).
  double objective = 0.0;

  // Posterior mass of every expert: the column sums of leaves().
  Vector leaf_masses;
  // These moments of the experts (about the parameters the E-step used) stand in for the rows
  // in their M-step. Set by a backend that keeps the rows on a device (`nodes` and
  // `row_loglik` stay empty until fetched; backend/estep_backend.hpp) and by the CPU backend
  // for a Gaussian mixture (`nodes` left empty until fetched when the gate is constant;
  // model/gaussian_mixture_estep.hpp) or flat linear experts (rows kept;
  // model/regression_estep.hpp).
  std::optional<GaussianMoments> moments;
  // Set by a backend whose process holds a share of the rows (MPI: backend/mpi_backend.hpp):
  // `nodes` are this process's rows, and the M-step sums over them through this
  // (core/process_sums.hpp). Null when the rows are all the rows.
  const ProcessReduction* shares = nullptr;

  bool has_rows() const { return nodes.rows() > 0; }
  Index rows() const { return nodes.rows(); }
  // n x K posterior responsibilities of the experts.
  auto leaves() const { return nodes.rightCols(leaf_count); }
  auto leaves() { return nodes.rightCols(leaf_count); }
};

}  // namespace moekit
