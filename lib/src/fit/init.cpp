#include "moekit/fit/init.hpp"

#include "moekit/core/error.hpp"

#include <fmt/format.h>

#include <Eigen/QR>

#include <algorithm>
#include <cmath>
#include <limits>

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
  // the model is.
  if (!model.experts().reads_covariates() || model.joint()) return InitMethod::KMeansPlusPlus;
  // Regression experts: each kind of start reaches maxima the others rarely do (on mcycle
  // with 4 experts, k-means++ finds the best K = 3 fit, random lines the best softmax-gated
  // one; docs/starts.md), so they take turns. Logistic experts have no lines to draw.
  const int kinds = model.experts().categorical() ? 2 : 3;
  switch (restart % kinds) {
    case 0:
      return InitMethod::Random;
    case 1:
      return InitMethod::KMeansPlusPlus;
    default:
      return InitMethod::RandomLines;
  }
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
  Matrix resp = Matrix::Zero(n, K);
  for (Index i = 0; i < n; ++i) {
    Index best = 0;
    dist.row(i).minCoeff(&best);
    resp(i, best) = 1.0;
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
  const std::vector<Index> label = kmeans_plus_plus(features, K, kmeans_iter, rng);
  for (Index i = 0; i < n; ++i) resp(i, label[static_cast<size_t>(i)]) = 1.0;
  return resp;
}

}  // namespace moekit
