#pragma once
// Nonparametric bootstrap of a fitted model (Efron & Tibshirani 1993, chapters 6 and 13;
// McLachlan & Peel 2000, section 2.16; mixtools' boot.se, mclust's MclustBootstrap): B data
// sets of n rows drawn with replacement (whole groups for grouped data), each fitted by EM
// started from the fitted model, and the natural parameters of every replicate recorded.
// Starting from the fitted model keeps the components' labels (a fit from scratch could
// number them differently, and the spread would then mix components) and makes a replicate
// cost a few EM iterations. The standard error is the replicates' standard deviation
// (divisor B - 1); the interval runs between the (1 - level)/2 and (1 + level)/2 percentiles
// (R's quantile type 7).
//
// Replicate b draws from its own stream, derive_seed(seed, b), and writes only its own
// result: the outcome does not depend on the thread count or the schedule.

#include "moekit/core/rng.hpp"
#include "moekit/data/dataset.hpp"
#include "moekit/fit/options.hpp"
#include "moekit/infer/inference.hpp"
#include "moekit/model/model.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace moekit {

struct BootstrapOptions {
  int replicates = 200;  // B, at least 2
  std::uint64_t seed = 1;
  int threads = 0;      // replicates run in parallel on this many threads (0: all)
  double level = 0.95;  // of the percentile interval, in (0, 1)
  // Each replicate's EM (max_iter, tol, max_reseeds); it always runs on the CPU from the
  // fitted model, so init, restarts, method, device and on_iteration are not used.
  FitOptions fit;
  // Called after each replicate with the number finished so far, one call at a time (from
  // the worker threads).
  std::function<void(int done, int total)> on_replicate;

  // InputError naming --bootstrap (replicates) or the option at fault.
  void validate() const;
};

struct BootstrapResult {
  // The free natural parameters (those that move with the unconstrained parameters), in
  // natural_parameters() order, and their values at the fitted model.
  std::vector<std::string> names;
  Vector estimate;
  Vector se, lower, upper;
  double level = 0.95;
  // One row per replicate that could be fitted, in replicate order.
  Matrix draws;
  int replicates = 0;     // B asked for
  int failed = 0;         // replicates whose fit threw NumericalError (left out)
  int not_converged = 0;  // replicates that stopped at the iteration cap (kept)
  std::vector<std::string> warnings;
};

// n rows of `data` drawn with replacement (for grouped data: as many groups as it has, each
// drawn whole, so rows of a group stay together).
Dataset resample(const Dataset& data, Rng& rng);

// Throws NumericalError when fewer than two replicates could be fitted.
BootstrapResult bootstrap(const Model& fitted,
                          const Dataset& data,
                          const BootstrapOptions& options);

// Adds bootstrap_se, lower and upper to the rows of `table` named as in `b`, and appends a
// row (estimate and bootstrap columns only) for every parameter the table lacks.
void merge_bootstrap(std::vector<ParameterInference>& table, const BootstrapResult& b);

}  // namespace moekit
