#include "moekit/stats/gaussian_moments.hpp"

#include "moekit/core/column_variances.hpp"
#include "moekit/core/error.hpp"

#include <algorithm>

namespace moekit {

Vector GaussianMoments::masses() const {
  Vector N(components());
  for (Index k = 0; k < components(); ++k) N(k) = M[static_cast<size_t>(k)](0, 0);
  return N;
}

GaussianMoments GaussianMoments::unpack(const kernels::MomentLayout& layout,
                                        const double* packed,
                                        const Vector& response_variance) {
  GaussianMoments out;
  unpack_into(layout, packed, response_variance, out);
  return out;
}

void GaussianMoments::unpack_into(const kernels::MomentLayout& layout,
                                  const double* packed,
                                  const Vector& response_variance,
                                  GaussianMoments& out) {
  out.p = layout.p;
  out.q = layout.q;
  out.response_variance = response_variance;
  out.variance_source = Source{};
  const int m = layout.m();
  out.M.resize(static_cast<size_t>(layout.K));
  for (int k = 0; k < layout.K; ++k) {
    Matrix& Mk = out.M[static_cast<size_t>(k)];
    Mk.resize(m, m);
    const double* s = packed + static_cast<long>(k) * layout.per_expert();
    for (int a = 0; a < m; ++a)
      for (int b = a; b < m; ++b) Mk(a, b) = Mk(b, a) = s[layout.index(a, b)];
  }
}

Vector response_variance(const ConstMatrixRef& y) {
  // Per row block on the threads: the experts' M-steps call this every iteration, and as a
  // serial pass it was a tenth of a t-expert iteration on two threads.
  return column_variances(y, /*over_processes=*/false);
}

GaussianMoments tiled_gaussian_moments(const kernels::GaussianRegressionPack<double>& pack,
                                       const ConstMatrixRef& x,
                                       const ConstMatrixRef& y,
                                       const ConstMatrixRef& post) {
  const kernels::MomentLayout L{pack.K, pack.p, pack.q};
  const long n = static_cast<long>(y.rows());
  if (post.rows() != n || post.cols() != pack.K || y.cols() != pack.q ||
      (pack.p > 0 && (x.rows() != n || x.cols() != pack.p || x.outerStride() != n)) ||
      y.outerStride() != n || post.outerStride() != n)
    throw Error("tiled_gaussian_moments: shape mismatch");
  if (L.total() > kernels::kMomentMaxOwned * kernels::kMomentThreads)
    throw Error("tiled_gaussian_moments: more statistics than one thread block holds");
  const int T = kernels::kMomentThreads, tile = kernels::moment_tile_rows(L);
  const long blocks = (n + kernels::kMomentBlockRows - 1) / kernels::kMomentBlockRows;
  std::vector<double> raw(static_cast<size_t>((L.p + L.q + L.K) * tile));
  std::vector<double> F(static_cast<size_t>(tile * L.K * L.m())), WF(F.size());
  std::vector<double> acc(static_cast<size_t>(T * kernels::kMomentMaxOwned));
  std::vector<double> total(static_cast<size_t>(L.total()), 0.0);
  for (long b = 0; b < blocks; ++b) {
    std::fill(acc.begin(), acc.end(), 0.0);
    const long end = std::min(n, (b + 1) * kernels::kMomentBlockRows);
    for (long begin = b * kernels::kMomentBlockRows; begin < end; begin += tile) {
      const int rows = static_cast<int>(std::min<long>(tile, end - begin));
      // Each phase for every thread before the next: the block's barriers.
      for (int t = 0; t < T; ++t)
        kernels::moments_load_raw(L, x.data(), y.data(), post.data(), n, begin, rows, t, T,
                                  raw.data());
      for (int t = 0; t < T; ++t)
        kernels::moments_features(L, pack, rows, t, T, raw.data(), F.data(), WF.data());
      for (int t = 0; t < T; ++t)
        kernels::moments_accumulate(L, rows, t, T, F.data(), WF.data(),
                                    acc.data() + t * kernels::kMomentMaxOwned);
    }
    for (int s = 0; s < L.total(); ++s)
      total[static_cast<size_t>(s)] +=
          acc[static_cast<size_t>((s % T) * kernels::kMomentMaxOwned + s / T)];
  }
  return GaussianMoments::unpack(L, total.data(), response_variance(y));
}

}  // namespace moekit
