#include "moekit/fit/init.hpp"

#include "moekit/core/error.hpp"
#include "moekit/fit/hierarchical_start.hpp"

#include <fmt/format.h>

#include <Eigen/QR>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace moekit {

std::vector<Index> kmeans_plus_plus(const ConstMatrixRef& features,
                                    Index K,
                                    int iterations,
                                    Rng& rng) {
  const Index n = features.rows(), d = features.cols();
  if (n < K) throw InputError(fmt::format("{} rows cannot be split into {} components", n, K));
  // Standardise so that the clustering does not depend on the units of each column.
  const RowVector mean = features.colwise().mean();
  RowVector sd =
      ((features.rowwise() - mean).array().square().colwise().sum() / static_cast<double>(n))
          .sqrt();
  for (Index j = 0; j < d; ++j)
    if (!(sd(j) > 0)) sd(j) = 1.0;
  const Matrix X = (features.rowwise() - mean).array().rowwise() / sd.array();

  Matrix centers(K, d);
  Vector dist = Vector::Constant(n, std::numeric_limits<double>::infinity());
  Index first = static_cast<Index>(uniform01(rng) * static_cast<double>(n));
  centers.row(0) = X.row(std::min(first, n - 1));
  for (Index c = 1; c < K; ++c) {
    dist = dist.cwiseMin((X.rowwise() - centers.row(c - 1)).rowwise().squaredNorm());
    const double total = dist.sum();
    Index pick = 0;
    if (total > 0) {
      // D^2 sampling (Arthur & Vassilvitskii 2007).
      double u = uniform01(rng) * total, acc = 0.0;
      for (pick = 0; pick < n - 1; ++pick) {
        acc += dist(pick);
        if (acc > u) break;
      }
    } else {
      pick = static_cast<Index>(uniform01(rng) * static_cast<double>(n));
    }
    centers.row(c) = X.row(std::min(pick, n - 1));
  }

  std::vector<Index> label(static_cast<size_t>(n), 0);
  Matrix d2(n, K);
  for (int it = 0; it <= iterations; ++it) {
    for (Index c = 0; c < K; ++c)
      d2.col(c) = (X.rowwise() - centers.row(c)).rowwise().squaredNorm();
    bool changed = false;
    for (Index i = 0; i < n; ++i) {
      Index best;
      d2.row(i).minCoeff(&best);
      changed = changed || label[static_cast<size_t>(i)] != best;
      label[static_cast<size_t>(i)] = best;
    }
    if ((!changed && it > 0) || it == iterations) break;
    Matrix sum = Matrix::Zero(K, d);
    Vector count = Vector::Zero(K);
    for (Index i = 0; i < n; ++i) {
      sum.row(label[static_cast<size_t>(i)]) += X.row(i);
      count(label[static_cast<size_t>(i)]) += 1.0;
    }
    for (Index c = 0; c < K; ++c) {
      if (count(c) > 0) {
        centers.row(c) = sum.row(c) / count(c);
      } else {
        // Empty cluster: move it to the point farthest from its centre.
        Index far = 0;
        double worst = -1.0;
        for (Index i = 0; i < n; ++i)
          if (d2(i, label[static_cast<size_t>(i)]) > worst) {
            worst = d2(i, label[static_cast<size_t>(i)]);
            far = i;
          }
        centers.row(c) = X.row(far);
        label[static_cast<size_t>(far)] = c;
        d2(far, c) = 0.0;
      }
    }
  }
  return label;
}

InitMethod start_method(InitMethod requested, const Model& model, int restart) {
  if (requested != InitMethod::Auto) return requested;
  // A Gaussian mixture, or a joint model of (z, y): clusters in the joint space are what
  // the model is, and mclust's agglomeration finds thin clusters that k-means cuts across.
  const bool clusters = !model.experts().reads_covariates() || model.joint();
  return clusters && restart == 0 ? InitMethod::Hierarchical : InitMethod::ShortEm;
}

