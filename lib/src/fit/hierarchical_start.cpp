#include "moekit/fit/hierarchical_start.hpp"

#include "moekit/core/error.hpp"
#include "moekit/core/parallel.hpp"
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

Cluster merged(const Cluster& a, const Cluster& b) {
  Cluster m;
  m.n = a.n + b.n;
  const RowVector delta = b.mean - a.mean;
  m.mean = a.mean + delta * (b.n / m.n);
  m.scatter = a.scatter + b.scatter + (a.n * b.n / m.n) * delta.transpose() * delta;
  return m;
}

// log |S| of a symmetric positive definite d x d matrix held row-major in s (its lower
// triangle is read and overwritten by the Cholesky factor). The log of the product of the
// squared pivots, taken in groups of 8 so that the product neither overflows nor underflows
// for pivots of standardised data: one log per group instead of one per pivot.
double log_det_in_place(double* s, Index d) {
  double logdet = 0.0, product = 1.0;
  for (Index j = 0; j < d; ++j) {
    double* rj = s + j * d;
    double pivot = rj[j];
    for (Index k = 0; k < j; ++k) pivot -= rj[k] * rj[k];
    if (!(pivot > 0.0)) return std::numeric_limits<double>::infinity();
    const double root = std::sqrt(pivot);
    rj[j] = root;
    for (Index i = j + 1; i < d; ++i) {
      double* ri = s + i * d;
      double v = ri[j];
      for (Index k = 0; k < j; ++k) v -= ri[k] * rj[k];
      ri[j] = v / root;
    }
    product *= pivot;
    if (j % 8 == 7) {
      logdet += std::log(product);
      product = 1.0;
    }
  }
  return logdet + std::log(product);
}

// The clusters of the agglomeration in flat arrays (sizes, means m x d, scatters m x d x d),
// so that a merge's cost is computed without allocating: it is the inner loop, run about
// m^2 times.
class Agglomeration {
 public:
  Agglomeration(const Matrix& X, double ridge)
      : d_(X.cols()),
        ridge_(ridge),
        n_(static_cast<size_t>(X.rows()), 1.0),
        mean_(static_cast<size_t>(X.rows() * X.cols())),
        scatter_(static_cast<size_t>(X.rows() * X.cols() * X.cols()), 0.0),
        cost_(static_cast<size_t>(X.rows())) {
    std::vector<double> buffer(static_cast<size_t>(d_ * d_));
    for (Index i = 0; i < X.rows(); ++i) {
      for (Index c = 0; c < d_; ++c) mean_[static_cast<size_t>(i * d_ + c)] = X(i, c);
      cost_[static_cast<size_t>(i)] = merge_cost(i, i, buffer.data(), true);
    }
  }

  double cost(Index i) const { return cost_[static_cast<size_t>(i)]; }

  // n_k log |(W_k + ridge I) / n_k| of clusters a and b merged (or of a alone): minus twice
  // the cluster's share of the classification log-likelihood of a Gaussian with
  // unconstrained covariance, up to constants (Banfield & Raftery 1993, eq. 9; the ridge is
  // Fraley 1998's regularisation of small clusters). `buffer` holds d x d doubles.
  double merge_cost(Index a, Index b, double* buffer, bool alone = false) const {
    const double na = n_[static_cast<size_t>(a)], nb = alone ? 0.0 : n_[static_cast<size_t>(b)];
    const double n = na + nb, weight = na * nb / n;
    const double* ma = &mean_[static_cast<size_t>(a * d_)];
    const double* mb = &mean_[static_cast<size_t>(b * d_)];
    const double* wa = &scatter_[static_cast<size_t>(a * d_ * d_)];
    const double* wb = &scatter_[static_cast<size_t>(b * d_ * d_)];
    for (Index r = 0; r < d_; ++r) {
      const double dr = weight * (mb[r] - ma[r]);
      for (Index c = 0; c <= r; ++c) {
        const double w = alone ? wa[r * d_ + c] : wa[r * d_ + c] + wb[r * d_ + c];
        buffer[r * d_ + c] = (w + dr * (mb[c] - ma[c])) / n;
      }
      buffer[r * d_ + r] += ridge_ / n;
    }
    return n * log_det_in_place(buffer, d_);
  }

