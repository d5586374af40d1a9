#include "moekit/model/regression_estep.hpp"

#include "moekit/core/error.hpp"
#include "moekit/core/parallel.hpp"
#include "moekit/experts/linear.hpp"
#include "moekit/kernels/dispatch.hpp"
#include "moekit/kernels/gaussian_tiles.hpp"
#include "moekit/kernels/moments.hpp"
#include "moekit/kernels/pack_storage.hpp"
#include "moekit/kernels/row_math.hpp"
#include "moekit/stats/gaussian_moments.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace moekit {

namespace {

using kernels::kLanes;
using kernels::Lanes;

// Widest design and gate covariates a short tile pads in its stack buffers.
constexpr int kMaxPadded = 64;

// Per block: log-likelihood, first bad row (as a double, -1: none), K leaf masses; with the
// moments K packed upper triangles (MomentLayout), then the responses' means and sums of
// squared deviations over the block (q each).
size_t block_layout(const kernels::MomentLayout& L, bool moments) {
  return 2 + static_cast<size_t>(L.K) + (moments ? static_cast<size_t>(L.total() + 2 * L.q) : 0);
}

template <int Q>
void run_blocks(const kernels::FlatModelPack<double>& P,
                const Dataset& data,
                Posteriors& out,
                bool moments,
                std::vector<double>& block_sums) {
  const Index n = data.rows();
  const int K = P.experts.K, p = P.experts.p, q = Q, r = P.gate.r;
  const kernels::MomentLayout layout{K, p, q};
  const int m = layout.m(), per_expert = layout.per_expert();
  const size_t per_block = block_layout(layout, moments);
  block_sums.assign(static_cast<size_t>(num_blocks(n)) * per_block, 0.0);
  const long ldx = static_cast<long>(data.x.outerStride()),
             ldy = static_cast<long>(data.y.outerStride()),
             ldz = static_cast<long>(data.z.outerStride());
  parallel_blocks(n, [&](Index b, Index begin, Index size) {
    thread_local std::vector<Lanes> acc;
    acc.assign(static_cast<size_t>(K + (moments ? K * per_expert : 0)), Lanes{});
    Lanes a[kernels::kMaxExperts], f[1 + kernels::kMaxDesignDim + Q];
    double gate[kernels::kMaxExperts * kLanes], density[kLanes];
    double xpad[kLanes * kMaxPadded], ypad[kLanes * Q], zpad[kLanes * kMaxPadded];
    Lanes loglik = {};
    Index bad = -1;
    for (Index i = begin; i < begin + size; i += kLanes) {
      const int rows = static_cast<int>(std::min<Index>(kLanes, begin + size - i));
      const double *xt = data.x.data() + i, *yt = data.y.data() + i, *zt = data.z.data() + i;
      long ldxt = ldx, ldyt = ldy, ldzt = ldz;
      if (rows < kLanes) {
        // A short last tile repeats its first row in the missing lanes, at weight 0.
        auto pad = [&](const double* src, long ld, int cols, double* dst) {
          for (int j = 0; j < cols; ++j)
            for (int l = 0; l < kLanes; ++l) dst[j * kLanes + l] = src[j * ld + (l < rows ? l : 0)];
        };
        pad(xt, ldx, p, xpad);
        pad(yt, ldy, q, ypad);
        pad(zt, ldz, r, zpad);
        xt = xpad;
        yt = ypad;
        zt = zpad;
        ldxt = ldyt = ldzt = kLanes;
      }
      kernels::gate_log_weights<kLanes>(P.gate, zt, ldzt, gate);
      for (int k = 0; k < K; ++k) {
        kernels::gaussian_regression_log_density<Q, kLanes>(P.experts, k, xt, ldxt, yt, ldyt,
                                                            density);
        a[k] = kernels::load_lanes(gate + k * kLanes) + kernels::load_lanes(density);
      }
      const Lanes ll = kernels::posteriors_tile(a, K);
      Lanes w = kernels::broadcast(1.0);
      if (data.weighted()) {
        for (int l = 0; l < kLanes; ++l) w[l] = l < rows ? data.weights(i + l) : 0.0;
      } else if (rows < kLanes) {
        for (int l = rows; l < kLanes; ++l) w[l] = 0.0;
      }
      const kernels::LaneBits counted = w != 0.0,
                              finite = (ll > -std::numeric_limits<double>::infinity()) &
                                       (ll < std::numeric_limits<double>::infinity());
      // Rows of weight 0 add nothing, whatever their values.
      loglik += kernels::select(counted & finite, w * ll, kernels::broadcast(0.0));
      if (bad < 0 && !kernels::all_lanes(finite | ~counted))
        for (int l = 0; l < rows && bad < 0; ++l)
          if (counted[l] && !finite[l]) bad = i + l;
      if (rows == kLanes) {
        for (int k = 0; k < K; ++k) kernels::store_lanes(&out.nodes(i, k), a[k]);
        kernels::store_lanes(&out.row_loglik(i), ll);
      } else {
        for (int l = 0; l < rows; ++l) {
          for (int k = 0; k < K; ++k) out.nodes(i + l, k) = a[k][l];
          out.row_loglik(i + l) = ll[l];
        }
      }
      if (moments) {
        f[0] = kernels::broadcast(1.0);
        for (int j = 0; j < p; ++j) f[1 + j] = kernels::load_lanes(xt + j * ldxt);
      }
      for (int k = 0; k < K; ++k) {
        const Lanes wk = kernels::select(counted, w * a[k], kernels::broadcast(0.0));
        acc[static_cast<size_t>(k)] += wk;
        if (!moments) continue;
        // f = [1; x; e_k], e_k = y - B_k' x the residual about the current coefficients.
        const double* B = P.experts.coef + static_cast<long>(k) * p * q;
        for (int c = 0; c < q; ++c) {
          Lanes mean = {};
          for (int j = 0; j < p; ++j) mean += f[1 + j] * B[j * q + c];
          f[1 + p + c] = kernels::load_lanes(yt + c * ldyt) - mean;
        }
        Lanes* s = acc.data() + K + static_cast<size_t>(k) * per_expert;
        for (int u = 0; u < m; ++u) {
          const Lanes g = wk * f[u];
          for (int v = u; v < m; ++v) *s++ += g * f[v];
        }
      }
    }
    double* sums = block_sums.data() + static_cast<size_t>(b) * per_block;
    sums[0] = kernels::lane_sum(loglik);
    sums[1] = static_cast<double>(bad);
    for (size_t s = 0; s < acc.size(); ++s) sums[2 + s] = kernels::lane_sum(acc[s]);
    if (moments) {
      // The block's mean and sum of squared deviations of each response, by two passes over
      // the block (in cache); blocks are merged by Chan et al.'s update.
      double* mean = sums + 2 + acc.size();
      double* m2 = mean + q;
      for (int c = 0; c < q; ++c) {
        const auto col = data.y.col(c).segment(begin, size);
        mean[c] = col.sum() / static_cast<double>(size);
        m2[c] = (col.array() - mean[c]).square().sum();
      }
    }
  });
}

}  // namespace

