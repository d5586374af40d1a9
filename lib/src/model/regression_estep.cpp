#include "moekit/model/regression_estep.hpp"

#include "estep_block_sums.hpp"

#include "moekit/core/parallel.hpp"
#include "moekit/experts/linear.hpp"
#include "moekit/kernels/dispatch.hpp"
#include "moekit/kernels/gaussian_tiles.hpp"
#include "moekit/kernels/moments.hpp"
#include "moekit/kernels/pack_storage.hpp"
#include "moekit/kernels/row_math.hpp"
#include "moekit/stats/gaussian_moments.hpp"

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

template <int Q>
void run_blocks(const kernels::FlatModelPack<double>& P,
                const Dataset& data,
                Posteriors& out,
                bool moments,
                const EstepBlockSums& sums,
                std::vector<double>& block_sums) {
  const Index n = data.rows();
  const int K = P.experts.K, p = P.experts.p, q = Q, r = P.gate.r;
  const kernels::MomentLayout layout{K, p, q};
  const int m = layout.m(), per_expert = layout.per_expert();
  sums.reset(n, block_sums);
  const long ldx = static_cast<long>(data.x.outerStride()),
             ldy = static_cast<long>(data.y.outerStride()),
             ldz = static_cast<long>(data.z.outerStride());
  parallel_blocks(n, [&](Index b, Index begin, Index size) {
    thread_local std::vector<Lanes> acc;
    acc.assign(static_cast<size_t>(K + (moments ? K * per_expert : 0)), Lanes{});
    Lanes a[kernels::kMaxExperts], f[1 + kernels::kMaxDesignDim + Q];
    double gate[kernels::kMaxExperts * kLanes], density[kLanes];
    double xpad[kLanes * kMaxPadded], ypad[kLanes * Q], zpad[kLanes * kMaxPadded];
    EstepBlockSums::Loglik loglik;
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
      const EstepBlockSums::TileWeights t = EstepBlockSums::tile_weights(data, i, rows);
      loglik.add(ll, t, i, rows);
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
        const Lanes wk = kernels::select(t.counted, t.w * a[k], kernels::broadcast(0.0));
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
    sums.write_block(block_sums, b, begin, size, loglik, acc.data(), data);
  });
}

}  // namespace

bool linear_regression_estep(const Model& model,
                             const Dataset& data,
                             Posteriors& out,
                             bool moments) {
  if (!dynamic_cast<const LinearExperts*>(&model.experts()) || data.grouped()) return false;
  // The pack's vectors keep their capacity from one E-step to the next on a thread (a nested
  // parallel region runs serially on its thread: core/parallel.hpp, so never two at once).
  thread_local kernels::FlatModelStorage storage;
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
  Vector variance;
  const bool known_variance = EstepBlockSums::reuse_variance(data, moments, q, out, variance);
  const EstepBlockSums sums(static_cast<int>(K), layout.total(), q, moments, !known_variance);
  thread_local std::vector<double> block_sums;
  kernels::with_response_dim(q, [&](auto Q) {
    constexpr int q_fixed = decltype(Q)::value > 0 ? decltype(Q)::value : 1;  // never 0 here
    run_blocks<q_fixed>(P, data, out, moments, sums, block_sums);
  });
  thread_local std::vector<double> total;
  sums.reduce(block_sums, data, total, variance);
  out.loglik = out.objective = total[0];
  out.shares = nullptr;
  out.leaf_masses = Eigen::Map<const Vector>(total.data() + 2, K);
  if (moments) {
    // Into the posteriors' moments of the E-step before, reusing their matrices.
    if (!out.moments) out.moments.emplace();
    GaussianMoments::unpack_into(layout, total.data() + 2 + K, variance, *out.moments);
    out.moments->variance_source = GaussianMoments::Source::of(data.y);
  } else {
    out.moments.reset();
  }
  return true;
}

}  // namespace moekit
