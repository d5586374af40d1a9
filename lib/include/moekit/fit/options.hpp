#pragma once
// Options of a fit; validate() names the option and the rule it breaks.

#include "moekit/backend/device.hpp"

#include <cstdint>
#include <functional>
#include <string>

namespace moekit {

// Auto: k-means++ for Gaussian experts and Gaussian gates; for regression experts the starts
// take turns between random responsibilities (starts 1, 4, ...), k-means++ on [x, y] (2, 5,
// ...) and random lines (3, 6, ...; logistic experts alternate the first two), because
// clusters in the joint space often cut across regression lines (flexmix and mixtools start
// regression mixtures from random partitions for the same reason) while random lines reach
// basins that soft random splits drain away from.
// RandomLines (regression experts): each component starts from the least-squares fit
// through p random rows (p the design's columns), each row joining the component whose fit
// predicts it best: the classic start for mixtures of regressions, which lands in basins
// that soft random splits drain away from.
enum class InitMethod { Auto, KMeansPlusPlus, Random, RandomLines };
std::string to_string(InitMethod m);
InitMethod parse_init(const std::string& name);  // "auto" | "kmeans++" | "random" | "lines"

// Em: expectation-maximisation (the default). Gradient: quasi-Newton (L-BFGS) ascent of the
// same objective in the unconstrained parameters (Model::parameters()), from EM's starts.
enum class FitMethod { Em, Gradient };
std::string to_string(FitMethod m);
FitMethod parse_method(const std::string& name);  // "em" | "gradient"

// Reported after every EM or L-BFGS iteration; return false to stop the fit early.
struct IterationInfo {
  int restart = 0, restarts = 1;
  int iteration = 0;
  double loglik = 0.0;
  double change = 0.0;  // relative change of the log-likelihood
  double seconds = 0.0;
};

struct FitOptions {
  int max_iter = 1000;
  double tol = 1e-8;  // stop when |l_t - l_{t-1}| <= tol * |l_t|
  int restarts = 1;
  std::uint64_t seed = 1;
  InitMethod init = InitMethod::Auto;
  int kmeans_iter = 20;  // Lloyd iterations after k-means++ seeding
  int max_reseeds = 20;  // re-seeds of collapsed components allowed per start
  int threads = 0;       // 0: all hardware threads
  Device device = Device::Cpu;
  // --device cuda: the E-step in float32 (data, arithmetic and posteriors; the experts'
  // moments are still accumulated in double). Ignored on the CPU.
  bool float32 = false;
  FitMethod method = FitMethod::Em;
  // Gradient method: EM iterations run from each start before L-BFGS takes over. A few EM
  // steps move a start out of the flat, badly scaled region where k-means or random
  // responsibilities leave it, so that L-BFGS climbs to the maximum EM reaches from there.
  // At least 1.
  int warmup_iter = 5;
  // Gradient method: also stop when the norm of the score per row, ||dl/dtheta|| / n, is at
  // most this (the relative log-likelihood change --tol stops it too).
  double gradient_tol = 1e-9;
  std::function<bool(const IterationInfo&)> on_iteration;

  void validate() const;
};

}  // namespace moekit
