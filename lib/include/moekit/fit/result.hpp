#pragma once
// The outcome of a fit: a value with a status, the log-likelihood trace and warnings.

#include "moekit/infer/inference.hpp"

#include <optional>
#include <string>
#include <vector>

namespace moekit {

// Separation: EM stopped where some expert's optimum is a supremum (a separated logistic
// expert's coefficients run off), so the fit is not a converged maximum.
enum class FitStatus { Converged, MaxIterations, Stopped, Separation };
std::string to_string(FitStatus s);

struct FitResult {
  FitStatus status = FitStatus::MaxIterations;
  double loglik = 0.0;  // the observed log-likelihood log p(y | x, z)
  // With gates that model z (Gaussian gates) EM maximises the joint log p(z, y): it is
  // joint_loglik, the trace, the choice among starts and the criteria are on it.
  bool joint = false;
  double joint_loglik = 0.0;
  std::vector<double> loglik_trace;  // EM's objective after each E-step of the best start
  std::vector<int>
      reseed_iterations;  // iterations of the best start at which a component was re-seeded
  int iterations = 0;
  int restarts = 0;             // starts tried
  int best_restart = 0;         // 0-based
  std::string backend = "cpu";  // where the E-step ran: "cpu", "cuda (GPU name, float64)"
  std::string init;             // how the best start began: "kmeans++", "random" ("" after refine)
  std::vector<double> restart_logliks;
  // Split-and-merge moves tried and kept after the starts (fit/split_merge.hpp), and the EM
  // iterations the tried moves ran in all.
  int split_merge_tried = 0, split_merge_accepted = 0, split_merge_iterations = 0;
  double seconds = 0.0;
  long n_obs = 0, n_params = 0;
  // With observation weights, their sum: the n of BIC and ICL (flexmix's nobs()); 0 without.
  double weight_sum = 0.0;
  double aic = 0.0, bic = 0.0, icl = 0.0;
  std::vector<std::string> warnings;
  std::string stopping_rule;  // "relative log-likelihood change 3.1e-09 <= tol 1e-08" ...
  // Components that ended at a degenerate maximum (0-based; empty for a proper fit). The
  // best start is a non-degenerate one whenever any start was.
  std::vector<long> degenerate;
  std::string method = "em";  // "em" or "gradient"
  // Gradient method: EM iterations from the start before L-BFGS (iterations counts L-BFGS's).
  int warmup_iterations = 0;
  // Norm of the score of the objective in the unconstrained parameters at the end.
  std::optional<double> gradient_norm;
  // Standard errors and Wald tests of the natural parameters, when they were asked for.
  std::vector<ParameterInference> inference;
  // Replicates of the nonparametric bootstrap behind the bootstrap columns of `inference`
  // (0: none), and the level of its percentile intervals.
  int bootstrap_replicates = 0;
  double bootstrap_level = 0.95;

  bool converged() const { return status == FitStatus::Converged; }
  // What EM maximised: joint_loglik for joint models, loglik otherwise.
  double objective() const { return joint ? joint_loglik : loglik; }
  std::string brief_report() const;
};

}  // namespace moekit
