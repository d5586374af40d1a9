#include "moekit/infer/bootstrap_lrt.hpp"

#include "moekit/core/error.hpp"
#include "moekit/core/parallel.hpp"
#include "moekit/core/rng.hpp"
#include "moekit/fit/em.hpp"
#include "moekit/infer/simulate.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <mutex>
#include <optional>

namespace moekit {

namespace {

// A stream of its own, apart from the fit's restarts and the nonparametric bootstrap.
constexpr std::uint64_t kLrtStream = 0x1A7B0075ULL;

double objective(const Model& model, const Dataset& data) {
  Posteriors post;
  model.e_step(data, post);
  return post.objective;
}

// The better of EM from `start` and a fit from options' own starts (either may fail).
double best_fit(const Model& start, const Dataset& data, const FitOptions& options) {
  double best = -std::numeric_limits<double>::infinity();
  std::string error;
  try {
    Model m(start);
    best = std::max(best, EmFitter(options).refine(m, data).objective());
  } catch (const NumericalError& e) {
    error = e.what();
  }
  try {
    Model m(start);
    best = std::max(best, EmFitter(options).fit(m, data).objective());
  } catch (const NumericalError& e) {
    if (error.empty()) error = e.what();
  }
  if (!std::isfinite(best)) throw NumericalError(error);
  return best;
}

}  // namespace

void LrtOptions::validate() const {
  if (replicates < 1)
    throw InputError::option("--bootstrap-lrt", std::to_string(replicates), "must be at least 1");
  if (threads < 0) throw InputError::option("--threads", std::to_string(threads), "must be >= 0");
  fit.validate();
}

LrtResult bootstrap_lrt(const Model& null_model,
                        const Model& alternative,
                        const Dataset& data,
                        const LrtOptions& options) {
  options.validate();
  const Index K = null_model.components();
  const std::string value = std::to_string(options.replicates);
  if (data.weighted())
    throw InputError::option("--bootstrap-lrt", value,
                             "observation weights (--weights) are not supported by the "
                             "parametric bootstrap (its simulated data sets have no weights)");
  if (!null_model.tree().is_flat() || !alternative.tree().is_flat() ||
      alternative.components() != K + 1 ||
      null_model.spec().experts != alternative.spec().experts ||
      null_model.spec().gate != alternative.spec().gate)
    throw InputError::option("--bootstrap-lrt", value,
                             "tests a flat model of K experts against the same with K + 1");
  if (null_model.joint())
    throw InputError::option("--bootstrap-lrt", value,
                             "cannot simulate from a Gaussian gate's model of the gate "
                             "covariates; use --gate constant or softmax");
  null_model.check_data(data);
  alternative.check_data(data);

  LrtResult out;
  out.K = K;
  out.replicates = options.replicates;
  out.statistic = 2.0 * (objective(alternative, data) - objective(null_model, data));

  FitOptions fit = options.fit;
  fit.threads = 0;  // the replicates own the threads; each fit runs inside one
  fit.device = Device::Cpu;
  fit.float32 = false;
  fit.method = FitMethod::Em;
  fit.on_iteration = nullptr;

  const int B = options.replicates;
  std::vector<std::optional<double>> stats(static_cast<size_t>(B));
  std::vector<std::string> errors(static_cast<size_t>(B));
  std::mutex progress_mutex;
  int done = 0;
  {
    ScopedNumThreads threads(options.threads);
    const std::uint64_t base = derive_seed(options.seed, kLrtStream);
    parallel_tasks(B, [&](Index b) {
      const auto ub = static_cast<size_t>(b);
      Rng rng(derive_seed(base, static_cast<std::uint64_t>(b)));
      Dataset replicate = data;
      replicate.y = simulate(null_model, data, rng).y;
      FitOptions o = fit;
      o.seed = derive_seed(base, static_cast<std::uint64_t>(b) + static_cast<std::uint64_t>(B));
      try {
        const double l0 = best_fit(null_model, replicate, o);
        const double l1 = best_fit(alternative, replicate, o);
        stats[ub] = 2.0 * (l1 - l0);
      } catch (const NumericalError& e) {
        errors[ub] = e.what();
      } catch (const InputError& e) {
        // A replicate the model cannot take (a simulated class that never occurs, say).
        errors[ub] = e.what();
      }
      if (options.on_replicate) {
        std::lock_guard<std::mutex> lock(progress_mutex);
        options.on_replicate(++done, B);
      }
    });
  }
  int exceed = 0;
  std::string first_error;
  for (size_t b = 0; b < stats.size(); ++b) {
    if (!stats[b]) {
      ++out.failed;
      if (first_error.empty()) first_error = errors[b];
      continue;
    }
    out.replicate_statistics.push_back(*stats[b]);
    if (*stats[b] >= out.statistic) ++exceed;
  }
  const auto fitted = static_cast<int>(out.replicate_statistics.size());
  if (fitted == 0)
    throw NumericalError(fmt::format(
        "bootstrap LRT of K = {} against {}: no replicate could be fitted; the first failure: {}",
        K, K + 1, first_error));
  out.p_value = (1.0 + exceed) / (1.0 + fitted);
  if (out.failed > 0)
    out.warnings.push_back(fmt::format(
        "bootstrap LRT of K = {} against {}: {} of {} replicates could not be fitted and were "
        "left out (the first: {}); the p-value rests on the other {}",
        K, K + 1, out.failed, B, first_error, fitted));
  return out;
}

}  // namespace moekit
