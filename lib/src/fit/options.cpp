#include "moekit/fit/options.hpp"

#include "moekit/core/error.hpp"
#include "moekit/fit/result.hpp"

#include <fmt/format.h>

#include <cmath>

namespace moekit {

std::string to_string(InitMethod m) {
  switch (m) {
    case InitMethod::Auto:
      return "auto";
    case InitMethod::Random:
      return "random";
    case InitMethod::RandomPartition:
      return "partition";
    case InitMethod::RandomLines:
      return "lines";
    case InitMethod::RandomSegments:
      return "segments";
    case InitMethod::Hierarchical:
      return "hc";
    case InitMethod::ShortEm:
      return "short-em";
    case InitMethod::KMeansPlusPlus:
      break;
  }
  return "kmeans++";
}

InitMethod parse_init(const std::string& name) {
  if (name == "kmeans++" || name == "kmeans") return InitMethod::KMeansPlusPlus;
  if (name == "random") return InitMethod::Random;
  if (name == "partition") return InitMethod::RandomPartition;
  if (name == "lines") return InitMethod::RandomLines;
  if (name == "segments") return InitMethod::RandomSegments;
  if (name == "hc") return InitMethod::Hierarchical;
  if (name == "short-em" || name == "emem") return InitMethod::ShortEm;
  if (name == "auto") return InitMethod::Auto;
  throw InputError::option(
      "--init", name, "must be auto, short-em, hc, kmeans++, lines, segments, partition or random");
}

std::string to_string(FitMethod m) { return m == FitMethod::Gradient ? "gradient" : "em"; }

FitMethod parse_method(const std::string& name) {
  if (name == "em") return FitMethod::Em;
  if (name == "gradient") return FitMethod::Gradient;
  throw InputError::option("--method", name, "must be em or gradient");
}

void FitOptions::validate() const {
  if (max_iter < 1)
    throw InputError::option("--max-iter", std::to_string(max_iter), "must be >= 1");
  if (!(tol > 0) || !std::isfinite(tol))
    throw InputError::option("--tol", fmt::format("{}", tol), "must be finite and > 0");
  if (restarts < 1)
    throw InputError::option("--restarts", std::to_string(restarts), "must be >= 1");
  if (kmeans_iter < 0)
    throw InputError::option("--kmeans-iter", std::to_string(kmeans_iter), "must be >= 0");
  if (short_starts < 1)
    throw InputError::option("--short-starts", std::to_string(short_starts), "must be >= 1");
  if (split_merge < 0)
    throw InputError::option("--split-merge", std::to_string(split_merge), "must be >= 0");
  if (short_iter < 1)
    throw InputError::option("--short-iter", std::to_string(short_iter), "must be >= 1");
  if (max_reseeds < 0)
    throw InputError::option("--max-reseeds", std::to_string(max_reseeds), "must be >= 0");
  if (warmup_iter < 1)
    throw InputError::option("--warmup-iter", std::to_string(warmup_iter),
                             "must be >= 1 (the first EM iteration turns a start into parameters)");
  if (!(gradient_tol >= 0) || !std::isfinite(gradient_tol))
    throw InputError::option("--gradient-tol", fmt::format("{}", gradient_tol),
                             "must be finite and >= 0");
  if (threads < 0)
    throw InputError::option("--threads", std::to_string(threads), "must be >= 0 (0: all cores)");
}

std::string to_string(FitStatus s) {
  switch (s) {
    case FitStatus::Converged:
      return "converged";
    case FitStatus::MaxIterations:
      return "max-iterations";
    case FitStatus::Stopped:
      return "stopped";
    case FitStatus::Separation:
      return "separation";
  }
  return "unknown";
}

std::string FitResult::brief_report() const {
  return fmt::format("loglik {:.10g} after {} iterations ({}; {}), {} start(s), best #{}, {:.3f} s",
                     loglik, iterations, to_string(status), stopping_rule, restarts,
                     best_restart + 1, seconds);
}

}  // namespace moekit