InitMethod candidate_method(const Model& model, int candidate) {
  if (!model.experts().reads_covariates() || model.joint())
    return candidate % 2 == 0 ? InitMethod::KMeansPlusPlus : InitMethod::RandomPartition;
  const bool gated = model.gates_read_covariates();
  std::vector<InitMethod> kinds;
  if (!model.experts().categorical()) kinds.push_back(InitMethod::RandomLines);
  if (gated) kinds.push_back(InitMethod::RandomSegments);
  kinds.insert(kinds.end(),
               {InitMethod::RandomPartition, InitMethod::Random, InitMethod::KMeansPlusPlus});
  return kinds[static_cast<size_t>(candidate) % kinds.size()];
}

Matrix random_lines(const ConstMatrixRef& x, const ConstMatrixRef& y, Index K, Rng& rng) {
  const Index n = x.rows(), p = x.cols(), q = y.cols();
  if (n < K || n < p)
    throw InputError(fmt::format("{} rows cannot be split into {} components", n, K));
  Matrix dist(n, K);
  std::vector<Index> rows(static_cast<size_t>(p));
  for (Index k = 0; k < K; ++k) {
    Matrix B;
    // A design of p random rows can be singular (repeated x values): draw again.
    for (int attempt = 0; attempt < 20; ++attempt) {
      for (Index j = 0; j < p; ++j) {
        Index r;
        do {
          r = std::min(n - 1, static_cast<Index>(uniform01(rng) * static_cast<double>(n)));
        } while (std::find(rows.begin(), rows.begin() + j, r) != rows.begin() + j);
        rows[static_cast<size_t>(j)] = r;
      }
      Matrix xs(p, p), ys(p, q);
      for (Index j = 0; j < p; ++j) {
        xs.row(j) = x.row(rows[static_cast<size_t>(j)]);
        ys.row(j) = y.row(rows[static_cast<size_t>(j)]);
      }
      Eigen::ColPivHouseholderQR<Matrix> qr(xs);
      if (qr.rank() == p || attempt == 19) {
        B = qr.solve(ys);
        break;
      }
    }
    dist.col(k) = (y - x * B).rowwise().squaredNorm();
  }
  // Each line's noise scale from the rows it fits best: the median squared residual of its
  // nearest max(p + 1, n / K) rows, over the median of chi^2_q (Wilson-Hilferty). A line
  // through rows of a thin cluster then starts thin, so that the rows along it are not
  // shared with a wide component the first M-step would blend it into (tonedata's 145.42
  // basin, docs/starts.md).
  const Index m = std::min(n, std::max(p + 1, n / K));
  const double dq = static_cast<double>(q);
  const double chi2_median = dq * std::pow(1.0 - 2.0 / (9.0 * dq), 3);
  double total = 0.0;
  for (Index j = 0; j < q; ++j) {
    const double mean = y.col(j).mean();
    total += (y.col(j).array() - mean).square().sum() / static_cast<double>(n);
  }
  // No line starts thinner than the degeneracy bound (1% of the response scale).
  const double floor2 = 1e-4 * total / dq + std::numeric_limits<double>::min();
  Vector s2(K);
  std::vector<double> sorted(static_cast<size_t>(n));
  for (Index k = 0; k < K; ++k) {
    for (Index i = 0; i < n; ++i) sorted[static_cast<size_t>(i)] = dist(i, k);
    const auto mid = sorted.begin() + (m - 1) / 2;
    std::nth_element(sorted.begin(), mid, sorted.end());
    s2(k) = std::max(*mid / chi2_median, floor2);
  }
  Matrix resp(n, K);
  for (Index i = 0; i < n; ++i) {
    for (Index k = 0; k < K; ++k) resp(i, k) = -0.5 * (dq * std::log(s2(k)) + dist(i, k) / s2(k));
    const double top = resp.row(i).maxCoeff();
    resp.row(i) = (resp.row(i).array() - top).exp();
    resp.row(i) /= resp.row(i).sum();
  }
  return resp;
}