  // Cluster a becomes a and b merged (b is left unused).
  void merge(Index a, Index b, double* buffer) {
    const double na = n_[static_cast<size_t>(a)], nb = n_[static_cast<size_t>(b)];
    const double n = na + nb, weight = na * nb / n;
    double* ma = &mean_[static_cast<size_t>(a * d_)];
    const double* mb = &mean_[static_cast<size_t>(b * d_)];
    double* wa = &scatter_[static_cast<size_t>(a * d_ * d_)];
    const double* wb = &scatter_[static_cast<size_t>(b * d_ * d_)];
    for (Index r = 0; r < d_; ++r)
      for (Index c = 0; c < d_; ++c)
        wa[r * d_ + c] += wb[r * d_ + c] + weight * (mb[r] - ma[r]) * (mb[c] - ma[c]);
    for (Index c = 0; c < d_; ++c) ma[c] += (mb[c] - ma[c]) * (nb / n);
    n_[static_cast<size_t>(a)] = n;
    cost_[static_cast<size_t>(a)] = merge_cost(a, a, buffer, true);
  }

 private:
  Index d_;
  double ridge_;
  std::vector<double> n_, mean_, scatter_, cost_;
};

std::vector<Index> agglomerate(const Matrix& X, Index K, double ridge) {
  const Index n = X.rows(), d = X.cols();
  Agglomeration cl(X, ridge);
  // delta(i, j): the rise in the summed costs if clusters i and j merge. Merges leave every
  // other pair's value as it was, so one row and column are recomputed per merge, and each
  // cluster keeps its cheapest partner. The first matrix's pairs are independent: they are
  // computed on the threads, each task writing its own entries (results do not depend on
  // the thread count).
  constexpr Index kChunk = 64;
  const Index chunks = (n + kChunk - 1) / kChunk;
  Matrix delta = Matrix::Constant(n, n, std::numeric_limits<double>::infinity());
  parallel_tasks(chunks, [&](Index t) {
    std::vector<double> buffer(static_cast<size_t>(d * d));
    for (Index j = t * kChunk; j < std::min(n, (t + 1) * kChunk); ++j)
      for (Index i = 0; i < j; ++i)
        delta(i, j) = cl.merge_cost(i, j, buffer.data()) - cl.cost(i) - cl.cost(j);
  });
  for (Index j = 0; j < n; ++j)
    for (Index i = 0; i < j; ++i) delta(j, i) = delta(i, j);
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
  std::vector<double> buffer(static_cast<size_t>(d * d));
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
    cl.merge(a, b, buffer.data());
    active[static_cast<size_t>(b)] = 0;
    for (auto& o : owner)
      if (o == b) o = a;
    delta.row(b).setConstant(std::numeric_limits<double>::infinity());
    delta.col(b).setConstant(std::numeric_limits<double>::infinity());
    // One merge's row is short work: a parallel region per merge would cost more than it
    // saves when the threads are not idle.
    for (Index j = 0; j < n; ++j)
      if (j != a && active[static_cast<size_t>(j)])
        delta(j, a) = cl.merge_cost(a, j, buffer.data()) - cl.cost(a) - cl.cost(j);
    delta.row(a) = delta.col(a).transpose();
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
  std::vector<Matrix> factor(static_cast<size_t>(K));
  Vector log_norm(K);
  for (Index k = 0; k < K; ++k) {
    const auto& c = cl[static_cast<size_t>(k)];
    Matrix cov = c.scatter / c.n;
    cov.diagonal().array() += ridge / c.n;
    const Eigen::LLT<Matrix> llt(cov);
    factor[static_cast<size_t>(k)] = llt.matrixL();
    double logdet = 0.0;
    for (Index j = 0; j < d; ++j) logdet += 2.0 * std::log(llt.matrixL()(j, j));
    log_norm(k) = std::log(c.n) - 0.5 * logdet;
  }
  // Each row's most probable cluster, by blocks of rows: the Mahalanobis distances as one
  // triangular solve per cluster and block (L^-1 (x - m)), never an inverse.
  std::vector<Index> label(static_cast<size_t>(n));
  parallel_blocks(n, [&](Index, Index begin, Index size) {
    Vector top = Vector::Constant(size, -std::numeric_limits<double>::infinity());
    Matrix centred(d, size);
    for (Index k = 0; k < K; ++k) {
      centred = (X.middleRows(begin, size).rowwise() - cl[static_cast<size_t>(k)].mean).transpose();
      factor[static_cast<size_t>(k)].triangularView<Eigen::Lower>().solveInPlace(centred);
      for (Index i = 0; i < size; ++i) {
        const double v = log_norm(k) - 0.5 * centred.col(i).squaredNorm();
        if (k == 0 || v > top(i)) {
          top(i) = v;
          label[static_cast<size_t>(begin + i)] = k;
        }
      }
    }
  });
  for (Index i = 0; i < m; ++i)
    label[static_cast<size_t>(rows[static_cast<size_t>(i)])] = sub[static_cast<size_t>(i)];
  return label;
}

}  // namespace moekit
