#include "moekit/fit/gradient.hpp"

#include "elapsed.hpp"
#include "moekit/core/error.hpp"
#include "moekit/core/parallel.hpp"
#include "moekit/fit/degenerate.hpp"
#include "moekit/fit/em.hpp"
#include "moekit/infer/criteria.hpp"

#include <LBFGS.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace moekit {

namespace {

using Clock = std::chrono::steady_clock;

// The negated objective in the form LBFGS++ minimises. A point where the model throws
// NumericalError or the value or score is not finite returns +infinity, which the
// backtracking line search treats as a failed Armijo test and so shortens the step.
class NegatedObjective {
 public:
  NegatedObjective(Model& model, const Dataset& data) : model_(model), data_(data) {}

  double operator()(const Vector& theta, Vector& grad) {
    ++evaluations;
    grad.setZero(theta.size());
    double value = 0.0;
    try {
      model_.set_parameters(theta);
      value = model_.loglik_and_score(data_, score_);
    } catch (const NumericalError&) {
      return std::numeric_limits<double>::infinity();
    }
    if (!std::isfinite(value) || !score_.allFinite())
      return std::numeric_limits<double>::infinity();
    grad = -score_;
    return -value;
  }

  int evaluations = 0;

 private:
  Model& model_;
  const Dataset& data_;
  Vector score_;
};

// Memory of the limited-memory BFGS matrix (LBFGS++'s default).
constexpr int kMemory = 6;

}  // namespace

GradientFitter::GradientFitter(FitOptions options) : options_(std::move(options)) {
  options_.validate();
}

void GradientFitter::ascend(Model& model,
                            const Dataset& data,
                            int restart,
                            FitResult& result) const {
  const auto t0 = Clock::now();
  const Index n = data.rows();
  NegatedObjective objective(model, data);
  Vector x = model.parameters();
  const Index dim = x.size();
  Vector g(dim);
  double f = objective(x, g);
  if (!std::isfinite(f))
    throw NumericalError("gradient ascent", 0,
                         "the starting point has no finite log-likelihood or score");
  result.loglik_trace.push_back(-f);

  LBFGSpp::LBFGSParam<double> param;
  param.m = kMemory;
  // The (weak) Wolfe conditions keep s'y > 0, so the BFGS update stays positive definite.
  param.linesearch = LBFGSpp::LBFGS_LINESEARCH_BACKTRACKING_WOLFE;
  param.max_linesearch = 60;
  LBFGSpp::BFGSMat<double> bfgs;
  bfgs.reset(static_cast<int>(dim), param.m);

  const double row_count = static_cast<double>(std::max<Index>(1, n));
  auto gradient_small = [&](const Vector& grad) {
    return grad.norm() / row_count <= options_.gradient_tol;
  };
  Vector xp(dim), gp(dim), d = -g;
  double step = 1.0 / std::max(d.norm(), 1e-300);
  bool fresh_memory = true;
  int small_changes = 0;
  result.status = FitStatus::MaxIterations;
  result.stopping_rule = fmt::format("iteration cap {} reached", options_.max_iter);
  if (gradient_small(g)) {
    result.status = FitStatus::Converged;
    result.stopping_rule = fmt::format(
        "score norm per row {:.3g} <= gradient tol {:.3g} at the "
        "start",
        g.norm() / row_count, options_.gradient_tol);
  }
  for (int it = 1; it <= options_.max_iter && result.status != FitStatus::Converged; ++it) {
    xp = x;
    gp = g;
    const double fp = f;
    try {
      LBFGSpp::LineSearchBacktracking<double>::LineSearch(objective, f, x, g, step, d, xp, param);
    } catch (const std::exception&) {
      // No acceptable step along this direction (or it was not an ascent direction, which
      // rounding near the maximum can cause): back to the last point, and once more from
      // the steepest-ascent direction with a fresh memory before concluding that no step
      // increases the objective.
      x = xp;
      g = gp;
      f = fp;
      if (!fresh_memory) {
        bfgs.reset(static_cast<int>(dim), param.m);
        d = -g;
        step = 1.0 / std::max(d.norm(), 1e-300);
        fresh_memory = true;
        --it;
        continue;
      }
      result.status = FitStatus::Converged;
      result.stopping_rule = fmt::format(
          "no step along the steepest-ascent direction increases the log-likelihood (score "
          "norm per row {:.3g}): a maximum to rounding",
          g.norm() / row_count);
      break;
    }
    const bool was_fresh = fresh_memory;
    fresh_memory = false;
    result.iterations = it;
    result.loglik_trace.push_back(-f);
    const double change = std::abs(f - fp) / std::max(std::abs(f), 1e-300);
    if (options_.on_iteration) {
      IterationInfo info{restart, options_.restarts, it, -f, change, seconds_since(t0)};
      if (!options_.on_iteration(info)) {
        result.status = FitStatus::Stopped;
        result.stopping_rule = "stopped by the caller";
        break;
      }
    }
    if (gradient_small(g)) {
      result.status = FitStatus::Converged;
      result.stopping_rule = fmt::format("score norm per row {:.3g} <= gradient tol {:.3g}",
                                         g.norm() / row_count, options_.gradient_tol);
      break;
    }
    // The first step from a fresh memory is a short steepest-ascent probe whose small gain
    // says nothing about convergence; two quasi-Newton steps in a row below tol do.
    small_changes = change <= options_.tol && !was_fresh ? small_changes + 1 : 0;
    if (small_changes >= 2) {
      result.status = FitStatus::Converged;
      result.stopping_rule =
          fmt::format("relative log-likelihood change {:.3g} <= tol {:.3g}", change, options_.tol);
      break;
    }
    // g is the gradient of the minimised -objective; a pair without positive curvature
    // (possible only through rounding after a Wolfe step) would spoil the update.
    const Vector s = x - xp, y = g - gp;
    if (s.dot(y) > 1e-12 * y.squaredNorm()) bfgs.add_correction(s, y);
    bfgs.apply_Hv(g, -1.0, d);
    step = 1.0;
  }
  model.set_parameters(x);
  result.gradient_norm = g.norm();

  Posteriors post;
  model.e_step(data, post);
  const double obj = post.objective;
  result.joint = model.joint();
  result.loglik = post.loglik;
  result.joint_loglik = model.joint() ? post.objective : 0.0;
  result.n_obs = static_cast<long>(n);
  if (data.weighted()) result.weight_sum = data.observations();
  result.n_params = static_cast<long>(model.num_params());
  result.aic = aic(obj, model.num_params());
  result.bic = bic(obj, model.num_params(), data.observations());
  const Vector response_sd = moekit::response_sd(data);
  // L-BFGS follows the likelihood wherever it rises, into the unbounded spikes of
  // Gaussian-type experts too: such an end is reported, never passed off as a proper fit.
  result.degenerate.clear();
  for (const auto& dg : degenerate_components(model, post, response_sd)) {
    result.degenerate.push_back(dg.k);
    result.warnings.push_back(fmt::format(
        "component {} is degenerate: {}; the data support fewer than K = {} components here, "
        "or this start found a spurious maximum: try a smaller -k or more --restarts",
        dg.k + 1, dg.why, model.components()));
  }
  const Matrix leaves = post.leaves();
  result.icl = icl(obj, model.num_params(), data, leaves);
}

