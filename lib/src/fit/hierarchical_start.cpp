#include "moekit/fit/hierarchical_start.hpp"

#include "moekit/core/error.hpp"
#include "moekit/fit/init.hpp"

#include <fmt/format.h>

#include <Eigen/Cholesky>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace moekit {

namespace {

// One cluster's sufficient statistics: size, mean and scatter matrix W = sum (x - m)(x - m)'.
struct Cluster {
  double n = 0.0;
  RowVector mean;
  Matrix scatter;
};

// n_k log |(W_k + ridge I) / n_k|: minus twice the cluster's share of the classification
// log-likelihood of a Gaussian with unconstrained covariance, up to constants (Banfield &
// Raftery 1993, eq. 9; the ridge is Fraley 1998's regularisation of small clusters).
double cluster_cost(const Cluster& c, double ridge) {
  const Index d = c.scatter.rows();
  Matrix s = c.scatter / c.n;
  s.diagonal().array() += ridge / c.n;
  const Eigen::LLT<Matrix> llt(s);
  double logdet = 0.0;
  for (Index j = 0; j < d; ++j) logdet += 2.0 * std::log(llt.matrixL()(j, j));
  return c.n * logdet;
}

Cluster merged(const Cluster& a, const Cluster& b) {
  Cluster m;
  m.n = a.n + b.n;
  const RowVector delta = b.mean - a.mean;
  m.mean = a.mean + delta * (b.n / m.n);
  m.scatter = a.scatter + b.scatter + (a.n * b.n / m.n) * delta.transpose() * delta;
  return m;
}

std::vector<Index> agglomerate(const Matrix& X, Index K, double ridge) {
  const Index n = X.rows(), d = X.cols();
  std::vector<Cluster> cl(static_cast<size_t>(n));
  std::vector<double> cost(static_cast<size_t>(n));
  for (Index i = 0; i < n; ++i) {
    auto& c = cl[static_cast<size_t>(i)];
    c.n = 1.0;
    c.mean = X.row(i);
    c.scatter = Matrix::Zero(d, d);
    cost[static_cast<size_t>(i)] = cluster_cost(c, ridge);
  }
  // delta(i, j): the rise in the summed costs if clusters i and j merge. Merges leave every
  // other pair's value as it was, so one row and column are recomputed per merge, and each
  // cluster keeps its cheapest partner.
  Matrix delta = Matrix::Constant(n, n, std::numeric_limits<double>::infinity());
  auto pair_cost = [&](Index i, Index j) {
    const auto& a = cl[static_cast<size_t>(i)];
    const auto& b = cl[static_cast<size_t>(j)];
    return cluster_cost(merged(a, b), ridge) - cost[static_cast<size_t>(i)] -
           cost[static_cast<size_t>(j)];
  };
  for (Index j = 0; j < n; ++j)
    for (Index i = 0; i < j; ++i) delta(i, j) = delta(j, i) = pair_cost(i, j);
  std::vector<char> active(static_cast<size_t>(n), 1);
  std::vector<Index> partner(static_cast<size_t>(n), 0), owner(static_cast<size_t>(n));
  std::iota(owner.begin(), owner.end(), Index{0});
  auto refresh = [&](Index i) {
    Index best = -1;
    double value = std::numeric_limits<double>::infinity();
    for (Index j = 0; j < n; ++j)
      if (j != i && active[static_cast<size_t>(j)] && (best < 0 || delta(i, j) < value)) {
        best = j;
        value = delta(i, j);
      }
    partner[static_cast<size_t>(i)] = best;
  };
  for (Index i = 0; i < n; ++i) refresh(i);
  for (Index left = n; left > K; --left) {
    Index a = -1;
    double value = std::numeric_limits<double>::infinity();
    for (Index i = 0; i < n; ++i) {
      if (!active[static_cast<size_t>(i)]) continue;
      const double v = delta(i, partner[static_cast<size_t>(i)]);
      if (a < 0 || v < value) {
        a = i;
        value = v;
      }
    }
    Index b = partner[static_cast<size_t>(a)];
    if (b < a) std::swap(a, b);
    cl[static_cast<size_t>(a)] = merged(cl[static_cast<size_t>(a)], cl[static_cast<size_t>(b)]);
    cost[static_cast<size_t>(a)] = cluster_cost(cl[static_cast<size_t>(a)], ridge);
    active[static_cast<size_t>(b)] = 0;
    cl[static_cast<size_t>(b)] = Cluster{};
    for (auto& o : owner)
      if (o == b) o = a;
    delta.row(b).setConstant(std::numeric_limits<double>::infinity());
    delta.col(b).setConstant(std::numeric_limits<double>::infinity());
    for (Index j = 0; j < n; ++j)
      if (j != a && active[static_cast<size_t>(j)]) delta(a, j) = delta(j, a) = pair_cost(a, j);
    if (left - 1 == K) break;
    refresh(a);
    for (Index j = 0; j < n; ++j) {
      if (j == a || !active[static_cast<size_t>(j)]) continue;
      const Index p = partner[static_cast<size_t>(j)];
      if (p == a || p == b)
        refresh(j);
      else if (delta(j, a) < delta(j, p))
        partner[static_cast<size_t>(j)] = a;
    }
  }
  // Number the clusters 0..K-1 in the order of their first row.
  std::vector<Index> number(static_cast<size_t>(n), -1), label(static_cast<size_t>(n));
  Index next = 0;
  for (Index i = 0; i < n; ++i) {
    Index& k = number[static_cast<size_t>(owner[static_cast<size_t>(i)])];
    if (k < 0) k = next++;
    label[static_cast<size_t>(i)] = k;
  }
  return label;
}

}  // namespace

