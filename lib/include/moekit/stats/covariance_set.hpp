#pragma once
// The covariances of K Gaussian-type experts under one structure (full, diag, spherical,
// tied, or any of mclust's 14; stats/covariance_mstep.hpp), kept as Cholesky factors: densities by
// triangular solves, never an inverse. Shared by the gaussian experts and the regression experts
// built on Gaussian noise.

#include "moekit/core/covariance.hpp"
#include "moekit/core/scratch.hpp"
#include "moekit/core/types.hpp"
#include "moekit/stats/covariance_mstep.hpp"

#include <Eigen/Cholesky>
#include <Eigen/Eigenvalues>

#include <string>
#include <vector>

namespace moekit {

class CovarianceSet {
 public:
  CovarianceSet() = default;
  // reg_covar is a variance floor relative to the data: every estimate is held at
  // Sigma >= reg_covar D, D = diag(reference variances) (see apply_floor); 0 means none.
  CovarianceSet(CovarianceStructure structure, Index K, Index q, double reg_covar);

  CovarianceStructure structure() const { return structure_; }
  Index components() const { return K_; }
  Index dim() const { return q_; }
  double reg_covar() const { return reg_covar_; }

  // Reference variances of the data (one per dimension): collapse is judged relative to them
  // and the floor is a fraction of them (ones until set).
  void set_reference_variance(const Vector& var) { reference_var_ = var; }
  // A start's covariance S (of this structure) held to the floor, as the M-step holds it.
  Matrix floored(const Matrix& S) const { return apply_floor(S, reference()); }

  // M-step from weighted scatter matrices S_k = sum_i r_ik e_i e_i' and weights N_k, in the
  // structure (constrained_covariances), then held to the floor (not for coupled structures).
  // Tied structures pool: Sigma = sum_k S_k / sum_k N_k. Returns components that
  // collapsed (N_k below one observation, or a raw conditional variance below
  // max(collapse_tol, reg_covar) times the reference variance, judged before the floor); their
  // factors are left as they were. The others are the constrained maximisers under the floor.
  // For the coupled structures (is_coupled) the components are fitted together, without the
  // collapsed ones.
  std::vector<Index> fit(const std::vector<Matrix>& scatter, const Vector& N, double collapse_tol);

  // A fresh matrix for a re-seeded component k from a broad covariance (the data's): restricted
  // to the structure and held to the floor; for a coupled structure, the broadest other component's
  // matrix, which keeps the constraints. Tied structures keep the shared matrix.
  void reseed(Index k, Matrix broad);
  // After every component was set from a model file: ModelFormatError naming `where` unless
  // the matrices together have the structure (common volume, shape or orientation).
  void check_structure(const std::string& where) const;

  // Sets component k (or the shared matrix when tied) directly; throws NumericalError if
  // sigma is not positive definite.
  void set(Index k, const Matrix& sigma);
  // A matrix read from a model file, before set(): ModelFormatError naming `where` unless it
  // is q x q, symmetric, of this structure (zero off the diagonal for diag, one variance for
  // spherical) and positive definite. The density reads only the lower triangle, so an
  // asymmetric matrix would otherwise be taken for another one without a word.
  void check_loaded(const Matrix& sigma, const std::string& where) const;

  // out(i) = log N(e_i; 0, Sigma_k) for the residual rows e (b x q).
  void log_density(Index k, const ConstMatrixRef& e, VectorRef out) const;
  // Squared Mahalanobis distances e_i' Sigma_k^{-1} e_i.
  void mahalanobis(Index k, const ConstMatrixRef& e, VectorRef out) const;

  // Every component's Cholesky factor (q x q row-major, tied: repeated) and its constant
  // -0.5 (q log 2 pi + log |Sigma_k|), in the layout of kernels::GaussianRegressionPack.
  // inv_diag: the reciprocals of each factor's diagonal (K x q).
  void export_factors(std::vector<double>& chol,
                      std::vector<double>& log_norm,
                      std::vector<double>& inv_diag) const;

  const Matrix& covariance(Index k) const { return sigma_[slot(k)]; }
  const Matrix& cholesky(Index k) const { return chol_[slot(k)]; }
  double log_det(Index k) const { return log_det_[slot(k)]; }  // log |Sigma_k|

  Index num_params() const;
  // Unconstrained layout (InputError for the coupled structures, fitted by EM only): per
  // distinct matrix, full: lower-triangular Cholesky entries with
  // log diagonal (column by column); diag: log variances; spherical: log variance.
  void append_parameters(Vector& theta) const;
  // Reads the layout above starting at theta[pos]; advances pos.
  void read_parameters(const ConstVectorRef& theta, Index& pos);
  // Maps G_k = d loglik / d Sigma_k (symmetric) to the gradient in the unconstrained layout.
  void append_score(const std::vector<Matrix>& G, Vector& out) const;
  // G = 1/2 Sigma^{-1} (S - N Sigma) Sigma^{-1}: the gradient of the weighted Gaussian
  // log-likelihood in Sigma_k, given the scatter S about the mean and the weight N.
  Matrix gradient(Index k, const Matrix& scatter, double N) const;

  // y ~ N(0, Sigma_k): L z with z standard normal draws.
  Matrix distinct_matrix(Index m) const { return sigma_[static_cast<size_t>(m)]; }
  Index distinct() const { return static_cast<Index>(sigma_.size()); }

 private:
  Index slot(Index k) const { return is_tied(structure_) ? 0 : k; }
  // The estimate S (already restricted to the structure) raised to the floor
  // Sigma >= reg_covar diag(ref): eigenvalues in standardised coordinates for full matrices,
  // each variance for diagonal ones, reg_covar x mean(ref) for spherical ones.
  Matrix apply_floor(Matrix S, const Vector& ref) const;
  struct FloorScratch {
    Vector scale, inverse_scale;
    Matrix standardised;
    Eigen::SelfAdjointEigenSolver<Matrix> eigen;
  };
  // apply_floor in place, with the scratch given (fit() passes the set's own).
  void floor_matrix(Matrix& S, const Vector& ref, FloorScratch& scratch) const;
  Vector reference() const {
    return reference_var_.size() == q_ ? reference_var_ : Vector(Vector::Ones(q_));
  }
  void factor(Index m);
  void refuse_coupled() const;

  CovarianceStructure structure_ = CovarianceStructure::Full;
  Index K_ = 0, q_ = 0;
  double reg_covar_ = 1e-6;
  Vector reference_var_;
  std::vector<Matrix> sigma_, chol_;
  std::vector<double> log_det_;
  Matrix orientation_;  // the common D of VEE, EVE, VVE: the next M-step's start

  // The working storage of fit() and factor() (core/scratch.hpp): faithful's structure table
  // spent a sixth of its time in malloc and free, most of it here.
  struct FitWork {
    Vector unit_reference;
    std::vector<Index> active, kept;
    std::vector<Matrix> scatter;
    std::vector<double> mass;
    ConstrainedCovariances fitted;
    Eigen::LLT<Matrix> llt;
    FloorScratch floor;
  };
  Scratch<FitWork> scratch_;
};

}  // namespace moekit
