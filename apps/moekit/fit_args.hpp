#pragma once
// The options `fit` and `select` share: the model, the EM settings and the data source.

#include "moekit/data/dataset.hpp"
#include "moekit/fit/options.hpp"
#include "moekit/model/model_spec.hpp"

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdint>
#include <string>

namespace moekit::cli {

struct FitArgs {
  std::string data, formula, gate_formula, experts = "gaussian", gate = "constant";
  std::string covariance;  // empty: full, for the families that have one
  std::string method = "em", init = "auto", out, delimiter = ",", device = "cpu";
  std::string gate_covariance;  // Gaussian gates; empty: full
  std::string weights;          // --weights: the column of observation weights; empty: none
  int restarts = 1, max_iter = 1000, threads = 0, warmup_iter = 5;
  int short_starts = 6, short_iter = 10, split_merge = 8;
  std::uint64_t seed = 1;
  double tol = 1e-8, reg_covar = 1e-6, gradient_tol = 1e-9;
  double gate_ridge = 0.0;  // softmax gate: L2 penalty on the gate coefficients
  double df = 0.0;          // t experts: fixed nu; 0 estimates it
  bool json = false, quiet = false;
  bool float32 = false;  // --device cuda: float32 E-step
};

// Registers the data argument and every model and EM option except -k, --out, --json and
// --quiet (whose wording differs between the commands).
void add_model_options(CLI::App* cmd, FitArgs& a);

// The model with K experts, or the gating tree `tree` ("2,3"; empty: flat); InputError
// naming the flag at fault.
ModelSpec make_spec(const FitArgs& a, Index K, const std::string& tree = "");
FitOptions make_fit_options(const FitArgs& a);

// ',' or one character; "tab" (or "\t") for a tab. InputError naming --delimiter.
char parse_delimiter(const std::string& d);

// Reads --data with --delimiter and builds the data set of `spec` (completing its names).
Dataset read_training_data(const FitArgs& a, DataSpec& spec);

// The progress line: shown on a terminal once a fit has run for a second, at most ten
// times a second, erased at the end.
class Progress {
 public:
  explicit Progress(bool enabled, std::string prefix = "");
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;
  bool update(const IterationInfo& info);

 private:
  bool enabled_, shown_ = false;
  std::string prefix_;
  std::chrono::steady_clock::time_point start_, last_{};
};

// The progress line of bootstrap replicates on stderr: on a terminal it counts them as they
// finish (at most ten times a second); elsewhere it stays silent until finish(), which
// prints one line with the count and the time on both.
class ReplicateProgress {
 public:
  ReplicateProgress(bool enabled, std::string what);
  ReplicateProgress(const ReplicateProgress&) = delete;
  ReplicateProgress& operator=(const ReplicateProgress&) = delete;
  void update(int done, int total);
  void finish(int total, const std::string& note = "");

 private:
  bool enabled_, tty_, shown_ = false;
  std::string what_;
  std::chrono::steady_clock::time_point start_, last_{};
};

}  // namespace moekit::cli
