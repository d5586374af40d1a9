#pragma once
// The M-step of the covariance matrices of K Gaussian components under each of mclust's 14
// structures Sigma_k = lambda_k D_k A_k D_k' (Celeux & Govaert 1995): given the weighted
// scatter matrices W_k = sum_i r_ik e_i e_i' and weights N_k, the Sigma_k in the structure
// that minimise sum_k N_k log |Sigma_k| + tr(Sigma_k^{-1} W_k). docs/math/covariance_structures.md
// gives the update of each structure.

#include "moekit/core/covariance.hpp"
#include "moekit/core/scratch.hpp"
#include "moekit/core/types.hpp"

#include <Eigen/Cholesky>
#include <Eigen/Eigenvalues>

#include <vector>

namespace moekit {

// Working storage of the iterative structures' M-steps (covariance_mstep.cpp), kept between
// calls into one ConstrainedCovariances.
struct ConstrainedCovarianceWork {
  std::vector<Matrix> G;            // D' W_k D (EVE, VVE)
  std::vector<Vector> delta, m, g;  // the scales of EVE and VVE, their inverses, diag(G_k)
  Matrix T, product;                // a product's first factor
  Matrix pooled, D;                 // sum_k W_k; the common orientation of EVE, VVE
  Vector u, v, gi, gj;              // a plane rotation's columns
  RowVector ri, rj;                 // and rows
  Eigen::SelfAdjointEigenSolver<Matrix> eigen;
  std::vector<Matrix> vectors, V;  // W_k's eigenvectors (decreasing values); VEx's part of W_k
  std::vector<Vector> values;      // W_k's eigenvalues, decreasing
  std::vector<double> lambda;      // VEx's volumes; EVV's |W_k|^{1/q}
  Matrix S, X, C;                  // VEx: sum_k V_k / lambda_k, C^-1 V_k, the common shape C
  Vector d;                        // VEI: diag(S); EEV: the sum of the eigenvalues
  Eigen::LLT<Matrix> llt;          // C's (VEx), W_k's (EVV)
};

struct ConstrainedCovariances {
  std::vector<Matrix> sigma;  // one per component (tied structures: equal copies)
  Matrix orientation;         // the common D of VEE, EVE, VVE (empty otherwise): a warm start
  int inner_iterations = 0;   // iterations of the iterative structures (0 for closed forms)
  Scratch<ConstrainedCovarianceWork> work;
};

// W and N hold only the components to fit (all N_k > 0). `orientation` (q x q orthogonal, or
// empty) starts the orientation search of EVE and VVE. The iterative structures (VEI, VEE,
// VEV, EVE, VVE) alternate exact block updates, each of which lowers the objective, until its
// relative change is below 1e-14 or max_inner iterations. A singular W_k gives non-finite or
// singular matrices, which the caller's collapse test reports.
ConstrainedCovariances constrained_covariances(CovarianceStructure structure,
                                               const std::vector<Matrix>& W,
                                               const std::vector<double>& N,
                                               const Matrix& orientation = Matrix(),
                                               int max_inner = 1000);
// The same into `out`, whose matrices and working storage are reused when their sizes match
// (an EM iteration's M-step then allocates nothing for the closed forms, EVE and VVE).
// `orientation` must not be out's.
void constrained_covariances(CovarianceStructure structure,
                             const std::vector<Matrix>& W,
                             const std::vector<double>& N,
                             const Matrix& orientation,
                             ConstrainedCovariances& out,
                             int max_inner = 1000);

}  // namespace moekit
