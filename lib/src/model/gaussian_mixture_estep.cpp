#include "moekit/model/gaussian_mixture_estep.hpp"

#include "estep_block_sums.hpp"

#include "moekit/core/parallel.hpp"
#include "moekit/experts/gaussian.hpp"
#include "moekit/kernels/dispatch.hpp"
#include "moekit/kernels/gaussian_tiles.hpp"
#include "moekit/kernels/pack_storage.hpp"
#include "moekit/kernels/row_math.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

namespace moekit {

namespace {

using kernels::CovarianceShape;
using kernels::kLanes;
using kernels::Lanes;

template <int Q, CovarianceShape Shape>
void run_blocks(const kernels::FlatModelPack<double>& P,
                const Dataset& data,
                Posteriors& out,
                bool moments,
                bool rows_out,
                const EstepBlockSums& layout,
                std::vector<double>& block_sums) {
  const Index n = data.rows();
  const int K = P.experts.K, q = Q;
  const int stats = kernels::gaussian_moment_count(q);
  layout.reset(n, block_sums);
  const long ldy = static_cast<long>(data.y.outerStride()),
             ldz = static_cast<long>(data.z.outerStride());
  const int r = P.gate.r;
  // Per expert, the constant of its log-weight: log_norm_k, plus log w_k under a constant
  // gate, which then needs no weights per tile; and 1 / (2 sigma_k^2) for spherical ones.
  const bool constant_gate = P.gate.kind == kernels::GateKind::Constant;
  double constant[kernels::kMaxExperts], half_precision[kernels::kMaxExperts];
  for (int k = 0; k < K; ++k) {
    constant[k] = P.experts.log_norm[k] + (constant_gate ? P.gate.values[k] : 0.0);
    if (Shape == CovarianceShape::Spherical)
      half_precision[k] = kernels::spherical_half_precision(P.experts, k);
  }
  parallel_blocks(n, [&](Index b, Index begin, Index size) {
    // The block's weighted posteriors w_i r_ik, expert by expert (kBlockRows x K doubles: in
    // L2), for the moment passes below.
    thread_local std::vector<Lanes> weighted;
    thread_local std::vector<Lanes> acc;
    const int tiles = static_cast<int>((size + kLanes - 1) / kLanes);
    if (moments) weighted.resize(static_cast<size_t>(tiles) * K);
    acc.assign(static_cast<size_t>(K + (moments ? K * stats : 0)), Lanes{});
    // Plain pointers: a thread_local's address is not recomputed per tile (in a shared
    // library that is a call to __tls_get_addr).
    Lanes* const weighted_out = weighted.data();
    Lanes* const masses = acc.data();
    Lanes a[kernels::kMaxExperts], y[Q];
    // Spherical: each expert's squared distances of the tile, and the block's sum of them
    // weighted by the posteriors (the scatter's trace, spherical_moments_tile).
    constexpr bool spherical = Shape == CovarianceShape::Spherical;
    constexpr double kMax = std::numeric_limits<double>::max();
    Lanes distance[spherical ? kernels::kMaxExperts : 1],
        trace[spherical ? kernels::kMaxExperts : 1];
    if (spherical)
      for (int k = 0; k < K; ++k) trace[k] = Lanes{};
    double gate[kernels::kMaxExperts * kLanes];
    EstepBlockSums::Loglik loglik;
    // A short last tile repeats its first row in the missing lanes, at weight 0.
    auto load_tile = [&](Index i, int rows, Lanes* yt) {
      if (rows == kLanes) {
        for (int c = 0; c < q; ++c) yt[c] = kernels::load_lanes(data.y.data() + c * ldy + i);
      } else {
        for (int c = 0; c < q; ++c)
          for (int l = 0; l < kLanes; ++l) yt[c][l] = data.y(i + (l < rows ? l : 0), c);
      }
    };
    for (int t = 0; t < tiles; ++t) {
      const Index i = begin + static_cast<Index>(t) * kLanes;
      const int rows = static_cast<int>(std::min<Index>(kLanes, begin + size - i));
      double zpad[kLanes * 64];
      const double* zt = data.z.data() + i;
      long ldzt = ldz;
      load_tile(i, rows, y);
      if (rows < kLanes && r > 0) {
        for (int j = 0; j < r; ++j)
          for (int l = 0; l < kLanes; ++l) zpad[j * kLanes + l] = data.z(i + (l < rows ? l : 0), j);
        zt = zpad;
        ldzt = kLanes;
      }
      if (!constant_gate) kernels::gate_log_weights<kLanes>(P.gate, zt, ldzt, gate);
      Lanes m = {};  // set from a[0] at k = 0 (K >= 1)
      for (int k = 0; k < K; ++k) {
        if constexpr (spherical) {
          distance[k] = kernels::squared_distance_tile<Q>(P.experts, k, y);
          a[k] = kernels::spherical_log_density(constant[k], half_precision[k], distance[k]);
        } else {
          a[k] = kernels::gaussian_log_density_tile<Q, Shape>(P.experts, k, y, constant[k]);
        }
        if (!constant_gate) a[k] += kernels::load_lanes(gate + k * kLanes);
        m = k == 0 ? a[0] : kernels::max_lanes(a[k], m);
      }
      // The posteriors are a[k] / s; the moments weigh them by the rows' weights, so the
      // weighted posteriors take one product a[k] (w / s) whether the posteriors themselves
      // are written (the same bits either way).
      kernels::LaneBits finite;
      const Lanes s = kernels::exp_shifted_tile(a, K, m, finite);
      const Lanes ll = kernels::tile_loglik(m, s, finite);
      const Lanes inv = 1.0 / s;
      const EstepBlockSums::TileWeights tw = EstepBlockSums::tile_weights(data, i, rows);
      loglik.add(ll, tw, i, rows);
      const kernels::LaneBits used = finite & tw.counted;
      const Lanes scale = tw.w * inv;
      if (rows_out) {
        Lanes posterior[kernels::kMaxExperts];
        for (int k = 0; k < K; ++k)
          posterior[k] = kernels::select(finite, a[k] * inv, kernels::broadcast(0.0));
        if (rows == kLanes) {
          for (int k = 0; k < K; ++k) kernels::store_lanes(&out.nodes(i, k), posterior[k]);
        } else {
          for (int l = 0; l < rows; ++l)
            for (int k = 0; k < K; ++k) out.nodes(i + l, k) = posterior[k][l];
        }
      }
      if (rows == kLanes) {
        kernels::store_lanes(&out.row_loglik(i), ll);
      } else {
        for (int l = 0; l < rows; ++l) out.row_loglik(i + l) = ll[l];
      }
      for (int k = 0; k < K; ++k) {
        const Lanes wk = kernels::select(used, a[k] * scale, kernels::broadcast(0.0));
        if (moments) {
          weighted_out[static_cast<size_t>(k) * tiles + t] = wk;
          // A row at zero weight may lie so far out that its distance overflows: 0 * inf.
          if constexpr (spherical)
            trace[k] += wk * kernels::min_lanes(distance[k], kernels::broadcast(kMax));
        } else {
          masses[k] += wk;
        }
      }
    }
    if (moments) {
      constexpr int kStats = kernels::gaussian_moment_count(Q);
      const int full = static_cast<int>(size / kLanes);
      const double* y0 = data.y.data() + begin;
      // One pass over the block for E experts (experts k0 .. k0 + E - 1), their statistics in
      // registers: the same additions in the same order as one pass adding every expert's
      // tile by tile. Spherical structures sum two experts per pass (their first moments
      // uncentred: spherical_moments_tile), the others one.
      auto pass = [&](auto experts, int k0) {
        constexpr int E = decltype(experts)::value;
        Lanes s[E][kStats] = {};
        auto add = [&](const Lanes* yt, int t) {
          for (int j = 0; j < E; ++j) {
            const Lanes w = weighted_out[static_cast<size_t>(k0 + j) * tiles + t];
            if constexpr (spherical)
              kernels::spherical_moments_tile<Q>(yt, w, s[j]);
            else
              kernels::gaussian_moments_tile<Q, Shape>(P.experts, k0 + j, yt, w, s[j]);
          }
        };
        for (int t = 0; t < full; ++t) {
          // The tile's responses in a local array, not `y`, which outlives the loop: the
          // compiler would store every load back to it.
          Lanes yt[Q];
          MOEKIT_UNROLL_Q
          for (int c = 0; c < q; ++c)
            yt[c] = kernels::load_lanes(y0 + c * ldy + static_cast<Index>(t) * kLanes);
          add(yt, t);
        }
        if (full < tiles) {
          const Index i = begin + static_cast<Index>(full) * kLanes;
          load_tile(i, static_cast<int>(begin + size - i), y);
          add(y, full);
        }
        for (int j = 0; j < E; ++j) {
          const int k = k0 + j;
          if constexpr (spherical) {
            kernels::centre_spherical_moments<Q>(P.experts, k, s[j]);
            s[j][1 + q] = trace[k];
          }
          std::copy(s[j], s[j] + kStats, acc.begin() + K + static_cast<long>(k) * kStats);
          acc[static_cast<size_t>(k)] = s[j][0];  // the mass: the same sum of w r_ik
        }
      };
      constexpr int kPair = spherical ? 2 : 1;
      int k = 0;
      for (; k + kPair <= K; k += kPair) pass(std::integral_constant<int, kPair>{}, k);
      for (; k < K; ++k) pass(std::integral_constant<int, 1>{}, k);
    }
    layout.write_block(block_sums, b, begin, size, loglik, acc.data(), data);
  });
}

}  // namespace

bool gaussian_mixture_estep(
    const Model& model, const Dataset& data, Posteriors& out, bool moments, bool rows) {
  const auto* experts = dynamic_cast<const GaussianExperts*>(&model.experts());
  if (!experts || data.grouped()) return false;
  // The pack's vectors keep their capacity from one E-step to the next on a thread (a nested
  // parallel region runs serially on its thread: core/parallel.hpp, so never two at once).
  thread_local kernels::FlatModelStorage storage;
  if (!model.export_flat_pack(storage)) return false;
  // The tile kernels take q up to kMaxUnrolledResponseDim, and a short tile's gate
  // covariates are padded in a buffer of 64 columns.
  if (storage.experts.q > kernels::kMaxUnrolledResponseDim || storage.gate.r > 64) return false;
  const kernels::FlatModelPack<double> P = storage.view();
  const Index n = data.rows(), K = P.experts.K;
  const CovarianceStructure structure = experts->covariances().structure();
  const bool rows_out = rows || !moments;
  out.leaf_count = K;
  out.nodes.resize(rows_out ? n : 0, K);
  out.row_loglik.resize(n);
  const int q = P.experts.q, stats = kernels::gaussian_moment_count(q);
  Vector variance;
  const bool known_variance = EstepBlockSums::reuse_variance(data, moments, q, out, variance);
  const EstepBlockSums layout(static_cast<int>(K), K * stats, q, moments, !known_variance);
  thread_local std::vector<double> block_sums;
  kernels::with_response_dim(P.experts.q, [&](auto Q) {
    constexpr int q_fixed = decltype(Q)::value > 0 ? decltype(Q)::value : 1;  // never 0 here
    if (is_spherical(structure))
      run_blocks<q_fixed, CovarianceShape::Spherical>(P, data, out, moments, rows_out, layout,
                                                      block_sums);
    else if (is_diagonal(structure))
      run_blocks<q_fixed, CovarianceShape::Diagonal>(P, data, out, moments, rows_out, layout,
                                                     block_sums);
    else
      run_blocks<q_fixed, CovarianceShape::Full>(P, data, out, moments, rows_out, layout,
                                                 block_sums);
  });
  thread_local std::vector<double> total;
  layout.reduce(block_sums, data, total, variance);
  out.loglik = out.objective = total[0];
  out.shares = nullptr;
  out.leaf_masses = Eigen::Map<const Vector>(total.data() + 2, K);
  if (moments) {
    // Into the posteriors' moments of the E-step before, reusing their matrices.
    if (!out.moments) out.moments.emplace();
    GaussianMoments::unpack_into({static_cast<int>(K), 0, q}, total.data() + 2 + K, variance,
                                 *out.moments);
    out.moments->variance_source = GaussianMoments::Source::of(data.y);
  } else {
    out.moments.reset();
  }
  return true;
}

}  // namespace moekit