bool linear_regression_estep(const Model& model,
                             const Dataset& data,
                             Posteriors& out,
                             bool moments) {
  if (!dynamic_cast<const LinearExperts*>(&model.experts()) || data.grouped()) return false;
  kernels::FlatModelStorage storage;
  if (!model.export_flat_pack(storage)) return false;
  if (storage.experts.q > kernels::kMaxUnrolledResponseDim || storage.experts.p < 1 ||
      storage.experts.p > kMaxPadded || storage.gate.r > kMaxPadded)
    return false;
  const kernels::FlatModelPack<double> P = storage.view();
  const Index n = data.rows(), K = P.experts.K;
  const int q = P.experts.q;
  const kernels::MomentLayout layout{static_cast<int>(K), P.experts.p, q};
  out.leaf_count = K;
  out.nodes.resize(n, K);
  out.row_loglik.resize(n);
  thread_local std::vector<double> block_sums;
  kernels::with_response_dim(q, [&](auto Q) {
    constexpr int q_fixed = decltype(Q)::value > 0 ? decltype(Q)::value : 1;  // never 0 here
    run_blocks<q_fixed>(P, data, out, moments, block_sums);
  });
  const size_t per_block = block_layout(layout, moments);
  const size_t blocks = static_cast<size_t>(num_blocks(n));
  for (size_t b = 0; b < blocks; ++b)
    if (block_sums[b * per_block + 1] >= 0)
      throw NumericalError(
          fmt::format("E-step: the row on line {} has zero or non-finite density under every "
                      "component (log-likelihood not finite)",
                      data.line_of(static_cast<Index>(block_sums[b * per_block + 1]))));
  // Block order: independent of the thread count.
  const size_t summed = 2 + static_cast<size_t>(K + (moments ? layout.total() : 0));
  std::vector<double> total(summed, 0.0);
  for (size_t b = 0; b < blocks; ++b)
    for (size_t s = 0; s < summed; ++s) total[s] += block_sums[b * per_block + s];
  total[1] = 0.0;
  out.loglik = out.objective = total[0];
  out.shares = nullptr;
  out.leaf_masses = Eigen::Map<const Vector>(total.data() + 2, K);
  if (moments) {
    Vector mean = Vector::Zero(q), m2 = Vector::Zero(q);
    double count = 0.0;
    for (size_t b = 0; b < blocks; ++b) {
      const double* bm = block_sums.data() + b * per_block + summed;
      const double nb = static_cast<double>(std::min<Index>(kBlockRows, n - b * kBlockRows)),
                   all = count + nb;
      for (int c = 0; c < q; ++c) {
        const double delta = bm[c] - mean(c);
        mean(c) += delta * nb / all;
        m2(c) += bm[q + c] + delta * delta * count * nb / all;
      }
      count = all;
    }
    const Vector variance = n > 1 ? Vector(m2 / static_cast<double>(n - 1)) : Vector::Zero(q);
    out.moments = GaussianMoments::unpack(layout, total.data() + 2 + K, variance);
  } else {
    out.moments.reset();
  }
  return true;
}

}  // namespace moekit
