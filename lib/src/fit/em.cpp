#include "moekit/fit/em.hpp"

#include "moekit/backend/estep_backend.hpp"
#include "moekit/core/error.hpp"
#include "moekit/core/parallel.hpp"
#include "moekit/fit/init.hpp"
#include "moekit/infer/criteria.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

namespace moekit {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Restores the library's thread count when a fit ends, however it ends.
class ThreadScope {
 public:
  explicit ThreadScope(int threads) : saved_(num_threads()) {
    if (threads > 0) set_num_threads(threads);
  }
  ~ThreadScope() { set_num_threads(saved_); }

 private:
  int saved_;
};

// Starting responsibilities of grouped data: the mean over each group's rows, so that a
// group starts in one (soft) component as EM requires.
void share_within_groups(const Dataset& data, Matrix& resp) {
  if (!data.grouped()) return;
  Matrix sum = Matrix::Zero(data.groups(), resp.cols());
  Vector count = Vector::Zero(data.groups());
  for (Index i = 0; i < resp.rows(); ++i) {
    sum.row(data.group[static_cast<size_t>(i)]) += resp.row(i);
    count(data.group[static_cast<size_t>(i)]) += 1.0;
  }
  for (Index i = 0; i < resp.rows(); ++i) {
    const Index g = data.group[static_cast<size_t>(i)];
    resp.row(i) = sum.row(g) / count(g);
  }
}

void add_unique(std::vector<std::string>& to, const std::vector<std::string>& from) {
  for (const auto& w : from)
    if (std::find(to.begin(), to.end(), w) == to.end()) to.push_back(w);
}

}  // namespace

Matrix init_features(const Model& model, const Dataset& data) {
  // Gaussian experts cluster y; regression experts the covariates (without the intercept)
  // and y; a gate that models z adds z's columns that x does not have.
  std::vector<Vector> cols;
  auto add_varying = [&](const Matrix& m) {
    for (Index j = 0; j < m.cols(); ++j) {
      if ((m.col(j).array() == m(0, j)).all()) continue;
      bool seen = false;
      for (const auto& c : cols) seen = seen || c == m.col(j);
      if (!seen) cols.push_back(m.col(j));
    }
  };
  if (model.experts().reads_covariates()) add_varying(data.x);
  if (model.joint()) add_varying(data.z);
  Matrix f(data.rows(), static_cast<Index>(cols.size()) + data.y.cols());
  for (size_t c = 0; c < cols.size(); ++c) f.col(static_cast<Index>(c)) = cols[c];
  f.rightCols(data.y.cols()) = data.y;
  return f;
}

EmFitter::EmFitter(FitOptions options) : options_(std::move(options)) { options_.validate(); }

