#include "moekit/stats/covariance_set.hpp"

#include "moekit/core/error.hpp"
#include "moekit/stats/covariance_mstep.hpp"

#include <fmt/format.h>
#include <Eigen/Cholesky>
#include <Eigen/Eigenvalues>

#include <algorithm>
#include <cmath>

namespace moekit {

namespace {
constexpr double kLog2Pi = 1.8378770664093454836;

bool diagonal_structure(CovarianceStructure s) { return is_diagonal(s); }
bool spherical_structure(CovarianceStructure s) { return is_spherical(s); }
}  // namespace

CovarianceSet::CovarianceSet(CovarianceStructure structure, Index K, Index q, double reg_covar)
    : structure_(structure), K_(K), q_(q), reg_covar_(reg_covar) {
  const Index m = is_tied(structure) ? 1 : K;
  sigma_.assign(static_cast<size_t>(m), Matrix::Identity(q, q));
  chol_.assign(static_cast<size_t>(m), Matrix::Identity(q, q));
  log_det_.assign(static_cast<size_t>(m), 0.0);
}

void CovarianceSet::factor(Index m) {
  const size_t s = static_cast<size_t>(m);
  Eigen::LLT<Matrix>& llt = scratch_->llt;
  llt.compute(sigma_[s]);
  if (llt.info() != Eigen::Success || !(llt.matrixLLT().diagonal().array() > 0).all())
    throw NumericalError(
        fmt::format("covariance matrix {} is not positive definite with the variance floor "
                    "reg_covar = {} x the data's variance; increase --reg-covar or check for "
                    "collinear columns",
                    m + 1, reg_covar_));
  chol_[s] = llt.matrixL();
  log_det_[s] = 2.0 * chol_[s].diagonal().array().log().sum();
}

void CovarianceSet::set(Index k, const Matrix& sigma) {
  sigma_[static_cast<size_t>(slot(k))] = sigma;
  factor(slot(k));
}

void CovarianceSet::check_loaded(const Matrix& sigma, const std::string& where) const {
  if (sigma.rows() != q_ || sigma.cols() != q_)
    throw ModelFormatError(
        fmt::format("{}: is {}x{}, expected {}x{}", where, sigma.rows(), sigma.cols(), q_, q_));
  if (!sigma.allFinite()) throw ModelFormatError(fmt::format("{}: is not finite", where));
  for (Index j = 0; j < q_; ++j)
    for (Index i = j + 1; i < q_; ++i) {
      // Written from a symmetric matrix, the two entries agree to rounding; the scale is that
      // of the entries themselves so that tiny covariances are judged fairly.
      const double a = sigma(i, j), b = sigma(j, i);
      if (std::abs(a - b) > 1e-10 * std::max({std::abs(a), std::abs(b),
                                              std::sqrt(std::abs(sigma(i, i) * sigma(j, j)))}))
        throw ModelFormatError(
            fmt::format("{}: is not symmetric (entry [{}][{}] is {:g} but [{}][{}] is {:g})", where,
                        i + 1, j + 1, a, j + 1, i + 1, b));
      if (diagonal_structure(structure_) && (a != 0.0 || b != 0.0))
        throw ModelFormatError(
            fmt::format("{}: the covariance structure is {}, but entry [{}][{}] off the diagonal "
                        "is {:g}",
                        where, to_string(structure_), i + 1, j + 1, a));
    }
  if (spherical_structure(structure_) && q_ > 1) {
    const double v = sigma(0, 0);
    for (Index i = 1; i < q_; ++i)
      if (std::abs(sigma(i, i) - v) > 1e-10 * std::abs(v))
        throw ModelFormatError(fmt::format(
            "{}: the covariance structure is {} (one variance), but the diagonal holds {:g} and "
            "{:g}",
            where, to_string(structure_), v, sigma(i, i)));
  }
  Eigen::LLT<Matrix> llt(sigma);
  if (llt.info() != Eigen::Success || !(llt.matrixLLT().diagonal().array() > 0).all() ||
      !std::isfinite(2.0 * llt.matrixLLT().diagonal().array().log().sum()))
    throw ModelFormatError(fmt::format("{}: is not positive definite", where));
}

Matrix CovarianceSet::apply_floor(Matrix S, const Vector& ref) const {
  FloorScratch scratch;
  floor_matrix(S, ref, scratch);
  return S;
}

void CovarianceSet::floor_matrix(Matrix& S, const Vector& ref, FloorScratch& scratch) const {
  // The coupled structures share a volume, shape or orientation that a floor on one
  // component would break: they have no floor, and the collapse test alone guards them
  // (docs/math/covariance_structures.md).
  if (!(reg_covar_ > 0.0) || is_coupled(structure_)) return;
  // The M-step of the plain likelihood under the constraint Sigma >= reg_covar D, D the
  // diagonal of the data's variances (Hathaway 1985; Ingrassia 2004, section 3): in the
  // standardised coordinates D^{-1/2} Sigma D^{-1/2} the constrained maximiser of
  // -N/2 log|Sigma| - tr(S Sigma^{-1})/2 keeps the eigenvectors of the unconstrained estimate
  // and raises its eigenvalues below reg_covar to reg_covar. An estimate above the floor is
  // left exactly as it is, so a proper maximum is the unconstrained one.
  if (spherical_structure(structure_)) {
    const double v = reg_covar_ * ref.mean();
    if (S(0, 0) < v) S.diagonal().setConstant(v);
    return;
  }
  if (diagonal_structure(structure_)) {
    S.diagonal() = S.diagonal().cwiseMax(reg_covar_ * ref);
    return;
  }
  const Vector& scale = scratch.scale = ref.cwiseSqrt();
  // D^-1 S D^-1, as (D^-1 S) D^-1 without the product's temporary.
  const Vector& inverse = scratch.inverse_scale = scale.cwiseInverse();
  scratch.standardised.noalias() = inverse.asDiagonal() * S;
  scratch.standardised.array().rowwise() *= inverse.transpose().array();
  Eigen::SelfAdjointEigenSolver<Matrix>& eig = scratch.eigen;
  eig.compute(scratch.standardised);
  if (eig.info() == Eigen::Success && eig.eigenvalues().minCoeff() >= reg_covar_) return;
  if (eig.info() != Eigen::Success) return;
  const Vector lambda = eig.eigenvalues().cwiseMax(reg_covar_);
  const Matrix U = eig.eigenvectors();
  Matrix F = scale.asDiagonal() * (U * lambda.asDiagonal() * U.transpose()) * scale.asDiagonal();
  S = 0.5 * (F + F.transpose());
}

std::vector<Index> CovarianceSet::fit(const std::vector<Matrix>& scatter,
                                      const Vector& N,
                                      double collapse_tol) {
  std::vector<Index> collapsed;
  if (scratch_->unit_reference.size() != q_) scratch_->unit_reference = Vector::Ones(q_);
  const Vector& ref = reference_var_.size() == q_ ? reference_var_ : scratch_->unit_reference;
  // The collapse test on an estimate of this structure, before the floor (NaN-safe: the
  // estimate from a singular scatter may not be finite).
  auto degenerate = [&](const Matrix& S, double tol) {
    if (!S.allFinite()) return true;
    if (spherical_structure(structure_)) return !(S(0, 0) >= tol * ref.mean());
    if (diagonal_structure(structure_)) return !((S.diagonal().array() / ref.array()) >= tol).all();
    scratch_->llt.compute(S);
    if (scratch_->llt.info() != Eigen::Success) return true;
    // The conditional variances, the squares of the factor's diagonal.
    for (Index j = 0; j < q_; ++j) {
      const double d = scratch_->llt.matrixLLT()(j, j);
      if (!((d * d) / ref(j) >= tol)) return true;
    }
    return false;
  };
  // A component's raw variance (a conditional variance, for full matrices) below the floor is
  // a collapse onto too few rows, re-seeded as --reg-covar 0 would re-seed it once the
  // variance reached collapse_tol: the floor does not hold a spurious maximum in place.
  const double component_tol = std::max(collapse_tol, reg_covar_);

  std::vector<Index>& active = scratch_->active;
  active.clear();
  for (Index k = 0; k < K_; ++k) {
    if (!(N(k) >= 1.0))
      collapsed.push_back(k);
    else
      active.push_back(k);
  }
  // The structure's M-step over the components `ks` (tied ones: over all, as the pooled
  // matrix does not depend on which component a row is given to) into the scratch, then the floor.
  auto mstep = [&](const std::vector<Index>& ks) {
    scratch_->scatter.resize(ks.size());
    scratch_->mass.resize(ks.size());
    for (size_t j = 0; j < ks.size(); ++j) {
      scratch_->scatter[j] = scatter[static_cast<size_t>(ks[j])];
      scratch_->mass[j] = N(ks[j]);
    }
    constrained_covariances(structure_, scratch_->scatter, scratch_->mass, orientation_,
                            scratch_->fitted);
  };

  if (is_tied(structure_)) {
    scratch_->kept.clear();
    for (Index k = 0; k < K_; ++k)
      if (N(k) > 0) scratch_->kept.push_back(k);
    if (!scratch_->kept.empty()) mstep(scratch_->kept);
    if (scratch_->kept.empty() || degenerate(scratch_->fitted.sigma.front(), collapse_tol))
      throw NumericalError(
          "the pooled (tied) covariance is singular: the data lie in a lower-dimensional "
          "subspace; drop a collinear column or use a larger --reg-covar");
    sigma_[0] = scratch_->fitted.sigma.front();
    floor_matrix(sigma_[0], ref, scratch_->floor);
    factor(0);
    return collapsed;
  }
  // A component whose estimate is singular collapses; the coupled structures are refitted
  // without it, as it would otherwise pull the shared volume, shape or orientation. `kept`
  // holds the positions in the scratch's result of the components still active.
  std::vector<Index>& kept = scratch_->kept;
  while (!active.empty()) {
    mstep(active);
    kept.clear();
    size_t write = 0;
    for (size_t j = 0; j < active.size(); ++j) {
      if (degenerate(scratch_->fitted.sigma[j], component_tol)) {
        collapsed.push_back(active[j]);
      } else {
        kept.push_back(static_cast<Index>(j));
        active[write++] = active[j];
      }
    }
    const bool changed = write != active.size();
    active.resize(write);
    if (!changed || !is_coupled(structure_)) break;
  }
  if (!active.empty()) {
    for (size_t j = 0; j < active.size(); ++j) {
      sigma_[static_cast<size_t>(active[j])] = scratch_->fitted.sigma[static_cast<size_t>(kept[j])];
      floor_matrix(sigma_[static_cast<size_t>(active[j])], ref, scratch_->floor);
      factor(active[j]);
    }
    if (scratch_->fitted.orientation.size() > 0) orientation_ = scratch_->fitted.orientation;
  }
  std::sort(collapsed.begin(), collapsed.end());
  return collapsed;
}

void CovarianceSet::reseed(Index k, Matrix broad) {
  if (is_tied(structure_)) return;
  if (is_coupled(structure_)) {
    // Any other component's matrix satisfies the structure's constraints with the rest; the
    // broadest is the widest start.
    Index best = -1;
    for (Index j = 0; j < K_; ++j)
      if (j != k && (best < 0 || log_det(j) > log_det(best))) best = j;
    if (best >= 0) {
      set(k, covariance(best));
      return;
    }
  }
  if (spherical_structure(structure_)) {
    const double v = broad.trace() / static_cast<double>(q_);
    broad = v * Matrix::Identity(q_, q_);
  } else if (diagonal_structure(structure_)) {
    broad = Matrix(broad.diagonal().asDiagonal());
  }
  set(k, apply_floor(broad, reference()));
}

void CovarianceSet::check_structure(const std::string& where) const {
  if (!is_coupled(structure_)) return;
  // The structure's M-step from W_k = Sigma_k, N_k = 1 returns Sigma_k exactly when the Sigma_k
  // satisfy the structure's constraints (each is then the unrestricted optimum), and the
  // nearest matrices of the structure otherwise.
  const ConstrainedCovariances p =
      constrained_covariances(structure_, sigma_, std::vector<double>(sigma_.size(), 1.0));
  for (Index k = 0; k < K_; ++k) {
    const Matrix& S = sigma_[static_cast<size_t>(k)];
    const double gap = (p.sigma[static_cast<size_t>(k)] - S).norm();
    if (!(gap <= 1e-5 * S.norm()))
      throw ModelFormatError(fmt::format(
          "{}: the covariance matrices do not have the {} structure (component {} is {:.3g} "
          "away, relatively, from the nearest set of that structure)",
          where, mclust_name(structure_), k + 1, gap / S.norm()));
  }
}

void CovarianceSet::mahalanobis(Index k, const ConstMatrixRef& e, VectorRef out) const {
  const Matrix& L = chol_[static_cast<size_t>(slot(k))];
  if (diagonal_structure(structure_)) {
    const Vector inv = L.diagonal().array().square().inverse();
    out.noalias() = e.array().square().matrix() * inv;
    return;
  }
  if (q_ <= 16) {
    // Forward substitution a column at a time, L z_i = e_i for all rows at once: for the few
    // responses of a regression a triangular solve on the transposed block spent most of its
    // time packing (a fifth of a t-expert iteration with one response and nu fixed).
    thread_local Matrix z;
    z.resize(e.rows(), q_);
    for (Index a = 0; a < q_; ++a) {
      auto za = z.col(a);
      za = e.col(a);
      for (Index b = 0; b < a; ++b) za -= L(a, b) * z.col(b);
      za /= L(a, a);
      if (a == 0)
        out = za.array().square().matrix();
      else
        out.array() += za.array().square();
    }
    return;
  }
  thread_local Matrix z;
  z.resize(q_, e.rows());
  z = e.transpose();
  L.triangularView<Eigen::Lower>().solveInPlace(z);
  out = z.colwise().squaredNorm().transpose();
}

void CovarianceSet::log_density(Index k, const ConstMatrixRef& e, VectorRef out) const {
  mahalanobis(k, e, out);
  const double c = -0.5 * (static_cast<double>(q_) * kLog2Pi + log_det(k));
  out.array() = c - 0.5 * out.array();
}

void CovarianceSet::export_factors(std::vector<double>& chol,
                                   std::vector<double>& log_norm,
                                   std::vector<double>& inv_diag) const {
  chol.assign(static_cast<size_t>(K_ * q_ * q_), 0.0);
  log_norm.resize(static_cast<size_t>(K_));
  inv_diag.resize(static_cast<size_t>(K_ * q_));
  for (Index k = 0; k < K_; ++k) {
    const Matrix& L = cholesky(k);
    for (Index a = 0; a < q_; ++a)
      for (Index b = 0; b <= a; ++b) chol[static_cast<size_t>((k * q_ + a) * q_ + b)] = L(a, b);
    for (Index a = 0; a < q_; ++a) inv_diag[static_cast<size_t>(k * q_ + a)] = 1.0 / L(a, a);
    log_norm[static_cast<size_t>(k)] = -0.5 * (static_cast<double>(q_) * kLog2Pi + log_det(k));
  }
}

void CovarianceSet::refuse_coupled() const {
  if (is_coupled(structure_))
    throw InputError::option(
        "--covariance", mclust_name(structure_),
        "is fitted by EM only: the gradient method, standard errors and the parametric "
        "bootstrap need full, diag, spherical or a tied structure (VVV, VVI, VII, EEE, EEI, EII)");
}

Index CovarianceSet::num_params() const { return covariance_num_params(structure_, K_, q_); }

void CovarianceSet::append_parameters(Vector& theta) const {
  refuse_coupled();
  std::vector<double> v;
  for (const Matrix& L : chol_) {
    if (spherical_structure(structure_)) {
      v.push_back(2.0 * std::log(L(0, 0)));
    } else if (diagonal_structure(structure_)) {
      for (Index j = 0; j < q_; ++j) v.push_back(2.0 * std::log(L(j, j)));
    } else {
      for (Index j = 0; j < q_; ++j)
        for (Index i = j; i < q_; ++i) v.push_back(i == j ? std::log(L(j, j)) : L(i, j));
    }
  }
  const Index old = theta.size();
  theta.conservativeResize(old + static_cast<Index>(v.size()));
  for (size_t i = 0; i < v.size(); ++i) theta(old + static_cast<Index>(i)) = v[i];
}

void CovarianceSet::read_parameters(const ConstVectorRef& theta, Index& pos) {
  refuse_coupled();
  for (size_t m = 0; m < chol_.size(); ++m) {
    Matrix L = Matrix::Zero(q_, q_);
    if (spherical_structure(structure_)) {
      L.diagonal().setConstant(std::exp(0.5 * theta(pos++)));
    } else if (diagonal_structure(structure_)) {
      for (Index j = 0; j < q_; ++j) L(j, j) = std::exp(0.5 * theta(pos++));
    } else {
      for (Index j = 0; j < q_; ++j)
        for (Index i = j; i < q_; ++i) L(i, j) = i == j ? std::exp(theta(pos++)) : theta(pos++);
    }
    chol_[m] = L;
    sigma_[m] = L * L.transpose();
    log_det_[m] = 2.0 * L.diagonal().array().log().sum();
  }
}

Matrix CovarianceSet::gradient(Index k, const Matrix& scatter, double N) const {
  const Matrix& L = chol_[static_cast<size_t>(slot(k))];
  // Sigma^{-1} A by two triangular solves with the factor L.
  auto solve = [&](Matrix A) {
    L.triangularView<Eigen::Lower>().solveInPlace(A);
    L.transpose().triangularView<Eigen::Upper>().solveInPlace(A);
    return A;
  };
  const Matrix inv = solve(Matrix::Identity(q_, q_));
  const Matrix a = solve(scatter);                // Sigma^{-1} S
  const Matrix b = solve(Matrix(a.transpose()));  // Sigma^{-1} S Sigma^{-1}
  Matrix G = 0.5 * (b - N * inv);
  return 0.5 * (G + G.transpose());
}

void CovarianceSet::append_score(const std::vector<Matrix>& G, Vector& out) const {
  refuse_coupled();
  std::vector<Matrix> pooled(chol_.size(), Matrix::Zero(q_, q_));
  for (Index k = 0; k < K_; ++k) pooled[static_cast<size_t>(slot(k))] += G[static_cast<size_t>(k)];
  std::vector<double> v;
  for (size_t m = 0; m < chol_.size(); ++m) {
    const Matrix& L = chol_[m];
    const Matrix& g = pooled[m];
    if (spherical_structure(structure_)) {
      v.push_back(g.trace() * L(0, 0) * L(0, 0));  // d/d log(s2) = tr(G) s2
    } else if (diagonal_structure(structure_)) {
      for (Index j = 0; j < q_; ++j) v.push_back(g(j, j) * L(j, j) * L(j, j));
    } else {
      const Matrix D = 2.0 * g * L;  // d/dL of tr-linear forms in Sigma = L L'
      for (Index j = 0; j < q_; ++j)
        for (Index i = j; i < q_; ++i) v.push_back(i == j ? D(j, j) * L(j, j) : D(i, j));
    }
  }
  const Index old = out.size();
  out.conservativeResize(old + static_cast<Index>(v.size()));
  for (size_t i = 0; i < v.size(); ++i) out(old + static_cast<Index>(i)) = v[i];
}

}  // namespace moekit