FitResult GradientFitter::fit(Model& model, const Dataset& data) const {
  const auto t0 = Clock::now();
  ScopedNumThreads threads(options_.threads);
  model.spec().validate();
  model.check_data(data);
  FitOptions warmup = options_;
  warmup.max_iter = options_.warmup_iter;
  warmup.on_iteration = nullptr;
  const EmFitter em(warmup);
  FitResult best;
  Model best_model;
  bool have = false;
  std::vector<double> logliks;
  std::vector<std::string> failures;
  for (int r = 0; r < options_.restarts; ++r) {
    Model trial(model);
    try {
      FitResult res = em.start(trial, data, r);
      res.warmup_iterations = res.iterations;
      res.iterations = 0;
      res.loglik_trace.clear();
      // EM's verdict after a warm-up is no verdict: ascend() judges the end point.
      res.degenerate.clear();
      res.warnings.erase(std::remove_if(res.warnings.begin(), res.warnings.end(),
                                        [](const std::string& w) {
                                          return w.find("is degenerate:") != std::string::npos;
                                        }),
                         res.warnings.end());
      ascend(trial, data, r, res);
      logliks.push_back(res.objective());
      // A start at a degenerate maximum never beats one at a proper maximum.
      const bool better =
          !have || (res.degenerate.empty() && !best.degenerate.empty()) ||
          (res.degenerate.empty() == best.degenerate.empty() && res.objective() > best.objective());
      if (better) {
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
  if (!best.degenerate.empty() && options_.restarts > 1)
    best.warnings.push_back(fmt::format(
        "every one of the {} starts ended at a degenerate maximum; this is the best of them",
        options_.restarts));
  best.method = to_string(FitMethod::Gradient);
  best.restarts = options_.restarts;
  best.restart_logliks = logliks;
  for (auto& f : failures) best.warnings.push_back(f);
  best.seconds = seconds_since(t0);
  return best;
}

FitResult GradientFitter::refine(Model& model, const Dataset& data) const {
  const auto t0 = Clock::now();
  ScopedNumThreads threads(options_.threads);
  model.check_data(data);
  FitResult r;
  ascend(model, data, 0, r);
  r.method = to_string(FitMethod::Gradient);
  r.restarts = 1;
  r.restart_logliks = {r.objective()};
  r.seconds = seconds_since(t0);
  return r;
}

}  // namespace moekit
