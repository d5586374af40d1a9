#pragma once
// The parametric bootstrap likelihood-ratio test of K components against K + 1 (McLachlan
// 1987; mclust's mclustBootstrapLRT, mixtools' boot.comp). The null hypothesis lies on the
// boundary of the larger model's parameter space, so 2 (l_{K+1} - l_K) is not chi-square
// there; its null distribution is simulated instead: B data sets drawn from the fitted K
// model (at the observed covariates and groups, infer/simulate.hpp), K and K + 1 fitted to
// each, LRT_b = 2 (l_{K+1,b} - l_{K,b}), and
//     p = (1 + #{b : LRT_b >= LRT_obs}) / (B + 1).
//
// Each model is fitted to a replicate from the fitted model of the observed data (EM from
// those parameters) and from options.fit's own starts, keeping the best: a K + 1 fit that
// stops short of its maximum would understate LRT_b and make the test liberal.
// Replicate b draws from its own stream, derive_seed(seed, b), and writes only its own
// result: the outcome does not depend on the thread count or the schedule.

#include "moekit/data/dataset.hpp"
#include "moekit/fit/options.hpp"
#include "moekit/model/model.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace moekit {

struct LrtOptions {
  int replicates = 99;  // B, at least 1
  std::uint64_t seed = 1;
  int threads = 0;  // replicates run in parallel on this many threads (0: all)
  // The replicates' fits (starts, init, max_iter, tol); they run by EM on the CPU, so
  // method, device and on_iteration are not used.
  FitOptions fit;
  // Called after each replicate with the number finished so far, one call at a time (from
  // the worker threads).
  std::function<void(int done, int total)> on_replicate;

  // InputError naming --bootstrap-lrt (replicates) or the option at fault.
  void validate() const;
};

struct LrtResult {
  Index K = 1;             // components under the null; the alternative has K + 1
  double statistic = 0.0;  // observed 2 (l_{K+1} - l_K)
  double p_value = 1.0;
  // LRT_b of every replicate that could be fitted, in replicate order.
  std::vector<double> replicate_statistics;
  int replicates = 0;  // B asked for
  int failed = 0;      // replicates left out: a fit threw NumericalError
  std::vector<std::string> warnings;
};

// `null_model` and `alternative` are fitted to `data`, flat, of the same families, with K
// and K + 1 experts. InputError naming --bootstrap-lrt for other pairs and for models that
// cannot be simulated from (Gaussian gates model z, which the simulation holds fixed);
// NumericalError when no replicate could be fitted.
LrtResult bootstrap_lrt(const Model& null_model,
                        const Model& alternative,
                        const Dataset& data,
                        const LrtOptions& options);

}  // namespace moekit
