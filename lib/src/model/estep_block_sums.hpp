#pragma once
// The per-block partial sums of the tiled CPU E-steps (gaussian_mixture_estep.cpp,
// regression_estep.cpp) and their reduction. Every fixed row block (core/parallel.hpp) writes
// one record: the weighted sum of its rows' log-likelihoods, its first row with a non-finite
// log-likelihood (as a double, -1: none), K leaf masses, with the moments `stats` moment
// statistics and then, unless the variance is already known (reuse_variance), the block's
// mean and sum of squared deviations of each of the q responses. The records are added in
// block order, never in thread order, so that results do not depend on the number of
// threads; the responses' block means and deviations are merged by Chan, Golub and
// LeVeque's pairwise update (1979).

#include "moekit/core/parallel.hpp"
#include "moekit/core/types.hpp"
#include "moekit/data/dataset.hpp"
#include "moekit/kernels/lanes.hpp"
#include "moekit/model/posteriors.hpp"

#include <algorithm>
#include <cstddef>
#include <limits>
#include <utility>
#include <vector>

namespace moekit {

class EstepBlockSums {
 public:
  // response_stats: with the moments, also the responses' block means and deviations (false
  // where the caller already has their variance: GaussianMoments::variance_source).
  EstepBlockSums(int K, int stats, int q, bool moments, bool response_stats = true)
      : q_(q),
        moments_(moments),
        response_stats_(moments && response_stats),
        summed_(2 + static_cast<size_t>(K + (moments ? stats : 0))),
        per_block_(summed_ + (response_stats_ ? 2 * static_cast<size_t>(q) : 0)) {}

  // With the moments: when the moments `out` holds were summed from these responses
  // (GaussianMoments::variance_source: a fitter's E-steps all read one data set), moves
  // their variance into `variance` and returns true; then the E-step need not sum the
  // responses again (response_stats false).
  static bool reuse_variance(
      const Dataset& data, bool moments, int q, Posteriors& out, Vector& variance) {
    if (!moments || !out.moments ||
        !(out.moments->variance_source == GaussianMoments::Source::of(data.y)) ||
        out.moments->response_variance.size() != q)
      return false;
    variance = std::move(out.moments->response_variance);
    return true;
  }

  // Sizes `storage` (kept by the caller between calls: no allocation once it is large
  // enough) to n's blocks, all zero.
  void reset(Index n, std::vector<double>& storage) const {
    storage.assign(static_cast<size_t>(num_blocks(n)) * per_block_, 0.0);
  }
  size_t per_block() const { return per_block_; }

  // The row weights of the tile of `rows` rows from row i (0 in padding lanes), and the
  // lanes that count (weight not 0).
  struct TileWeights {
    kernels::Lanes w;
    kernels::LaneBits counted;
  };
  static TileWeights tile_weights(const Dataset& data, Index i, int rows) {
    kernels::Lanes w = kernels::broadcast(1.0);
    if (data.weighted()) {
      for (int l = 0; l < kernels::kLanes; ++l) w[l] = l < rows ? data.weights(i + l) : 0.0;
    } else if (rows < kernels::kLanes) {
      for (int l = rows; l < kernels::kLanes; ++l) w[l] = 0.0;
    }
    return {w, w != 0.0};
  }

  // A block's weighted log-likelihood (one partial sum per lane) and its first bad row.
  struct Loglik {
    kernels::Lanes sum = {};
    Index bad = -1;
    // Adds the tile from row i with row log-likelihoods ll. Rows of weight 0 add nothing,
    // whatever their values.
    void add(kernels::Lanes ll, const TileWeights& t, Index i, int rows) {
      constexpr double kInf = std::numeric_limits<double>::infinity();
      const kernels::LaneBits finite = (ll > -kInf) & (ll < kInf);
      sum += kernels::select(t.counted & finite, t.w * ll, kernels::broadcast(0.0));
      if (bad < 0 && !kernels::all_lanes(finite | ~t.counted))
        for (int l = 0; l < rows && bad < 0; ++l)
          if (t.counted[l] && !finite[l]) bad = i + l;
    }
  };

  // Writes block b's record (rows [begin, begin + size)): the log-likelihood, the bad row,
  // the lane sums of acc[0 .. K + stats) (K masses, then the moment statistics when asked),
  // and, when asked, the responses' block mean and sum of squared deviations, by two passes
  // over the block (in cache).
  void write_block(std::vector<double>& storage,
                   Index b,
                   Index begin,
                   Index size,
                   const Loglik& loglik,
                   const kernels::Lanes* acc,
                   const Dataset& data) const {
    double* sums = storage.data() + static_cast<size_t>(b) * per_block_;
    sums[0] = kernels::lane_sum(loglik.sum);
    sums[1] = static_cast<double>(loglik.bad);
    for (size_t s = 0; s + 2 < summed_; ++s) sums[2 + s] = kernels::lane_sum(acc[s]);
    if (!response_stats_) return;
    double* mean = sums + summed_;
    double* m2 = mean + q_;
    for (int c = 0; c < q_; ++c) {
      const auto col = data.y.col(c).segment(begin, size);
      mean[c] = col.sum() / static_cast<double>(size);
      m2[c] = (col.array() - mean[c]).square().sum();
    }
  }

  // The sums of all blocks in block order: total[0] the log-likelihood, total[2 .. 2 + K)
  // the leaf masses, then the moment statistics; with the moments and the responses' block
  // statistics, `variance` the variance of each response (n - 1 denominator; 0 for one row;
  // left as it is without them). Throws NumericalError naming the line of the first bad row.
  void reduce(const std::vector<double>& storage,
              const Dataset& data,
              std::vector<double>& total,
              Vector& variance) const;

 private:
  int q_;
  bool moments_, response_stats_;
  size_t summed_, per_block_;
};

}  // namespace moekit
