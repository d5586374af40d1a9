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

namespace {

// Above this many rows random segments are cut uniformly (the block scores take n^2 / 2
// least-squares fits).
constexpr Index kMaxSegmentRows = 1500;
// Random segments: the responsibility a row's block leaves to the other components (0.1 and
// 0.3 reach mcycle's best softmax-gated maximum from 7 and 9 of 50 starts, hard blocks from
// none: docs/starts.md).
constexpr double kSegmentShare = 0.3;

}  // namespace

Matrix standardised_columns(const ConstMatrixRef& features) {
  const Index n = features.rows(), d = features.cols();
  const RowVector mean = features.colwise().mean();
  RowVector sd =
      ((features.rowwise() - mean).array().square().colwise().sum() / static_cast<double>(n))
          .sqrt();
  for (Index j = 0; j < d; ++j)
    if (!(sd(j) > 0)) sd(j) = 1.0;
  return (features.rowwise() - mean).array().rowwise() / sd.array();
}

std::vector<Index> kmeans_plus_plus(const ConstMatrixRef& features,
                                    Index K,
                                    int iterations,
                                    Rng& rng) {
  const Index n = features.rows(), d = features.cols();
  if (n < K) throw InputError(fmt::format("{} rows cannot be split into {} components", n, K));
  // Standardise so that the clustering does not depend on the units of each column.
  const Matrix X = standardised_columns(features);

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
  if (clusters) return restart == 0 ? InitMethod::Hierarchical : InitMethod::ShortEm;
  // A softmax gate on covariates: every other start is random segments, which reach
  // mcycle's best softmax-gated maximum several times as often as short-EM does (its
  // selection after a few iterations favours a neighbouring basin: docs/starts.md).
  if (model.gates_read_covariates() && restart % 2 == 0) return InitMethod::RandomSegments;
  return InitMethod::ShortEm;
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

Matrix random_segments(
    const ConstMatrixRef& x, const ConstMatrixRef& y, const ConstMatrixRef& z, Index K, Rng& rng) {
  const Index n = z.rows(), p = x.cols(), q = y.cols();
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
  std::vector<Index> cuts;  // block ends, increasing, the last n
  const Index min_len = p + 2;
  if (n <= kMaxSegmentRows && n >= K * min_len) {
    // Cuts drawn from the posterior of a hard piecewise regression (y on x, one Gaussian
    // noise level per block, flat prior over the segmentations): block (a, b] scores
    // -(b - a) q / 2 log(RSS / ((b - a) q)), its profile log-likelihood. A forward pass sums
    // over segmentations, a backward pass samples one, so that the starts are varied but
    // concentrate on the segmentations that fit.
    Matrix sxx = Matrix::Zero(p, p), sxy = Matrix::Zero(p, q);
    double syy = 0.0;
    std::vector<Matrix> cxx{sxx}, cxy{sxy};
    std::vector<double> cyy{0.0};
    double total = 0.0;
    for (Index j = 0; j < q; ++j) {
      const double mean = y.col(j).mean();
      total += (y.col(j).array() - mean).square().sum();
    }
    for (Index r = 0; r < n; ++r) {
      const Index i = order[static_cast<size_t>(r)];
      sxx += x.row(i).transpose() * x.row(i);
      sxy += x.row(i).transpose() * y.row(i);
      syy += y.row(i).squaredNorm();
      cxx.push_back(sxx);
      cxy.push_back(sxy);
      cyy.push_back(syy);
    }
    const double tiny = 1e-12 * total + std::numeric_limits<double>::min();
    Matrix score_ab = Matrix::Constant(n + 1, n + 1, -std::numeric_limits<double>::infinity());
    for (Index a = 0; a < n; ++a)
      for (Index b = a + min_len; b <= n; ++b) {
        Matrix A = cxx[static_cast<size_t>(b)] - cxx[static_cast<size_t>(a)];
        const Matrix B = cxy[static_cast<size_t>(b)] - cxy[static_cast<size_t>(a)];
        A.diagonal().array() += 1e-10 * (A.trace() + 1.0);
        const double rss = std::max(cyy[static_cast<size_t>(b)] - cyy[static_cast<size_t>(a)] -
                                        (B.transpose() * A.ldlt().solve(B)).trace(),
                                    tiny);
        const double m = static_cast<double>((b - a) * q);
        score_ab(a, b) = -0.5 * m * std::log(rss / m);
      }
    // forward(k, b): log of the summed likelihoods of the first b rows in k blocks.
    const double ninf = -std::numeric_limits<double>::infinity();
    Matrix forward = Matrix::Constant(K + 1, n + 1, ninf);
    forward(0, 0) = 0.0;
    std::vector<double> terms;
    for (Index k = 1; k <= K; ++k)
      for (Index b = k * min_len; b <= n; ++b) {
        double top = ninf;
        for (Index a = (k - 1) * min_len; a + min_len <= b; ++a)
          top = std::max(top, forward(k - 1, a) + score_ab(a, b));
        if (!std::isfinite(top)) continue;
        double sum = 0.0;
        for (Index a = (k - 1) * min_len; a + min_len <= b; ++a)
          sum += std::exp(forward(k - 1, a) + score_ab(a, b) - top);
        forward(k, b) = top + std::log(sum);
      }
    Index b = n;
    cuts.push_back(n);
    for (Index k = K; k > 1; --k) {
      terms.assign(static_cast<size_t>(b), ninf);
      double top = ninf;
      for (Index a = (k - 1) * min_len; a + min_len <= b; ++a) {
        terms[static_cast<size_t>(a)] = forward(k - 1, a) + score_ab(a, b);
        top = std::max(top, terms[static_cast<size_t>(a)]);
      }
      double sum = 0.0;
      for (double& t : terms) sum += (t = std::exp(t - top));
      double u = uniform01(rng) * sum, acc = 0.0;
      Index pick = (k - 1) * min_len;
      for (Index a = (k - 1) * min_len; a + min_len <= b; ++a) {
        acc += terms[static_cast<size_t>(a)];
        pick = a;
        if (acc > u) break;
      }
      cuts.push_back(pick);
      b = pick;
    }
    std::reverse(cuts.begin(), cuts.end());
  } else {
    // Too many rows for the n^2 block scores, or too few for blocks of p + 2: K - 1 distinct
    // cuts drawn uniformly among the n - 1 gaps.
    while (static_cast<Index>(cuts.size()) < K - 1) {
      const Index c =
          1 + std::min(n - 2, static_cast<Index>(uniform01(rng) * static_cast<double>(n - 1)));
      if (std::find(cuts.begin(), cuts.end(), c) == cuts.end()) cuts.push_back(c);
    }
    std::sort(cuts.begin(), cuts.end());
    cuts.push_back(n);
  }
  // Softened: a hard split is separable, and a softmax gate's first M-step would run its
  // coefficients off to infinity.
  const double other = K > 1 ? kSegmentShare / static_cast<double>(K - 1) : 0.0;
  Matrix resp = Matrix::Constant(n, K, other);
  Index block = 0;
  for (Index r = 0; r < n; ++r) {
    while (r >= cuts[static_cast<size_t>(block)]) ++block;
    resp(order[static_cast<size_t>(r)], block) = K > 1 ? 1.0 - kSegmentShare : 1.0;
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
      const Index j =
          k + std::min(n - 1 - k, static_cast<Index>(uniform01(rng) * static_cast<double>(n - k)));
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
