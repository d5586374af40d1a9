#include "moekit/model/gaussian_mixture_estep.hpp"

#include "moekit/core/error.hpp"
#include "moekit/core/parallel.hpp"
#include "moekit/experts/gaussian.hpp"
#include "moekit/kernels/dispatch.hpp"
#include "moekit/kernels/gaussian_tiles.hpp"
#include "moekit/kernels/pack_storage.hpp"
#include "moekit/kernels/row_math.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace moekit {

namespace {

using kernels::kLanes;
using kernels::Lanes;

// Per block: log-likelihood, first bad row (as a double, -1: none), K leaf masses; with the
// moments K x gaussian_moment_count(q) statistics, then the responses' means and sums of
// squared deviations over the block (q each).
size_t block_layout(Index K, int q, bool moments) {
  return 2 + static_cast<size_t>(K) +
         (moments ? static_cast<size_t>(K * kernels::gaussian_moment_count(q) + 2 * q) : 0);
}

template <int Q, bool Diagonal>
void run_blocks(const kernels::FlatModelPack<double>& P,
                const Dataset& data,
                Posteriors& out,
                bool moments,
                bool rows_out,
                std::vector<double>& block_sums) {
  const Index n = data.rows();
  const int K = P.experts.K, q = Q;
  const int stats = kernels::gaussian_moment_count(q);
  const size_t per_block = block_layout(K, q, moments);
  block_sums.assign(static_cast<size_t>(num_blocks(n)) * per_block, 0.0);
  const long ldy = static_cast<long>(data.y.outerStride()),
             ldz = static_cast<long>(data.z.outerStride());
  const int r = P.gate.r;
  parallel_blocks(n, [&](Index b, Index begin, Index size) {
    thread_local std::vector<Lanes> acc;
    acc.assign(static_cast<size_t>(K + (moments ? K * stats : 0)), Lanes{});
    Lanes a[kernels::kMaxExperts], y[Q];
    double gate[kernels::kMaxExperts * kLanes];
    Lanes loglik = {};
    Index bad = -1;
    for (Index i = begin; i < begin + size; i += kLanes) {
      const int rows = static_cast<int>(std::min<Index>(kLanes, begin + size - i));
      // A short last tile repeats its first row in the missing lanes, at weight 0.
      double zpad[kLanes * 64];
      const double* zt = data.z.data() + i;
      long ldzt = ldz;
      if (rows == kLanes) {
        for (int c = 0; c < q; ++c) y[c] = kernels::load_lanes(data.y.data() + c * ldy + i);
      } else {
        for (int c = 0; c < q; ++c)
          for (int l = 0; l < kLanes; ++l) y[c][l] = data.y(i + (l < rows ? l : 0), c);
        if (r > 0) {
          for (int j = 0; j < r; ++j)
            for (int l = 0; l < kLanes; ++l)
              zpad[j * kLanes + l] = data.z(i + (l < rows ? l : 0), j);
          zt = zpad;
          ldzt = kLanes;
        }
      }
      kernels::gate_log_weights<kLanes>(P.gate, zt, ldzt, gate);
      for (int k = 0; k < K; ++k)
        a[k] = kernels::load_lanes(gate + k * kLanes) +
               kernels::gaussian_log_density_tile<Q, Diagonal>(P.experts, k, y);
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
        if (rows_out)
          for (int k = 0; k < K; ++k) kernels::store_lanes(&out.nodes(i, k), a[k]);
        kernels::store_lanes(&out.row_loglik(i), ll);
      } else {
        for (int l = 0; l < rows; ++l) {
          if (rows_out)
            for (int k = 0; k < K; ++k) out.nodes(i + l, k) = a[k][l];
          out.row_loglik(i + l) = ll[l];
        }
      }
      for (int k = 0; k < K; ++k) {
        const Lanes wk = kernels::select(counted, w * a[k], kernels::broadcast(0.0));
        acc[static_cast<size_t>(k)] += wk;
        if (moments)
          kernels::gaussian_moments_tile<Q, Diagonal>(
              P.experts, k, y, wk, acc.data() + K + static_cast<size_t>(k) * stats);
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

bool gaussian_mixture_estep(
    const Model& model, const Dataset& data, Posteriors& out, bool moments, bool rows) {
  const auto* experts = dynamic_cast<const GaussianExperts*>(&model.experts());
  if (!experts || data.grouped()) return false;
  kernels::FlatModelStorage storage;
  if (!model.export_flat_pack(storage)) return false;
  // The tile kernels take q up to kMaxUnrolledResponseDim, and a short tile's gate
  // covariates are padded in a buffer of 64 columns.
  if (storage.experts.q > kernels::kMaxUnrolledResponseDim || storage.gate.r > 64) return false;
  const kernels::FlatModelPack<double> P = storage.view();
  const Index n = data.rows(), K = P.experts.K;
  const bool diagonal = is_diagonal(experts->covariances().structure());
  const bool rows_out = rows || !moments;
  out.leaf_count = K;
  out.nodes.resize(rows_out ? n : 0, K);
  out.row_loglik.resize(n);
  thread_local std::vector<double> block_sums;
  kernels::with_response_dim(P.experts.q, [&](auto Q) {
    constexpr int q_fixed = decltype(Q)::value > 0 ? decltype(Q)::value : 1;  // never 0 here
    if (diagonal)
      run_blocks<q_fixed, true>(P, data, out, moments, rows_out, block_sums);
    else
      run_blocks<q_fixed, false>(P, data, out, moments, rows_out, block_sums);
  });
  const int q = P.experts.q, stats = kernels::gaussian_moment_count(q);
  const size_t per_block = block_layout(K, q, moments);
  const size_t blocks = static_cast<size_t>(num_blocks(n));
  for (size_t b = 0; b < blocks; ++b)
    if (block_sums[b * per_block + 1] >= 0)
      throw NumericalError(
          fmt::format("E-step: the row on line {} has zero or non-finite density under every "
                      "component (log-likelihood not finite)",
                      data.line_of(static_cast<Index>(block_sums[b * per_block + 1]))));
  // Block order: independent of the thread count.
  const size_t summed = 2 + static_cast<size_t>(K + (moments ? K * stats : 0));
  std::vector<double> total(summed, 0.0);
  for (size_t b = 0; b < blocks; ++b)
    for (size_t s = 0; s < summed; ++s) total[s] += block_sums[b * per_block + s];
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
    out.moments =
        GaussianMoments::unpack({static_cast<int>(K), 0, q}, total.data() + 2 + K, variance);
  } else {
    out.moments.reset();
  }
  return true;
}

}  // namespace moekit
