#include "moekit/experts/gaussian.hpp"

#include "moekit/core/error.hpp"
#include "moekit/core/parallel.hpp"

#include <fmt/format.h>

#include <cmath>

namespace moekit {

GaussianExperts::GaussianExperts(
    Index K, Index q, CovarianceStructure structure, double reg_covar, double collapse_tol)
    : means_(Matrix::Zero(K, q)), cov_(structure, K, q, reg_covar), collapse_tol_(collapse_tol) {}

void GaussianExperts::log_density(const ConstMatrixRef&,
                                  const ConstMatrixRef& y,
                                  MatrixRef out) const {
  thread_local Matrix e;
  for (Index k = 0; k < components(); ++k) {
    e.resize(y.rows(), y.cols());
    e = y.rowwise() - means_.row(k);
    cov_.log_density(k, e, out.col(k));
  }
}

std::vector<Matrix> GaussianExperts::scatter(const ConstMatrixRef& y,
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
      e = y.middleRows(begin, size).rowwise() - means_.row(k);
      const Matrix we = e.array().colwise() * resp.col(k).segment(begin, size).array();
      acc.S[static_cast<size_t>(k)].noalias() += we.transpose() * e;
    }
  });
  return total.S;
}

MStepReport GaussianExperts::fit(const ConstMatrixRef&,
                                 const ConstMatrixRef& y,
                                 const ConstMatrixRef& resp) {
  const Index K = components(), q = response_dim();
  if (cov_.dim() != q || resp.cols() != K) throw Error("GaussianExperts::fit: shape mismatch");
  // Reference scale for the collapse test: the variance of each response.
  cov_.set_reference_variance(response_variance(y));
  // Means: M = R' Y / N (McLachlan & Peel 2000, eq. 3.4), summed in block order.
  struct Acc {
    Matrix RY;
    Vector N;
    Acc& operator+=(const Acc& o) {
      RY += o.RY;
      N += o.N;
      return *this;
    }
  };
  Acc total = reduce_blocks(
      y.rows(), Acc{Matrix::Zero(K, q), Vector::Zero(K)}, [&](Index begin, Index size, Acc& acc) {
        acc.RY.noalias() += resp.middleRows(begin, size).transpose() * y.middleRows(begin, size);
        acc.N += resp.middleRows(begin, size).colwise().sum().transpose();
      });
  MStepReport report;
  const Matrix old_means = means_;
  for (Index k = 0; k < K; ++k)
    if (total.N(k) > 0) means_.row(k) = total.RY.row(k) / total.N(k);
  // Covariances from the scatter about the new means (eq. 3.5), by structure.
  report.collapsed = cov_.fit(scatter(y, resp), total.N, collapse_tol_);
  for (Index k : report.collapsed) means_.row(k) = old_means.row(k);
  return report;
}

void GaussianExperts::export_pack(kernels::GaussianRegressionStorage& out) const {
  const Index K = components(), q = response_dim();
  out.K = static_cast<int>(K);
  out.p = 0;
  out.q = static_cast<int>(q);
  out.coef.resize(static_cast<size_t>(K * q));
  for (Index k = 0; k < K; ++k)
    for (Index c = 0; c < q; ++c) out.coef[static_cast<size_t>(k * q + c)] = means_(k, c);
  cov_.export_factors(out.chol, out.log_norm, out.inv_diag);
}

MStepReport GaussianExperts::fit_moments(const GaussianMoments& moments) {
  const Index K = components(), q = response_dim();
  if (moments.p != 0 || moments.q != q || moments.components() != K)
    throw Error("GaussianExperts::fit_moments: shape mismatch");
  cov_.set_reference_variance(moments.response_variance);
  // With s_k = sum_i r_ik (y_i - mu_k) and S_k the scatter about the current mean mu_k, the
  // new mean is mu_k + s_k / N_k and the scatter about it S_k - s_k s_k' / N_k: eqs. 3.4-3.5
  // of McLachlan & Peel (2000) rewritten about the current fit.
  // Into the experts' scratch, which an EM iteration then reuses without allocating.
  MomentsWork& w = *scratch_;
  w.old_means = means_;
  w.scatter.resize(static_cast<size_t>(K));
  w.mass.resize(K);
  for (Index k = 0; k < K; ++k) {
    const Matrix& M = moments.M[static_cast<size_t>(k)];
    w.mass(k) = M(0, 0);
    w.first = M.block(0, 1, 1, q);
    w.centred = M.block(1, 1, q, q);
    if (w.mass(k) > 0) {
      means_.row(k) += w.first / w.mass(k);
      w.outer.noalias() = w.first.transpose() * w.first;
      w.centred -= w.outer / w.mass(k);
    }
    w.scatter[static_cast<size_t>(k)] = 0.5 * (w.centred + w.centred.transpose());
  }
  MStepReport report;
  report.collapsed = cov_.fit(w.scatter, w.mass, collapse_tol_);
  for (Index k : report.collapsed) means_.row(k) = w.old_means.row(k);
  return report;
}

std::string GaussianExperts::settings_note() const {
  const CovarianceStructure c = cov_.structure();
  if (to_string(c) == mclust_name(c))
    return fmt::format("covariance {} (mclust's name)", to_string(c));
  return fmt::format("covariance {} (mclust {})", to_string(c), mclust_name(c));
}

