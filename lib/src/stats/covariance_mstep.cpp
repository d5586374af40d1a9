#include "moekit/stats/covariance_mstep.hpp"

#include <Eigen/Cholesky>
#include <Eigen/Eigenvalues>

#include <cmath>
#include <limits>

namespace moekit {

namespace {

// d / (prod_j d_j)^{1/q}: the vector of product one in d's direction.
Vector unit_det(const Vector& d) {
  return d / std::exp(d.array().log().sum() / static_cast<double>(d.size()));
}

// Eigenvectors of a symmetric matrix with the eigenvalues in decreasing order, into reused
// storage (the solver's too).
void sorted_eigen(const Matrix& W,
                  Eigen::SelfAdjointEigenSolver<Matrix>& es,
                  Matrix& vectors,
                  Vector& values) {
  es.compute(W);
  const Index q = W.rows();
  vectors.resize(q, q);
  values.resize(q);
  for (Index j = 0; j < q; ++j) {  // Eigen sorts increasing
    values(j) = es.eigenvalues()(q - 1 - j);
    vectors.col(j) = es.eigenvectors().col(q - 1 - j);
  }
}
Matrix sorted_eigenvectors(const Matrix& W) {
  Eigen::SelfAdjointEigenSolver<Matrix> es;
  Matrix vectors;
  Vector values;
  sorted_eigen(W, es, vectors, values);
  return vectors;
}

// log |X| of a symmetric positive definite matrix (-inf when it is not), factorised in `llt`.
double log_det(const Matrix& X, Eigen::LLT<Matrix>& llt) {
  llt.compute(X);
  if (llt.info() != Eigen::Success) return -std::numeric_limits<double>::infinity();
  return 2.0 * llt.matrixLLT().diagonal().array().log().sum();
}

bool settled(double old_value, double value) {
  return std::abs(old_value - value) <= 1e-14 * std::max(1.0, std::abs(value));
}

// D' W_k D for every k, through T = D' W_k (the product as Eigen evaluates D' * W_k * D).
void rotated(const std::vector<Matrix>& W, const Matrix& D, ConstrainedCovarianceWork& work) {
  work.G.resize(W.size());
  for (size_t k = 0; k < W.size(); ++k) {
    work.T.noalias() = D.transpose() * W[k];
    work.G[k].noalias() = work.T * D;
  }
}

// One cyclic sweep of plane rotations of the columns of D, each minimising
// f(D) = sum_k tr(D' W_k D M_k) (M_k = diag(m_k)) exactly over its angle: in the plane of
// columns i and j, f = const + P cos 2t + Q sin 2t with P = 1/2 sum_k (m_ki - m_kj)(G_ii - G_jj)
// and Q = sum_k (m_ki - m_kj) G_ij for G = D' W_k D, minimised at 2t = atan2(-Q, -P). Each
// rotation lowers f, as the majorise-minimise step of Browne & McNicholas (2014) does, and
// reaches the same minimisers.
// On entry work.G holds D' W_k D for the D given (rotated(), as update_scales leaves it); the
// sweep rotates it along with D.
void rotation_sweep(const std::vector<Matrix>& W,
                    const std::vector<Vector>& m,
                    Matrix& D,
                    ConstrainedCovarianceWork& work) {
  const Index q = D.rows();
  const size_t K = W.size();
  std::vector<Matrix>& G = work.G;
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
      work.u = D.col(i);
      work.v = D.col(j);
      D.col(i) = c * work.u + s * work.v;
      D.col(j) = -s * work.u + c * work.v;
      for (size_t k = 0; k < K; ++k) {
        Matrix& g = G[k];
        work.gi = g.col(i);
        work.gj = g.col(j);
        g.col(i) = c * work.gi + s * work.gj;
        g.col(j) = -s * work.gi + c * work.gj;
        work.ri = g.row(i);
        work.rj = g.row(j);
        g.row(i) = c * work.ri + s * work.rj;
        g.row(j) = -s * work.ri + c * work.rj;
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
  Matrix& pooled = out.work->pooled;
  pooled.setZero(q, q);
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
      ConstrainedCovarianceWork& work = *out.work;
      std::vector<double>& root_det = work.lambda;  // |W_k|^{1/q}
      root_det.resize(K);
      double lambda = 0.0;
      for (size_t k = 0; k < K; ++k) {
        root_det[k] = std::exp(log_det(W[k], work.llt) / dq);
        lambda += root_det[k];
      }
      lambda /= n;
      // lambda * unit_det(W_k), without its temporaries.
      for (size_t k = 0; k < K; ++k) out.sigma[k] = lambda * (W[k] / root_det[k]);
      return;
    }
    case CovarianceStructure::EEV: {
      // C&G 1995 ([lambda D_k A D_k']): W_k = L_k Omega_k L_k' (decreasing eigenvalues),
      // A = sum_k Omega_k / |sum_k Omega_k|^{1/q}, lambda = |sum_k Omega_k|^{1/q} / n, D_k = L_k.
      ConstrainedCovarianceWork& work = *out.work;
      work.vectors.resize(K);
      work.values.resize(K);
      Vector& omega = work.d;
      omega.setZero(q);
      for (size_t k = 0; k < K; ++k) {
        sorted_eigen(W[k], work.eigen, work.vectors[k], work.values[k]);
        omega += work.values[k];
      }
      const Vector A = unit_det(omega);
      const double lambda = std::exp(omega.array().log().sum() / dq) / n;
      for (size_t k = 0; k < K; ++k) {
        // lambda L_k diag(A) L_k', through its first factor (as Eigen evaluates the product).
        work.product.noalias() = lambda * work.vectors[k] * A.asDiagonal();
        out.sigma[k].noalias() = work.product * work.vectors[k].transpose();
      }
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
      // The loop's storage, kept between M-steps: it runs to a relative change of 1e-14.
      ConstrainedCovarianceWork& work = *out.work;
      std::vector<Matrix>& V = work.V;  // the part of W_k the common shape sees
      V.resize(K);
      if (structure == CovarianceStructure::VEV) {
        work.vectors.resize(K);
        work.values.resize(K);
      }
      for (size_t k = 0; k < K; ++k) {
        if (structure == CovarianceStructure::VEV) {
          sorted_eigen(W[k], work.eigen, work.vectors[k], work.values[k]);
          set_diagonal(V[k], work.values[k]);
        } else if (full) {
          V[k] = W[k];
        } else {
          set_diagonal(V[k], W[k].diagonal());
        }
      }
      std::vector<double>& lambda = work.lambda;
      lambda.resize(K);
      for (size_t k = 0; k < K; ++k) lambda[k] = V[k].trace() / (dq * N[k]);
      Matrix& C = work.C;
      C.setIdentity(q, q);
      Matrix& S = work.S;
      Matrix& X = work.X;
      Vector& d = work.d;
      S.resize(q, q);
      d.resize(q);
      Eigen::LLT<Matrix>& llt = work.llt;
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
        if (structure == CovarianceStructure::VEV) {
          // D_k sigma_k D_k', through its first factor (as Eigen evaluates the product).
          work.product.noalias() = work.vectors[k] * out.sigma[k];
          out.sigma[k].noalias() = work.product * work.vectors[k].transpose();
        }
      }
      return;
    }
    case CovarianceStructure::EVE:
    case CovarianceStructure::VVE: {
      // Common orientation D (Browne & McNicholas 2014): given D, with G_k = D' W_k D,
      // VVE: Delta_k = diag(G_k) / N_k; EVE: A_k = diag(G_k) / |diag(G_k)|^{1/q},
      // lambda = sum_k |diag(G_k)|^{1/q} / n. Given those, D minimises
      // sum_k tr(D' W_k D Delta_k^{-1}) over orthogonal D (rotation_sweep).
      ConstrainedCovarianceWork& work = *out.work;
      Matrix& D = work.D;
      if (orientation.rows() == q && orientation.cols() == q)
        D = orientation;
      else
        D = sorted_eigenvectors(pooled);
      std::vector<Vector>& delta = work.delta;
      std::vector<Vector>& m = work.m;
      std::vector<Vector>& g = work.g;
      delta.resize(K);
      m.resize(K);
      g.resize(K);
      double objective = std::numeric_limits<double>::infinity();
      auto update_scales = [&]() {
        double value = 0.0;
        rotated(W, D, work);
        if (structure == CovarianceStructure::VVE) {
          for (size_t k = 0; k < K; ++k) {
            delta[k] = work.G[k].diagonal() / N[k];
            value += N[k] * (delta[k].array().log().sum() + dq);
          }
        } else {
          double lambda = 0.0;
          for (size_t k = 0; k < K; ++k) {
            g[k] = work.G[k].diagonal();
            lambda += std::exp(g[k].array().log().sum() / dq);
          }
          lambda /= n;
          // lambda * unit_det(g_k), without its temporary.
          for (size_t k = 0; k < K; ++k)
            delta[k] = lambda * (g[k] / std::exp(g[k].array().log().sum() / dq));
          value = n * dq * (std::log(lambda) + 1.0);
        }
        for (size_t k = 0; k < K; ++k) m[k] = delta[k].cwiseInverse();
        return value;
      };
      double value = update_scales();
      for (int it = 0; it < max_inner && std::isfinite(value); ++it) {
        objective = value;
        rotation_sweep(W, m, D, work);
        value = update_scales();
        out.inner_iterations = it + 1;
        if (settled(objective, value)) break;
      }
      for (size_t k = 0; k < K; ++k) {
        // D diag(delta_k) D', through its first factor (as Eigen evaluates the product).
        work.product.noalias() = D * delta[k].asDiagonal();
        out.sigma[k].noalias() = work.product * D.transpose();
      }
      out.orientation = D;
      return;
    }
  }
}

}  // namespace moekit
