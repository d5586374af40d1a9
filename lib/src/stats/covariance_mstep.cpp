#include "moekit/stats/covariance_mstep.hpp"

#include <Eigen/Cholesky>
#include <Eigen/Eigenvalues>

#include <cmath>
#include <limits>

namespace moekit {

namespace {

// log |X| of a symmetric positive definite matrix; -inf when it is not.
double log_det(const Matrix& X) {
  Eigen::LLT<Matrix> llt(X);
  if (llt.info() != Eigen::Success) return -std::numeric_limits<double>::infinity();
  return 2.0 * llt.matrixLLT().diagonal().array().log().sum();
}

// X / |X|^{1/q}: the matrix of determinant one in X's direction.
Matrix unit_det(const Matrix& X) {
  return X / std::exp(log_det(X) / static_cast<double>(X.rows()));
}
Vector unit_det(const Vector& d) {
  return d / std::exp(d.array().log().sum() / static_cast<double>(d.size()));
}

// Eigenvectors of a symmetric matrix with the eigenvalues in decreasing order.
struct SortedEigen {
  Matrix vectors;
  Vector values;
};
SortedEigen sorted_eigen(const Matrix& W) {
  Eigen::SelfAdjointEigenSolver<Matrix> es(W);
  const Index q = W.rows();
  SortedEigen out{Matrix(q, q), Vector(q)};
  for (Index j = 0; j < q; ++j) {  // Eigen sorts increasing
    out.values(j) = es.eigenvalues()(q - 1 - j);
    out.vectors.col(j) = es.eigenvectors().col(q - 1 - j);
  }
  return out;
}

bool settled(double old_value, double value) {
  return std::abs(old_value - value) <= 1e-14 * std::max(1.0, std::abs(value));
}

// One cyclic sweep of plane rotations of the columns of D, each minimising
// f(D) = sum_k tr(D' W_k D M_k) (M_k = diag(m_k)) exactly over its angle: in the plane of
// columns i and j, f = const + P cos 2t + Q sin 2t with P = 1/2 sum_k (m_ki - m_kj)(G_ii - G_jj)
// and Q = sum_k (m_ki - m_kj) G_ij for G = D' W_k D, minimised at 2t = atan2(-Q, -P). Each
// rotation lowers f, as the majorise-minimise step of Browne & McNicholas (2014) does, and
// reaches the same minimisers.
void rotation_sweep(const std::vector<Matrix>& W, const std::vector<Vector>& m, Matrix& D) {
  const Index q = D.rows();
  const size_t K = W.size();
  std::vector<Matrix> G(K);
  for (size_t k = 0; k < K; ++k) G[k] = D.transpose() * W[k] * D;
  for (Index i = 0; i < q; ++i)
    for (Index j = i + 1; j < q; ++j) {
      double P = 0.0, Q = 0.0;
      for (size_t k = 0; k < K; ++k) {
        const double dm = m[k](i) - m[k](j);
        P += 0.5 * dm * (G[k](i, i) - G[k](j, j));
        Q += dm * G[k](i, j);
      }
      if (P * P + Q * Q == 0.0) continue;
      const double t = 0.5 * std::atan2(-Q, -P);
      const double c = std::cos(t), s = std::sin(t);
      const Vector u = D.col(i), v = D.col(j);
      D.col(i) = c * u + s * v;
      D.col(j) = -s * u + c * v;
      for (size_t k = 0; k < K; ++k) {
        Matrix& g = G[k];
        const Vector gi = g.col(i), gj = g.col(j);
        g.col(i) = c * gi + s * gj;
        g.col(j) = -s * gi + c * gj;
        const RowVector ri = g.row(i), rj = g.row(j);
        g.row(i) = c * ri + s * rj;
        g.row(j) = -s * ri + c * rj;
      }
    }
}

}  // namespace

ConstrainedCovariances constrained_covariances(CovarianceStructure structure,
                                               const std::vector<Matrix>& W,
                                               const std::vector<double>& N,
                                               const Matrix& orientation,
                                               int max_inner) {
  ConstrainedCovariances out;
  constrained_covariances(structure, W, N, orientation, out, max_inner);
  return out;
}

void constrained_covariances(CovarianceStructure structure,
                             const std::vector<Matrix>& W,
                             const std::vector<double>& N,
                             const Matrix& orientation,
                             ConstrainedCovariances& out,
                             int max_inner) {
  const size_t K = W.size();
  const Index q = K > 0 ? W.front().rows() : 0;
  const double dq = static_cast<double>(q);
  out.sigma.resize(K);
  out.inner_iterations = 0;
  if (structure != CovarianceStructure::EVE && structure != CovarianceStructure::VVE)
    out.orientation.resize(0, 0);
  double n = 0.0;
  Matrix pooled = Matrix::Zero(q, q);
  for (size_t k = 0; k < K; ++k) {
    n += N[k];
    pooled += W[k];
  }
  auto diag_matrix = [](const Vector& d) { return Matrix(d.asDiagonal()); };
  // diag(d) into X, reusing its storage.
  auto set_diagonal = [&](Matrix& X, const auto& d) {
    X.setZero(q, q);
    X.diagonal() = d;
  };
  auto all = [&](const Matrix& S) {
    for (Matrix& X : out.sigma) X = S;
  };

  switch (structure) {
    case CovarianceStructure::Full:  // VVV: W_k / N_k
      for (size_t k = 0; k < K; ++k) out.sigma[k] = W[k] / N[k];
      return;
    case CovarianceStructure::Diag:  // VVI: diag(W_k) / N_k
      for (size_t k = 0; k < K; ++k) set_diagonal(out.sigma[k], W[k].diagonal() / N[k]);
      return;
    case CovarianceStructure::Spherical:  // VII: tr(W_k) / (q N_k) I
      for (size_t k = 0; k < K; ++k)
        out.sigma[k] = Matrix::Identity(q, q) * (W[k].trace() / (dq * N[k]));
      return;
    case CovarianceStructure::TiedFull:  // EEE: W / n
      all(pooled / n);
      return;
    case CovarianceStructure::TiedDiag:  // EEI: diag(W) / n
      all(diag_matrix(pooled.diagonal() / n));
      return;
    case CovarianceStructure::TiedSpherical:  // EII: tr(W) / (q n) I
      all(Matrix::Identity(q, q) * (pooled.trace() / (dq * n)));
      return;
    case CovarianceStructure::EVI: {
      // C&G 1995 (model [lambda B_k]): B_k = diag(W_k) / |diag(W_k)|^{1/q},
      // lambda = sum_k |diag(W_k)|^{1/q} / n.
      double lambda = 0.0;
      std::vector<Vector> B(K);
      for (size_t k = 0; k < K; ++k) {
        const Vector d = W[k].diagonal();
        lambda += std::exp(d.array().log().sum() / dq);
        B[k] = unit_det(d);
      }
      lambda /= n;
      for (size_t k = 0; k < K; ++k) out.sigma[k] = diag_matrix(lambda * B[k]);
      return;
    }
    case CovarianceStructure::EVV: {
      // C&G 1995 ([lambda C_k]): C_k = W_k / |W_k|^{1/q}, lambda = sum_k |W_k|^{1/q} / n.
      double lambda = 0.0;
      for (size_t k = 0; k < K; ++k) lambda += std::exp(log_det(W[k]) / dq);
      lambda /= n;
      for (size_t k = 0; k < K; ++k) out.sigma[k] = lambda * unit_det(W[k]);
      return;
    }
    case CovarianceStructure::EEV: {
      // C&G 1995 ([lambda D_k A D_k']): W_k = L_k Omega_k L_k' (decreasing eigenvalues),
      // A = sum_k Omega_k / |sum_k Omega_k|^{1/q}, lambda = |sum_k Omega_k|^{1/q} / n, D_k = L_k.
      std::vector<SortedEigen> e(K);
      Vector omega = Vector::Zero(q);
      for (size_t k = 0; k < K; ++k) {
        e[k] = sorted_eigen(W[k]);
        omega += e[k].values;
      }
      const Vector A = unit_det(omega);
      const double lambda = std::exp(omega.array().log().sum() / dq) / n;
      for (size_t k = 0; k < K; ++k)
        out.sigma[k] = lambda * e[k].vectors * A.asDiagonal() * e[k].vectors.transpose();
      return;
    }
    case CovarianceStructure::VEI:
    case CovarianceStructure::VEE:
    case CovarianceStructure::VEV: {
      // Common shape (and orientation), volumes lambda_k (C&G 1995, models [lambda_k B],
      // [lambda_k C], [lambda_k D_k A D_k']): alternate lambda_k = tr(W_k C^{-1}) / (q N_k)
      // and C = sum_k W_k / lambda_k normalised to |C| = 1, where for VEI W_k is replaced by
      // diag(W_k) and for VEV by its eigenvalues Omega_k (D_k = eigenvectors of W_k).
      const bool full = structure == CovarianceStructure::VEE;
      std::vector<SortedEigen> e(K);
      std::vector<Matrix> V(K);  // the part of W_k the common shape sees
      for (size_t k = 0; k < K; ++k) {
        if (structure == CovarianceStructure::VEV) {
          e[k] = sorted_eigen(W[k]);
          V[k] = diag_matrix(e[k].values);
        } else {
          V[k] = full ? W[k] : diag_matrix(W[k].diagonal());
        }
      }
      std::vector<double> lambda(K);
      for (size_t k = 0; k < K; ++k) lambda[k] = V[k].trace() / (dq * N[k]);
      Matrix C = Matrix::Identity(q, q);
      // The loop's matrices, allocated once: it runs to a relative change of 1e-14.
      Matrix S(q, q), X(q, q);
      Vector d(q);
      Eigen::LLT<Matrix> llt(q);
      double objective = std::numeric_limits<double>::infinity();
      for (int it = 0; it < max_inner; ++it) {
        S.setZero();
        for (size_t k = 0; k < K; ++k) S += V[k] / lambda[k];
        if (full) {
          // unit_det(S), with the loop's factorisation.
          llt.compute(S);
          const double log_det_S = llt.info() != Eigen::Success
                                       ? -std::numeric_limits<double>::infinity()
                                       : 2.0 * llt.matrixLLT().diagonal().array().log().sum();
          C = S / std::exp(log_det_S / static_cast<double>(S.rows()));
        } else {
          // diag_matrix(unit_det(Vector(S.diagonal()))).
          d = S.diagonal();
          set_diagonal(C, d / std::exp(d.array().log().sum() / static_cast<double>(d.size())));
        }
        llt.compute(C);
        double value = 0.0;
        for (size_t k = 0; k < K; ++k) {
          X = llt.solve(V[k]);
          lambda[k] = X.trace() / (dq * N[k]);
          value += N[k] * dq * (std::log(lambda[k]) + 1.0);
        }
        out.inner_iterations = it + 1;
        if (!std::isfinite(value) || settled(objective, value)) break;
        objective = value;
      }
      for (size_t k = 0; k < K; ++k) {
        out.sigma[k] = lambda[k] * C;
        if (structure == CovarianceStructure::VEV)
          out.sigma[k] = e[k].vectors * out.sigma[k] * e[k].vectors.transpose();
      }
      return;
    }
    case CovarianceStructure::EVE:
    case CovarianceStructure::VVE: {
      // Common orientation D (Browne & McNicholas 2014): given D, with G_k = D' W_k D,
      // VVE: Delta_k = diag(G_k) / N_k; EVE: A_k = diag(G_k) / |diag(G_k)|^{1/q},
      // lambda = sum_k |diag(G_k)|^{1/q} / n. Given those, D minimises
      // sum_k tr(D' W_k D Delta_k^{-1}) over orthogonal D (rotation_sweep).
      Matrix D = orientation.rows() == q && orientation.cols() == q ? orientation
                                                                    : sorted_eigen(pooled).vectors;
      std::vector<Vector> delta(K), m(K);
      double objective = std::numeric_limits<double>::infinity();
      auto update_scales = [&]() {
        double value = 0.0;
        if (structure == CovarianceStructure::VVE) {
          for (size_t k = 0; k < K; ++k) {
            delta[k] = (D.transpose() * W[k] * D).diagonal() / N[k];
            value += N[k] * (delta[k].array().log().sum() + dq);
          }
        } else {
          double lambda = 0.0;
          std::vector<Vector> g(K);
          for (size_t k = 0; k < K; ++k) {
            g[k] = (D.transpose() * W[k] * D).diagonal();
            lambda += std::exp(g[k].array().log().sum() / dq);
          }
          lambda /= n;
          for (size_t k = 0; k < K; ++k) delta[k] = lambda * unit_det(g[k]);
          value = n * dq * (std::log(lambda) + 1.0);
        }
        for (size_t k = 0; k < K; ++k) m[k] = delta[k].cwiseInverse();
        return value;
      };
      double value = update_scales();
      for (int it = 0; it < max_inner && std::isfinite(value); ++it) {
        objective = value;
        rotation_sweep(W, m, D);
        value = update_scales();
        out.inner_iterations = it + 1;
        if (settled(objective, value)) break;
      }
      for (size_t k = 0; k < K; ++k) out.sigma[k] = D * delta[k].asDiagonal() * D.transpose();
      out.orientation = D;
      return;
    }
  }
}

}  // namespace moekit