Vector GaussianExperts::score(const ConstMatrixRef&,
                              const ConstMatrixRef& y,
                              const ConstMatrixRef& resp) const {
  const Index K = components(), q = response_dim();
  Vector out(K * q);
  const std::vector<Matrix> S = scatter(y, resp);
  std::vector<Matrix> G(static_cast<size_t>(K));
  for (Index k = 0; k < K; ++k) {
    // d/d mu_k = Sigma_k^{-1} sum_i r_ik (y_i - mu_k)
    Vector s =
        (resp.col(k).transpose() * y).transpose() - resp.col(k).sum() * means_.row(k).transpose();
    const Matrix& L = cov_.cholesky(k);
    L.triangularView<Eigen::Lower>().solveInPlace(s);
    L.transpose().triangularView<Eigen::Upper>().solveInPlace(s);
    out.segment(k * q, q) = s;
    G[static_cast<size_t>(k)] = cov_.gradient(k, S[static_cast<size_t>(k)], resp.col(k).sum());
  }
  cov_.append_score(G, out);
  return out;
}

Vector GaussianExperts::parameters() const {
  const Index K = components(), q = response_dim();
  Vector theta(K * q);
  for (Index k = 0; k < K; ++k) theta.segment(k * q, q) = means_.row(k).transpose();
  cov_.append_parameters(theta);
  return theta;
}

void GaussianExperts::set_parameters(const ConstVectorRef& theta) {
  const Index K = components(), q = response_dim();
  if (theta.size() != num_params() - 0)
    throw Error("GaussianExperts::set_parameters: wrong length");
  for (Index k = 0; k < K; ++k) means_.row(k) = theta.segment(k * q, q).transpose();
  Index pos = K * q;
  cov_.read_parameters(theta, pos);
}

Index GaussianExperts::num_params() const {
  return components() * response_dim() + cov_.num_params();
}

std::vector<Matrix> GaussianExperts::predict_means(const ConstMatrixRef& x) const {
  std::vector<Matrix> out;
  for (Index k = 0; k < components(); ++k) out.push_back(means_.row(k).replicate(x.rows(), 1));
  return out;
}

Matrix GaussianExperts::sample(const ConstMatrixRef& x,
                               const std::vector<Index>& component,
                               Rng& rng) const {
  const Index q = response_dim();
  Matrix y(x.rows(), q);
  Vector z(q);
  for (Index i = 0; i < x.rows(); ++i) {
    const Index k = component[static_cast<size_t>(i)];
    for (Index j = 0; j < q; ++j) z(j) = standard_normal(rng);
    y.row(i) = means_.row(k) + (cov_.cholesky(k).triangularView<Eigen::Lower>() * z).transpose();
  }
  return y;
}

void GaussianExperts::reseed(Index k, const ConstMatrixRef&, const ConstMatrixRef& y, Index row) {
  means_.row(k) = y.row(row);
  if (is_tied(cov_.structure())) return;
  // A broad start: the covariance of the whole data set, in the component's structure.
  const RowVector mean = y.colwise().mean();
  const Matrix centered = y.rowwise() - mean;
  Matrix S =
      centered.transpose() * centered / static_cast<double>(std::max<Index>(1, y.rows() - 1));
  cov_.reseed(k, S);
}

std::vector<ParameterMap> GaussianExperts::component_params() const {
  std::vector<ParameterMap> out;
  for (Index k = 0; k < components(); ++k) {
    ParameterMap p;
    p["mean"] = means_.row(k).transpose();
    if (!is_tied(cov_.structure())) p["covariance"] = cov_.covariance(k);
    out.push_back(p);
  }
  return out;
}

ParameterMap GaussianExperts::shared_params() const {
  if (!is_tied(cov_.structure())) return {};
  return {{"covariance", cov_.covariance(0)}};
}

void GaussianExperts::set_params(const std::vector<ParameterMap>& components,
                                 const ParameterMap& shared) {
  const Index K = this->components(), q = response_dim();
  auto get = [](const ParameterMap& m, const std::string& name, Index rows, Index cols,
                const std::string& where) {
    auto it = m.find(name);
    if (it == m.end()) throw ModelFormatError(fmt::format("{}: missing '{}'", where, name));
    if (it->second.rows() != rows || it->second.cols() != cols)
      throw ModelFormatError(fmt::format("{}: '{}' is {}x{}, expected {}x{}", where, name,
                                         it->second.rows(), it->second.cols(), rows, cols));
    return it->second;
  };
  if (static_cast<Index>(components.size()) != K)
    throw ModelFormatError(
        fmt::format("gaussian experts: {} components given, expected {}", components.size(), K));
  for (Index k = 0; k < K; ++k) {
    const std::string where = fmt::format("gaussian expert {}", k + 1);
    means_.row(k) = get(components[static_cast<size_t>(k)], "mean", q, 1, where).transpose();
    if (!is_tied(cov_.structure())) {
      const Matrix S = get(components[static_cast<size_t>(k)], "covariance", q, q, where);
      cov_.check_loaded(S, where + ": 'covariance'");
      cov_.set(k, S);
    }
  }
  if (!is_tied(cov_.structure())) cov_.check_structure("gaussian experts");
  if (is_tied(cov_.structure())) {
    const Matrix S = get(shared, "covariance", q, q, "gaussian experts (tied)");
    cov_.check_loaded(S, "gaussian experts (tied): 'covariance'");
    cov_.set(0, S);
  }
}

}  // namespace moekit