FitResult EmFitter::run(
    Model& model, const Dataset& data, int restart, std::uint64_t seed, bool initialise) const {
  const auto t0 = Clock::now();
  const Index n = data.rows(), K = model.components();
  const auto backend = make_backend(options_.device);
  FitResult result;
  result.joint = model.joint();
  Posteriors post;
  Rng rng(derive_seed(seed, static_cast<std::uint64_t>(restart)));
  int reseeds = 0;

  // Re-seeds every collapsed component at the row the model explains worst (a new row each).
  auto reseed = [&](const std::vector<Index>& collapsed, int iteration) {
    if (collapsed.empty()) return false;
    reseeds += static_cast<int>(collapsed.size());
    if (reseeds > options_.max_reseeds)
      throw NumericalError(
          fmt::format("component {}", collapsed.front() + 1), iteration,
          fmt::format("components keep collapsing ({} re-seeds); the data may hold repeated "
                      "points or fewer clusters than K = {}: try a smaller -k, another "
                      "--covariance or a larger --reg-covar",
                      reseeds, K));
    for (Index k : collapsed) {
      Index row = 0;
      if (post.row_loglik.size() == n) {
        post.row_loglik.minCoeff(&row);
        post.row_loglik(row) = std::numeric_limits<double>::infinity();
      } else {
        row = static_cast<Index>(uniform01(rng) * static_cast<double>(n)) % n;
      }
      model.reseed_leaf(k, data, row);
      result.warnings.push_back(
          fmt::format("component {} collapsed at iteration {} (too few points or a "
                      "singular covariance); re-seeded at the row on line {}",
                      k + 1, iteration, data.line_of(row)));
    }
    result.reseed_iterations.push_back(iteration);
    return true;
  };

  if (initialise) {
    const InitMethod method = start_method(options_.init, model, restart);
    result.init = to_string(method);
    Matrix resp = method == InitMethod::RandomLines && !model.experts().categorical()
                      ? random_lines(data.x, data.y, K, rng)
                      : initial_responsibilities(
                            init_features(model, data), K,
                            method == InitMethod::RandomLines ? InitMethod::Random : method,
                            options_.kmeans_iter, rng);
    share_within_groups(data, resp);
    post = model.posteriors_from_leaves(resp);
    const MStepReport r = model.m_step(data, post);
    add_unique(result.warnings, r.warnings);
    reseed(r.collapsed, 0);
  }
  backend->estep(model, data, post);
  double objective = post.objective;
  result.loglik_trace.push_back(objective);
  result.status = FitStatus::MaxIterations;
  result.stopping_rule = fmt::format("iteration cap {} reached", options_.max_iter);
  for (int it = 1; it <= options_.max_iter; ++it) {
    const MStepReport r = model.m_step(data, post);
    add_unique(result.warnings, r.warnings);
    const bool reseeded = reseed(r.collapsed, it);
    const double previous = objective;
    backend->estep(model, data, post);
    objective = post.objective;
    result.loglik_trace.push_back(objective);
    result.iterations = it;
    const double change = std::abs(objective - previous) / std::max(std::abs(objective), 1e-300);
    if (options_.on_iteration) {
      IterationInfo info{restart, options_.restarts, it, objective, change, seconds_since(t0)};
      if (!options_.on_iteration(info)) {
        result.status = FitStatus::Stopped;
        result.stopping_rule = "stopped by the caller";
        break;
      }
    }
    if (!reseeded && change <= options_.tol) {
      result.status = FitStatus::Converged;
      result.stopping_rule =
          fmt::format("relative log-likelihood change {:.3g} <= tol {:.3g}", change, options_.tol);
      break;
    }
  }
  // A component left with less than half a row of responsibility is empty in all but name
  // (EM drives an unneeded component's weight to zero only geometrically, so no collapse
  // test fires): say so, as flexmix does when it drops a component below minprior.
  const Vector N = post.leaves().colwise().sum().transpose();
  for (Index k = 0; k < K; ++k)
    if (N(k) < 0.5)
      result.warnings.push_back(fmt::format(
          "component {} holds {:.3g} rows' worth of responsibility (weight {:.3g}): it is empty, "
          "and the data support fewer than K = {} components here; try a smaller -k or more "
          "--restarts",
          k + 1, N(k), N(k) / static_cast<double>(n), K));
  result.loglik = post.loglik;
  result.joint_loglik = model.joint() ? post.objective : 0.0;
  result.n_obs = static_cast<long>(n);
  result.n_params = static_cast<long>(model.num_params());
  result.aic = aic(objective, model.num_params());
  result.bic = bic(objective, model.num_params(), n);
  const Matrix leaves = post.leaves();
  result.icl = data.grouped() ? icl(objective, model.num_params(), n, group_rows(data, leaves))
                              : icl(objective, model.num_params(), leaves);
  result.seconds = seconds_since(t0);
  return result;
}

FitResult EmFitter::fit(Model& model, const Dataset& data) const {
  const auto t0 = Clock::now();
  ThreadScope threads(options_.threads);
  model.spec().validate();
  model.check_data(data);
  FitResult best;
  Model best_model;
  bool have = false;
  std::vector<double> logliks;
  std::vector<std::string> failures;
  for (int r = 0; r < options_.restarts; ++r) {
    Model trial(model);
    try {
      FitResult res = run(trial, data, r, options_.seed, true);
      logliks.push_back(res.objective());
      if (!have || res.objective() > best.objective()) {
        best = std::move(res);
        best.best_restart = r;
        best_model = std::move(trial);
        have = true;
      }
    } catch (const NumericalError& e) {
      logliks.push_back(std::numeric_limits<double>::quiet_NaN());
      failures.push_back(fmt::format("start {} failed: {}", r + 1, e.what()));
      if (options_.restarts == 1) throw;
    }
  }
  if (!have)
    throw NumericalError(fmt::format("every start failed; the first: {}", failures.front()));
  model = std::move(best_model);
  best.restarts = options_.restarts;
  best.restart_logliks = logliks;
  for (auto& f : failures) best.warnings.push_back(f);
  best.seconds = seconds_since(t0);
  return best;
}

FitResult EmFitter::refine(Model& model, const Dataset& data) const {
  ThreadScope threads(options_.threads);
  model.check_data(data);
  FitResult r = run(model, data, 0, options_.seed, false);
  r.restarts = 1;
  r.restart_logliks = {r.objective()};
  return r;
}

}  // namespace moekit