std::vector<Index> hierarchical_labels(const ConstMatrixRef& features,
                                       Index K,
                                       Rng& rng,
                                       const HierarchicalOptions& options) {
  const Index n = features.rows(), d = features.cols();
  if (K < 1 || n < K)
    throw InputError(fmt::format("{} rows cannot be split into {} components", n, K));
  const Matrix X = standardised_columns(features);
  // The standardised columns have unit variance: alpha times the mean variance is alpha.
  const double ridge = options.alpha;
  if (n <= std::max(options.max_rows, K)) return agglomerate(X, K, ridge);

  // A random subset of max_rows rows (partial Fisher-Yates shuffle).
  std::vector<Index> rows(static_cast<size_t>(n));
  std::iota(rows.begin(), rows.end(), Index{0});
  const Index m = std::max(options.max_rows, K);
  for (Index i = 0; i < m; ++i) {
    const Index j =
        i + std::min(n - 1 - i, static_cast<Index>(uniform01(rng) * static_cast<double>(n - i)));
    std::swap(rows[static_cast<size_t>(i)], rows[static_cast<size_t>(j)]);
  }
  std::sort(rows.begin(), rows.begin() + m);
  Matrix S(m, d);
  for (Index i = 0; i < m; ++i) S.row(i) = X.row(rows[static_cast<size_t>(i)]);
  const std::vector<Index> sub = agglomerate(S, K, ridge);
  // Each cluster's Gaussian: its mean and regularised covariance.
  std::vector<Cluster> cl(static_cast<size_t>(K));
  for (auto& c : cl) {
    c.mean = RowVector::Zero(d);
    c.scatter = Matrix::Zero(d, d);
  }
  for (Index i = 0; i < m; ++i) {
    Cluster one{1.0, S.row(i), Matrix::Zero(d, d)};
    auto& c = cl[static_cast<size_t>(sub[static_cast<size_t>(i)])];
    c = c.n == 0.0 ? one : merged(c, one);
  }
  std::vector<Eigen::LLT<Matrix>> chol;
  Vector log_norm(K);
  for (Index k = 0; k < K; ++k) {
    const auto& c = cl[static_cast<size_t>(k)];
    Matrix cov = c.scatter / c.n;
    cov.diagonal().array() += ridge / c.n;
    chol.emplace_back(cov);
    double logdet = 0.0;
    for (Index j = 0; j < d; ++j) logdet += 2.0 * std::log(chol.back().matrixL()(j, j));
    log_norm(k) = std::log(c.n) - 0.5 * logdet;
  }
  std::vector<Index> label(static_cast<size_t>(n));
  for (Index i = 0; i < n; ++i) {
    Index best = 0;
    double top = -std::numeric_limits<double>::infinity();
    for (Index k = 0; k < K; ++k) {
      const Vector r = (X.row(i) - cl[static_cast<size_t>(k)].mean).transpose();
      const double v = log_norm(k) - 0.5 * r.dot(chol[static_cast<size_t>(k)].solve(r));
      if (v > top) {
        top = v;
        best = k;
      }
    }
    label[static_cast<size_t>(i)] = best;
  }
  for (Index i = 0; i < m; ++i)
    label[static_cast<size_t>(rows[static_cast<size_t>(i)])] = sub[static_cast<size_t>(i)];
  return label;
}

}  // namespace moekit
