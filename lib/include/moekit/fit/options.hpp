#pragma once
// Options of a fit; validate() names the option and the rule it breaks.

#include "moekit/backend/device.hpp"

#include <cstdint>
#include <functional>
#include <string>

namespace moekit {

// The starts of EM (docs/starts.md):
// Random: random soft responsibilities (uniform weights normalised per row; flexmix and
// mixtools start mixtures of regressions so).
// RandomPartition: every row joins a component drawn at random (a hard random partition).
// KMeansPlusPlus: hard k-means++ clusters (Arthur & Vassilvitskii 2007) of y, of [x, y] for
// regression experts, with z's columns too when a Gaussian gate models them.
// RandomLines (regression experts): each component starts from the least-squares fit
// through p random rows (p the design's columns), each row joining the component whose fit
// predicts it best: the classic start for mixtures of regressions.
// RandomSegments (softmax gates on covariates): K contiguous blocks of the rows sorted along
// a random direction of the gate covariates, cut at random places.
// Hierarchical: model-based hierarchical agglomeration of the same features as k-means++
// with unconstrained Gaussian clusters (Fraley 1998; mclust's start).
// ShortEm: short-EM / emEM (Biernacki, Celeux & Govaert 2003): every start is the best of
// FitOptions::short_starts candidates (the other kinds taking turns) after
// FitOptions::short_iter EM iterations each, and only that one runs to convergence.
// Auto: for Gaussian experts (and Gaussian gates) the first start is the hierarchical one and
// the others short-EM; under a softmax gate on covariates random segments and short-EM take
// turns (segments first); for other regression experts every start is short-EM.
enum class InitMethod {
  Auto,
  KMeansPlusPlus,
  Random,
  RandomPartition,
  RandomLines,
  RandomSegments,
  Hierarchical,
  ShortEm
};
std::string to_string(InitMethod m);
// "auto" | "kmeans++" | "random" | "partition" | "lines" | "segments" | "hc" | "short-em"
InitMethod parse_init(const std::string& name);

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
  // Short-EM starts: candidates per start and the EM iterations each candidate runs.
  int short_starts = 6;
  int short_iter = 10;
  // Split-and-merge (SMEM, Ueda et al. 2000): candidate moves tried per round from the best
  // start's maximum, K >= 3 (0: none).
  int split_merge = 8;
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
