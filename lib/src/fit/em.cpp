#include "moekit/fit/em.hpp"

#include "moekit/backend/estep_backend.hpp"
#include "moekit/core/error.hpp"
#include "moekit/core/parallel.hpp"
#include "moekit/fit/init.hpp"
#include "moekit/infer/criteria.hpp"

#include <fmt/format.h>

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

// The gate's M-step. With grouped data the gate term enters the complete-data likelihood
// once per group, so it is fitted to one row per group (z and posterior are constant
// within a group).
std::vector<std::string> fit_gate(Model& model, const Dataset& data, const Matrix& resp) {
  if (!data.grouped()) return model.gate().fit(data.z, resp);
  return model.gate().fit(group_rows(data, data.z), group_rows(data, resp));
}

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

// A gate that reads covariates needs them constant within each group (flexmix's rule for
// concomitant variables of grouped data).
void check_gate_covariates(const Model& model, const Dataset& data) {
  if (!data.grouped() || model.spec().gate == "constant") return;
  for (Index i = 0; i < data.rows(); ++i) {
    const Index first = data.group_first[static_cast<size_t>(data.group[static_cast<size_t>(i)])];
    if (data.z.row(i) != data.z.row(first))
      throw InputError(fmt::format(
          "{}: the gate covariates differ between the rows on lines {} and {} of one group; "
          "with grouped data ('| {}') the gate needs covariates that are constant within a group",
          data.source, data.line_of(first), data.line_of(i),
          data.group_column.empty() ? "g" : data.group_column));
  }
}

}  // namespace

Matrix init_features(const Model& model, const Dataset& data) {
  if (model.spec().experts == "gaussian") return data.y;
  // Regression experts: cluster on the covariates (without the intercept) and responses.
  std::vector<Index> cols;
  for (Index j = 0; j < data.x.cols(); ++j)
    if (!(data.x.col(j).array() == data.x(0, j)).all()) cols.push_back(j);
  Matrix f(data.rows(), static_cast<Index>(cols.size()) + data.y.cols());
  for (size_t c = 0; c < cols.size(); ++c) f.col(static_cast<Index>(c)) = data.x.col(cols[c]);
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
  Matrix resp;
  Vector row_loglik;
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
      if (row_loglik.size() == n) {
        row_loglik.minCoeff(&row);
        row_loglik(row) = std::numeric_limits<double>::infinity();
      } else {
        row = static_cast<Index>(uniform01(rng) * static_cast<double>(n)) % n;
      }
      model.experts().reseed(k, data.x, data.y, row);
      model.gate().reset_component(k);
      result.warnings.push_back(
          fmt::format("component {} collapsed at iteration {} (too few points or a "
                      "singular covariance); re-seeded at the row on line {}",
                      k + 1, iteration, data.line_of(row)));
    }
    result.reseed_iterations.push_back(iteration);
    return true;
  };

  if (initialise) {
    const InitMethod method = start_method(options_.init, model.spec().experts, restart);
    result.init = to_string(method);
    resp =
        initial_responsibilities(init_features(model, data), K, method, options_.kmeans_iter, rng);
    share_within_groups(data, resp);
    MStepReport r = model.experts().fit(data.x, data.y, resp);
    for (auto& w : fit_gate(model, data, resp)) result.warnings.push_back(w);
    for (auto& w : r.warnings) result.warnings.push_back(w);
    reseed(r.collapsed, 0);
  }
  double loglik = backend->estep(model, data, resp, &row_loglik).loglik;
  result.loglik_trace.push_back(loglik);
  result.status = FitStatus::MaxIterations;
  result.stopping_rule = fmt::format("iteration cap {} reached", options_.max_iter);
  for (int it = 1; it <= options_.max_iter; ++it) {
    MStepReport r = model.experts().fit(data.x, data.y, resp);
    for (auto& w : r.warnings)
      if (std::find(result.warnings.begin(), result.warnings.end(), w) == result.warnings.end())
        result.warnings.push_back(w);
    for (auto& w : fit_gate(model, data, resp))
      if (std::find(result.warnings.begin(), result.warnings.end(), w) == result.warnings.end())
        result.warnings.push_back(w);
    const bool reseeded = reseed(r.collapsed, it);
    const double previous = loglik;
    loglik = backend->estep(model, data, resp, &row_loglik).loglik;
    result.loglik_trace.push_back(loglik);
    result.iterations = it;
    const double change = std::abs(loglik - previous) / std::max(std::abs(loglik), 1e-300);
    if (options_.on_iteration) {
      IterationInfo info{restart, options_.restarts, it, loglik, change, seconds_since(t0)};
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
  const Vector N = resp.colwise().sum().transpose();
  for (Index k = 0; k < K; ++k)
    if (N(k) < 0.5)
      result.warnings.push_back(fmt::format(
          "component {} holds {:.3g} rows' worth of responsibility (weight {:.3g}): it is empty, "
          "and the data support fewer than K = {} components here; try a smaller -k or more "
          "--restarts",
          k + 1, N(k), N(k) / static_cast<double>(n), K));
  result.loglik = loglik;
  result.n_obs = static_cast<long>(n);
  result.n_params = static_cast<long>(model.num_params());
  result.aic = aic(loglik, model.num_params());
  result.bic = bic(loglik, model.num_params(), n);
  result.icl = data.grouped() ? icl(loglik, model.num_params(), n, group_rows(data, resp))
                              : icl(loglik, model.num_params(), resp);
  result.seconds = seconds_since(t0);
  return result;
}

FitResult EmFitter::fit(Model& model, const Dataset& data) const {
  const auto t0 = Clock::now();
  ThreadScope threads(options_.threads);
  model.spec().validate();
  check_gate_covariates(model, data);
  if (data.rows() < model.components())
    throw InputError(
        fmt::format("{} rows cannot be split into {} components", data.rows(), model.components()));
  FitResult best;
  Model best_model;
  bool have = false;
  std::vector<double> logliks;
  std::vector<std::string> failures;
  for (int r = 0; r < options_.restarts; ++r) {
    Model trial(model);
    try {
      FitResult res = run(trial, data, r, options_.seed, true);
      logliks.push_back(res.loglik);
      if (!have || res.loglik > best.loglik) {
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
  check_gate_covariates(model, data);
  FitResult r = run(model, data, 0, options_.seed, false);
  r.restarts = 1;
  r.restart_logliks = {r.loglik};
  return r;
}

}  // namespace moekit