Matrix random_segments(const ConstMatrixRef& z, Index K, Rng& rng) {
  const Index n = z.rows();
  if (n < K) throw InputError(fmt::format("{} rows cannot be split into {} components", n, K));
  // A random direction in the space of the standardised, non-constant gate covariates.
  Vector score = Vector::Zero(n);
  for (Index j = 0; j < z.cols(); ++j) {
    const double mean = z.col(j).mean();
    const double sd = std::sqrt((z.col(j).array() - mean).square().mean());
    const double w = standard_normal(rng);
    if (sd > 0) score += w * (z.col(j).array() - mean).matrix() / sd;
  }
  std::vector<Index> order(static_cast<size_t>(n));
  for (Index i = 0; i < n; ++i) order[static_cast<size_t>(i)] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](Index a, Index b) { return score(a) < score(b); });
  // K - 1 distinct random cuts among the n - 1 gaps: K non-empty blocks.
  std::vector<Index> cuts;
  while (static_cast<Index>(cuts.size()) < K - 1) {
    const Index c =
        1 + std::min(n - 2, static_cast<Index>(uniform01(rng) * static_cast<double>(n - 1)));
    if (std::find(cuts.begin(), cuts.end(), c) == cuts.end()) cuts.push_back(c);
  }
  std::sort(cuts.begin(), cuts.end());
  cuts.push_back(n);
  // The blocks go to the components in a random order.
  std::vector<Index> comp(static_cast<size_t>(K));
  for (Index k = 0; k < K; ++k) comp[static_cast<size_t>(k)] = k;
  for (Index k = K - 1; k > 0; --k)
    std::swap(comp[static_cast<size_t>(k)],
              comp[static_cast<size_t>(std::min(
                  k, static_cast<Index>(uniform01(rng) * static_cast<double>(k + 1))))]);
  Matrix resp = Matrix::Zero(n, K);
  Index block = 0;
  for (Index r = 0; r < n; ++r) {
    while (r >= cuts[static_cast<size_t>(block)]) ++block;
    resp(order[static_cast<size_t>(r)], comp[static_cast<size_t>(block)]) = 1.0;
  }
  return resp;
}

Matrix initial_responsibilities(
    const ConstMatrixRef& features, Index K, InitMethod method, int kmeans_iter, Rng& rng) {
  const Index n = features.rows();
  Matrix resp = Matrix::Zero(n, K);
  if (method == InitMethod::Random) {
    if (n < K) throw InputError(fmt::format("{} rows cannot be split into {} components", n, K));
    for (Index i = 0; i < n; ++i) {
      for (Index k = 0; k < K; ++k) resp(i, k) = uniform01(rng) + 1e-12;
      resp.row(i) /= resp.row(i).sum();
    }
    return resp;
  }
  if (method == InitMethod::RandomPartition) {
    if (n < K) throw InputError(fmt::format("{} rows cannot be split into {} components", n, K));
    // Every component gets one row of its own first, so that none starts empty.
    std::vector<Index> order(static_cast<size_t>(n));
    for (Index i = 0; i < n; ++i) order[static_cast<size_t>(i)] = i;
    for (Index k = 0; k < K; ++k) {
      const Index j = k + std::min(n - 1 - k, static_cast<Index>(uniform01(rng) *
                                                                 static_cast<double>(n - k)));
      std::swap(order[static_cast<size_t>(k)], order[static_cast<size_t>(j)]);
      resp(order[static_cast<size_t>(k)], k) = 1.0;
    }
    for (Index i = K; i < n; ++i) {
      const Index k = std::min(K - 1, static_cast<Index>(uniform01(rng) * static_cast<double>(K)));
      resp(order[static_cast<size_t>(i)], k) = 1.0;
    }
    return resp;
  }
  const std::vector<Index> label = method == InitMethod::Hierarchical
                                       ? hierarchical_labels(features, K, rng)
                                       : kmeans_plus_plus(features, K, kmeans_iter, rng);
  for (Index i = 0; i < n; ++i) resp(i, label[static_cast<size_t>(i)]) = 1.0;
  return resp;
}

}  // namespace moekit
