#include "moekit/experts/linear.hpp"

#include "moekit/core/error.hpp"
#include "moekit/core/parallel.hpp"
#include "moekit/stats/gaussian_moments.hpp"
#include "moekit/stats/weighted_least_squares.hpp"

#include <fmt/format.h>

#include <cmath>

namespace moekit {

LinearExperts::LinearExperts(Index K,
                             Index q,
                             Index p,
                             CovarianceStructure structure,
                             double reg_covar,
                             double collapse_tol,
                             std::vector<std::string> x_names)
    : p_(p),
      coef_(static_cast<size_t>(K), Matrix::Zero(p, q)),
      cov_(structure, K, q, reg_covar),
      collapse_tol_(collapse_tol),
      x_names_(std::move(x_names)) {
  if (K < 1 || q < 1 || p < 1)
    throw InputError("linear experts need K >= 1, a response and at least one covariate");
}

void LinearExperts::set_coefficients(Index k, const Matrix& B) {
  if (B.rows() != p_ || B.cols() != response_dim())
    throw Error("LinearExperts::set_coefficients: shape mismatch");
  coef_[static_cast<size_t>(k)] = B;
}

void LinearExperts::log_density(const ConstMatrixRef& x,
                                const ConstMatrixRef& y,
                                MatrixRef out) const {
  thread_local Matrix e;
  for (Index k = 0; k < components(); ++k) {
    e.resize(y.rows(), y.cols());
    e.noalias() = y - x * coef_[static_cast<size_t>(k)];
    cov_.log_density(k, e, out.col(k));
  }
}

std::vector<Matrix> LinearExperts::scatter(const ConstMatrixRef& x,
                                           const ConstMatrixRef& y,
                                           const ConstMatrixRef& resp) const {
  const Index K = components(), q = response_dim();
  struct Acc {
    std::vector<Matrix> S;
    Acc& operator+=(const Acc& o) {
      for (size_t k = 0; k < S.size(); ++k) S[k] += o.S[k];
      return *this;
    }
  };
  Acc zero{std::vector<Matrix>(static_cast<size_t>(K), Matrix::Zero(q, q))};
  Acc total = reduce_blocks(y.rows(), zero, [&](Index begin, Index size, Acc& acc) {
    Matrix e(size, q);
    for (Index k = 0; k < K; ++k) {
      e.noalias() =
          y.middleRows(begin, size) - x.middleRows(begin, size) * coef_[static_cast<size_t>(k)];
      const Matrix we = e.array().colwise() * resp.col(k).segment(begin, size).array();
      acc.S[static_cast<size_t>(k)].noalias() += we.transpose() * e;
    }
  });
  return total.S;
}

MStepReport LinearExperts::fit(const ConstMatrixRef& x,
                               const ConstMatrixRef& y,
                               const ConstMatrixRef& resp) {
  const Index K = components(), q = response_dim();
  if (x.cols() != p_ || y.cols() != q || resp.cols() != K || x.rows() != y.rows())
    throw Error("LinearExperts::fit: shape mismatch");
  cov_.set_reference_variance(response_variance(y));
  MStepReport report;
  std::vector<Matrix> grams(static_cast<size_t>(K)), xty(static_cast<size_t>(K));
  Vector N(K);
  Matrix total_gram = Matrix::Zero(p_, p_);
  for (Index k = 0; k < K; ++k) {
    weighted_cross_products(x, y, resp.col(k), grams[static_cast<size_t>(k)],
                            xty[static_cast<size_t>(k)]);
    total_gram += grams[static_cast<size_t>(k)];
    N(k) = resp.col(k).sum();
  }
  // The responsibilities of a row sum to one, so sum_k X'W_kX = X'X: an aliased column of
  // the design is bad input, not a numerical accident.
  check_design_rank(total_gram, x_names_, "linear experts");
  const std::vector<Matrix> old = coef_;
  std::vector<bool> singular(static_cast<size_t>(K), false);
  for (Index k = 0; k < K; ++k) {
    // Weighted least squares B_k = (X'W_kX)^{-1} X'W_kY (DeSarbo & Cron 1988, eq. 10;
    // McLachlan & Peel 2000, section 5.13.1). With a common design for every response
    // column the GLS estimate equals column-wise WLS whatever Sigma_k (Zellner 1962),
    // so the M-step is exact for full and tied covariances too.
    const OrderedCholesky chol = OrderedCholesky::factor(grams[static_cast<size_t>(k)], 1e-12);
    if (!chol.ok() || !(N(k) > 0.0)) {
      singular[static_cast<size_t>(k)] = true;  // too few effective rows: the component collapsed
      continue;
    }
    Matrix B = chol.solve(xty[static_cast<size_t>(k)]);
    if (!B.allFinite()) {
      singular[static_cast<size_t>(k)] = true;
      continue;
    }
    coef_[static_cast<size_t>(k)] = std::move(B);
  }
  // Covariances from the weighted residual scatter about the new fits (McLachlan & Peel
  // 2000, eq. 5.59), by structure; tied structures pool.
  // The floor Sigma_k >= reg_covar diag(var y) is applied there, after the collapse test.
  std::vector<Matrix> S = scatter(x, y, resp);
  report.collapsed = cov_.fit(S, N, collapse_tol_);
  for (Index k = 0; k < K; ++k)
    if (singular[static_cast<size_t>(k)] &&
        std::find(report.collapsed.begin(), report.collapsed.end(), k) == report.collapsed.end())
      report.collapsed.push_back(k);
  std::sort(report.collapsed.begin(), report.collapsed.end());
  for (Index k : report.collapsed) coef_[static_cast<size_t>(k)] = old[static_cast<size_t>(k)];
  return report;
}

void LinearExperts::export_pack(kernels::GaussianRegressionStorage& out) const {
  const Index K = components(), q = response_dim();
  out.K = static_cast<int>(K);
  out.p = static_cast<int>(p_);
  out.q = static_cast<int>(q);
  out.coef.resize(static_cast<size_t>(K * p_ * q));
  for (Index k = 0; k < K; ++k)
    for (Index j = 0; j < p_; ++j)
      for (Index c = 0; c < q; ++c)
        out.coef[static_cast<size_t>((k * p_ + j) * q + c)] = coef_[static_cast<size_t>(k)](j, c);
  cov_.export_factors(out.chol, out.log_norm, out.inv_diag);
}

MStepReport LinearExperts::fit_moments(const GaussianMoments& moments) {
  const Index K = components(), q = response_dim();
  if (moments.p != p_ || moments.q != q || moments.components() != K)
    throw Error("LinearExperts::fit_moments: shape mismatch");
  const Vector& yvar = moments.response_variance;
  cov_.set_reference_variance(yvar);
  // The moments about the current coefficients B_k hold G_k = X'W_kX, C_k = X'W_kE_k and
  // S_k = E_k'W_kE_k for the residuals E_k = Y - X B_k. The weighted least-squares update of
  // fit() is B_k + D_k with D_k = G_k^{-1} C_k, and the residual scatter about it is
  // S_k - C_k' D_k (the same normal equations, written about the current fit).
  std::vector<Matrix> S(static_cast<size_t>(K));
  Vector N(K);
  Matrix total_gram = Matrix::Zero(p_, p_);
  for (Index k = 0; k < K; ++k) {
    total_gram += moments.M[static_cast<size_t>(k)].block(1, 1, p_, p_);
    N(k) = moments.M[static_cast<size_t>(k)](0, 0);
  }
  check_design_rank(total_gram, x_names_, "linear experts");
  MStepReport report;
  const std::vector<Matrix> old = coef_;
  std::vector<bool> singular(static_cast<size_t>(K), false);
  for (Index k = 0; k < K; ++k) {
    const Matrix& M = moments.M[static_cast<size_t>(k)];
    const Matrix G = M.block(1, 1, p_, p_);
    const Matrix C = M.block(1, 1 + p_, p_, q);
    Matrix Sk = M.block(1 + p_, 1 + p_, q, q);
    const OrderedCholesky chol = OrderedCholesky::factor(G, 1e-12);
    Matrix D;
    if (chol.ok() && N(k) > 0.0) D = chol.solve(C);
    if (D.size() == 0 || !D.allFinite()) {
      singular[static_cast<size_t>(k)] = true;
    } else {
      coef_[static_cast<size_t>(k)] += D;
      Sk.noalias() -= C.transpose() * D;
    }
    Sk = 0.5 * (Sk + Sk.transpose());
    S[static_cast<size_t>(k)] = std::move(Sk);
  }
  report.collapsed = cov_.fit(S, N, collapse_tol_);
  for (Index k = 0; k < K; ++k)
    if (singular[static_cast<size_t>(k)] &&
        std::find(report.collapsed.begin(), report.collapsed.end(), k) == report.collapsed.end())
      report.collapsed.push_back(k);
  std::sort(report.collapsed.begin(), report.collapsed.end());
  for (Index k : report.collapsed) coef_[static_cast<size_t>(k)] = old[static_cast<size_t>(k)];
  return report;
}

Vector LinearExperts::score(const ConstMatrixRef& x,
                            const ConstMatrixRef& y,
                            const ConstMatrixRef& resp) const {
  const Index K = components(), q = response_dim();
  Vector out(K * p_ * q);
  const std::vector<Matrix> S = scatter(x, y, resp);
  std::vector<Matrix> G(static_cast<size_t>(K));
  for (Index k = 0; k < K; ++k) {
    // d/dB_k = X' W_k E_k Sigma_k^{-1}, E_k the residuals.
    const Matrix e = y - x * coef_[static_cast<size_t>(k)];
    Matrix xwe = x.transpose() * (e.array().colwise() * resp.col(k).array()).matrix();  // p x q
    const Matrix& L = cov_.cholesky(k);
    Matrix t = xwe.transpose();  // q x p; Sigma^{-1} t
    L.triangularView<Eigen::Lower>().solveInPlace(t);
    L.transpose().triangularView<Eigen::Upper>().solveInPlace(t);
    const Matrix g = t.transpose();
    out.segment(k * p_ * q, p_ * q) = Eigen::Map<const Vector>(g.data(), p_ * q);
    G[static_cast<size_t>(k)] = cov_.gradient(k, S[static_cast<size_t>(k)], resp.col(k).sum());
  }
  cov_.append_score(G, out);
  return out;
}

Vector LinearExperts::parameters() const {
  const Index K = components(), q = response_dim();
  Vector theta(K * p_ * q);
  for (Index k = 0; k < K; ++k)
    theta.segment(k * p_ * q, p_ * q) =
        Eigen::Map<const Vector>(coef_[static_cast<size_t>(k)].data(), p_ * q);
  cov_.append_parameters(theta);
  return theta;
}

void LinearExperts::set_parameters(const ConstVectorRef& theta) {
  const Index K = components(), q = response_dim();
  if (theta.size() != num_params()) throw Error("LinearExperts::set_parameters: wrong length");
  for (Index k = 0; k < K; ++k)
    coef_[static_cast<size_t>(k)] = Eigen::Map<const Matrix>(theta.data() + k * p_ * q, p_, q);
  Index pos = K * p_ * q;
  cov_.read_parameters(theta, pos);
}

Index LinearExperts::num_params() const {
  return components() * p_ * response_dim() + cov_.num_params();
}

std::vector<Matrix> LinearExperts::predict_means(const ConstMatrixRef& x) const {
  std::vector<Matrix> out;
  for (const Matrix& B : coef_) out.push_back(x * B);
  return out;
}

Matrix LinearExperts::sample(const ConstMatrixRef& x,
                             const std::vector<Index>& component,
                             Rng& rng) const {
  const Index q = response_dim();
  Matrix y(x.rows(), q);
  Vector z(q);
  for (Index i = 0; i < x.rows(); ++i) {
    const Index k = component[static_cast<size_t>(i)];
    for (Index j = 0; j < q; ++j) z(j) = standard_normal(rng);
    y.row(i) = x.row(i) * coef_[static_cast<size_t>(k)] +
               (cov_.cholesky(k).triangularView<Eigen::Lower>() * z).transpose();
  }
  return y;
}

void LinearExperts::reseed(Index k, const ConstMatrixRef& x, const ConstMatrixRef& y, Index row) {
  // A broad start: the ordinary least-squares fit of all rows, shifted (through the
  // intercept, when the design has one) to pass through the chosen row, with the
  // residual covariance of that fit.
  Matrix G, XY;
  weighted_cross_products(x, y, Vector::Ones(x.rows()), G, XY);
  const OrderedCholesky chol = OrderedCholesky::factor(G, 1e-12);
  Matrix B = chol.ok() ? chol.solve(XY) : Matrix(Matrix::Zero(p_, y.cols()));
  for (Index j = 0; j < p_; ++j) {
    if ((x.col(j).array() == 1.0).all()) {
      B.row(j) += y.row(row) - x.row(row) * B;
      break;
    }
  }
  coef_[static_cast<size_t>(k)] = B;
  if (is_tied(cov_.structure())) return;
  const Matrix e = y - x * B;
  Matrix S = e.transpose() * e / static_cast<double>(std::max<Index>(1, y.rows() - 1));
  cov_.reseed(k, S);
}

std::vector<ParameterMap> LinearExperts::component_params() const {
  std::vector<ParameterMap> out;
  for (Index k = 0; k < components(); ++k) {
    ParameterMap p;
    p["coefficients"] = coef_[static_cast<size_t>(k)];
    if (!is_tied(cov_.structure())) p["covariance"] = cov_.covariance(k);
    out.push_back(p);
  }
  return out;
}

ParameterMap LinearExperts::shared_params() const {
  if (!is_tied(cov_.structure())) return {};
  return {{"covariance", cov_.covariance(0)}};
}

void LinearExperts::set_params(const std::vector<ParameterMap>& components,
                               const ParameterMap& shared) {
  const Index K = this->components(), q = response_dim();
  auto get = [](const ParameterMap& m, const std::string& name, Index rows, Index cols,
                const std::string& where) {
    auto it = m.find(name);
    if (it == m.end()) throw ModelFormatError(fmt::format("{}: missing '{}'", where, name));
    if (it->second.rows() != rows || it->second.cols() != cols)
      throw ModelFormatError(fmt::format("{}: '{}' is {}x{}, expected {}x{}", where, name,
                                         it->second.rows(), it->second.cols(), rows, cols));
    if (!it->second.allFinite())
      throw ModelFormatError(fmt::format("{}: '{}' is not finite", where, name));
    return it->second;
  };
  if (static_cast<Index>(components.size()) != K)
    throw ModelFormatError(
        fmt::format("linear experts: {} components given, expected {}", components.size(), K));
  for (Index k = 0; k < K; ++k) {
    const std::string where = fmt::format("linear expert {}", k + 1);
    coef_[static_cast<size_t>(k)] =
        get(components[static_cast<size_t>(k)], "coefficients", p_, q, where);
    if (!is_tied(cov_.structure())) {
      const Matrix S = get(components[static_cast<size_t>(k)], "covariance", q, q, where);
      cov_.check_loaded(S, where + ": 'covariance'");
      cov_.set(k, S);
    }
  }
  if (!is_tied(cov_.structure())) cov_.check_structure("linear experts");
  if (is_tied(cov_.structure())) {
    const Matrix S = get(shared, "covariance", q, q, "linear experts (tied)");
    cov_.check_loaded(S, "linear experts (tied): 'covariance'");
    cov_.set(0, S);
  }
}

}  // namespace moekit
