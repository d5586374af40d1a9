#include "moekit/deep/synthetic.hpp"

#include "moekit/core/error.hpp"
#include "moekit/core/rng.hpp"

#include <fmt/format.h>

#include <cmath>

namespace moekit::deep {

PiecewiseTask make_piecewise_task(Index n, Index dim, int pieces, double skew, std::uint64_t seed) {
  if (n < 1) throw InputError::option("n", std::to_string(n), "must be >= 1");
  if (dim < 1) throw InputError::option("dim", std::to_string(dim), "must be >= 1");
  if (pieces < 1) throw InputError::option("pieces", std::to_string(pieces), "must be >= 1");
  if (!(skew > 0.0) || !std::isfinite(skew))
    throw InputError::option("skew", fmt::format("{}", skew), "must be finite and > 0");
  Rng rng(derive_seed(seed, 0));
  std::vector<Matrix> a(static_cast<std::size_t>(pieces));
  Matrix centers(pieces, dim), b(pieces, dim);
  const double scale = 1.0 / std::sqrt(static_cast<double>(dim));
  for (int j = 0; j < pieces; ++j) {
    a[static_cast<std::size_t>(j)].resize(dim, dim);
    for (Index i = 0; i < dim * dim; ++i)
      a[static_cast<std::size_t>(j)].data()[i] = scale * standard_normal(rng);
    for (Index c = 0; c < dim; ++c) {
      centers(j, c) = 2.0 * standard_normal(rng);
      b(j, c) = standard_normal(rng);
    }
  }
  std::vector<double> cdf(static_cast<std::size_t>(pieces));
  double total = 0.0;
  for (int j = 0; j < pieces; ++j) cdf[static_cast<std::size_t>(j)] = (total += std::pow(skew, j));
  PiecewiseTask task;
  task.x.resize(n, dim);
  task.y.resize(n, dim);
  task.piece.resize(static_cast<std::size_t>(n));
  for (Index t = 0; t < n; ++t) {
    const double u = uniform01(rng) * total;
    int j = 0;
    while (j + 1 < pieces && u >= cdf[static_cast<std::size_t>(j)]) ++j;
    task.piece[static_cast<std::size_t>(t)] = j;
    for (Index c = 0; c < dim; ++c) task.x(t, c) = centers(j, c) + 0.5 * standard_normal(rng);
    task.y.row(t) = task.x.row(t) * a[static_cast<std::size_t>(j)].transpose() + b.row(j);
  }
  return task;
}

}  // namespace moekit::deep
