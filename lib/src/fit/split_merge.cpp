#include "moekit/fit/split_merge.hpp"

#include <Eigen/Eigenvalues>

#include <algorithm>
#include <cmath>
#include <numeric>

namespace moekit {

std::vector<SplitMergeMove> split_merge_moves(const ConstMatrixRef& leaves,
                                              const ConstVectorRef& row_loglik,
                                              Index axes,
                                              int limit) {
  const Index K = leaves.cols();
  std::vector<SplitMergeMove> moves;
  if (K < 3 || limit <= 0) return moves;
  const Vector norms = leaves.colwise().norm().transpose();
  const Vector mass = leaves.colwise().sum().transpose();
  // Poorly explained rows first: the lower the posterior-weighted mean log-likelihood of an
  // expert's rows, the likelier two structures share that expert.
  Vector fit = Vector::Zero(K);
  for (Index k = 0; k < K; ++k)
    fit(k) = mass(k) > 0 ? leaves.col(k).dot(row_loglik) / mass(k) : -1e300;
  struct Pair {
    Index a, b;
    double similarity;
  };
  std::vector<Pair> pairs;
  for (Index a = 0; a < K; ++a)
    for (Index b = a + 1; b < K; ++b) {
      const double d = norms(a) * norms(b);
      pairs.push_back({a, b, d > 0 ? leaves.col(a).dot(leaves.col(b)) / d : 0.0});
    }
  std::stable_sort(pairs.begin(), pairs.end(),
                   [](const Pair& l, const Pair& r) { return l.similarity > r.similarity; });
  std::vector<Index> by_fit(static_cast<size_t>(K));
  std::iota(by_fit.begin(), by_fit.end(), Index{0});
  std::stable_sort(by_fit.begin(), by_fit.end(), [&](Index l, Index r) { return fit(l) < fit(r); });
  const int axis_count = static_cast<int>(std::min<Index>(2, std::max<Index>(1, axes)));
  for (const Pair& p : pairs)
    for (Index k : by_fit) {
      if (k == p.a || k == p.b) continue;
      // The larger expert keeps the merged pair's slot.
      const bool a_keeps = mass(p.a) >= mass(p.b);
      for (int axis = 0; axis < axis_count; ++axis) {
        if (static_cast<int>(moves.size()) >= limit) return moves;
        moves.push_back({a_keeps ? p.a : p.b, a_keeps ? p.b : p.a, k, axis});
      }
    }
  return moves;
}

Matrix split_merge_start(const ConstMatrixRef& leaves,
                         const ConstMatrixRef& features,
                         const SplitMergeMove& move) {
  Matrix resp = leaves;
  resp.col(move.merge_into) += leaves.col(move.merge_from);
  const ConstMatrixRef& f = features;
  const Vector w = leaves.col(move.split);
  const double W = w.sum();
  const Index d = f.cols();
  Vector side = Vector::Ones(f.rows());
  if (W > 0 && d > 0) {
    const Eigen::RowVectorXd mean = (w.transpose() * f) / W;
    const Matrix centred = f.rowwise() - mean;
    const Matrix scatter = centred.transpose() * w.asDiagonal() * centred / W;
    Eigen::SelfAdjointEigenSolver<Matrix> eigen(scatter);
    // Eigenvalues ascend: the first principal axis is the last column.
    const Index column = std::max<Index>(0, d - 1 - move.axis);
    const Vector projection = centred * eigen.eigenvectors().col(column);
    side = (projection.array() > 0)
               .select(Vector::Constant(f.rows(), 0.9), Vector::Constant(f.rows(), 0.1));
  }
  resp.col(move.merge_from) = w.cwiseProduct(Vector::Ones(f.rows()) - side);
  resp.col(move.split) = w.cwiseProduct(side);
  return resp;
}

}  // namespace moekit
